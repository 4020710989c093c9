#!/usr/bin/env python3
"""The detector evaluation table from tools/audit_eval.sh's scores.tsv: per data set and over all,
the held-out models' detection rate, false alarms and ROC AUC. The score is the smallest
Holm-corrected p-value of a statistic against the calibration seeds' clean models (docs/METHODS.md
§11.2), the verdict "manipulated" when it is below alpha. The AUC ranks models by the uncapped
Bonferroni bound m * p_min (the score before its cap at 1, which would tie most clean models),
comparable across data sets as a p-value is."""
import json
import math
import sys


def auc(clean, fooled):
    # Probability that a fooled model scores above a clean one (ties count half).
    if not clean or not fooled:
        return float("nan")
    wins = sum((f > c) + 0.5 * (f == c) for f in fooled for c in clean)
    return wins / (len(clean) * len(fooled))


rows = []
for line in open(sys.argv[1]):
    dataset, kind, label, split, text = line.rstrip("\n").split("\t", 4)
    r = json.loads(text)
    stat = {x["name"]: x for x in r["statistics"]}[r["score_statistic"]]
    rows.append(dict(dataset=dataset, kind=kind, label=label, split=split, score=r["score"], threshold=r["threshold"],
                     verdict=r["verdict"], statistic=r["score_statistic"], z=stat["z"],
                     # Suspicion for the AUC: -log10 of m * p_min (larger is more suspicious).
                     suspicion=-math.log10(max(r["statistics_tested"] * stat["p"], 1e-300))))

print("| model | split | score (corrected p) | statistic | z | verdict |")
print("|---|---|---:|---|---:|---|")
for r in rows:
    print(f"| {r['dataset']} {r['label']} | {r['split']} | {r['score']:.2g} | {r['statistic']} | {r['z']:.2f} | {r['verdict']} |")
print()
def tpr_at(clean, fooled, rate=0.05):
    # The largest share of fooled models above a threshold that at most `rate` of the clean ones pass.
    if not clean or not fooled:
        return float("nan")
    best = 0.0
    for t in sorted(set(clean + fooled)):
        if sum(c > t for c in clean) <= rate * len(clean):
            best = max(best, sum(f > t for f in fooled) / len(fooled))
    return best


print("| data set | held-out clean | fooled | detection rate | false alarms | ROC AUC | TPR at <= 5% false alarms |")
print("|---|---:|---:|---:|---:|---:|---:|")
groups = sorted({r["dataset"] for r in rows}) + ["all"]
for g in groups:
    test = [r for r in rows if r["split"] == "test" and (g == "all" or r["dataset"] == g)]
    clean = [r for r in test if r["kind"] == "clean"]
    fooled = [r for r in test if r["kind"] == "fooled"]
    detected = sum(r["verdict"] == "manipulated" for r in fooled)
    alarms = sum(r["verdict"] == "manipulated" for r in clean)
    a = auc([r["suspicion"] for r in clean], [r["suspicion"] for r in fooled])
    t = tpr_at([r["suspicion"] for r in clean], [r["suspicion"] for r in fooled])
    print(f"| {g} | {len(clean)} | {len(fooled)} | {detected}/{len(fooled)} ({100 * detected / max(len(fooled), 1):.0f}%) "
          f"| {alarms}/{len(clean)} ({100 * alarms / max(len(clean), 1):.0f}%) | {a:.3f} | {100 * t:.0f}% |")
weak = [r for r in rows if r["kind"] == "weak"]
if weak:
    detected = sum(r["verdict"] == "manipulated" for r in weak)
    print(f"| weakly fooled (not in the rows above) | | {len(weak)} | {detected}/{len(weak)} | | |")

adaptive = [r for r in rows if r["kind"] == "adaptive"]
if adaptive:
    fsr = {}
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            label, text = line.rstrip("\n").split("\t", 1)
            e = json.loads(text)
            fsr[label] = (e["fsr"]["gradcam"]["fooled"], e["accuracy"]["original"], e["accuracy"]["fooled"])
    clean = [r for r in rows if r["split"] == "test" and r["kind"] == "clean" and r["dataset"] == "digits"]
    detected = sum(r["verdict"] == "manipulated" for r in adaptive)
    a = auc([r["suspicion"] for r in clean], [r["suspicion"] for r in adaptive])
    print()
    print("| adaptive attack (digits) | FSR gradcam | accuracy before -> after | score | verdict |")
    print("|---|---:|---:|---:|---|")
    for r in adaptive:
        f = fsr.get(r["label"], (float("nan"),) * 3)
        print(f"| {r['label']} | {f[0]:.3f} | {f[1]:.3f} -> {f[2]:.3f} | {r['score']:.2g} ({r['statistic']}, z {r['z']:.2f}) | {r['verdict']} |")
    print(f"| detection {detected}/{len(adaptive)}, ROC AUC against the held-out clean digits models {a:.3f} | | | | |")
