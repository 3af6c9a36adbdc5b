#!/usr/bin/env python3
"""Tells a schemathesis run's outcome apart: Rosetta's failure, or a fault of the runner itself.

Usage: schemathesis_verdict.py EXIT_STATUS SERVER_ALIVE(1|0) JUNIT_REPORT
Prints one line: `pass`, `rosetta:<why>` or `runner:<why>`.

- Any `<failure>` in the report is a check that failed against Rosetta's answers: Rosetta's.
- A server that is no longer running, or an `<error>` about reaching it (refused, reset, timed
  out), is Rosetta's too: it died or hung.
- Any other `<error>` is an exception inside schemathesis or hypothesis (e.g. a Python
  SystemError from AST handling): the runner's. So is a non-zero exit with no report at all.
"""
import sys
import xml.etree.ElementTree as ET

REACHING = ("connection", "refused", "reset", "timed out", "timeout", "remotedisconnected", "max retries")


def verdict(status: int, alive: bool, path: str) -> str:
    if not alive:
        return "rosetta:the server is no longer running"
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        return "pass" if status == 0 else f"runner:exit {status} and no readable report ({e})"
    failures, errors = [], []
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        for f in case.findall("failure"):
            failures.append(f"{name}: {(f.get('message') or f.text or '').strip()[:300]}")
        for e in case.findall("error"):
            errors.append((name, f"{e.get('type') or ''} {e.get('message') or ''} {e.text or ''}".strip()))
    if failures:
        return "rosetta:" + " | ".join(failures[:5])
    reaching = [f"{n}: {t[:300]}" for n, t in errors if any(w in t.lower() for w in REACHING)]
    if reaching:
        return "rosetta:" + " | ".join(reaching[:5])
    if errors:
        return "runner:" + " | ".join(f"{n}: {t[:200]}" for n, t in errors[:3])
    if status != 0:
        return f"runner:exit {status} with no failure or error in the report"
    return "pass"


def self_test() -> None:
    import os
    import tempfile

    cases = {
        '<testcase name="GET /x"><failure message="Server error">500</failure></testcase>': "rosetta:",
        '<testcase name="PATCH /y"><error type="SystemError" message="AST constructor recursion depth mismatch"/></testcase>': "runner:",
        '<testcase name="GET /z"><error message="Connection refused"/></testcase>': "rosetta:",
        '<testcase name="GET /ok"/>': "pass",
    }
    with tempfile.TemporaryDirectory() as d:
        for i, (body, expected) in enumerate(cases.items()):
            path = os.path.join(d, f"{i}.xml")
            with open(path, "w") as f:
                f.write(f"<testsuites><testsuite>{body}</testsuite></testsuites>")
            got = verdict(0 if expected == "pass" else 1, True, path)
            assert got.startswith(expected), (body, got)
        assert verdict(1, True, os.path.join(d, "missing.xml")).startswith("runner:")
        assert verdict(0, False, os.path.join(d, "0.xml")).startswith("rosetta:")
    print("schemathesis_verdict: self-test ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        print(verdict(int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]))
