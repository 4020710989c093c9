#!/usr/bin/env bash
# The detection tables of docs/RESULTS.md §20 and docs/BLACKBOX.md in one command: COMPAS scaffolds
# against honest scaffolds (30 calibration models), then models fine-tuned to hide the sensitive
# features from KernelSHAP or LIME against clean lambda-0 fine-tunes, with a 30-model calibration
# (held out: seeds 40-59) and the 50-model one (held out: 60-79), and the false-alarm rates over
# random calibration splits; then Adult with 20 calibration models. Models already made are reused; MODELFOOL_BIN and OUT-less settings
# pass through to the scripts.
#
#   tools/audit_eval_blackbox.sh
set -euo pipefail
here=$(dirname "$0")
TABULAR=compas "$here/audit_eval_scaffold.sh"
CAL_SEEDS="$(seq -s ' ' 0 29)" TEST_SEEDS="$(seq -s ' ' 40 59)" "$here/audit_eval_blackbox_finetune.sh"
# Adult, smaller (its audits take longest): 20 calibration models, 10 held out, 4 suspects.
TABULAR=adult CAL_SEEDS="$(seq -s ' ' 0 19)" TEST_SEEDS="$(seq -s ' ' 60 69)" LIME_SEEDS="40 41 42" SHAP_SEEDS=40 SCORE_CALIBRATION=0 \
  OUT=runs/audit-eval-blackbox-adult "$here/audit_eval_blackbox_finetune.sh"
"$here/audit_eval_blackbox_finetune.sh"
