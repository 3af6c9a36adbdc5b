#!/usr/bin/env bash
# Many dashboards polling one organization's first page while ingest runs (issue #19): wrk with
# POLLERS connections (default 50) on the wacrm conversation list, while signed Meta deliveries
# arrive at RATE a second (default 100) for the bench organization's busiest account; once with the
# shared rendering on (its hit rate read from the server's count at shutdown) and once with it off.
#
#   bench/pollers.sh                     # uses bench/data/store-1m.db (made by `just bench-store`)
#   POLLERS=50 RATE=100 SECONDS_PER_RUN=10 bench/pollers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
POLLERS=${POLLERS:-50}
RATE=${RATE:-100}
source bench/lib.sh
pnid=$(python3 - "$DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("select a.phone_number_id from whatsapp_accounts a join organizations o on o.id = a.org_id "
                 "where o.name = 'bench' limit 1").fetchone()[0])
PY
)
echo "# $POLLERS pollers of the first page while ingest runs at $RATE deliveries a second"
echo
echo "$(nproc) cores; server: rosetta-wacrm, 2 workers, SQLite $DB; wrk -t2 -c$POLLERS -d${SECONDS_PER_RUN}s on /api/v1/conversations (limit 50, no If-None-Match: each poll wants the page)"
echo
echo "| shared rendering | polls/s | p50 ms | p99 ms | deliveries/s achieved | hit rate | server peak RSS |"
echo "|---|---|---|---|---|---|---|"
for mib in 8 0; do
  log=$(mktemp)
  SHARED_RENDER_MIB=$mib ROSETTA_LOG="warn,rosetta::server=info" start_server wacrm 18191 2>"$log"
  out=$(python3 bench/pollers.py 18191 "$key" bench-app-secret "$pnid" "http://127.0.0.1:18191/api/v1/conversations?limit=50" \
    "$POLLERS" "$SECONDS_PER_RUN" "$RATE")
  peak=$(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' /proc/"$pid"/status)
  kill -TERM "$pid"; wait "$pid" || true
  rate=$(python3 - "$log" <<'PY'
import re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1]).read())
m = re.search(r"hits=(\d+) misses=(\d+)", text)
print(f"{int(m[1]) / max(1, int(m[1]) + int(m[2])):.1%} ({m[1]} of {int(m[1]) + int(m[2])})" if m else "n/a")
PY
)
  python3 - "$out" "$mib" "$rate" "$peak" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
if r.get("non_2xx") or r["deliveries_not_200"]:
    sys.exit(f"failures: {r}")
on = "on (8 MiB)" if sys.argv[2] != "0" else "off"
print(f"| {on} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['delivery_rate']} | "
      f"{sys.argv[3] if sys.argv[2] != '0' else '-'} | {sys.argv[4]} |")
PY
  rm -f "$log"
done
