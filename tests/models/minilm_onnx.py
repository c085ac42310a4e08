"""A sentence-embedding BERT (the Hugging Face folder layout) as an ONNX graph for onnxruntime.

Riffle's reference for `embed(...)`: PyTorch (and so sentence-transformers) is not installable
on the test machines, so the same weights are written out as a standard ONNX graph and run by
onnxruntime, with the Hugging Face `tokenizers` package reading the folder's tokenizer.json
exactly as sentence-transformers does (truncation at max_seq_length, padding to the longest
sentence of the batch, mean pooling over real tokens, L2 normalisation).

    python tests/models/minilm_onnx.py MODEL_DIR OUT.onnx      # write the graph
    from minilm_onnx import Embedder; Embedder(MODEL_DIR).embed(["a sentence"])
"""

import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file


def build_graph(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    w = load_file(os.path.join(model_dir, "model.safetensors"))
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = hidden // heads
    eps = cfg["layer_norm_eps"]
    nodes, inits = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(name):
        return init(name, w[prefix + name])

    def node(op, inputs, **attrs):
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x, name):
        return node("Add", [node("MatMul", [x, init(name + ".wT", w[prefix + name + ".weight"].T)]), weight(name + ".bias")])

    def layer_norm(x, name):
        return node("LayerNormalization", [x, weight(name + ".weight"), weight(name + ".bias")], axis=-1, epsilon=eps)

    init("zero", np.array([0], dtype=np.int64))
    init("one", np.array([1], dtype=np.int64))
    init("axis1", np.array([1], dtype=np.int64))
    init("heads_shape", np.array([0, 0, heads, dh], dtype=np.int64))
    init("hidden_shape", np.array([0, 0, hidden], dtype=np.int64))
    init("scale", np.array(1.0 / math.sqrt(dh), dtype=np.float32))
    init("f1", np.array(1.0, dtype=np.float32))
    init("half", np.array(0.5, dtype=np.float32))
    init("rsqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
    init("neg", np.array(-1e9, dtype=np.float32))
    init("tiny", np.array(1e-9, dtype=np.float32))
    init("tiny_norm", np.array(1e-12, dtype=np.float32))

    # Embeddings: words + positions 0..S + token types, then LayerNorm.
    seq = node("Slice", [node("Shape", ["input_ids"]), "one", node("Add", ["one", "one"])])
    positions = node("Slice", [weight("embeddings.position_embeddings.weight"), "zero", seq, "zero"])
    x = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"])
    x = node("Add", [x, positions])
    x = node("Add", [x, node("Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"])])
    x = layer_norm(x, "embeddings.LayerNorm")

    mask = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = node("Mul", [node("Sub", ["f1", mask]), "neg"])
    bias = node("Unsqueeze", [bias, init("axes12", np.array([1, 2], dtype=np.int64))])

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def split(t):
            return node("Transpose", [node("Reshape", [t, "heads_shape"])], perm=[0, 2, 1, 3])

        q = split(linear(x, p + "attention.self.query"))
        k = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.key"), "heads_shape"])], perm=[0, 2, 3, 1])
        v = split(linear(x, p + "attention.self.value"))
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), "scale"]), bias])
        ctx = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        ctx = node("Reshape", [node("Transpose", [ctx], perm=[0, 2, 1, 3]), "hidden_shape"])
        x = layer_norm(node("Add", [linear(ctx, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        h = node("Mul", [node("Mul", [h, "half"]), node("Add", ["f1", node("Erf", [node("Mul", [h, "rsqrt2"])])])])
        x = layer_norm(node("Add", [linear(h, p + "output.dense"), x]), p + "output.LayerNorm")

    # Mean over real tokens, then unit length.
    m = node("Unsqueeze", [mask, init("axis2", np.array([2], dtype=np.int64))])
    total = node("ReduceSum", [node("Mul", [x, m]), "axis1"], keepdims=0)
    count = node("Max", [node("ReduceSum", [m, "axis1"], keepdims=0), "tiny"])
    pooled = node("Div", [total, count])
    norm = node("Max", [node("Sqrt", [node("ReduceSum", [node("Mul", [pooled, pooled]), "one"], keepdims=1)]), "tiny_norm"])
    nodes.append(helper.make_node("Div", [pooled, norm], ["sentence_embedding"]))

    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ("input_ids", "attention_mask", "token_type_ids")]
    out = [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])]
    graph = helper.make_graph(nodes, "sentence_bert", ints, out, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


class Embedder:
    """Tokenizes like sentence-transformers and embeds with onnxruntime."""

    def __init__(self, model_dir, threads=None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        max_len = 512
        st = os.path.join(model_dir, "sentence_bert_config.json")
        if os.path.exists(st):
            max_len = json.load(open(st)).get("max_seq_length", max_len)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_len)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(build_graph(model_dir).SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def embed(self, texts, batch=32):
        out = []
        for start in range(0, len(texts), batch):
            enc = self.tokenizer.encode_batch(texts[start : start + batch])
            width = max(len(e.ids) for e in enc)

            def pad(rows):
                return np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64)

            feeds = {
                "input_ids": pad([e.ids for e in enc]),
                "attention_mask": pad([e.attention_mask for e in enc]),
                "token_type_ids": pad([e.type_ids for e in enc]),
            }
            out.append(self.session.run(["sentence_embedding"], feeds)[0])
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


if __name__ == "__main__":
    onnx.save(build_graph(sys.argv[1]), sys.argv[2])
