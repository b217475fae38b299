#!/usr/bin/env bash
# The main job on a fresh machine: set up (Fashion-MNIST from Debian, .venv, package),
# then train LeNet-5 on Fashion-MNIST with its quick recipe and print the test accuracy
# and the run folder (under runs/),
# then export it (SavedModel for TF Serving, float and int8 TFLite) and classify real test
# images with the TFLite file under LiteRT. Its figures go to results/main_job.json, which the
# README quotes (scripts/check_readme.py compares them).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s.%N)
load_before=$(cut -d' ' -f1 /proc/loadavg)
bash scripts/setup.sh
# The commands drop TensorFlow's banners and log lines themselves (KERAS_CNNS_VERBOSE=1 shows them).
run_dir="runs/lenet5-main-$(date +%Y%m%d-%H%M%S)"
.venv/bin/keras-cnns train lenet5 --dataset fashion_mnist --option variant=modern --seed 0 --run-dir "$run_dir" "$@"
.venv/bin/keras-cnns export "$run_dir" --format saved_model tflite --quantize none int8 --io-dtype uint8 --overwrite
.venv/bin/keras-cnns predict saved_models/lenet5.tflite --dataset fashion_mnist --count 8
.venv/bin/python scripts/record_main_job.py "$run_dir" "$started" "$load_before"
