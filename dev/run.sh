#!/usr/bin/env bash
# Starts riffle on its embedded default: PostgreSQL wire on 127.0.0.1:6875, data in
# ./riffle-data. Extra arguments go to riffle (--listen, --data-dir, --workers).
set -euo pipefail
cd "$(dirname "$0")/.."
dev/deps.sh build
exec cargo run --release --bin riffle -- "$@"
