#!/usr/bin/env bash
# Runs schemathesis against a dialect's own OpenAPI document, served by its own binary on a freshly
# seeded SQLite database, with an authorized key. Fails on any 5xx or any response that breaks the
# document. Usage: scripts/schemathesis.sh wacrm|kirim|envelope
#
# One worker: with several, hypothesis sometimes fails inside its own AST inspection ("AST
# constructor recursion depth mismatch"), a runner fault, not a finding.
#
# Runner faults are told apart from Rosetta's failures by schemathesis' own JUnit report: a check
# that failed (`<failure>`), an error reaching the server, or a server that is no longer running is
# Rosetta's, and fails at once; any other error (a Python exception inside schemathesis, such as the
# SystemError seen from its AST handling) or a run that ends without a report is the runner's, and
# the run is repeated, up to SCHEMATHESIS_ATTEMPTS (3) times. Faults on every attempt fail, saying so.
#
# `positive_data_acceptance` is left out on purpose: a cursor is opaque and signed, so any cursor
# schemathesis makes up is rightly refused with 400; every other check runs, stateful links included.
set -euo pipefail
cd "$(dirname "$0")/.."
dialect=${1:?usage: scripts/schemathesis.sh DIALECT}
case "$dialect" in
  wacrm) prefix=/api/v1 ;;
  kirim) prefix=/v1 ;;
  envelope) prefix=/api/whatsapp ;;
  *) echo "unknown dialect $dialect" >&2; exit 2 ;;
esac

if ! command -v st >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check schemathesis
fi
cargo build --quiet -p rosetta --bins
bin=target/debug
work=$(mktemp -d)
url="sqlite://$work/st.db"
server_pid=
standin_pid=
cleanup() {
  # Stop the server, and wait for it, before its database goes: its last key-usage flush would
  # otherwise log that the file is gone.
  for pid in $server_pid $standin_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
created=$($bin/rosetta --database-url "$url" org create --name "Schemathesis" --json)
org=$(json id <<<"$created")
org_uuid=$(json uuid <<<"$created")
# Sends go to a stand-in for Meta on loopback (never to Meta): its made-up token is the account's.
token="EAAG-schemathesis-standin"
$bin/rosetta standin --phone-number-id 106540352242922 <<<"$token" >"$work/standin.url" 2>/dev/null &
standin_pid=$!
for _ in $(seq 1 200); do [ -s "$work/standin.url" ] && break; sleep 0.05; done
graph_url=$(head -n1 "$work/standin.url")
$bin/rosetta --database-url "$url" account create --org "$org" --phone-number-id 106540352242922 --phone-number +15550783881 --token-stdin <<<"$token" >/dev/null
$bin/rosetta --database-url "$url" seed --org "$org" --conversations 500 --messages-per-conversation 5 >/dev/null
key=$($bin/rosetta --database-url "$url" key create --org "$org" --style "$dialect" --json | json key)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ROSETTA_LOG=warn $bin/rosetta-$dialect --database-url "$url" --bind "127.0.0.1:$port" --rate-limit-per-minute 0 \
  --graph-api-url "$graph_url" --send-wait-millis 2000 &
server_pid=$!
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
PY

attempts=${SCHEMATHESIS_ATTEMPTS:-3}
for attempt in $(seq 1 "$attempts"); do
  report="$work/junit-$attempt.xml"
  status=0
  st --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port$prefix/openapi.json" \
    -H "Authorization: Bearer $key" -H "x-org-id: $org_uuid" \
    --checks all --exclude-checks positive_data_acceptance \
    --exclude-path-regex '/events/stream$' \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" --workers 1 --no-color \
    --report junit --report-junit-path "$report" || status=$?
  alive=1
  kill -0 "$server_pid" 2>/dev/null || alive=0
  verdict=$(python3 scripts/schemathesis_verdict.py "$status" "$alive" "$report")
  case "$verdict" in
    pass) exit 0 ;;
    rosetta:*) echo "schemathesis ($dialect): Rosetta failed: ${verdict#rosetta:}" >&2; exit 1 ;;
    runner:*) echo "schemathesis ($dialect): runner fault on attempt $attempt of $attempts, not a Rosetta failure: ${verdict#runner:}" >&2 ;;
    *) echo "schemathesis ($dialect): unexpected verdict $verdict" >&2; exit 1 ;;
  esac
done
echo "schemathesis ($dialect): the runner itself failed on every one of $attempts attempts" >&2
exit 1
