#!/usr/bin/env python3
"""One instance against three over one PostgreSQL database, on this one machine (issue #20).

Makes a fresh PostgreSQL database (dropped after), seeds it (`rosetta seed`), and measures with wrk
at 32 connections in all, median of RUNS runs:
  - the wacrm conversation list (default page, uncached: shared renderings off);
  - /api/v1/me;
  - Meta's webhook deliveries (each a new message, signed), through POST /webhooks/whatsapp;
against one `rosetta serve` (2 workers), then three (2 workers each, one wrk per instance with a
third of the connections, their rates summed: the round robin of a balancer by connection).
Rate limits are on and shared (`--rate-limit-scope deployment`, a limit no run reaches), so the
reservations are in the figures. Besides requests a second it reports where the CPU went: the
Rosetta processes' and PostgreSQL's share of the machine's CPU time during the run, and what was left
idle (from /proc; the rest is wrk and the kernel's), the way to tell whether the database or the two
cores bound the run.

  python3 bench/instances.py            # PG_URL=postgres://postgres@127.0.0.1:5432 RUNS=3 SECONDS=10
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BIN", os.path.join(ROOT, "target/release"))
PG = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")
RUNS = int(os.environ.get("RUNS", "3"))
SECONDS = int(os.environ.get("SECONDS", "10"))
CONVERSATIONS = int(os.environ.get("CONVERSATIONS", "50000"))
CONNECTIONS = 32
KEY_HEX = "4b" * 32  # not a secret: the bench database's key
APP_SECRET = "bench-app-secret"
PNID = "106540352242922"

def psql(sql, db="postgres"):
    subprocess.run(["psql", f"{PG}/{db}", "-qAtc", sql], check=True, stdout=subprocess.PIPE)


def rosetta(url, *args, stdin=None):
    out = subprocess.run(
        [os.path.join(BIN, "rosetta"), "--database-url", url, *args],
        input=stdin, capture_output=True, text=True, check=True,
        env={**os.environ, "ROSETTA_SECRET_KEY": KEY_HEX, "ROSETTA_LOG": "warn"},
    )
    return out.stdout


def cpu_seconds(pids):
    """utime + stime of the processes, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:13])
        except FileNotFoundError:
            pass
    return total / tick


def idle_seconds():
    """The machine's idle time so far, in seconds (all cores)."""
    fields = open("/proc/stat").readline().split()[1:]
    return (int(fields[3]) + int(fields[4])) / os.sysconf("SC_CLK_TCK")


def postgres_pids():
    # By process name: the servers' own command lines name a postgres:// URL.
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def serve(url, port):
    proc = subprocess.Popen(
        [os.path.join(BIN, "rosetta"), "--database-url", url, "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--pool-size", "8", "--rate-limit-per-minute", "100000000",
         "--rate-limit-scope", "deployment", "--shared-render-mib", "0", "--no-dispatch"],
        env={**os.environ, "ROSETTA_SECRET_KEY": KEY_HEX, "ROSETTA_LOG": "warn",
             "WHATSAPP_APP_SECRET": APP_SECRET},
    )
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except Exception:
            if time.time() > deadline:
                raise SystemExit("server did not start")
            time.sleep(0.1)


def wrk(target, connections, headers, script=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cmd.append(target)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def rate(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    if "Non-2xx" in out:
        raise SystemExit("non-2xx answers:\n" + out)
    return rps


def delivery_script(directory, tag):
    """A wrk script that posts a new signed delivery each request (bodies made ahead, signed here)."""
    import hashlib
    import hmac
    bodies = []
    for i in range(40000):
        wa = f"1650{i % 5000:07d}"
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Load"}, "wa_id": wa}],
            "messages": [{"from": wa, "id": f"wamid.{tag}.{i}", "timestamp": "1749416383",
                          "type": "text", "text": {"body": "hello"}}]}}]}]}, separators=(",", ":"))
        sig = "sha256=" + hmac.new(APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        bodies.append((body, sig))
    path = os.path.join(directory, f"deliver-{tag}.lua")
    with open(path, "w") as f:
        f.write("local bodies = {\n")
        for body, sig in bodies:
            f.write("  {%s, %s},\n" % (json.dumps(body), json.dumps(sig)))
        f.write("}\nlocal n = 0\n")
        f.write("function request()\n  n = n % #bodies + 1\n  local b = bodies[n]\n"
                "  return wrk.format('POST', '/webhooks/whatsapp', {['Content-Type'] = 'application/json',"
                " ['X-Hub-Signature-256'] = b[2]}, b[1])\nend\n")
    return path


def measure(ports, path, headers, scratch, tag=None):
    """Median requests/s over RUNS runs, and the CPU shares of the median run."""
    runs = []
    for r in range(RUNS):
        scripts = [delivery_script(scratch, f"{tag}{r}p{i}") if tag else None for i in range(len(ports))]
        rosetta_pids = [p.pid for p in SERVERS]
        pg = postgres_pids()
        before = (cpu_seconds(rosetta_pids), cpu_seconds(pg), time.time(), idle_seconds())
        per = CONNECTIONS // len(ports)
        procs = [wrk(f"http://127.0.0.1:{port}{path}", per, headers, scripts[i]) for i, port in enumerate(ports)]
        outs = [p.communicate()[0] for p in procs]
        wall = time.time() - before[2]
        total = sum(rate(o) for o in outs)
        rosetta_cpu = cpu_seconds(rosetta_pids) - before[0]
        pg_cpu = cpu_seconds(pg) - before[1]
        idle = idle_seconds() - before[3]
        cores = os.cpu_count() * wall
        runs.append((total, rosetta_cpu / cores, pg_cpu / cores, idle / cores))
    runs.sort()
    return runs[len(runs) // 2]


SERVERS = []


def main():
    name = f"rosetta_bench_instances_{os.getpid()}"
    psql(f"CREATE DATABASE {name}")
    url = f"{PG}/{name}"
    scratch = tempfile.mkdtemp()
    try:
        org = json.loads(rosetta(url, "org", "create", "--name", "bench", "--json"))["id"]
        rosetta(url, "account", "create", "--org", org, "--phone-number-id", PNID, "--phone-number", "+15550783881")
        rosetta(url, "seed", "--org", org, "--conversations", str(CONVERSATIONS), "--messages-per-conversation", "3", "--seed", "7")
        key = json.loads(rosetta(url, "key", "create", "--org", org, "--style", "wacrm", "--json"))["key"]
        auth = [f"Authorization: Bearer {key}"]
        print(f"# One instance and three over one PostgreSQL database\n")
        print(f"{os.cpu_count()} cores; PostgreSQL {PG.split('@')[-1]}, {CONVERSATIONS:,} conversations; each instance "
              f"`rosetta serve --workers 2 --pool-size 8`, shared rate limits on; wrk {CONNECTIONS} connections in all "
              f"(three instances: one wrk per instance, a third each, rates summed), {SECONDS}s, median of {RUNS}\n")
        print("| request | instances | requests/s | Rosetta CPU | PostgreSQL CPU | idle |")
        print("|---|---|---|---|---|---|")
        results = {}
        for count in (1, 3):
            ports = [18300 + i for i in range(count)]
            SERVERS.clear()
            SERVERS.extend(serve(url, p) for p in ports)
            try:
                for label, path, headers, tag in [
                    ("wacrm conversation list (default page)", "/api/v1/conversations", auth, None),
                    ("/api/v1/me", "/api/v1/me", auth, None),
                    ("Meta's deliveries (one new message each)", "/webhooks/whatsapp", [], f"i{count}"),
                ]:
                    rps, r_cpu, pg_cpu, idle = measure(ports, path, headers, scratch, tag)
                    results[(label, count)] = rps
                    print(f"| {label} | {count} | {rps:,.0f} | {r_cpu:.0%} | {pg_cpu:.0%} | {idle:.0%} |", flush=True)
            finally:
                for s in SERVERS:
                    s.terminate()
                    s.wait()
        print()
        for label in sorted({l for l, _ in results}):
            print(f"- {label}: three instances at {results[(label, 3)] / results[(label, 1)]:.2f}x one")
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
