#!/usr/bin/env bash
# The paper's networks beside PyTorch eager: for each of ResNet-50, DenseNet-121 and VGG-19 (zoo,
# random weights) and each batch size, `modelfool bench step --finetune-only` on 1 and 2 threads,
# its plain and Grad-CAM location fine-tuning steps alternating round by round with
# bench/peers/torch_zoo_step.py (found through PYTHONPATH, e.g. PYTHONPATH=/tmp/torchpeer).
# Each `bench step` is its own process, so its peak resident memory is the step's, as the peer's.
# The peer runs as bench step's child while the parent holds its memory; in a virtual machine that
# can slow the peer's fresh pages (docs/RESULTS.md §22): for ratios, also time the peer on its own.
#   ARCHS="resnet50 densenet121 vgg19" BATCHES="2 8" ITERATIONS=3 ROUNDS=2 bench/paper_networks.sh
# Prints a Markdown table; the raw JSON goes to $OUT.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
BIN=${BIN:-.build/release/modelfool}
OUT=${OUT:-runs/perf/paper}
mkdir -p "$OUT"
echo "load before: $(uptime)" >&2
for arch in ${ARCHS:-resnet50 densenet121 vgg19}; do
  for b in ${BATCHES:-2 8}; do
    "$BIN" bench step --finetune-only --finetune-model "zoo:$arch" --finetune-batch "$b" --threads 1,2 \
      --iterations "${ITERATIONS:-3}" --rounds "${ROUNDS:-2}" --json > "$OUT/$arch-b$b.json"
  done
done
echo "load after: $(uptime)" >&2
python3 - "$OUT" ${ARCHS:-resnet50 densenet121 vgg19} <<'PY'
import glob, json, os, sys
out = sys.argv[1]
print("ms per step (mean over rounds of medians); ratio = ModelFool / PyTorch, lower is faster; memory in MiB\n")
print("| network | batch | threads | plain: ModelFool / PyTorch | Grad-CAM location: ModelFool / PyTorch | tensors at most (Grad-CAM step) | peak resident: ModelFool / PyTorch |")
print("|---|---:|---:|---|---|---:|---|")
for arch in sys.argv[2:]:
  for path in sorted(glob.glob(f"{out}/{arch}-b*.json"), key=lambda p: int(p.rsplit("-b", 1)[1][:-5])):
    r = json.load(open(path))
    for row in r["by_threads"]:
      def pair(ours, peer):
        if peer is None: return f"{ours:,.0f} / –"
        return f"{ours:,.0f} / {peer:,.0f} ({ours / peer:.2f}x)"
      peer_rss = row.get("torch_finetune_peak_rss_mb")
      print(f"| {arch} | {r['batch']} | {row['threads']} | {pair(row['finetune_plain_step_ms'], row.get('torch_finetune_plain_step_ms'))} | "
            f"{pair(row['finetune_gradcam_location_step_ms'], row.get('torch_finetune_gradcam_location_step_ms'))} | "
            f"{row.get('finetune_gradcam_location_peak_tensor_mb', 0):,.0f} | {r.get('peak_rss_mb', 0):,.0f} / {'–' if peer_rss is None else f'{peer_rss:,.0f}'} |")
    t = {row["threads"]: row for row in r["by_threads"]}
    if 1 in t and 2 in t:
      print(f"| {arch} | {r['batch']} | speed-up, 2 vs 1 | {t[1]['finetune_plain_step_ms'] / t[2]['finetune_plain_step_ms']:.2f}x | {t[1]['finetune_gradcam_location_step_ms'] / t[2]['finetune_gradcam_location_step_ms']:.2f}x | | |")
PY
