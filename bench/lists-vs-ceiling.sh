#!/usr/bin/env bash
# Each dialect's default conversation list (uncached: shared renderings off) beside the in-memory
# ceiling answering the very same bytes (bench/ceiling), on the 1,000,000-conversation SQLite
# database: requests a second with wrk at 32 connections, median of 3 runs, and the share.
#
#   bench/lists-vs-ceiling.sh            # this build (target/release)
#   BIN=/tmp/base-bin bench/lists-vs-ceiling.sh   # another build's binaries; the ceiling is this one's
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
echo "| dialect | list | rosetta requests/s | ceiling requests/s | share |"
echo "|---|---|---|---|---|"
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
  echo "| $dialect | $path ($(wc -c < "$work/$dialect.json") bytes) | $ours | $theirs | $(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.1f%%", 100*a/b}') |"
done
rm -rf "$work"
