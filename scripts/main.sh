#!/usr/bin/env bash
# The main job on a fresh machine: set up, then build every registered model and print
# the table of models (keras-cnns list).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
.venv/bin/keras-cnns list
