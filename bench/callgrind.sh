#!/usr/bin/env bash
# bench/callgrind.sh [BINDIR] [PATH] [N]: instructions a request of GET PATH (default the wacrm
# conversation list) on rosetta-wacrm with one worker under callgrind, on a fresh database of 2,000
# seeded conversations: N requests (default 300) counted after 300 of warm-up. Callgrind counts are
# repeatable on a noisy machine (within ~2% here: the key-usage flush and the clock vary). The dump is
# kept as /tmp/last-cg.out for callgrind_annotate --inclusive=yes.
set -euo pipefail
bin=${1:-target/release}; path=${2:-/api/v1/conversations}; n=${3:-300}
dir=$(mktemp -d); url="sqlite://$dir/p.db"
org=$($bin/rosetta --database-url $url org create --name bench --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
$bin/rosetta --database-url $url account create --org $org --phone-number-id 106540352242922 --phone-number +15550783881 >/dev/null
$bin/rosetta --database-url $url seed --org $org --conversations 2000 --messages-per-conversation 2 --seed 7 >/dev/null
key=$($bin/rosetta --database-url $url key create --org $org --style wacrm --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
ROSETTA_LOG=warn valgrind --tool=callgrind --callgrind-out-file=$dir/cg.out $bin/rosetta-wacrm --database-url $url --bind 127.0.0.1:18555 --workers 1 --rate-limit-per-minute 0 --shared-render-mib 0 2>/dev/null &
vpid=$!
python3 - "$key" "$path" "$n" "$dir" <<'PY'
import http.client, sys, time, subprocess
key, path, n, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for _ in range(600):
    try:
        c = http.client.HTTPConnection("127.0.0.1", 18555, timeout=60); c.request("GET", "/healthz"); c.getresponse().read(); break
    except Exception: time.sleep(0.2)
h = {"Authorization": "Bearer " + key}
def go(k):
    for _ in range(k):
        c.request("GET", path, headers=h); r = c.getresponse(); r.read(); assert r.status == 200, r.status
go(300)
subprocess.run(["callgrind_control", "-z"], check=True, capture_output=True)
go(n)
subprocess.run(["callgrind_control", "-d"], check=True, capture_output=True)
PY
kill $vpid; wait $vpid 2>/dev/null || true
# The dump callgrind_control -d made (not the file written at exit).
f=$(ls $dir/cg.out.* | head -1)
total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
cp "$f" /tmp/last-cg.out
echo "$path: $((total / n)) instructions per request ($bin)"
rm -rf $dir
