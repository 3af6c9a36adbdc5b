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
# measure_304 NAME URL: like `measure`, for answers that must be 304s: curl checks one, and wrk's
# bytes read a request (headers only) show the rest carried no page.
measure_304() {
  local name=$1 target=$2
  local results=()
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" -H "If-None-Match: $tag" "$target")" = 304 ] \
    || { echo "no 304 for $target" >&2; exit 1; }
  for _ in $(seq 1 "$RUNS"); do
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -H "$auth" -H "If-None-Match: $tag" "$target")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    per=$(awk '/requests in/{r=$1; b=$5; u=b; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+/, "", b);
                m = (u=="KB") ? 1024 : (u=="MB") ? 1048576 : (u=="GB") ? 1073741824 : 1;
                printf "%d", b*m/r}' <<<"$out")
    [ "$per" -lt 1024 ] || { echo "answers carried $per bytes each: not 304s" >&2; exit 1; }
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
