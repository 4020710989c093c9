#!/usr/bin/env bash
# Data parallelism benchmark (not a test; docs/DISTRIBUTED.md): the digits Grad-CAM fine-tuning step at global
# batch 64, as 1 process x 1 thread, 1 process x 2 threads and 2 MPI ranks x 1 thread. Prints the
# training-loop seconds per step ("fine-tuned in" of the report, monitoring included) and each
# rank's allreduce totals (reductions started, bytes, seconds spent in reduction calls). STEPS
# (default 20) steps; MODEL (default: the digits base, trained first) may name another model,
# BATCH another global batch; MODELFOOL_MPI_BUCKET_BYTES, when set, the gradient bucket cap. The
# EfficientNet-Lite0 step: MODEL=runs/models/efficientnet-lite0.h5 (`modelfool import
# efficientnet-lite0`) DATASET=imagenet-sample BATCH=8 bench/mpi.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.build/release/modelfool}
STEPS=${STEPS:-20}; BATCH=${BATCH:-64}; DATASET=${DATASET:-digits}
# A model given as a relative file path is found from here (the runs go in a temporary folder).
if [ -n "${MODEL:-}" ] && [ -f "$MODEL" ]; then MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL"); fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
export MODELFOOL_DATASETS=${MODELFOOL_DATASETS:-$ROOT/datasets}
if [ -z "${MODEL:-}" ]; then "$BIN" train --dataset "$DATASET" --epochs 1 --out base.h5 --threads 1 >/dev/null 2>&1; MODEL=base.h5; fi
args=(finetune --dataset "$DATASET" --model "$MODEL" --steps "$STEPS" --batch-size "$BATCH" --eval-count 8 --methods gradcam --allow-divergence --json)
secs() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]+"/report.json")); print("%.3f s/step" % (r["run"]["seconds"]/int(sys.argv[2])))' "$1" "$STEPS"; }
echo "1 x 1 thread:   $("$BIN" "${args[@]}" --threads 1 --out a >/dev/null 2>&1; secs a "$STEPS")"
echo "1 x 2 threads:  $("$BIN" "${args[@]}" --threads 2 --out b >/dev/null 2>&1; secs b "$STEPS")"
bucket=(); [ -n "${MODELFOOL_MPI_BUCKET_BYTES:-}" ] && bucket=(-x MODELFOOL_MPI_BUCKET_BYTES)
MODELFOOL_MPI_STATS=1 mpirun --allow-run-as-root --oversubscribe --bind-to none -x MODELFOOL_MPI_STATS "${bucket[@]}" -n 2 \
  "$BIN" "${args[@]}" --threads 1 --out c >/dev/null 2>stats.txt
echo "2 ranks x 1:    $(secs c "$STEPS")"; grep allreduce stats.txt
