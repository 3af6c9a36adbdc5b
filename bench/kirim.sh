#!/usr/bin/env bash
# kirim over HTTP on the 1,000,000-conversation SQLite database: requests a second and p99 with wrk
# at 32 connections (median of 3 runs), for the conversation list of the busiest account at limit
# 25 and 100, filtered by status and by contact, and a page deep in a cursor walk.
#
#   bench/kirim.sh                      # uses bench/data/store-1m.db (made by `just bench-store`)
#   DB=bench/data/other.db CONNECTIONS=8 SECONDS_PER_RUN=10 bench/kirim.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
start_server kirim 18181
base="http://127.0.0.1:18181/v1"
first=$(python3 - "$base" "$key" "$DB" <<'PY'
import json, sqlite3, sys, urllib.request
base, key, db = sys.argv[1], sys.argv[2], sys.argv[3]
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + key})
    return json.load(urllib.request.urlopen(req))
# The account with the most conversations.
pnid = sqlite3.connect(db).execute(
    "select a.phone_number_id from whatsapp_accounts a join conversations c on c.account_id = a.id "
    "group by a.id order by count(*) desc limit 1").fetchone()[0]
page = get(f"/{pnid}/conversations?limit=1")
contact = page["data"][0]["contact"]["id"]
# 1,000 pages of 100 in: a deep cursor.
cursor = None
for _ in range(1000):
    p = get(f"/{pnid}/conversations?limit=100" + (f"&cursor={cursor}" if cursor else ""))
    if not p["has_more"]:
        break
    cursor = p["next_cursor"]
print(pnid, contact, cursor)
PY
)
read -r pnid contact deep_cursor <<<"$first"
header kirim "account $pnid"
list="$base/$pnid/conversations"
measure "conversation list, limit 25" "$list?limit=25"
measure "conversation list, limit 100" "$list?limit=100"
measure "status=open, limit 25" "$list?status=open&limit=25"
measure "status=open, limit 100" "$list?status=open&limit=100"
measure "status=resolved, limit 25" "$list?status=resolved&limit=25"
measure "status=pending, limit 25" "$list?status=pending&limit=25"
measure "contact_id=…, limit 25" "$list?contact_id=$contact&limit=25"
measure "limit 25, 100,000 rows deep (cursor)" "$list?limit=25&cursor=$deep_cursor"
