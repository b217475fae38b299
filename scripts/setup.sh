#!/usr/bin/env bash
# Set up a fresh machine for keras_cnns: Debian's Fashion-MNIST package, a virtual
# environment in .venv and the package with its CPU TensorFlow. Idempotent.
# EXTRAS=test adds the test dependencies (EXTRAS=test,bench: also PyTorch for benchmarks/).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
apt_packages=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || apt_packages+=(dataset-fashion-mnist)
command -v dot >/dev/null || apt_packages+=(graphviz)  # architecture diagrams
if [ "${#apt_packages[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
extras="cpu${EXTRAS:+,$EXTRAS}"
.venv/bin/python -m pip install -q -e ".[${extras}]" 2>&1 | grep -v "^WARNING: Location" || true
# The PredictionLog protos for TF Serving warm-up files; --no-deps: it declares `tensorflow`,
# which would install a second TensorFlow beside tensorflow-cpu.
.venv/bin/python -m pip install -q --no-deps tensorflow-serving-api 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import keras_cnns" # fail here, not later, if the install did not work
