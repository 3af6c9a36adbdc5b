#!/usr/bin/env bash
# A walkthrough of the CLI and the three dialects, on a fresh SQLite database in a temporary folder:
# an organization, its WhatsApp number, an agent, demo data, one key per dialect, the server, then
# one request per dialect (a read, a PATCH, a close), a signed webhook delivery, and a tag.
# Every step prints what it runs; any failure stops it. CI runs it as is.
#
#   examples/walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p rosetta --bin rosetta
rosetta() { target/debug/rosetta "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
step() { printf '\n$ %s\n' "$*" >&2; }

work=$(mktemp -d)
export DATABASE_URL="sqlite://$work/walkthrough.db"
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null && wait $server 2>/dev/null; rm -rf "$work"' EXIT

step rosetta org create --name Acme --json
org_json=$(rosetta org create --name Acme --json); echo "$org_json"
org=$(json "['id']" <<<"$org_json"); org_uuid=$(json "['uuid']" <<<"$org_json")

step rosetta account create --org "$org" --phone-number-id 106540352242922 --phone-number +15550783881 --name Support
rosetta account create --org "$org" --phone-number-id 106540352242922 --phone-number +15550783881 --name Support

step rosetta user create --org "$org" --name "Support Agent" --email agent@example.com --json
agent_uuid=$(rosetta user create --org "$org" --name "Support Agent" --email agent@example.com --json | json "['uuid']")

step rosetta seed --org "$org" --conversations 200
rosetta seed --org "$org" --conversations 200 --messages-per-conversation 3

for dialect in wacrm kirim envelope; do
  step rosetta key create --org "$org" --style $dialect --name walkthrough --json
  declare "key_$dialect=$(rosetta key create --org "$org" --style $dialect --name walkthrough --json | json "['key']")"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
step rosetta serve --bind 127.0.0.1:$port "&"
# The binary itself, not the `rosetta` function: `$!` of a backgrounded function is a subshell, and
# killing that left the server running after the script.
WHATSAPP_APP_SECRET=walkthrough-secret ROSETTA_LOG=warn target/debug/rosetta serve --bind 127.0.0.1:$port >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"

step curl "$base/api/v1/conversations?limit=1" -H "Authorization: Bearer \$key_wacrm"
curl -sf "$base/api/v1/conversations?limit=1" -H "Authorization: Bearer $key_wacrm" | head -c 400; echo

step curl "$base/v1/106540352242922/conversations?limit=1" -H "Authorization: Bearer \$key_kirim"
kirim=$(curl -sf "$base/v1/106540352242922/conversations?limit=1" -H "Authorization: Bearer $key_kirim")
echo "$kirim" | head -c 400; echo
cnv=$(json "['data'][0]['id']" <<<"$kirim"); ctc=$(json "['data'][0]['contact']['id']" <<<"$kirim")

step curl -X PATCH "$base/v1/106540352242922/conversations/$cnv" -d '{"status":"pending"}'
curl -sf -X PATCH "$base/v1/106540352242922/conversations/$cnv" -H "Authorization: Bearer $key_kirim" \
  -H 'Content-Type: application/json' -d '{"status":"pending"}' | json "['data']['status']"

step curl "$base/api/whatsapp/conversations?limit=1" -H "Authorization: Bearer \$key_envelope" -H "x-org-id: $org_uuid"
env=$(curl -sf "$base/api/whatsapp/conversations?limit=1" -H "Authorization: Bearer $key_envelope" -H "x-org-id: $org_uuid")
echo "$env" | head -c 400; echo
conv=$(json "['data']['conversations'][0]['id']" <<<"$env")

step curl -X POST "$base/api/whatsapp/conversations/$conv/assign" -d '{"userId":"user_'"$agent_uuid"'"}'
curl -sf -X POST "$base/api/whatsapp/conversations/$conv/assign" -H "Authorization: Bearer $key_envelope" \
  -H "x-org-id: $org_uuid" -H 'Content-Type: application/json' -d '{"userId":"user_'"$agent_uuid"'"}' | json "['data']['assignee']"

step curl -X POST "$base/api/whatsapp/conversations/$conv/close"
curl -sf -X POST "$base/api/whatsapp/conversations/$conv/close" -H "Authorization: Bearer $key_envelope" \
  -H "x-org-id: $org_uuid" | json "['data']['status']"

body='{"object":"whatsapp_business_account","entry":[{"id":"waba","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Walkthrough"}, "wa_id":"14155550999"}],"messages":[{"from":"14155550999","id":"wamid.walkthrough","timestamp":"1790000000","type":"text","text":{"body":"Hello!"}}]}}]}]}'
signature=$(python3 -c 'import hmac,hashlib,sys; print("sha256="+hmac.new(b"walkthrough-secret", sys.argv[1].encode(), hashlib.sha256).hexdigest())' "$body")
step curl -X POST "$base/webhooks/whatsapp" -H "X-Hub-Signature-256: $signature" -d '<a text message>'
curl -sf -X POST "$base/webhooks/whatsapp" -H 'Content-Type: application/json' -H "X-Hub-Signature-256: $signature" -d "$body"; echo

step rosetta tag add --org "$org" --contact "$ctc" --name vip
rosetta tag add --org "$org" --contact "$ctc" --name vip

step rosetta backup --to "\$work/backup.db"
rosetta backup --to "$work/backup.db"

echo >&2; echo "walkthrough: ok" >&2
