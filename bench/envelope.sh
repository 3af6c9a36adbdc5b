#!/usr/bin/env bash
# envelope over HTTP on the 1,000,000-conversation SQLite database: requests a second and p99 with
# wrk at 32 connections (median of 3 runs) for the page/limit list with its exact total, at page 1
# and page 10,000 (limit 20), unfiltered and filtered by status and by assignee. An assignee has
# about 100,000 conversations here, so its deep page is its last full one (about page 5,000).
#
#   bench/envelope.sh                   # uses bench/data/store-1m.db (made by `just bench-store`)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
start_server envelope 18182
extra=(-H "x-org-id: $org_uuid")
base="http://127.0.0.1:18182/api/whatsapp"
read -r assignee assignee_last <<<"$(python3 - "$DB" <<'PY'
import sqlite3, sys, uuid
c = sqlite3.connect(sys.argv[1])
a, n = c.execute("select assignee_id, count(*) from conversations where assignee_id is not null "
                 "group by assignee_id order by 2 desc limit 1").fetchone()
print(f"user_{uuid.UUID(bytes=a)}", n // 20)
PY
)"
header envelope "assignee $assignee, its last full page $assignee_last"
list="$base/conversations"
measure "page 1" "$list?page=1"
measure "page 10,000" "$list?page=10000"
measure "status=open, page 1" "$list?status=open&page=1"
measure "status=open, page 10,000" "$list?status=open&page=10000"
measure "status=closed, page 1" "$list?status=closed&page=1"
measure "status=closed, page 10,000" "$list?status=closed&page=10000"
measure "assignee, page 1" "$list?assignee=$assignee&page=1"
measure "assignee, page $assignee_last (its last full page)" "$list?assignee=$assignee&page=$assignee_last"
