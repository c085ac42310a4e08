#!/usr/bin/env python3
"""Trains scikit-learn models on fixed synthetic data, exports them to ONNX with skl2onnx, and
writes what scikit-learn itself predicts, so that Riffle's scoring can be compared with it.

    python3 make_sklearn_models.py OUT_DIR

Writes OUT_DIR/<name>.onnx for each model and OUT_DIR/expected.json:
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
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
Xr, yr = make_regression(n_samples=300, n_features=4, noise=5.0, random_state=0)
Xb, yb = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=1)
Xm, ym = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, n_classes=3, n_clusters_per_class=1, random_state=2)
Xr, Xb, Xm = (X.astype(np.float32) for X in (Xr, Xb, Xm))
labels_s = np.array(["churn", "stay"])[yb]

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
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
print(len(models), "models written to", out)
