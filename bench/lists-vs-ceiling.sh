#!/usr/bin/env bash
# Each dialect's default conversation list (uncached: shared renderings off) beside the in-memory
# ceiling answering the very same bytes (bench/ceiling), on the 1,000,000-conversation SQLite
# database: requests a second with wrk at 32 connections, median of 3 runs, and the share.
#
#   bench/lists-vs-ceiling.sh            # this build (target/release)
#   BIN=/tmp/base-bin bench/lists-vs-ceiling.sh   # another build's binaries; the ceiling is this one's
#   DATASETTE=target/bench-venv/bin/datasette bench/lists-vs-ceiling.sh   # Datasette beside them too,
#       answering the suite's SQL (bench/run.py's datasette_sql) from the same file, in the same sitting
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
cargo build --release --quiet -p rosetta-bench-ceiling
pnid=$(python3 - "$DB" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute(
    "select a.phone_number_id from whatsapp_accounts a join conversations c on c.account_id = a.id "
    "group by 1 order by count(*) desc limit 1").fetchone()[0])
PY
)
work=$(mktemp -d)
if [ -n "${DATASETTE:-}" ]; then
  echo "| dialect | list | rosetta requests/s | ceiling requests/s | share | Datasette requests/s | Rosetta / Datasette |"
  echo "|---|---|---|---|---|---|---|"
else
  echo "| dialect | list | rosetta requests/s | ceiling requests/s | share |"
  echo "|---|---|---|---|---|"
fi
for dialect in wacrm kirim envelope; do
  case $dialect in
    wacrm) path=/api/v1/conversations ;;
    kirim) path=/v1/$pnid/conversations ;;
    envelope) path=/api/whatsapp/conversations ;;
  esac
  start_server "$dialect" 18195
  [ "$dialect" = envelope ] && extra=(-H "x-org-id: $org_uuid")
  curl -sf -H "$auth" ${extra[@]+"${extra[@]}"} "http://127.0.0.1:18195$path" -o "$work/$dialect.json"
  ours=$(measure "$dialect" "http://127.0.0.1:18195$path" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  target/release/rosetta-bench-ceiling --bind 127.0.0.1:18196 --workers 2 "$path=$work/$dialect.json" &
  cpid=$!
  sleep 1
  theirs=$(measure ceiling "http://127.0.0.1:18196$path" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  kill "$cpid"; wait "$cpid" 2>/dev/null || true
  row="| $dialect | $path ($(wc -c < "$work/$dialect.json") bytes) | $ours | $theirs | $(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.1f%%", 100*a/b}') |"
  if [ -n "${DATASETTE:-}" ]; then
    dpath=$(python3 - "$DB" "$dialect" "$pnid" <<'PY'
import sqlite3, sys, urllib.parse
sys.path.insert(0, "bench")
from run import datasette_sql
db, dialect, pnid = sys.argv[1:]
org = sqlite3.connect(db).execute("select hex(id) from organizations where name='bench'").fetchone()[0]
order, limit, account = {"wacrm": ("created", 50, None), "kirim": ("last_message", 25, pnid),
                         "envelope": ("activity", 20, None)}[dialect]
stem = db.rsplit("/", 1)[-1].removesuffix(".db")
print(f"/{stem}.json?" + urllib.parse.urlencode({"sql": datasette_sql(org, order, limit, account), "_shape": "array"}))
PY
)
    "$DATASETTE" serve "$DB" --port 18197 --setting sql_time_limit_ms 20000 --setting default_cache_ttl 0 >/dev/null 2>&1 &
    dpid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:18197$dpath" -o /dev/null && break; sleep 0.2; done
    extra=()
    peer=$(measure datasette "http://127.0.0.1:18197$dpath" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
    kill "$dpid"; wait "$dpid" 2>/dev/null || true
    row="$row $peer | $(awk -v a="$ours" -v b="$peer" 'BEGIN{printf "%.1fx", a/b}') |"
  fi
  echo "$row"
done
rm -rf "$work"
