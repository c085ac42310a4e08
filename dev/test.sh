#!/usr/bin/env bash
# Runs every test: unit tests, the .slt suites against riffle *and* a real PostgreSQL, the
# client tests (psql, psycopg, tokio-postgres, JDBC), the kill -9 recovery test, and the Kafka
# tests against a real Kafka-protocol broker (Tansu, started by dev/kafka.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
dev/deps.sh test
eval "$(dev/pg.sh)"
export RIFFLE_TEST_PG
eval "$(dev/kafka.sh)"
export RIFFLE_TEST_KAFKA
# The model tests must run here, not skip for want of scikit-learn.
export RIFFLE_REQUIRE_SKLEARN=1
cargo build --locked --bin riffle
cargo test --locked --workspace --no-fail-fast
