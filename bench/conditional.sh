#!/usr/bin/env bash
# Conditional GETs and the key cache over HTTP on the 1,000,000-conversation SQLite database (wacrm):
# requests a second and p99 with wrk at 32 connections (median of 3 runs) for the conversation list
# (limit 50) uncached, the same polled with If-None-Match (every answer a 304), a one-row list,
# /api/v1/me, and /healthz beside them.
#
#   bench/conditional.sh                 # uses bench/data/store-1m.db (made by `just bench-store`)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
start_server wacrm 18190
base="http://127.0.0.1:18190/api/v1"
tag=$(curl -s -D - -o /dev/null -H "$auth" "$base/conversations?limit=50" | awk 'tolower($1)=="etag:"{print $2}' | tr -d '\r')
[ -n "$tag" ] || { echo "no ETag on the list" >&2; exit 1; }
# measure_304 NAME URL: like `measure`, every answer must be a 304.
measure_304() {
  local name=$1 target=$2
  local results=()
  for _ in $(seq 1 "$RUNS"); do
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -H "$auth" -H "If-None-Match: $tag" "$target")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    total=$(awk '/requests in/{print $1}' <<<"$out")
    non=$(awk '/Non-2xx/{print $NF}' <<<"$out")
    [ "${non:-0}" = "$total" ] || { echo "not every answer was a 304 ($non of $total)" >&2; exit 1; }
    results+=("$rps $(awk '$1=="50%"{print $2}' <<<"$out") $(awk '$1=="99%"{print $2}' <<<"$out")")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | awk -v n="$name" '{printf "| %s | %.0f | %s | %s |\n", n, $1, $2, $3}'
}
header wacrm "conditional GETs (tag $tag)"
measure "conversation list, limit 50 (uncached)" "$base/conversations?limit=50"
measure_304 "conversation list, limit 50, If-None-Match current (304)" "$base/conversations?limit=50"
measure "conversation list, limit 1" "$base/conversations?limit=1"
measure "/api/v1/me" "$base/me"
measure "/healthz" "http://127.0.0.1:18190/healthz"
