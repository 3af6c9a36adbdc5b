#!/usr/bin/env python3
"""Peak RSS of `rosetta serve` (all three dialects) through deep reads of the 1,000,000-conversation
SQLite database: a wacrm cursor walk 100,000 rows deep and a kirim one (pages of 100, one
connection), then wrk -c32 for 4 s each on envelope's page 10,000 and 5,000 (with totals) and on
wacrm's first page. Prints VmHWM/VmRSS after each stage.

    python3 bench/depth-rss.py [BIN_DIR] [serve options...]   # BIN_DIR defaults to target/release
"""
import http.client, json, os, sqlite3, subprocess, sys, time, urllib.parse, uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
bindir = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release")
db = str(ROOT / os.environ.get("DB", "bench/data/store-1m.db"))
url = "sqlite://" + db
PORT = 18400
con = sqlite3.connect(db)
org = str(uuid.UUID(bytes=con.execute("select id from organizations where name='bench'").fetchone()[0]))
pnid = con.execute("select a.phone_number_id from whatsapp_accounts a join conversations c on c.account_id = a.id "
                   "group by 1 order by count(*) desc limit 1").fetchone()[0]
keys = {d: json.loads(subprocess.check_output([f"{bindir}/rosetta", "--database-url", url, "key", "create", "--org", org,
                                                "--name", "depth-rss", "--style", d, "--json"]))["key"]
        for d in ["wacrm", "kirim", "envelope"]}
env = dict(os.environ, ROSETTA_LOG="warn", WHATSAPP_APP_SECRET="bench-app-secret")
server = subprocess.Popen([f"{bindir}/rosetta", "--database-url", url, "serve", "--bind", f"127.0.0.1:{PORT}",
                           "--rate-limit-per-minute", "0", "--shared-render-mib", "0"] + sys.argv[2:], env=env)


def report(stage):
    status = dict(line.split(":", 1) for line in open(f"/proc/{server.pid}/status"))
    mib = lambda k: int(status[k].split()[0]) / 1024
    print(f"| {stage} | {mib('VmRSS'):.0f} MiB | {mib('VmHWM'):.0f} MiB |", flush=True)


client = None
for _ in range(100):
    try:
        client = http.client.HTTPConnection("127.0.0.1", PORT)
        client.request("GET", "/healthz")
        client.getresponse().read()
        break
    except OSError:
        time.sleep(0.2)


def get(path, key):
    client.request("GET", path, headers={"Authorization": f"Bearer {key}", "x-org-id": org})
    return json.loads(client.getresponse().read())


def walk(path, key, next_of, rows=100_000):
    cursor, walked = None, 0
    while walked < rows:
        sep = "&" if "?" in path else "?"
        page = get(f"{path}{sep}limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""), key)
        cursor, walked = next_of(page), walked + 100
        if cursor is None:
            break


try:
    print("| stage | RSS | peak |\n|---|---|---|")
    report("started")
    walk("/api/v1/conversations", keys["wacrm"], lambda p: p["meta"]["next_cursor"])
    report("wacrm cursor walk, 100,000 rows")
    walk(f"/v1/{pnid}/conversations", keys["kirim"], lambda p: p["next_cursor"] if p["has_more"] else None)
    report("kirim cursor walk, 100,000 rows")
    for stage, path, key in [("envelope page 10,000 (limit 20, total), c32", "/api/whatsapp/conversations?page=10000&limit=20", "envelope"),
                             ("envelope page 5,000, c32", "/api/whatsapp/conversations?page=5000&limit=20", "envelope"),
                             ("wacrm first page (limit 50), c32", "/api/v1/conversations?limit=50", "wacrm")]:
        subprocess.run(["wrk", "-t2", "-c32", "-d4s", "-H", f"Authorization: Bearer {keys[key]}", "-H", f"x-org-id: {org}",
                        f"http://127.0.0.1:{PORT}{path}"], stdout=subprocess.DEVNULL, check=True)
        report(stage)
finally:
    server.terminate()
    server.wait()
