#!/usr/bin/env bash
# The manipulation detector on EfficientNet-Lite0 (docs/AUDITING.md, section
# "EfficientNet-Lite0"): clean and fooled fine-tunes of the imported pretrained model, calibrated on some seeds and
# scored on others, audited on views of the ImageNet sample photos (tools/sample_views.py: no
# ImageNet folder is shipped). Clean = the fine-tuning recipe with lambda 0 (cross-entropy only, the
# same steps, learning rate and seed-chosen 16 photos as the fooled ones) plus the pretrained model
# itself: an auditor must not flag a model for having been fine-tuned, only for fooling.
# Models already in $OUT are reused; two processes of one thread each run side by side.
#
#   tools/audit_eval_lite0.sh       # writes $OUT (default runs/audit-lite0) and prints the tables
set -euo pipefail
BIN=${MODELFOOL_BIN:-.build/release/modelfool}
OUT=${OUT:-runs/audit-lite0}
VIEWS=${VIEWS:-5}            # views per photo: 20 x 5 = 100 audited examples
STEPS=${STEPS:-150}          # the imagenet-sample recipe's steps
CAL_SEEDS=${CAL_SEEDS:-"0 1 2 3 4 5 6 7 8 9 10 11"}
TEST_SEEDS=${TEST_SEEDS:-"20 21"}                          # clean and fooled models
EXTRA_CLEAN_SEEDS=${EXTRA_CLEAN_SEEDS:-"22 23 24 25 26 27"}  # held-out clean models only
# Fooled models: objective:method[:classes]. Active fooling swaps the maps of two classes: with
# the default classes (0 tench, 1 goldfish) no sample photo has either label, so an audit that
# explains each view's own label never sees the swap; 609,243 (jeep, Bullmastiff) are in the sample.
KINDS=${KINDS:-"location:gradcam topk:gradcam center-mass:gradcam active:gradcam active:gradcam:609,243 location:lrp_t location:simplegrad_t"}
ALPHA=${ALPHA:-0.05}
PYTHON=${PYTHON:-python3}    # needs Pillow and h5py for the views
RUN="nice -n 10 $BIN"
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
parallel() { tr '\n' '\0' | xargs -0 -r -P 2 -I{} bash -c '{}'; }  # the lines of stdin, two at a time

VIEWS_H5="$OUT/views.h5"
[ -f "$VIEWS_H5" ] || $PYTHON "$(dirname "$0")/sample_views.py" --views "$VIEWS" --seed 0 --out "$VIEWS_H5"
COUNT=$((20 * VIEWS))
PRETRAINED=${PRETRAINED:-runs/models/efficientnet-lite0.h5}
[ -f "$PRETRAINED" ] || $BIN import efficientnet-lite0 --out "$PRETRAINED" >/dev/null

finetune() {  # seed, objective, method, lambda, folder[, classes]
  [ -f "$5/model.h5" ] && return 0
  echo "echo \"[\$(date +%H:%M:%S)] finetune $2/$3 lambda $4 seed $1\" >&2; $RUN finetune --threads 1 --dataset imagenet-sample --model $PRETRAINED --objective $2 --method $3 --lambda $4 --steps $STEPS --seed $1 --methods $3 ${6:+--classes $6} --out $5 >/dev/null"
}
name() {  # kind, seed: the folder name of a fooled model
  local o m c; IFS=: read -r o m c <<< "$1"; echo "$o-$m${c:+-c${c/,/-}}-$2"
}
{
  for s in $CAL_SEEDS $TEST_SEEDS $EXTRA_CLEAN_SEEDS; do finetune "$s" location gradcam 0 "$OUT/clean-$s"; done
  for s in $TEST_SEEDS; do
    for kind in $KINDS; do IFS=: read -r o m c <<< "$kind"; finetune "$s" "$o" "$m" 1 "$OUT/$(name "$kind" "$s")" "$c"; done
  done
} | parallel

models=$(for s in $CAL_SEEDS; do printf "%s," "$OUT/clean-$s/model.h5"; done)
[ -f "$OUT/calibration.json" ] || { log "calibrate on seeds $CAL_SEEDS"; $RUN audit calibrate --models "${models%,}" --h5 "$VIEWS_H5" --count "$COUNT" --out "$OUT/calibration.json" >/dev/null; }

# Every held-out model, scored into one file per model (then joined in a fixed order).
mkdir -p "$OUT/scores"
score() {  # kind, label, checkpoint
  local f="$OUT/scores/$2.tsv"
  [ -s "$f" ] && return 0
  echo "echo \"[\$(date +%H:%M:%S)] audit $2\" >&2; printf 'efficientnet-lite0\t$1\t$2\ttest\t%s\n' \"\$($RUN audit manipulation --threads 1 --model $3 --calibration $OUT/calibration.json --h5 $VIEWS_H5 --count $COUNT --alpha $ALPHA --json)\" > $f.partial && mv $f.partial $f"
}
fsr() {  # label, fine-tuned folder, method
  local f="$OUT/scores/$1.fsr.json"
  [ -s "$f" ] && return 0
  echo "$RUN evaluate --threads 1 --fsr --model $2/model.h5 --original $PRETRAINED --h5 $VIEWS_H5 --methods $3 --json > $f.partial && mv $f.partial $f"
}
{
  score clean pretrained "$PRETRAINED"
  for s in $TEST_SEEDS $EXTRA_CLEAN_SEEDS; do score clean "clean-$s" "$OUT/clean-$s/model.h5"; done
  for s in $TEST_SEEDS; do
    for kind in $KINDS; do
      IFS=: read -r o m c <<< "$kind"; n=$(name "$kind" "$s")
      score fooled "$n" "$OUT/$n/model.h5"
      fsr "$n" "$OUT/$n" "$m"
    done
  done
} | parallel

: > "$OUT/scores.tsv"
for label in pretrained $(for s in $TEST_SEEDS $EXTRA_CLEAN_SEEDS; do echo "clean-$s"; done) \
  $(for s in $TEST_SEEDS; do for kind in $KINDS; do name "$kind" "$s"; done; done); do
  cat "$OUT/scores/$label.tsv" >> "$OUT/scores.tsv"
done
python3 "$(dirname "$0")/audit_eval_table.py" "$OUT/scores.tsv"
echo
python3 - "$OUT"/scores/*.fsr.json <<'PY'
import json, os, sys
print("| fooled model | FSR of its method on the views (original's) | top-1 on the views before -> after |")
print("|---|---:|---:|")
for path in sys.argv[1:]:
    e = json.load(open(path))
    method = e["methods"][0]
    print(f"| {os.path.basename(path)[:-len('.fsr.json')]} ({method['method']}) | {method['fsr']['fooled']:.3f} ({method['fsr']['original']:.3f}) "
          f"| {e['accuracy']['original']:.3f} -> {e['accuracy']['fooled']:.3f} |")
PY
