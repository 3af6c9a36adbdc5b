#!/usr/bin/env bash
# wacrm over HTTP on the 1,000,000-conversation SQLite database: requests a second and p99 with wrk
# at 32 connections (median of 3 runs), for the conversation list (limit 50), one conversation,
# one page of messages, and the last page of a full cursor walk.
#
#   bench/wacrm.sh                      # uses bench/data/store-1m.db (made by `just bench-store`)
#   DB=bench/data/other.db CONNECTIONS=8 SECONDS_PER_RUN=10 bench/wacrm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
start_server wacrm 18180
base="http://127.0.0.1:18180/api/v1"
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
header wacrm "walk: $pages pages of 100"
measure "conversation list, limit 50 (first page)" "$base/conversations?limit=50"
measure "conversation list, limit 50 (last page of the walk)" "$base/conversations?limit=50&cursor=$last_cursor"
measure "one conversation" "$base/conversations/$conv"
measure "one page of messages (limit 50)" "$base/conversations/$conv/messages?limit=50"
