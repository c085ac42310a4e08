#!/usr/bin/env bash
# Runs every test: unit tests, the .slt suites against riffle *and* a real PostgreSQL, the
# client tests (psql, psycopg, tokio-postgres, JDBC) and the kill -9 recovery test.
set -euo pipefail
cd "$(dirname "$0")/.."
dev/deps.sh test
eval "$(dev/pg.sh)"
export RIFFLE_TEST_PG
cargo build --bin riffle
cargo test --workspace --no-fail-fast
