#!/usr/bin/env python3
"""Rosetta's benchmark suite: `just bench` (= `bench/run.sh`, which installs wrk, Datasette and
matplotlib and builds the release binaries, then runs this).

On a seeded database (made on first use, then reused) it starts `rosetta serve` with all three
dialects and drives every measured request with wrk over loopback at each connection count, several
runs each, keeping the median run. Beside it, in the same run and on the same SQLite file, it
measures the peer (Datasette answering the equivalent SQL) and the ceiling (a minimal actix-web
server answering the very same response bytes from memory). It then measures depth curves, ingest,
and the same lists on PostgreSQL, samples the servers' RSS all along, and writes `bench/report.md`
with PNG plots in `bench/plots/`. Raw results go to `target/bench/results.json`.

Knobs (environment):
  BENCH_CONVERSATIONS  database size (default 1000000; 10 messages each)
  BENCH_QUICK=1        a small quick run: 10000 conversations, 1 run of 2 s each
  BENCH_RUNS           runs per figure, the median is kept (default 3)
  BENCH_SECONDS        seconds per run (default 4)
  BENCH_DEPTH_SECONDS  seconds per run of a depth-curve point (default 2)
  BENCH_CONNECTIONS    connection counts (default 1,8,32)
  BENCH_POSTGRES       PostgreSQL server URL without a database (default
                       postgres://postgres@127.0.0.1:5432); "off" skips PostgreSQL
  BENCH_REPORT         where the report goes (default bench/report.md)
  BENCH_KEEP_POSTGRES  with BENCH_POSTGRES=off: an earlier results.json whose PostgreSQL figures are
                       carried into this report (said so in its notes)
"""

import http.client
import json
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"
WORK = ROOT / "target" / "bench"
VENV = ROOT / "target" / "bench-venv"
QUICK = os.environ.get("BENCH_QUICK") == "1"
N = int(os.environ.get("BENCH_CONVERSATIONS", "10000" if QUICK else "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "2" if QUICK else "4"))
DEPTH_SECONDS = int(os.environ.get("BENCH_DEPTH_SECONDS", "1" if QUICK else "2"))
CONNS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1,8,32").split(",")]
PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REPORT = ROOT / os.environ.get("BENCH_REPORT", "bench/report.md")
PLOTS = REPORT.parent / "plots"
DEPTHS = [0, 1_000, 10_000, 100_000, 500_000]
MESSAGES_PER_CONVERSATION = 10
STARTED = time.time()


def log(msg):
    print(f"[{time.time() - STARTED:7.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on {port}")


def rss_kib(pid):
    """(current, peak) resident set of a process, KiB."""
    cur = peak = 0
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    except OSError:
        pass
    return cur, peak


class Server:
    """A server process with its RSS sampled every 0.25 s while it runs."""

    def __init__(self, name, argv, port, env=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(port, self.proc)
        self.samples = []  # (seconds since the suite started, KiB)
        self.peak = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while not self.stopped.is_set():
            cur, peak = rss_kib(self.proc.pid)
            if cur:
                self.samples.append((round(time.time() - STARTED, 2), cur))
                self.peak = max(self.peak, peak, cur)
            self.stopped.wait(0.25)

    def stop(self):
        cur, peak = rss_kib(self.proc.pid)
        self.peak = max(self.peak, peak, cur)
        self.stopped.set()
        self.thread.join()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return {"name": self.name, "peak_kib": self.peak, "samples": self.samples}


# ---------------------------------------------------------------------------------------------
# wrk


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk_once(url, conns, seconds, headers):
    argv = ["wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx answers from {url}:\n{out}")
    lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "max": to_ms(lat.group(3)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "socket_errors": errors.group(1) if errors else None,
    }


def measure(url, conns, headers, seconds=None, runs=None):
    """The median run (by requests a second) of `runs`, with every run's rate kept."""
    runs = runs or RUNS
    results = [wrk_once(url, conns, seconds or SECONDS, headers) for _ in range(runs)]
    results.sort(key=lambda r: r["rps"])
    median = dict(results[(len(results) - 1) // 2])
    median["runs"] = [round(r["rps"]) for r in results]
    median["requests_total"] = sum(r["requests"] for r in results)
    return median


# ---------------------------------------------------------------------------------------------
# databases


def cli(url, *args):
    out = subprocess.run([str(BIN / "rosetta"), "--database-url", url, *args], capture_output=True, text=True,
                         env={**os.environ, "ROSETTA_LOG": "warn"})
    if out.returncode != 0:
        raise SystemExit(f"rosetta {' '.join(args)}: {out.stderr}")
    return out.stdout


class Db:
    """A bench database: SQL for the facts the requests need, in either backend."""

    def __init__(self, backend, url):
        self.backend, self.url = backend, url

    def sql(self, query):
        if self.backend == "sqlite":
            return sqlite3.connect(self.url.removeprefix("sqlite://")).execute(query).fetchall()
        out = subprocess.run(["psql", self.url, "-qAt", "-F", "\t", "-c", query], capture_output=True, text=True,
                             check=True).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def hex(self, column):
        return f"hex({column})" if self.backend == "sqlite" else f"encode({column}, 'hex')"

    def org(self):
        if self.backend == "sqlite" and not Path(self.url.removeprefix("sqlite://")).exists():
            return None
        rows = self.sql(f"select {self.hex('id')} from organizations where name = 'bench'")
        return rows[0][0].lower() if rows else None

    def seed(self):
        org = self.org()
        if org:
            count = int(self.sql("select count(*) from conversations")[0][0])
            if count >= N:
                log(f"{self.backend}: reusing the seeded database ({count} conversations)")
                return org
            raise SystemExit(f"{self.url} holds {count} conversations, not {N}: remove it to reseed")
        log(f"{self.backend}: seeding {N} conversations with {MESSAGES_PER_CONVERSATION} messages each ...")
        started = time.time()
        org = json.loads(cli(self.url, "org", "create", "--name", "bench", "--json"))["id"]
        subprocess.run([str(BIN / "rosetta"), "--database-url", self.url, "seed", "--org", org, "--conversations",
                        str(N), "--messages-per-conversation", str(MESSAGES_PER_CONVERSATION), "--seed", "7"],
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, "ROSETTA_LOG": "warn"})
        log(f"{self.backend}: seeded in {time.time() - started:.0f}s")
        return self.org()


def uuid_of(hexid):
    h = hexid.lower()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def pg_admin(sql):
    subprocess.run(["psql", f"{PG}/postgres", "-qAtc", sql], check=True, capture_output=True)


def pg_available():
    if PG == "off":
        return False
    return subprocess.run(["psql", f"{PG}/postgres", "-qAtc", "select 1"], capture_output=True).returncode == 0


# ---------------------------------------------------------------------------------------------
# HTTP helpers


class Http:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path, headers):
        self.conn.request("GET", path, headers=headers)
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"GET {path}: {resp.status} {body[:300]!r}")
        return body


def walk(port, headers, path, limit, next_of, depths):
    """Cursors at each depth (rows skipped), walking pages of 100 with real cursors."""
    client = Http(port)
    cursors, cursor, walked = {0: None}, None, 0
    for depth in sorted(d for d in depths if d > 0):
        while walked < depth:
            sep = "&" if "?" in path else "?"
            url = f"{path}{sep}limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            page = json.loads(client.get(url, headers))
            cursor, rows = next_of(page)
            walked += rows
            if cursor is None:
                return cursors
        cursors[depth] = cursor
    return cursors


# ---------------------------------------------------------------------------------------------
# the suite


def caller_headers(keys, org):
    """Each dialect's request headers: wacrm, kirim, envelope."""
    return ({"Authorization": f"Bearer {keys['wacrm']}"},
            {"Authorization": f"Bearer {keys['kirim']}"},
            {"Authorization": f"Bearer {keys['envelope']}", "x-org-id": uuid_of(org)})


def requests_for(db, org, keys):
    """(dialect, name, path, headers, limit of the page) for every measured request."""
    pnid = db.sql("select a.phone_number_id from whatsapp_accounts a join conversations c on c.account_id = a.id "
                  "group by a.phone_number_id order by count(*) desc limit 1")[0][0]
    assignee = db.sql(f"select {db.hex('assignee_id')} from conversations where assignee_id is not null "
                      "group by assignee_id order by count(*) desc limit 1")[0][0]
    # The newest conversation of the busiest account, so every dialect can name it.
    conv, contact = db.sql(f"select {db.hex('c.id')}, {db.hex('c.contact_id')} from conversations c "
                           "join whatsapp_accounts a on a.id = c.account_id "
                           f"where a.phone_number_id = '{pnid}' order by c.created_at desc, c.id desc limit 1")[0]
    w, k, e = caller_headers(keys, org)
    conv_uuid, contact_uuid, user_uuid = uuid_of(conv), uuid_of(contact), uuid_of(assignee)
    ulid = lambda h: crockford(int(h, 16))
    reqs = [
        ("wacrm", "list (default limit 50)", "/api/v1/conversations", w, 50),
        ("wacrm", "list, limit 100", "/api/v1/conversations?limit=100", w, 100),
        ("wacrm", "status=open", "/api/v1/conversations?status=open", w, 50),
        ("wacrm", "status=open, limit 100", "/api/v1/conversations?status=open&limit=100", w, 100),
        ("wacrm", "by contact", f"/api/v1/conversations?contact_id={contact_uuid}", w, 50),
        ("wacrm", "one conversation", f"/api/v1/conversations/{conv_uuid}", w, 1),
        ("wacrm", "messages (limit 50)", f"/api/v1/conversations/{conv_uuid}/messages?limit=50", w, 50),
        ("kirim", "list (default limit 25)", f"/v1/{pnid}/conversations", k, 25),
        ("kirim", "list, limit 100", f"/v1/{pnid}/conversations?limit=100", k, 100),
        ("kirim", "status=open", f"/v1/{pnid}/conversations?status=open", k, 25),
        ("kirim", "status=open, limit 100", f"/v1/{pnid}/conversations?status=open&limit=100", k, 100),
        ("kirim", "by contact", f"/v1/{pnid}/conversations?contact_id=ctc_{ulid(contact)}", k, 25),
        ("kirim", "one conversation", f"/v1/{pnid}/conversations/cnv_{ulid(conv)}", k, 1),
        ("envelope", "list with total (default limit 20)", "/api/whatsapp/conversations", e, 20),
        ("envelope", "list with total, limit 100", "/api/whatsapp/conversations?limit=100", e, 100),
        ("envelope", "status=open", "/api/whatsapp/conversations?status=open", e, 20),
        ("envelope", "status=open, limit 100", "/api/whatsapp/conversations?status=open&limit=100", e, 100),
        ("envelope", "by assignee", f"/api/whatsapp/conversations?assignee={user_uuid}", e, 20),
        ("envelope", "one conversation", f"/api/whatsapp/conversations/conv_{conv_uuid}", e, 1),
        ("envelope", "messages (limit 50)", f"/api/whatsapp/messages?conversationId=conv_{conv_uuid}&limit=50", e, 50),
    ]
    return reqs, pnid


def crockford(n):
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    out = ""
    for _ in range(26):
        out = alphabet[n & 31] + out
        n >>= 5
    return out


def start_rosetta(db, name):
    port = free_port()
    server = Server(name, [str(BIN / "rosetta"), "--database-url", db.url, "serve", "--dialect", "all", "--bind",
                           f"127.0.0.1:{port}", "--workers", "2", "--rate-limit-per-minute", "0",
                           # Uncached figures: every request renders its own page.
                           "--shared-render-mib", "0"], port,
                    env={"ROSETTA_LOG": "warn", "WHATSAPP_APP_SECRET": "bench-app-secret"})
    return server


def make_keys(db, org):
    return {d: json.loads(cli(db.url, "key", "create", "--org", uuid_of(org), "--name", f"bench-{d}", "--style", d,
                              "--json"))["key"] for d in ("wacrm", "kirim", "envelope")}


def run_lists(db, org, server, results, label):
    keys = make_keys(db, org)
    reqs, pnid = requests_for(db, org, keys)
    base = f"http://127.0.0.1:{server.port}"
    for dialect, name, path, headers, limit in reqs:
        Http(server.port).get(path, headers)  # answers 200 before it is measured
        for c in CONNS:
            r = measure(base + path, c, headers)
            r.update(backend=label, dialect=dialect, request=name, path=path, connections=c)
            results["requests"].append(r)
            log(f"{label} {dialect} {name} c{c}: {r['rps']:.0f}/s p50 {r['p50']:.2f} p99 {r['p99']:.2f} ms")
    return keys, reqs, pnid


def run_depths(db, org, server, keys, pnid, results, label):
    """p50/p99 at one connection and requests a second at the most connections, by depth."""
    w, k, e = caller_headers(keys, org)
    base = f"http://127.0.0.1:{server.port}"
    curves = []
    cursors = walk(server.port, w, "/api/v1/conversations", 100,
                   lambda p: (p["meta"]["next_cursor"], len(p["data"])), DEPTHS)
    for depth, cursor in cursors.items():
        curves.append(("wacrm: created desc (keyset, limit 50)", depth,
                       "/api/v1/conversations?limit=50" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""), w))
    cursors = walk(server.port, k, f"/v1/{pnid}/conversations", 100,
                   lambda p: (p["next_cursor"] if p["has_more"] else None, len(p["data"])), DEPTHS)
    for depth, cursor in cursors.items():
        curves.append(("kirim: last message desc, nulls last (keyset, limit 25)", depth,
                       f"/v1/{pnid}/conversations?limit=25" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""), k))
    total = int(db.sql("select count(*) from conversations")[0][0])
    pages = sorted({d // 20 + 1 for d in DEPTHS if d + 20 <= total} | ({10_000} if total >= 200_000 else set()))
    for page in pages:
        curves.append(("envelope: last activity desc (page/limit, limit 20, with total)", (page - 1) * 20,
                       f"/api/whatsapp/conversations?page={page}&limit=20", e))
    top = max(CONNS)
    for curve, depth, path, headers in curves:
        one = measure(base + path, 1, headers, seconds=DEPTH_SECONDS)
        many = measure(base + path, top, headers, seconds=DEPTH_SECONDS)
        results["depths"].append({"backend": label, "curve": curve, "depth": depth, "path": path,
                                  "p50": one["p50"], "p99": one["p99"], "rps": many["rps"],
                                  "connections": top, "requests_total": one["requests_total"] + many["requests_total"]})
        log(f"{label} depth {curve} {depth}: p50 {one['p50']:.2f} ms, {many['rps']:.0f}/s at c{top}")


def datasette_sql(org_hex, order, limit, pnid=None, status=None):
    where = [f"c.org_id = X'{org_hex}'"]
    if pnid:
        where.append(f"c.account_id = (select id from whatsapp_accounts where phone_number_id = '{pnid}')")
    column = {"created": "c.created_at", "last_message": "c.last_message_key", "activity": "c.last_activity_at"}[order]
    return (
        "select hex(c.id) as id, c.status, c.unread_count, c.last_message_text, c.last_message_direction, "
        "c.last_message_at, c.created_at, c.updated_at, hex(c.assignee_id) as assignee_id, "
        "hex(ct.id) as contact_id, ct.name as contact_name, ct.phone as contact_phone, "
        "(select json_group_array(json_object('id', hex(t.id), 'name', t.name, 'color', t.color)) "
        " from contact_tags x join tags t on t.id = x.tag_id where x.contact_id = c.contact_id) as tags "
        "from conversations c join contacts ct on ct.id = c.contact_id "
        f"where {' and '.join(where)} order by {column} desc, c.id desc limit {limit}"
    )


def run_peers(db, org, server, reqs, pnid, results):
    """Datasette and the in-memory ceiling beside each dialect's default list, same data, same run."""
    path_of = {r[0]: r for r in reqs if "default limit" in r[1]}
    lists = [("wacrm", "created", 50, None), ("kirim", "last_message", 25, pnid), ("envelope", "activity", 20, None)]
    file = Path(db.url.removeprefix("sqlite://"))
    dport = free_port()
    datasette = Server("datasette", [str(VENV / "bin" / "datasette"), "serve", str(file), "--port", str(dport),
                                     "--setting", "sql_time_limit_ms", "20000",
                                     "--setting", "default_cache_ttl", "0"], dport)
    WORK.joinpath("ceiling").mkdir(parents=True, exist_ok=True)
    bodies = []
    for dialect, order, limit, account in lists:
        _, _, path, headers, _ = path_of[dialect]
        body = Http(server.port).get(path, headers)
        target = WORK / "ceiling" / f"{dialect}.json"
        target.write_bytes(body)
        bodies.append(f"{path.split('?')[0]}={target}")
        sql = datasette_sql(org, order, limit, account)
        dpath = f"/{file.stem}.json?" + urllib.parse.urlencode({"sql": sql, "_shape": "array"})
        rows = json.loads(Http(dport).get(dpath, {}))
        assert len(rows) == limit, f"datasette answered {len(rows)} rows"
        results["peers"].append({"dialect": dialect, "sql": sql, "rosetta_bytes": len(body),
                                 "datasette_bytes": len(json.dumps(rows))})
    cport = free_port()
    ceiling = Server("ceiling", [str(BIN / "rosetta-bench-ceiling"), "--bind", f"127.0.0.1:{cport}", "--workers", "2",
                                 *bodies], cport)
    for (dialect, order, limit, account), peer in zip(lists, results["peers"]):
        _, _, path, headers, _ = path_of[dialect]
        dpath = f"/{file.stem}.json?" + urllib.parse.urlencode({"sql": peer["sql"], "_shape": "array"})
        for c in CONNS:
            rosetta = measure(f"http://127.0.0.1:{server.port}{path}", c, headers)
            theirs = measure(f"http://127.0.0.1:{dport}{dpath}", c, {})
            ceil = measure(f"http://127.0.0.1:{cport}{path}", c, headers)
            results["peer_runs"].append({"dialect": dialect, "connections": c, "rosetta": rosetta,
                                         "datasette": theirs, "ceiling": ceil})
            log(f"peers {dialect} c{c}: rosetta {rosetta['rps']:.0f}/s, datasette {theirs['rps']:.0f}/s, "
                f"ceiling {ceil['rps']:.0f}/s")
    results["rss"].append(datasette.stop())
    results["rss"].append(ceiling.stop())


def run_ingest(url, label, results):
    env = {**os.environ, "ROSETTA_BENCH_SENDERS": "8,32", "ROSETTA_BENCH_SECONDS": str(SECONDS),
           "ROSETTA_BENCH_ROUNDS": str(RUNS)}
    if url:
        env["ROSETTA_BENCH_DATABASE_URL"] = url
    out = subprocess.run(["cargo", "bench", "--quiet", "-p", "rosetta", "--bench", "ingest"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d, ]+)\|\s*(\d+)\s*\|", line)
        if m:
            results["ingest"].append({"backend": label, "senders": int(m.group(1)), "per_second": int(m.group(2)),
                                      "rounds": m.group(3).strip(), "non_200": int(m.group(4))})
            log(f"ingest {label} {m.group(1)} senders: {m.group(2)}/s")


def run_send(url, label, results):
    env = {**os.environ, "ROSETTA_BENCH_SECONDS": str(SECONDS), "ROSETTA_BENCH_ROUNDS": str(RUNS)}
    if url:
        env["ROSETTA_BENCH_DATABASE_URL"] = url
    out = subprocess.run(["cargo", "bench", "--quiet", "-p", "rosetta", "--bench", "send"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("result: "):
            figures = json.loads(line.removeprefix("result: "))
            figures["backend"] = label
            results["send"].append(figures)
            log(f"send {label}: {figures['dispatched']:.0f}/s dispatched, p50 {figures['latency_p50_ms']:.1f} ms")


def save(results):
    """Results so far, so a run that fails part-way keeps what it measured."""
    (WORK / "results.json").write_text(json.dumps(results, indent=1))


def machine():
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {"cores": os.cpu_count(), "memory_gib": round(mem / 1024 / 1024, 1), "cpu": cpu,
            "kernel": platform.release(), "wrk": (wrk.stdout or wrk.stderr).split("\n")[0].strip(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "config": {"conversations": N, "messages_per_conversation": MESSAGES_PER_CONVERSATION,
                                                "runs": RUNS, "seconds": SECONDS, "depth_seconds": DEPTH_SECONDS, "connections": CONNS, "quick": QUICK},
               "requests": [], "depths": [], "peers": [], "peer_runs": [], "ingest": [], "send": [], "rss": [], "notes": []}
    data = ROOT / "bench" / "data"
    data.mkdir(parents=True, exist_ok=True)
    sqlite_db = Db("sqlite", f"sqlite://{data / f'rosetta-{N}.db'}")
    org = sqlite_db.seed()
    results["config"]["sqlite_file_bytes"] = Path(sqlite_db.url.removeprefix("sqlite://")).stat().st_size
    results["config"]["messages"] = int(sqlite_db.sql("select count(*) from messages")[0][0])

    log("SQLite: lists")
    server = start_rosetta(sqlite_db, "rosetta (SQLite)")
    keys, reqs, pnid = run_lists(sqlite_db, org, server, results, "SQLite")
    save(results)
    log("SQLite: Datasette and the ceiling")
    run_peers(sqlite_db, org, server, reqs, pnid, results)
    save(results)
    log("SQLite: depth curves")
    run_depths(sqlite_db, org, server, keys, pnid, results, "SQLite")
    results["rss"].append(server.stop())
    save(results)
    log("SQLite: ingest")
    run_ingest(None, "SQLite", results)
    log("SQLite: sending")
    run_send(None, "SQLite", results)

    if pg_available():
        name = f"rosetta_bench_{N}"
        if subprocess.run(["psql", f"{PG}/{name}", "-qAtc", "select 1"], capture_output=True).returncode != 0:
            pg_admin(f"create database {name}")
        pg_db = Db("postgres", f"{PG}/{name}")
        pg_org = pg_db.seed()
        log("PostgreSQL: lists")
        server = start_rosetta(pg_db, "rosetta (PostgreSQL)")
        pg_keys, _, pg_pnid = run_lists(pg_db, pg_org, server, results, "PostgreSQL")
        save(results)
        log("PostgreSQL: depth curves")
        run_depths(pg_db, pg_org, server, pg_keys, pg_pnid, results, "PostgreSQL")
        results["rss"].append(server.stop())
        save(results)
        log("PostgreSQL: ingest")
        ingest = "rosetta_bench_ingest"
        pg_admin(f"drop database if exists {ingest}")
        pg_admin(f"create database {ingest}")
        try:
            run_ingest(f"{PG}/{ingest}", "PostgreSQL", results)
        finally:
            pg_admin(f"drop database if exists {ingest}")
        log("PostgreSQL: sending")
        send = "rosetta_bench_send"
        pg_admin(f"drop database if exists {send}")
        pg_admin(f"create database {send}")
        try:
            run_send(f"{PG}/{send}", "PostgreSQL", results)
        finally:
            pg_admin(f"drop database if exists {send}")
    elif os.environ.get("BENCH_KEEP_POSTGRES"):
        earlier = json.loads(Path(os.environ["BENCH_KEEP_POSTGRES"]).read_text())
        for part in ("requests", "depths", "ingest", "send"):
            results[part] += [x for x in earlier[part] if x.get("backend") == "PostgreSQL"]
        results["rss"] += [x for x in earlier["rss"] if x["name"] == "rosetta (PostgreSQL)"]
        results["notes"].append(
            f"The PostgreSQL figures are carried over from the run of {earlier['machine']['date']} "
            f"({earlier['config']['runs']} run(s) of {earlier['config']['seconds']} s), made by the same "
            "command on the same data; this run measured SQLite only.")
    else:
        results["notes"].append(f"PostgreSQL at {PG} was not reachable (or BENCH_POSTGRES=off): its figures are missing.")
    results["elapsed_s"] = round(time.time() - STARTED)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    log(f"results in {WORK / 'results.json'}; writing the report")
    subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), str(WORK / "results.json"), str(REPORT)],
                   check=True)


if __name__ == "__main__":
    main()
