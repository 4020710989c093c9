#!/usr/bin/env bash
# KernelSHAP beside the `shap` package (docs/BLACKBOX.md): explain the first ROWS (1,000) COMPAS
# test rows of one model with every coalition of its 8 players over the same 100 background rows,
# ours (`explain --method kernelshap`, the explanation's own seconds, one thread) and shap's
# KernelExplainer (bench/peers/shap_kernel.py, one thread), interleaved ROUNDS (3) times so that
# both see the same machine load; prints each round, the medians, their ratio, both peak resident
# set sizes (GNU time) and the OpenBLAS core. Needs shap and h5py for python3, and MODEL
# (default runs/base/compas.h5: `modelfool train --dataset compas`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
BIN=${BIN:-.build/release/modelfool}
MODEL=${MODEL:-runs/base/compas.h5}
ROWS=${ROWS:-1000}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-runs/kernelshap-speed}
mkdir -p "$OUT"
echo "load: $(uptime)" >&2
"$BIN" explain --model "$MODEL" --dataset compas --method simplegrad --count 100 --out "$OUT/bg-pictures" --save-maps "$OUT/bg.h5" > /dev/null
"$BIN" bench forward --model "$MODEL" --iterations 1 --peer none 2>&1 >/dev/null | grep -o "OpenBLAS core [A-Za-z0-9_]*" | head -1 > "$OUT/core.txt" || true
for r in $(seq 1 "$ROUNDS"); do
  /usr/bin/time -f "%M" -o "$OUT/ours-$r.rss" "$BIN" explain --model "$MODEL" --dataset compas --method kernelshap --count "$ROWS" \
    --background "$OUT/bg.h5" --threads 1 --out "$OUT/pictures" --save-maps "$OUT/ours.h5" --json > "$OUT/ours-$r.json"
  /usr/bin/time -f "%M" -o "$OUT/shap-$r.rss" python3 bench/peers/shap_kernel.py --model "$MODEL" --maps "$OUT/ours.h5" \
    --background "$OUT/bg.h5" --threads 1 > "$OUT/shap-$r.json"
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ours = [json.load(open(f"{out}/ours-{r}.json"))["seconds"] for r in range(1, rounds + 1)]
shap = [json.load(open(f"{out}/shap-{r}.json")) for r in range(1, rounds + 1)]
rss = lambda name: max(int(open(f"{out}/{name}-{r}.rss").read().split()[-1]) for r in range(1, rounds + 1)) / 1024
for r in range(rounds):
  print(f"round {r + 1}: ours {ours[r]:.2f} s, shap {shap[r]['seconds']:.2f} s")
mo, ms = statistics.median(ours), statistics.median(s["seconds"] for s in shap)
print(f"{open(out + '/core.txt').read().strip() or 'OpenBLAS core unknown'}; {shap[0]['rows']} rows, {shap[0]['players']} players, "
      f"{shap[0]['coalitions']} coalitions, {shap[0]['background']} background rows, shap {shap[0]['shap_version']}")
print(f"median: ours {mo:.2f} s, shap {ms:.2f} s, ratio {mo / ms:.3f}")
print(f"peak RSS: ours {rss('ours'):.0f} MiB, shap {rss('shap'):.0f} MiB")
print(f"values: largest absolute difference {max(s['max_abs_difference'] for s in shap):.2e}, relative {max(s['relative_difference'] for s in shap):.2e}")
PY
