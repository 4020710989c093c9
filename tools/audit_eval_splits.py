#!/usr/bin/env python3
"""The false-alarm rate of both verdict rules over random calibration splits of clean models
(docs/RESULTS.md §20): from a scores.tsv whose clean models (calibration and held-out splits
together) were all measured, split them at random into N calibration models and the rest, and
recompute offline what `audit calibrate` and `audit manipulation` compute (docs/METHODS.md §11.2):
per statistic the mean and the sample sd floored at 0.01, the two-sided Student-t predictive
p-value, the uncapped bound m p_min; the p rule flags a held-out clean model when the bound is
below alpha, the rank rule when (1 + #{leave-one-out bounds <= its bound}) / (N + 1) <= alpha.
Needs numpy and scipy.

    python3 tools/audit_eval_splits.py runs/audit-eval-blackbox/scores.tsv compas 30 [splits=200] [alpha=0.05]
"""
import json
import sys

import numpy as np
from scipy import stats

path, dataset, n_cal = sys.argv[1], sys.argv[2], int(sys.argv[3])
splits = int(sys.argv[4]) if len(sys.argv) > 4 else 200
alpha = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
models = []
for line in open(path):
    d, kind, label, split, text = line.rstrip("\n").split("\t", 4)
    if d == dataset and kind == "clean":
        models.append({x["name"]: x["value"] for x in json.loads(text)["statistics"]})
names = sorted(models[0])
x = np.array([[m[n] for n in names] for m in models])
count, m = x.shape


def bound(v, reference):
    n = len(reference)
    sd = np.maximum(reference.std(0, ddof=1), 0.01)
    t = (v - reference.mean(0)) / (sd * np.sqrt(1 + 1 / n))
    return m * (2 * stats.t.sf(np.abs(t), n - 1)).min()


generator = np.random.default_rng(0)
p_rule, rank_rule = [], []
for _ in range(splits):
    order = generator.permutation(count)
    cal, held = order[:n_cal], order[n_cal:]
    loo = np.array([bound(x[i], x[[j for j in cal if j != i]]) for i in cal])
    b = np.array([bound(x[i], x[cal]) for i in held])
    p_rule.append((b < alpha).mean())
    rank_rule.append(np.mean([(1 + (loo <= v).sum()) / (n_cal + 1) <= alpha for v in b]))
rank_rule = np.array(rank_rule)
print(f"{dataset}: {count} clean models, {splits} random splits into {n_cal} calibration and {count - n_cal} held-out models: "
      f"mean false-alarm rate p rule {np.mean(p_rule):.3f}, rank rule {rank_rule.mean():.3f} "
      f"(5-95% over splits {np.quantile(rank_rule, 0.05):.2f}-{np.quantile(rank_rule, 0.95):.2f})")
