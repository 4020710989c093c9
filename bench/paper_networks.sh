#!/usr/bin/env bash
# The paper's networks beside PyTorch eager: for each of ResNet-50, DenseNet-121 and VGG-19 (zoo,
# random weights) and each batch size, round by round, `modelfool bench step --finetune-only` on 1
# and 2 threads (its plain and Grad-CAM location fine-tuning steps), then
# bench/peers/torch_zoo_step.py on 1 and 2 threads, each its own process run alone: in a virtual
# machine a process holding memory slows another's fresh pages (docs/RESULTS.md §22), so the peer
# is not run as bench step's child. Each process's peak resident memory is its step's.
#   ARCHS="resnet50 densenet121 vgg19" BATCHES="2 8" ITERATIONS=3 ROUNDS=2 bench/paper_networks.sh
# Prints a Markdown table (means over rounds of each process's medians); the raw JSON goes to $OUT.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
BIN=${BIN:-.build/release/modelfool}
OUT=${OUT:-runs/perf/paper}
ITERATIONS=${ITERATIONS:-3}
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.jsonl
echo "load before: $(uptime)" >&2
for round in $(seq "${ROUNDS:-2}"); do
  for arch in ${ARCHS:-resnet50 densenet121 vgg19}; do
    for b in ${BATCHES:-2 8}; do
      "$BIN" bench step --finetune-only --finetune-model "zoo:$arch" --finetune-batch "$b" --threads 1,2 \
        --iterations "$ITERATIONS" --rounds 1 --torch-zoo-peer none --json > "$OUT/$arch-b$b-r$round.json"
      for t in 1 2; do
        python3 bench/peers/torch_zoo_step.py --arch "$arch" --threads "$t" --iterations "$ITERATIONS" --batch "$b" \
          >> "$OUT/$arch-b$b-torch.jsonl"
      done
    done
  done
done
echo "load after: $(uptime)" >&2
python3 - "$OUT" ${ARCHS:-resnet50 densenet121 vgg19} <<'PY'
import glob, json, sys
from statistics import mean
out = sys.argv[1]
print("ms per step (mean over rounds of medians); ratio = ModelFool / PyTorch, lower is faster; memory in MiB\n")
print("| network | batch | threads | plain: ModelFool / PyTorch | Grad-CAM location: ModelFool / PyTorch | tensors at most (Grad-CAM step) | peak resident: ModelFool / PyTorch |")
print("|---|---:|---:|---|---|---:|---|")
for arch in sys.argv[2:]:
  batches = sorted({int(p.rsplit("-b", 1)[1].split("-")[0]) for p in glob.glob(f"{out}/{arch}-b*-r*.json")})
  for b in batches:
    runs = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{arch}-b{b}-r*.json"))]
    peers = [json.loads(line) for line in open(f"{out}/{arch}-b{b}-torch.jsonl") if line.strip()]
    ours = {}
    for t in (1, 2):
      rows = [row for r in runs for row in r["by_threads"] if row["threads"] == t]
      peer = [p for p in peers if p["threads"] == t]
      def m(key, rows=rows): return mean(row[key] for row in rows)
      ours[t] = (m("finetune_plain_step_ms"), m("finetune_gradcam_location_step_ms"))
      pp, pg = mean(p["zoo_plain_step_ms"] for p in peer), mean(p["zoo_gradcam_location_step_ms"] for p in peer)
      rss = max(r.get("peak_rss_mb", 0) for r in runs)
      prss = max(p["peak_rss_mb"] for p in peer)
      print(f"| {arch} | {b} | {t} | {ours[t][0]:,.0f} / {pp:,.0f} ({ours[t][0] / pp:.2f}x) | {ours[t][1]:,.0f} / {pg:,.0f} ({ours[t][1] / pg:.2f}x) | "
            f"{m('finetune_gradcam_location_peak_tensor_mb'):,.0f} | {rss:,.0f} / {prss:,.0f} |")
    print(f"| {arch} | {b} | speed-up, 2 vs 1 | {ours[1][0] / ours[2][0]:.2f}x | {ours[1][1] / ours[2][1]:.2f}x | | |")
PY
