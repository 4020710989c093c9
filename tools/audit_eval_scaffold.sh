#!/usr/bin/env bash
# The scaffold detection table of docs/AUDITING.md: honest scaffolds (psi = f, built like the
# attacks: a learned f on labels biased against the sensitive group, the same detector) against
# two kinds of scaffolds (Slack et al. 2020): psi deciding from a real innocuous feature, and psi a
# fair MLP that never reads the sensitive feature. Calibrated on calibration seeds only and scored
# on held-out seeds with `audit manipulation --black-box` (docs/METHODS.md §11.2; both verdict
# rules are counted, RULE is the one the reports' verdicts use). 30 calibration models: the rank
# rule needs at least 19 at alpha 0.05, and 12 under-state the spread of COMPAS's shares. Seeds
# 20-33 were scored before (with calibration seeds 0-11); 60-73 had never been used when the rank
# rule was scored. Short detector training (REPEATS, EPOCHS) so that the evaluation fits a loaded
# 2-core machine; models in $OUT are reused. One data set at a time.
#
#   tools/audit_eval_scaffold.sh        # writes $OUT (default runs/audit-eval-scaffold), prints the table
set -euo pipefail
BIN=${MODELFOOL_BIN:-.build/release/modelfool}
OUT=${OUT:-runs/audit-eval-scaffold}
TABULAR=${TABULAR:-"compas german adult"}
CAL_SEEDS=${CAL_SEEDS:-"$(seq -s ' ' 0 11) $(seq -s ' ' 34 51)"}
TEST_SEEDS=${TEST_SEEDS:-"20 21 22 23 24 25"}                # held-out: honest scaffolds and both attacks
EXTRA_CLEAN_SEEDS=${EXTRA_CLEAN_SEEDS:-"$(seq -s ' ' 26 33) $(seq -s ' ' 60 73)"}  # held-out honest scaffolds only
RULE=${RULE:-rank}                                          # the verdict rule of the reports (p or rank)
REPEATS=${REPEATS:-3}
EPOCHS=${EPOCHS:-4}
COUNT=${COUNT:-128}
METHODS=${METHODS:-simplegrad}
ALPHA=${ALPHA:-0.05}
RUN="nice -n 10 $BIN"
COMMON="--threads 1"
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
sensitive() { case $1 in compas) echo race ;; german) echo status_sex ;; adult) echo sex ;; esac; }
innocuous() { case $1 in compas) echo priors_count ;; german) echo installment_rate ;; adult) echo hours-per-week ;; esac; }
scaffold() {  # data set, psi (same, fair or a feature), seed, folder
  [ -f "$4/scaffold.h5" ] || { log "scaffold $1 psi=$2 seed $3"; $RUN scaffold $COMMON --dataset "$1" --sensitive "$(sensitive "$1")" --biased trained \
    --innocuous "$2" --repeats "$REPEATS" --epochs "$EPOCHS" --explained-rows 20 --lime-samples 1000 --seed "$3" --out "$4" >/dev/null; }
}
score() {  # data set, kind, label, checkpoint
  local json
  json=$($RUN audit manipulation $COMMON --model "$4" --calibration "$OUT/calibration-$1.json" --alpha "$ALPHA" --rule "$RULE" --black-box --methods "$METHODS" --count "$COUNT" --json)
  printf "%s\t%s\t%s\ttest\t%s\n" "$1" "$2" "$3" "$json" >> "$OUT/scores.tsv"
}
: > "$OUT/scores.tsv"
for d in $TABULAR; do
  for s in $CAL_SEEDS $TEST_SEEDS $EXTRA_CLEAN_SEEDS; do scaffold "$d" same "$s" "$OUT/$d-honest-$s"; done
  for s in $TEST_SEEDS; do scaffold "$d" "$(innocuous "$d")" "$s" "$OUT/$d-feature-$s"; scaffold "$d" fair "$s" "$OUT/$d-fair-$s"; done
  models=$(for s in $CAL_SEEDS; do printf "%s," "$OUT/$d-honest-$s/scaffold.h5"; done)
  [ -f "$OUT/calibration-$d.json" ] || { log "calibrate $d"; $RUN audit calibrate $COMMON --models "${models%,}" --black-box --methods "$METHODS" --count "$COUNT" --out "$OUT/calibration-$d.json" >/dev/null; }
  for s in $TEST_SEEDS $EXTRA_CLEAN_SEEDS; do log "audit $d honest $s"; score "$d" clean "honest-$s" "$OUT/$d-honest-$s/scaffold.h5"; done
  for s in $TEST_SEEDS; do
    log "audit $d scaffolds $s"; score "$d" fooled "feature-$s" "$OUT/$d-feature-$s/scaffold.h5"; score "$d" fooled "fair-$s" "$OUT/$d-fair-$s/scaffold.h5"
  done
done
python3 "$(dirname "$0")/audit_eval_table.py" "$OUT/scores.tsv"
