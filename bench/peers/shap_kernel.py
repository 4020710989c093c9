"""KernelSHAP peer: the `shap` package's KernelExplainer on the same tabular MLP, rows, classes and
background as `modelfool explain --method kernelshap`, every coalition of the feature groups
(one-hot columns grouped as ModelFool's players), timed; and the agreement of its values with
ModelFool's.

    modelfool explain --model M.h5 --dataset compas --method simplegrad --count 100 --save-maps bg.h5
    modelfool explain --model M.h5 --dataset compas --method kernelshap --count 1000 \\
        --background bg.h5 --save-maps ours.h5 --json
    python3 bench/peers/shap_kernel.py --model M.h5 --maps ours.h5 --background bg.h5

Prints one JSON line: seconds for the rows, and the largest absolute and the relative (norm)
difference between shap's values and ModelFool's. Needs shap and h5py (pip install shap h5py).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import pin_threads, print_result, read_checkpoint  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", required=True, help="ModelFool checkpoint of a tabular mlp")
  parser.add_argument("--maps", required=True, help="explain --save-maps FILE.h5 of the kernelshap run")
  parser.add_argument("--background", required=True, help="FILE.h5 whose 'inputs' are the background")
  parser.add_argument("--rows", type=int, default=None, help="explain only the first N rows")
  parser.add_argument("--threads", type=int, default=1)
  args = parser.parse_args()
  pin_threads(args.threads)

  def measure():
    import h5py
    import numpy as np
    import shap
    from shap.utils._legacy import DenseData

    tensors = read_checkpoint(args.model)
    with h5py.File(args.model, "r") as f:
      groups = json.loads(f.attrs["feature_groups"])
    dense = sorted({k.rsplit(".", 1)[0] for k in tensors if k.endswith(".weight")},
                   key=lambda name: [int(p) if p.isdigit() else p for p in name.split(".")])
    layers = [(tensors[n + ".weight"].astype(np.float64), tensors[n + ".bias"].astype(np.float64)) for n in dense]

    def probabilities(z):
      h = z
      for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i + 1 < len(layers):
          h = np.maximum(h, 0)
      h = h - h.max(axis=1, keepdims=True)
      e = np.exp(h)
      return e / e.sum(axis=1, keepdims=True)

    with h5py.File(args.maps, "r") as f:
      rows = np.asarray(f["inputs"], dtype=np.float64)
      classes = np.asarray(f["explained"])
      raw = np.asarray(f["raw"], dtype=np.float64)
    with h5py.File(args.background, "r") as f:
      background = np.asarray(f["inputs"], dtype=np.float64)
    n = rows.shape[0] if args.rows is None else min(args.rows, rows.shape[0])
    spans = [np.arange(g["start"], g["start"] + g["width"]) for g in groups]
    ours = np.stack([raw[:n, s].sum(axis=1) for s in spans], axis=1)
    explainer = shap.KernelExplainer(probabilities, DenseData(background, [g["name"] for g in groups], spans))
    everything = 2 ** len(spans) - 2
    start = time.perf_counter()
    values = []
    for i in range(n):
      phi = explainer.shap_values(rows[i:i + 1], nsamples=everything, l1_reg=False, silent=True)
      phi = np.asarray(phi).reshape(len(spans), -1)  # [groups, classes]
      values.append(phi[:, classes[i]])
    seconds = time.perf_counter() - start
    theirs = np.array(values)
    return {
      "peer": "shap", "shap_version": shap.__version__, "rows": n, "players": len(spans),
      "background": background.shape[0], "coalitions": everything, "seconds": round(seconds, 3),
      "max_abs_difference": float(np.abs(theirs - ours).max()),
      "relative_difference": float(np.linalg.norm(theirs - ours) / np.linalg.norm(theirs)),
    }

  return print_result("shap", measure)


if __name__ == "__main__":
  sys.exit(main())
