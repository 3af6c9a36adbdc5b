#!/bin/bash
# Ingest of a base commit and of this checkout, back to back, on SQLite and PostgreSQL (a fresh
# database each): `bench/ingest-compare.sh [BASE]`, BASE a7f2bab (before the event log) by default.
# The base is checked out in a temporary worktree; both build into this checkout's target directory.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
base=${1:-a7f2bab}
old=$(mktemp -d)/base
git -C "$root" worktree add -q "$old" "$base"
trap 'git -C "$root" worktree remove --force "$old"' EXIT
export CARGO_TARGET_DIR="$root/target"
run() { # label dir
  local label=$1 dir=$2
  cd "$dir"
  echo "== $label sqlite"; timeout 1500 cargo bench -p rosetta --bench ingest 2>/dev/null | grep -E "^\||result"
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS rosetta_ingest_cmp" ; createdb -h 127.0.0.1 -U postgres rosetta_ingest_cmp
  echo "== $label postgres"; ROSETTA_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/rosetta_ingest_cmp timeout 1500 cargo bench -p rosetta --bench ingest 2>/dev/null | grep -E "^\||result"
}
run "base ($base)" "$old"
run "this checkout" "$root"
echo DONE
