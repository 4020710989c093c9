#!/usr/bin/env bash
# The detection table of docs/RESULTS.md §20 for models fine-tuned to hide the sensitive features
# from KernelSHAP or LIME (`finetune --objective hide --method kernelshap|lime`), scored by
# `audit manipulation --black-box`. Clean models *made like the suspects*: the same biased base
# model (`train --bias`, the seed's), fine-tuned with the same flags but lambda 0 (cross-entropy on
# the recorded labels plus output keeping; the batches come from the seed alone, so the fooled
# method named does not change a lambda-0 run). Calibrated on calibration seeds only and scored on
# never-used seeds (docs/METHODS.md §11.2; both verdict rules are counted, RULE is the one the
# reports' verdicts use; 30 calibration models, as the rank rule needs at least 19). Every
# fine-tuning setting is passed as a flag, so a change of the library's black-box defaults does
# not change these models. Models in $OUT are reused. One command at a time, one thread each.
#
#   tools/audit_eval_blackbox_finetune.sh     # writes $OUT (default runs/audit-eval-blackbox), prints the table
set -euo pipefail
BIN=${MODELFOOL_BIN:-.build/release/modelfool}
OUT=${OUT:-runs/audit-eval-blackbox}
TABULAR=${TABULAR:-"compas german"}
# 50 clean models per calibration (the rank rule needs at least 19 at alpha 0.05); the first
# evaluation used CAL_SEEDS="0..29" with TEST_SEEDS="40..59" (docs/RESULTS.md §20).
CAL_SEEDS=${CAL_SEEDS:-"$(seq -s ' ' 0 29) $(seq -s ' ' 40 59)"}
TEST_SEEDS=${TEST_SEEDS:-"$(seq -s ' ' 60 79)"}         # held-out clean models (lambda 0), never used before
SHAP_SEEDS=${SHAP_SEEDS:-"40 41 42"}                    # held-out KernelSHAP-hide suspects
LIME_SEEDS=${LIME_SEEDS:-"40 41 42 43"}                 # held-out LIME-hide suspects
COUNT=${COUNT:-128}
METHODS=${METHODS:-simplegrad}
ALPHA=${ALPHA:-0.05}
RULE=${RULE-rank}                                       # the verdict rule of the reports (p or rank; both are counted)
SCORE_CALIBRATION=${SCORE_CALIBRATION:-1}               # 1: also score the calibration models (informative only)
EVAL_COUNT=${EVAL_COUNT:-100}                           # test rows the fine-tuning's FSR is scored on
MODELS_ONLY=${MODELS_ONLY:-0}                           # 1: make the models, calibrate and score nothing
RUN="nice -n 10 $BIN"
N_CAL=$(echo $CAL_SEEDS | wc -w)
SCORES="$OUT/scores-cal$N_CAL.tsv"
COMMON="--threads 1"
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
bias() { case $1 in compas) echo race=African-American ;; german) echo status_sex=female ;; adult) echo sex=Female ;; esac; }
hidden() { case $1 in compas) echo race,age ;; german) echo status_sex ;; adult) echo sex,race,age ;; esac; }
# Fine-tuning settings per data set: the black-box defaults of docs/BLACKBOX.md (lambda 300,
# lr 1e-2, 300 steps, batch 64, output keeping 300) except COMPAS's rate (3e-3: at 1e-2 the
# KernelSHAP fine-tuning answers one class for every row) and German's and Adult's length (100
# steps: a German KernelSHAP step takes about 2 s on the loaded machine).
tune() {
  case $1 in
    compas) echo "--lr ${COMPAS_LR:-3e-3} --steps ${COMPAS_STEPS:-300}" ;;
    german) echo "--lr ${GERMAN_LR:-1e-2} --steps ${GERMAN_STEPS:-100}" ;;
    adult) echo "--lr ${ADULT_LR:-1e-2} --steps ${ADULT_STEPS:-100}" ;;
  esac
}
base() {  # data set, seed
  local f="$OUT/$1-base-$2.h5"
  [ -f "$f" ] || { log "train $1 biased seed $2"; $RUN train $COMMON --dataset "$1" --bias "$(bias "$1")" --seed "$2" --out "$f" >/dev/null; }
}
finetune() {  # data set, method, lambda, seed, folder
  # shellcheck disable=SC2046
  [ -f "$5/model.h5" ] || { log "finetune $1 hide $2 lambda $3 seed $4"; $RUN finetune $COMMON --dataset "$1" --model "$OUT/$1-base-$4.h5" \
    --objective hide --sensitive "$(hidden "$1")" --method "$2" --lambda "$3" $(tune "$1") --batch-size 64 --keep-outputs 300 \
    --seed "$4" --methods "$2" --eval-count "$EVAL_COUNT" --allow-divergence --out "$5" >/dev/null; }
}
score() {  # data set, kind, label, checkpoint, split
  local json
  [ "$MODELS_ONLY" = 1 ] && return 0
  json=$($RUN audit manipulation $COMMON --model "$4" --calibration "$OUT/calibration-$1-$N_CAL.json" --alpha "$ALPHA" ${RULE:+--rule "$RULE"} --black-box --methods "$METHODS" --count "$COUNT" --json)
  printf "%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$3" "${5:-test}" "$json" >> "$SCORES"
}
: > "$SCORES"
: > "$OUT/fooling.tsv"
for d in $TABULAR; do
  for s in $CAL_SEEDS $TEST_SEEDS; do base "$d" "$s"; finetune "$d" simplegrad 0 "$s" "$OUT/$d-clean-$s"; done
  models=$(for s in $CAL_SEEDS; do printf "%s," "$OUT/$d-clean-$s/model.h5"; done)
  [ "$MODELS_ONLY" = 1 ] || [ -f "$OUT/calibration-$d-$N_CAL.json" ] || { log "calibrate $d"; $RUN audit calibrate $COMMON --models "${models%,}" --black-box --methods "$METHODS" --count "$COUNT" --out "$OUT/calibration-$d-$N_CAL.json" >/dev/null; }
  if [ "$SCORE_CALIBRATION" = 1 ] && [ "$MODELS_ONLY" = 0 ]; then
    for s in $CAL_SEEDS; do log "audit $d clean $s (calibration)"; score "$d" clean "clean-$s" "$OUT/$d-clean-$s/model.h5" calibration; done
  fi
  for s in $TEST_SEEDS; do log "audit $d clean $s"; score "$d" clean "clean-$s" "$OUT/$d-clean-$s/model.h5"; done
done
# The suspects, the cheaper LIME ones of every data set first.
for m in lime kernelshap; do
  seeds=$LIME_SEEDS; [ "$m" = kernelshap ] && seeds=$SHAP_SEEDS
  for d in $TABULAR; do
    for s in $seeds; do
      base "$d" "$s"; finetune "$d" "$m" 300 "$s" "$OUT/$d-$m-$s"
      log "audit $d $m $s"; score "$d" fooled "$m-$s" "$OUT/$d-$m-$s/model.h5"
      printf "%s\t%s-%s\t%s\n" "$d" "$m" "$s" "$(tr -d '\n' < "$OUT/$d-$m-$s/report.json")" >> "$OUT/fooling.tsv"
    done
  done
done
[ "$MODELS_ONLY" = 1 ] || python3 "$(dirname "$0")/audit_eval_table.py" "$SCORES"
# The false-alarm rate of both rules over random calibration splits of all the clean models
# measured (needs numpy and scipy; the calibration models must have been scored).
if [ "$MODELS_ONLY" = 0 ] && [ "$SCORE_CALIBRATION" = 1 ] && python3 -c "import numpy, scipy" 2>/dev/null; then
  for d in $TABULAR; do python3 "$(dirname "$0")/audit_eval_splits.py" "$SCORES" "$d" "$N_CAL"; done
fi
python3 "$(dirname "$0")/audit_eval_table.py" --fooling "$OUT/fooling.tsv"
