#!/usr/bin/env python3
"""Trains scikit-learn models on fixed synthetic data, exports them to ONNX with skl2onnx, and
writes what scikit-learn itself predicts, so that Riffle's scoring can be compared with it.

    python3 make_sklearn_models.py OUT_DIR

Writes OUT_DIR/<name>.onnx for each ONNX model, OUT_DIR/<name>.safetensors (weights plus the JSON
description in the file's metadata, key "riffle") for the dense ones, and OUT_DIR/expected.json:
{"features": [[...], ...], "models": {name: {"kind": "regressor"|"classifier",
 "predict": [...], "proba": [[...], ...] | null, "classes": [...] | null}}}
"""
import json
import os
import sys

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
from safetensors.numpy import save_file
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
Xr, yr = make_regression(n_samples=300, n_features=4, noise=5.0, random_state=0)
Xb, yb = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=1)
Xm, ym = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, n_classes=3, n_clusters_per_class=1, random_state=2)
Xr, Xb, Xm = (X.astype(np.float32) for X in (Xr, Xb, Xm))
labels_s = np.array(["churn", "stay"])[yb]
# Column 0 is a category (0, 1, 2; the sample rows also hold an unseen 3), the rest numbers.
Xc = np.column_stack([np.arange(300) % 3, Xb[:, :3]]).astype(np.float32)
yc = ((Xc[:, 0] == 1) ^ (Xc[:, 1] > 0)).astype(int)
Xc[:25:7, 0] = 3

models = {
    "linreg": (LinearRegression().fit(Xr, yr), Xr, "regressor"),
    "ridge_scaled": (make_pipeline(StandardScaler(), Ridge(alpha=0.5)).fit(Xr, yr), Xr, "regressor"),
    "dtree_reg": (DecisionTreeRegressor(max_depth=4, random_state=0).fit(Xr, yr), Xr, "regressor"),
    "forest_reg": (RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(Xr, yr), Xr, "regressor"),
    "gb_reg": (GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(Xr, yr), Xr, "regressor"),
    "logreg": (LogisticRegression().fit(Xb, yb), Xb, "classifier"),
    "logreg_strings": (make_pipeline(MinMaxScaler(), LogisticRegression()).fit(Xb, labels_s), Xb, "classifier"),
    "logreg_multi": (LogisticRegression(max_iter=500).fit(Xm, ym), Xm, "classifier"),
    "dtree_clf": (DecisionTreeClassifier(max_depth=4, random_state=0).fit(Xb, yb), Xb, "classifier"),
    "forest_clf": (RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(Xm, ym), Xm, "classifier"),
    "gb_clf": (GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(Xb, yb), Xb, "classifier"),
    # A categorical column one-hot encoded next to scaled numeric ones (ColumnTransformer).
    "onehot_logreg": (
        make_pipeline(
            ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), [0]), ("num", StandardScaler(), [1, 2, 3])]),
            LogisticRegression(),
        ).fit(Xc, yc),
        Xc,
        "classifier",
    ),
}
expected = {"models": {}}
for name, (model, X, kind) in models.items():
    onx = to_onnx(model, X[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    with open(os.path.join(out, name + ".onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    sample = X[:25]
    entry = {"kind": kind, "features": sample.astype(float).tolist(), "predict": model.predict(sample).tolist()}
    if kind == "classifier":
        entry["proba"] = model.predict_proba(sample).tolist()
        entry["classes"] = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    expected["models"][name] = entry
# safetensors: weights [inputs, outputs] per layer, biases [outputs], description in metadata.
def dense(name, kind, weights, biases, X, model, classes=None, activation=None):
    tensors, desc = {}, {"kind": kind, "weights": [], "biases": []}
    for i, (w, b) in enumerate(zip(weights, biases)):
        tensors[f"w{i}"] = np.ascontiguousarray(w, dtype=np.float32)
        tensors[f"b{i}"] = np.ascontiguousarray(np.atleast_1d(b), dtype=np.float32)
        desc["weights"].append(f"w{i}")
        desc["biases"].append(f"b{i}")
    if classes is not None:
        desc["classes"] = classes
    if activation:
        desc["activation"] = activation
    save_file(tensors, os.path.join(out, name + ".safetensors"), metadata={"riffle": json.dumps(desc)})
    sample = X[:25]
    entry = {"kind": "classifier" if classes is not None else "regressor", "format": "safetensors",
             "features": sample.astype(float).tolist(), "predict": model.predict(sample).tolist()}
    if classes is not None:
        entry["proba"] = model.predict_proba(sample).tolist()
        entry["classes"] = classes
    expected["models"][name] = entry

lin = models["linreg"][0]
dense("st_linear", "linear", [lin.coef_.reshape(-1, 1)], [lin.intercept_], Xr, lin)
lb = models["logreg"][0]
dense("st_logistic", "logistic", [lb.coef_.T], [lb.intercept_], Xb, lb, classes=[int(c) for c in lb.classes_])
lm = models["logreg_multi"][0]
dense("st_logistic_multi", "logistic", [lm.coef_.T], [lm.intercept_], Xm, lm, classes=[int(c) for c in lm.classes_])
mc = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0).fit(Xm, ym)
dense("st_mlp_clf", "mlp", mc.coefs_, mc.intercepts_, Xm, mc, classes=[int(c) for c in mc.classes_], activation="relu")
mb = MLPClassifier(hidden_layer_sizes=(6, 4), activation="tanh", max_iter=2000, random_state=0).fit(Xb, labels_s)
dense("st_mlp_binary", "mlp", mb.coefs_, mb.intercepts_, Xb, mb, classes=[str(c) for c in mb.classes_], activation="tanh")
mr = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3000, random_state=0).fit(Xr, yr)
dense("st_mlp_reg", "mlp", mr.coefs_, mr.intercepts_, Xr, mr, activation="relu")

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
print(len(expected["models"]), "models written to", out)
