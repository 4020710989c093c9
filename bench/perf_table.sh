#!/usr/bin/env bash
# The performance table of docs/BENCHMARKS.md: ModelFool against JAX, PyTorch eager and
# Captum/Zennit in the same run, on 1 and 2 threads, from the JSON of `modelfool bench step`
# (reference workload and digits CNN; EfficientNet-Lite0 batch 4) and `bench explain`.
# Peers are found through PYTHONPATH (e.g. PYTHONPATH=/tmp/torchpeer:/tmp/jaxpeer; see
# bench/peers/README.md); a missing one leaves its column empty. Needs runs/base/digits.h5 and
# runs/models/efficientnet-lite0.h5 (`modelfool train --dataset digits --out runs/base/digits.h5`,
# `modelfool import efficientnet-lite0`). Prints a Markdown table; the raw JSON goes to $OUT.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
BIN=${BIN:-.build/release/modelfool}
OUT=${OUT:-runs/perf}
mkdir -p "$OUT"
echo "OpenBLAS core and load: $(uptime)" >&2
"$BIN" bench step --threads 1,2 --rounds "${ROUNDS:-2}" --json > "$OUT/step.json"
"$BIN" bench step --threads 1,2 --rounds 1 --iterations 3 --peer none \
  --finetune-model runs/models/efficientnet-lite0.h5 --finetune-batch 4 --json > "$OUT/effnet.json"
"$BIN" bench explain --threads 1 --json > "$OUT/explain.json"
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
step, eff, exp = (json.load(open(f"{out}/{n}.json")) for n in ("step", "effnet", "explain"))
def by(report, t):
  return next((r for r in report["by_threads"] if r["threads"] == t), {})
def cell(v):
  return "–" if v is None else f"{v:.1f}"
def row(name, ours, jax, torch):
  peers = [p for p in (jax, torch) if p is not None]
  ratio = f"{ours / min(peers):.2f}x" if peers and ours is not None else "–"
  print(f"| {name} | {cell(ours)} | {cell(jax)} | {cell(torch)} | {ratio} |")
print(f"OpenBLAS core {step['blas_core']}; ms per step (median), lower is better; ratio = ModelFool / faster peer\n")
print("| workload | ModelFool | JAX (jit) | PyTorch eager / Captum, Zennit | ratio |")
print("|---|---:|---:|---:|---:|")
for t in (1, 2):
  s, e = by(step, t), by(eff, t)
  if not s: continue
  row(f"reference plain step, {t} thread(s)", s.get("plain_step_ms"), s.get("peer_plain_step_ms"), s.get("torch_plain_step_ms"))
  row(f"reference double-backprop step, {t} thread(s)", s.get("double_backprop_step_ms"), s.get("peer_double_backprop_step_ms"), s.get("torch_double_backprop_step_ms"))
  row(f"digits CNN plain step (batch 32), {t} thread(s)", s.get("finetune_plain_step_ms"), None, s.get("torch_finetune_plain_step_ms"))
  row(f"digits CNN Grad-CAM location step, {t} thread(s)", s.get("finetune_gradcam_location_step_ms"), None, s.get("torch_finetune_gradcam_location_step_ms"))
  if e:
    row(f"EfficientNet-Lite0 plain step (batch 4), {t} thread(s)", e.get("finetune_plain_step_ms"), None, e.get("torch_finetune_plain_step_ms"))
    row(f"EfficientNet-Lite0 Grad-CAM location step, {t} thread(s)", e.get("finetune_gradcam_location_step_ms"), None, e.get("torch_finetune_gradcam_location_step_ms"))
for key, name in (("simplegrad", "SimpleGrad (Captum Saliency)"), ("gradcam", "Grad-CAM (Captum LayerGradCam)"), ("lrp", "LRP heo composite (Zennit)")):
  row(f"explain 32 digits: {name}, 1 thread", exp.get(f"{key}_ms"), None, exp.get(f"peer_{key}_ms"))
s1, s2, e1, e2 = by(step, 1), by(step, 2), by(eff, 1), by(eff, 2)
if s1 and s2:
  print(f"\n2 threads vs 1: reference plain {s1['plain_step_ms'] / s2['plain_step_ms']:.2f}x, double backprop "
        f"{s1['double_backprop_step_ms'] / s2['double_backprop_step_ms']:.2f}x, digits Grad-CAM step "
        f"{s1['finetune_gradcam_location_step_ms'] / s2['finetune_gradcam_location_step_ms']:.2f}x"
        + (f", EfficientNet-Lite0 Grad-CAM step {e1['finetune_gradcam_location_step_ms'] / e2['finetune_gradcam_location_step_ms']:.2f}x" if e1 and e2 else ""))
EOF
