"""Reference values for the KernelSHAP and LIME tests (Tests/ModelFoolTests/KernelSHAPTests.swift,
LIMETests.swift), from the `shap` and `lime` packages on a tiny ReLU MLP whose weights are stored
with the values.

    pip install shap lime
    python3 Tests/Fixtures/make_blackbox_fixtures.py

writes Tests/Fixtures/kernelshap_reference.json, Tests/Fixtures/lime_reference.json and
Tests/Fixtures/lime_image_reference.json.
Tested with shap 0.51.0, lime 0.2.0.1, scikit-learn 1.9.1, numpy 2.4.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp(rng, d, hidden, classes):
    return {
        "w1": rng.uniform(-1, 1, (hidden, d)).round(4),
        "b1": rng.uniform(-0.5, 0.5, hidden).round(4),
        "w2": rng.uniform(-1, 1, (classes, hidden)).round(4),
        "b2": rng.uniform(-0.5, 0.5, classes).round(4),
    }


def probabilities(net, x):
    h = np.maximum(x @ net["w1"].T + net["b1"], 0)
    z = h @ net["w2"].T + net["b2"]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def listed(net):
    return {k: v.tolist() for k, v in net.items()}


def kernelshap():
    import shap

    rng = np.random.default_rng(7)
    d, hidden, classes = 6, 8, 3
    net = mlp(rng, d, hidden, classes)
    background = rng.normal(0, 1, (5, d)).round(4)
    rows = rng.normal(0, 1, (3, d)).round(4)
    cls = [0, 2, 1]
    values = []
    for x, c in zip(rows, cls):
        explainer = shap.KernelExplainer(lambda z, c=c: probabilities(net, z)[:, c], background)
        # All 2^6 - 2 coalitions: nsamples covers the full enumeration; no L1 selection.
        phi = explainer.shap_values(x[None, :], nsamples=2 ** d - 2, l1_reg=False, silent=True)
        values.append(np.asarray(phi).reshape(-1).tolist())
    out = {
        "shap_version": shap.__version__,
        "model": listed(net), "background": background.tolist(), "rows": rows.tolist(),
        "classes": cls, "output": "probability", "values": values,
    }
    with open(os.path.join(HERE, "kernelshap_reference.json"), "w") as f:
        json.dump(out, f, indent=1)


def lime_reference():
    import lime
    import lime.lime_tabular

    rng = np.random.default_rng(11)
    # Three numeric features and one categorical with 3 categories (one-hot in model space).
    n_train, cats = 200, 3
    numeric = rng.normal(0, 1, (n_train, 3)).round(3)
    numeric[:, 2] = rng.integers(0, 4, n_train)  # a count-like column with repeated quartiles
    category = rng.choice(cats, n_train, p=[0.5, 0.3, 0.2])
    train_lime = np.column_stack([numeric, category]).astype(float)  # lime's view: one column per feature

    def to_model(z):
        onehot = np.eye(cats)[z[:, 3].astype(int)]
        return np.column_stack([z[:, :3], onehot])

    d = 3 + cats
    net = mlp(rng, d, 8, 2)
    explainer = lime.lime_tabular.LimeTabularExplainer(
        train_lime, categorical_features=[3], discretize_continuous=True, discretizer="quartile",
        random_state=0, mode="classification")
    rows = train_lime[[3, 17]]
    cls = [1, 0]
    samples = 400
    cases = []
    for x, c in zip(rows, cls):
        seen = {}

        def predict(z):
            seen["inverse"] = z.copy()
            return probabilities(net, to_model(z))

        exp = explainer.explain_instance(x, predict, labels=(c,), num_features=4, num_samples=samples)
        coef = dict(exp.local_exp[c])
        cases.append({
            "row": to_model(x[None, :])[0].tolist(), "class": c,
            "perturbations": to_model(seen["inverse"][1:]).tolist(),
            "coefficients": [coef[j] for j in range(4)], "intercept": float(exp.intercept[c]),
        })
    quartiles = [np.percentile(train_lime[:, j], [25, 50, 75]).tolist() for j in range(3)]
    out = {
        "lime_version": lime.__version__ if hasattr(lime, "__version__") else "0.2.0.1",
        "model": listed(net), "training": to_model(train_lime).tolist(),
        "features": [
            {"name": n, "start": i, "width": 1, "categories": [], "isSensitive": False}
            for i, n in enumerate("abc")
        ] + [
            {"name": "k", "start": 3, "width": cats, "categories": ["p", "q", "r"], "isSensitive": False},
        ],
        "quartiles": quartiles, "cases": cases,
    }
    with open(os.path.join(HERE, "lime_reference.json"), "w") as f:
        json.dump(out, f)


def lime_image_reference():
    """lime's image regression (LimeImageExplainer's kernel: cosine distance to the unmasked
    sample, width 0.25; LimeBase with its `auto` feature selection and Ridge(alpha=1)) on a fixed
    design of 200 samples of 9 superpixels and made-up outputs."""
    from lime.lime_base import LimeBase
    import sklearn.metrics
    rng = np.random.RandomState(7)
    m, s = 9, 200
    z = rng.randint(0, 2, (s, m)).astype(float)
    z[0] = 1
    y = rng.uniform(0, 1, s)
    distances = sklearn.metrics.pairwise_distances(z, z[0].reshape(1, -1), metric="cosine").ravel()
    kernel = lambda d: np.sqrt(np.exp(-(d ** 2) / 0.25 ** 2))
    base = LimeBase(kernel, verbose=False, random_state=np.random.RandomState(0))
    labels = np.stack([1 - y, y], axis=1)
    _, pairs, _, _ = base.explain_instance_with_data(z, labels, distances, 1, 100000, feature_selection="auto")
    coefficients = [0.0] * m
    for feature, value in pairs:
        coefficients[feature] = value
    out = {"design": z.tolist(), "outputs": y.tolist(), "coefficients": coefficients, "players": m}
    with open(os.path.join(HERE, "lime_image_reference.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    kernelshap()
    lime_reference()
    lime_image_reference()
