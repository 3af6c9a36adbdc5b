#!/usr/bin/env bash
# The benchmark suite (`just bench`): installs what it needs (wrk from Debian; Datasette and
# matplotlib from PyPI into target/bench-venv), builds the release binaries, then runs bench/run.py,
# which seeds or reuses the database, measures, and writes bench/report.md with bench/plots/*.png.
#
#   bench/run.sh                         # 1,000,000 conversations (seeded once, ~6 min; reused after)
#   BENCH_QUICK=1 bench/run.sh           # 10,000 conversations, one short run each: a few minutes
#   BENCH_CONVERSATIONS=100000 BENCH_RUNS=5 bench/run.sh
#   BENCH_POSTGRES=off bench/run.sh      # SQLite only
#
# Everything it drives is on 127.0.0.1; only the package registries are reached, to install.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
  fi
fi
if ! command -v psql >/dev/null && [ "${BENCH_POSTGRES:-}" != off ]; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq postgresql-client >/dev/null || true; fi
fi
venv=target/bench-venv
if [ ! -x "$venv/bin/datasette" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet datasette matplotlib
fi
cargo build --release --quiet -p rosetta --bins -p rosetta-bench-ceiling
exec "$venv/bin/python" bench/run.py
