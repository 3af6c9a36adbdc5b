#!/usr/bin/env bash
# wacrm over HTTP on the 1,000,000-conversation SQLite database: requests a second and p99 with wrk
# at 32 connections (median of 3 runs), for the conversation list (limit 50), one conversation,
# one page of messages, and the last page of a full cursor walk.
#
#   bench/wacrm.sh                      # uses bench/data/store-1m.db (made by `just bench-store`)
#   DB=bench/data/other.db CONNECTIONS=8 SECONDS_PER_RUN=10 bench/wacrm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${DB:-bench/data/store-1m.db}
CONNECTIONS=${CONNECTIONS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
RUNS=${RUNS:-3}
command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
[ -f "$DB" ] || { echo "no $DB: run 'just bench-store' first" >&2; exit 1; }
cargo build --release --quiet -p rosetta --bins
url="sqlite://$PWD/$DB"
bin=target/release
org=$(python3 - "$DB" <<'PY'
import sqlite3, sys, uuid
row = sqlite3.connect(sys.argv[1]).execute("select id from organizations where name='bench'").fetchone()
print(str(uuid.UUID(bytes=row[0])))
PY
)
key=$($bin/rosetta --database-url "$url" key create --org "$org" --name bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
port=18180
ROSETTA_LOG=warn $bin/rosetta-wacrm --database-url "$url" --bind 127.0.0.1:$port --rate-limit-per-minute 0 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 1
base="http://127.0.0.1:$port/api/v1"
auth="Authorization: Bearer $key"
first=$(python3 - "$base" "$key" <<'PY'
import json, sys, urllib.request
base, key = sys.argv[1], sys.argv[2]
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + key})
    return json.load(urllib.request.urlopen(req))
page = get("/conversations?limit=1")
conv = page["data"][0]["id"]
# Walk every page (100 at a time) to the end; keep the cursor of the last page.
cursor, last, pages = None, None, 0
while True:
    p = get("/conversations?limit=100" + (f"&cursor={cursor}" if cursor else ""))
    pages += 1
    if p["meta"]["next_cursor"] is None:
        break
    last, cursor = cursor, p["meta"]["next_cursor"]
print(conv, cursor or "", pages)
PY
)
read -r conv last_cursor pages <<<"$first"
echo "# wacrm HTTP benchmark"
echo
echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; server: rosetta-wacrm, 2 workers; wrk -t2 -c$CONNECTIONS -d${SECONDS_PER_RUN}s, median of $RUNS runs; walk: $pages pages of 100"
echo
echo "| request | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
measure() {
  local name=$1 path=$2
  local results=()
  for _ in $(seq 1 "$RUNS"); do
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -H "$auth" "$base$path")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out")
    [ -z "$non2xx" ] || { echo "non-2xx answers for $path: $non2xx" >&2; exit 1; }
    results+=("$rps $p50 $p99")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | awk -v n="$name" '{printf "| %s | %.0f | %s | %s |\n", n, $1, $2, $3}'
}
measure "conversation list, limit 50 (first page)" "/conversations?limit=50"
measure "conversation list, limit 50 (last page of the walk)" "/conversations?limit=50&cursor=$last_cursor"
measure "one conversation" "/conversations/$conv"
measure "one page of messages (limit 50)" "/conversations/$conv/messages?limit=50"
