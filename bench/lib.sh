# Shared by the HTTP benchmarks (bench/wacrm.sh, bench/kirim.sh): settings, the bench
# organization's key, starting a release server on the 1M-conversation database, and `measure`.
# Source it after `cd` to the workspace root; then call `start_server DIALECT PORT`.
DB=${DB:-bench/data/store-1m.db}
CONNECTIONS=${CONNECTIONS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
RUNS=${RUNS:-3}
command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
[ -f "$DB" ] || { echo "no $DB: run 'just bench-store' first" >&2; exit 1; }
# BIN: another build's binaries (say a base commit's, for a before/after in one sitting).
[ -n "${BIN:-}" ] || cargo build --release --quiet -p rosetta --bins
url="sqlite://$PWD/$DB"
bin=${BIN:-target/release}

# start_server DIALECT PORT: sets $key (a new key of the bench organization), $auth, $org_uuid and
# $pid; `extra` (an array of wrk arguments, e.g. (-H "x-org-id: …")) is sent with every request.
start_server() {
  local dialect=$1 port=$2
  local org
  extra=()
  org=$(python3 - "$DB" <<'PY'
import sqlite3, sys, uuid
row = sqlite3.connect(sys.argv[1]).execute("select id from organizations where name='bench'").fetchone()
print(str(uuid.UUID(bytes=row[0])))
PY
)
  key=$($bin/rosetta --database-url "$url" key create --org "$org" --name bench --style "$dialect" --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  # Shared renderings off unless SHARED_RENDER_MIB says otherwise: these are the uncached figures
  # (a build from before they existed has no such option).
  local renders=()
  if $bin/rosetta-"$dialect" --help | grep -q shared-render-mib; then renders=(--shared-render-mib "${SHARED_RENDER_MIB:-0}"); fi
  ROSETTA_LOG=${ROSETTA_LOG:-warn} WHATSAPP_APP_SECRET=bench-app-secret $bin/rosetta-"$dialect" --database-url "$url" \
    --bind 127.0.0.1:"$port" --rate-limit-per-minute 0 "${renders[@]}" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  sleep 1
  auth="Authorization: Bearer $key"
  org_uuid=$org
}

header() {
  echo "# $1 HTTP benchmark"
  echo
  echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; server: rosetta-$1, 2 workers; wrk -t2 -c$CONNECTIONS -d${SECONDS_PER_RUN}s, median of $RUNS runs${2:+; $2}"
  echo
  echo "| request | requests/s | p50 | p99 |"
  echo "|---|---|---|---|"
}

# measure NAME URL: one table row, the median run by requests a second. Any non-2xx fails.
measure() {
  local name=$1 target=$2
  local results=()
  for _ in $(seq 1 "$RUNS"); do
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -H "$auth" ${extra[@]+"${extra[@]}"} "$target")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out")
    [ -z "$non2xx" ] || { echo "non-2xx answers for $target: $non2xx" >&2; exit 1; }
    results+=("$rps $p50 $p99")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | awk -v n="$name" '{printf "| %s | %.0f | %s | %s |\n", n, $1, $2, $3}'
}
