#!/bin/bash
# Ingest with and without the event log, back to back: a7f2bab (before the event log, checked out
# in /tmp/wt-old with `git worktree add /tmp/wt-old a7f2bab`) and this checkout.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="$root/target"
run() { # label dir
  local label=$1 dir=$2
  cd "$dir"
  echo "== $label sqlite"; timeout 1500 cargo bench -p rosetta --bench ingest 2>/dev/null | grep -E "^\||result"
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS rosetta_ingest_cmp" ; createdb -h 127.0.0.1 -U postgres rosetta_ingest_cmp
  echo "== $label postgres"; ROSETTA_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/rosetta_ingest_cmp timeout 1500 cargo bench -p rosetta --bench ingest 2>/dev/null | grep -E "^\||result"
}
run "without events (a7f2bab)" /tmp/wt-old
run "with events (HEAD)" "$root"
echo DONE
