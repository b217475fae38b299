#!/usr/bin/env bash
# The main job on a fresh machine: set up (Fashion-MNIST from Debian, .venv, package),
# then train LeNet-5 on Fashion-MNIST with its quick recipe and print the test accuracy
# and the run folder (under runs/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
.venv/bin/keras-cnns train lenet5 --dataset fashion_mnist --option variant=modern --seed 0 "$@"
