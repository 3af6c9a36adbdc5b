# Rosetta's everyday commands. `just` lists them.

# List the recipes.
default:
    @just --list

# The demo: seeded database, every dialect, commands to paste.
demo:
    cargo run -p rosetta -- demo

# Run Rosetta on the embedded default (SQLite file rosetta.db).
run:
    cargo run -p rosetta -- serve

# The test suite (SQLite; PostgreSQL too when ROSETTA_TEST_DATABASE_URL is set).
test:
    cargo test --workspace

# Exactly what CI runs (needs PostgreSQL on 127.0.0.1:5432).
ci:
    .ci/run

# Format and lint.
fmt:
    cargo fmt --all

clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# The benchmark suite: every dialect beside Datasette and an in-memory ceiling, depth curves,
# ingest, PostgreSQL, RSS; writes bench/report.md and bench/plots/. `just bench quick` for a small run.
bench size="full":
    BENCH_QUICK={{ if size == "quick" { "1" } else { "0" } }} bench/run.sh

# Store page benchmark on a seeded 1,000,000-conversation SQLite database (seeded on first run).
bench-store conversations="1000000" db="bench/data/store-1m.db":
    ROSETTA_BENCH_CONVERSATIONS={{conversations}} ROSETTA_BENCH_DATABASE_URL=sqlite://{{db}} \
        cargo bench -p rosetta-store --bench pages

# Signed webhook deliveries a second against a release server (SQLite; set ROSETTA_BENCH_DATABASE_URL for PostgreSQL).
bench-ingest:
    cargo bench -p rosetta --bench ingest

# Events delivered to customers' webhook endpoints: throughput, latency, beside a hanging endpoint
# (SQLite; set ROSETTA_BENCH_DATABASE_URL for PostgreSQL).
bench-webhooks:
    cargo bench -p rosetta --bench webhooks

# The wacrm routes over HTTP with wrk on the 1M-conversation database (after bench-store).
bench-wacrm:
    bench/wacrm.sh

# The envelope page/limit list over HTTP with wrk on the 1M-conversation database (after bench-store).
bench-envelope:
    bench/envelope.sh

# The kirim conversation list over HTTP with wrk on the 1M-conversation database (after bench-store).
bench-kirim:
    bench/kirim.sh

# The docs pages in headless Chromium (needs Debian's chromium).
docs-check:
    scripts/docs-check.py

# schemathesis against a dialect's own document.
schemathesis dialect="wacrm":
    scripts/schemathesis.sh {{dialect}}

# 50 pollers of one organization's first page while ingest runs at 100 deliveries a second, with the
# shared rendering on and off (after bench-store).
bench-pollers:
    bench/pollers.sh

# Conditional GETs: the uncached list, 304 polling, a one-row list, /me and /healthz in one run
# (after bench-store; BIN=DIR measures another build's binaries).
bench-conditional:
    bench/conditional.sh

# Peak RSS through deep cursor walks and deep envelope pages (after bench-store; the first argument
# names another build's binaries).
bench-depth-rss *args:
    python3 bench/depth-rss.py {{args}}

# One instance against three over one PostgreSQL database (PG_URL, default the local server; a
# fresh database is made and dropped): list, /me and Meta's deliveries, with CPU shares.
bench-instances:
    python3 bench/instances.py
