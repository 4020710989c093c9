#!/usr/bin/env python3
"""The detector evaluation table from tools/audit_eval.sh's scores.tsv: per data set and over all,
the held-out models' detection rate, false alarms and ROC AUC. The score is the smallest
Holm-corrected p-value of a statistic against the calibration seeds' clean models (docs/METHODS.md
§11.2), the verdict "manipulated" when it is below alpha. The AUC ranks models by the uncapped
Bonferroni bound m * p_min (the score before its cap at 1, which would tie most clean models),
comparable across data sets as a p-value is. Both verdict rules are counted: the p rule (score
below alpha) and the rank rule (the rank p-value of m p_min among the calibration's leave-one-out
values at most alpha, `rank_p` in reports made by `audit manipulation` since it has one).

With several kinds of fooled models (labels `KIND-SEED`), each kind also gets its own row against
the same clean models; a second table gives the AUC of each family of statistics alone (the
suspicion from that family's p-values: -log10 of its count times its smallest p). With
`--fooling FILE` (tools/audit_eval_blackbox_finetune.sh's fooling.tsv) it prints the fine-tuned
suspects' own report instead: FSR, accuracy and parity."""
import json
import math
import sys


def auc(clean, fooled):
    # Probability that a fooled model scores above a clean one (ties count half).
    if not clean or not fooled:
        return float("nan")
    wins = sum((f > c) + 0.5 * (f == c) for f in fooled for c in clean)
    return wins / (len(clean) * len(fooled))


def fooling_table(path):
    print("| data set | suspect | FSR of the fooled method (original) | accuracy | parity of the first hidden feature |")
    print("|---|---|---:|---|---|")
    for line in open(path):
        dataset, label, text = line.rstrip("\n").split("\t", 2)
        e = json.loads(text)["evaluation"]
        (method, fsr), = e["fsr"].items()
        acc = e["accuracy"]
        first = json.loads(text)["run"]["objective"].split("(")[1].split(",")[0].rstrip(")")
        dp = e["fairness"]["demographic_parity_difference"].get(first, {})
        print(f"| {dataset} | {label} | {100 * fsr['fooled']:.1f}% ({100 * fsr['original']:.1f}%) | {acc['original']:.3f} -> {acc['fooled']:.3f} "
              f"| {first} {dp.get('original', float('nan')):.3f} -> {dp.get('fooled', float('nan')):.3f} |")


if len(sys.argv) > 2 and sys.argv[1] == "--fooling":
    fooling_table(sys.argv[2])
    sys.exit(0)


def family(name):
    # `share lime race` -> `share lime`, `surrogate gap kernelshap` -> `surrogate gap`,
    # `disagreement lrp label 3` -> `disagreement`.
    words = name.split()
    if words[0] == "share":
        return " ".join(words[:2])
    if words[0] == "surrogate":
        return "surrogate gap"
    return words[0]


def families(report):
    out = {}
    for x in report["statistics"]:
        if x.get("p") is not None:
            out.setdefault(family(x["name"]), []).append(x["p"])
    return out


rows = []
for line in open(sys.argv[1]):
    dataset, kind, label, split, text = line.rstrip("\n").split("\t", 4)
    r = json.loads(text)
    stat = {x["name"]: x for x in r["statistics"]}[r["score_statistic"]]
    rows.append(dict(dataset=dataset, kind=kind, label=label, split=split, score=r["score"], threshold=r["threshold"],
                     verdict=r["verdict"], statistic=r["score_statistic"], z=stat["z"],
                     p_flag=r["score"] < r["threshold"], rank_p=r.get("rank_p"),
                     rank_flag=None if r.get("rank_p") is None else r["rank_p"] <= r["threshold"],
                     families={f: -math.log10(max(len(ps) * min(ps), 1e-300)) for f, ps in families(r).items()},
                     # Suspicion for the AUC: -log10 of m * p_min (larger is more suspicious).
                     suspicion=-math.log10(max(r["statistics_tested"] * stat["p"], 1e-300))))

print("| model | split | score (corrected p) | rank p | statistic | z | verdict |")
print("|---|---|---:|---:|---|---:|---|")
for r in rows:
    rank = "–" if r["rank_p"] is None else f"{r['rank_p']:.3f}"
    print(f"| {r['dataset']} {r['label']} | {r['split']} | {r['score']:.2g} | {rank} | {r['statistic']} | {r['z']:.2f} | {r['verdict']} |")
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


print("| data set | held-out clean | fooled | detected (p rule) | false alarms (p rule) | detected (rank rule) | false alarms (rank rule) | ROC AUC | TPR at <= 5% false alarms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")


def share(models, flag):
    if any(r[flag] is None for r in models):
        return "–"
    n = sum(r[flag] for r in models)
    return f"{n}/{len(models)} ({100 * n / max(len(models), 1):.0f}%)"


def kind(r):
    return r["label"].rsplit("-", 1)[0]


groups = []
for d in sorted({r["dataset"] for r in rows}):
    groups.append((d, None))
    kinds = sorted({kind(r) for r in rows if r["dataset"] == d and r["kind"] == "fooled"})
    if len(kinds) > 1:
        groups += [(d, k) for k in kinds]
groups.append(("all", None))
for g, k in groups:
    test = [r for r in rows if r["split"] == "test" and (g == "all" or r["dataset"] == g)]
    clean = [r for r in test if r["kind"] == "clean"]
    fooled = [r for r in test if r["kind"] == "fooled" and (k is None or kind(r) == k)]
    g = g if k is None else f"{g}, {k}"
    a = auc([r["suspicion"] for r in clean], [r["suspicion"] for r in fooled])
    t = tpr_at([r["suspicion"] for r in clean], [r["suspicion"] for r in fooled])
    print(f"| {g} | {len(clean)} | {len(fooled)} | {share(fooled, 'p_flag')} | {share(clean, 'p_flag')} "
          f"| {share(fooled, 'rank_flag')} | {share(clean, 'rank_flag')} | {a:.3f} | {100 * t:.0f}% |")
print()
names = sorted({f for r in rows for f in r["families"]})
print("| data set | " + " | ".join(f"AUC {f}" for f in names) + " |")
print("|---|" + "---:|" * len(names))
for g, k in groups:
    test = [r for r in rows if r["split"] == "test" and (g == "all" or r["dataset"] == g)]
    clean = [r for r in test if r["kind"] == "clean"]
    fooled = [r for r in test if r["kind"] == "fooled" and (k is None or kind(r) == k)]
    cells = []
    for f in names:
        a = auc([r["families"].get(f, 0.0) for r in clean], [r["families"].get(f, 0.0) for r in fooled])
        cells.append(f"{a:.3f}")
    print(f"| {g if k is None else f'{g}, {k}'} | " + " | ".join(cells) + " |")
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
