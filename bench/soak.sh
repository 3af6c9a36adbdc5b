#!/usr/bin/env bash
# Soak: a mixed read / write / ingest load against a release server for MINUTES (default 10):
# wrk on a list of each dialect, a writer PATCHing and closing through kirim and envelope, and
# signed webhook deliveries, all at once. Reports 5xx answers (must be 0), the server's RSS at the
# start and the end (and its peak), and acknowledged deliveries against stored ones (nothing lost).
#
#   bench/soak.sh                 # 10 minutes on a fresh 20,000-conversation SQLite database
#   MINUTES=1 bench/soak.sh       # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-10}
command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
cargo build --release --quiet -p rosetta --bins
bin=target/release
work=$(mktemp -d)
url="sqlite://$work/soak.db"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
created=$($bin/rosetta --database-url "$url" org create --name Soak --json)
org=$(json "['id']" <<<"$created"); org_uuid=$(json "['uuid']" <<<"$created")
$bin/rosetta --database-url "$url" account create --org "$org" --phone-number-id 106540352242922 --phone-number +15550783881 >/dev/null
$bin/rosetta --database-url "$url" seed --org "$org" --conversations 20000 --messages-per-conversation 5 >/dev/null
key() { $bin/rosetta --database-url "$url" key create --org "$org" --style "$1" --json | json "['key']"; }
wacrm=$(key wacrm); kirim=$(key kirim); envelope=$(key envelope)
port=18190
WHATSAPP_APP_SECRET=soak-secret ROSETTA_LOG=warn $bin/rosetta --database-url "$url" serve --bind 127.0.0.1:$port --rate-limit-per-minute 0 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
base="http://127.0.0.1:$port"
rss() { awk '/VmRSS/{print $2}' /proc/$pid/status; }
hwm() { awk '/VmHWM/{print $2}' /proc/$pid/status; }
start_rss=$(rss)
seconds=$((MINUTES * 60))
out=$work/out; mkdir -p "$out"
wrk -t1 -c4 -d${seconds}s -H "Authorization: Bearer $wacrm" "$base/api/v1/conversations?limit=50" > "$out/wacrm" &
wrk -t1 -c4 -d${seconds}s -H "Authorization: Bearer $kirim" "$base/v1/106540352242922/conversations?limit=25" > "$out/kirim" &
wrk -t1 -c4 -d${seconds}s -H "Authorization: Bearer $envelope" -H "x-org-id: $org_uuid" "$base/api/whatsapp/conversations?page=50" > "$out/envelope" &
python3 - "$base" "$seconds" "$kirim" "$envelope" "$org_uuid" > "$out/writer" <<'PY' &
import hashlib, hmac, json, sys, time, urllib.request, urllib.error
base, seconds, kirim, envelope, org = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
end = time.time() + seconds
acked = writes = errors5 = 0
def call(method, path, headers, body=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
n = 0
page = json.loads(call("GET", "/v1/106540352242922/conversations?limit=100", {"Authorization": "Bearer " + kirim})[1])
ids = [c["id"] for c in page["data"]]
env = json.loads(call("GET", "/api/whatsapp/conversations?limit=100", {"Authorization": "Bearer " + envelope, "x-org-id": org})[1])
env_ids = [c["id"] for c in env["data"]["conversations"]]
while time.time() < end:
    n += 1
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Soak"}, "wa_id": f"1415556{n % 5000:04d}"}],
        "messages": [{"from": f"1415556{n % 5000:04d}", "id": f"wamid.soak.{n}", "timestamp": str(int(time.time())), "type": "text", "text": {"body": "soak"}}]}}]}]}).encode()
    sig = "sha256=" + hmac.new(b"soak-secret", body, hashlib.sha256).hexdigest()
    status, _ = call("POST", "/webhooks/whatsapp", {"Content-Type": "application/json", "X-Hub-Signature-256": sig}, body)
    acked += status == 200
    errors5 += status >= 500
    if n % 5 == 0:
        status, _ = call("PATCH", f"/v1/106540352242922/conversations/{ids[n % len(ids)]}", {"Authorization": "Bearer " + kirim, "Content-Type": "application/json"}, json.dumps({"status": ["open", "pending", "resolved"][n % 3]}).encode())
        writes += 1; errors5 += status >= 500
        status, _ = call("POST", f"/api/whatsapp/conversations/{env_ids[n % len(env_ids)]}/close", {"Authorization": "Bearer " + envelope, "x-org-id": org})
        writes += 1; errors5 += status >= 500
print(json.dumps({"deliveries": n, "acked": acked, "writes": writes, "errors5xx": errors5}))
PY
samples=()
for _ in $(seq 1 $((seconds / 10))); do sleep 10; samples+=("$(rss)"); done
wait %4 2>/dev/null || true
sleep 2
end_rss=$(rss); peak=$(hwm)
stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from messages where wamid like 'wamid.soak.%'\").fetchone()[0])" "$work/soak.db")
echo "# Soak: $MINUTES minutes"
echo
for d in wacrm kirim envelope; do
  r=$(awk '/Requests\/sec/{print $2}' "$out/$d"); non=$(awk '/Non-2xx/{print $NF}' "$out/$d"); tot=$(awk '/requests in/{print $1}' "$out/$d")
  echo "- $d list: $tot requests, $r req/s, non-2xx: ${non:-0}"
done
echo "- writer and ingest: $(cat "$out/writer")"
echo "- deliveries acknowledged vs stored: $(json "['acked']" < "$out/writer") vs $stored"
echo "- RSS: start $((start_rss / 1024)) MiB, end $((end_rss / 1024)) MiB, peak $((peak / 1024)) MiB; samples (KiB): ${samples[*]}"
