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

# uv where it can be had: it installs this stack in about 40 s where pip takes about 80
# (2026-12-07, this machine). It gets pip's package sources from scripts/uv_flags.py.
# KERAS_CNNS_INSTALLER=pip, or a failure of uv, installs with pip. Both write the .pyc
# files at install time, as pip does by default: with PYTHONDONTWRITEBYTECODE set (as on
# this machine) Python would otherwise compile TensorFlow afresh in every process
# (`import tensorflow`: 14 s instead of 6).
install() {
  if [ "${KERAS_CNNS_INSTALLER:-uv}" = uv ] && { [ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q uv >/dev/null 2>&1; }; then
    local flags
    mapfile -t flags < <(.venv/bin/python scripts/uv_flags.py)
    if SSL_CERT_FILE="${SSL_CERT_FILE:-$(.venv/bin/python scripts/uv_flags.py --cert)}" \
        .venv/bin/uv pip install -q --python .venv/bin/python "${flags[@]}" \
          --constraint scripts/uv-constraints.txt --compile-bytecode "$@"; then
      return 0
    fi
    echo "setup.sh: uv could not install $*; installing with pip" >&2
  fi
  if [ -z "${pip_upgraded:-}" ]; then
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    pip_upgraded=1
  fi
  .venv/bin/python -m pip install -q "$@" 2>&1 | grep -v "^WARNING: Location" || true
}

extras="cpu${EXTRAS:+,$EXTRAS}"
install -e ".[${extras}]"
# The PredictionLog protos for TF Serving warm-up files; --no-deps: it declares `tensorflow`,
# which would install a second TensorFlow beside tensorflow-cpu.
install --no-deps tensorflow-serving-api
.venv/bin/python -c "import keras_cnns" # fail here, not later, if the install did not work
