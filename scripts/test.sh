#!/usr/bin/env bash
# Set up with the test extras and run the whole test suite over both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test,bench bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec .venv/bin/python -m pytest -n 2 --dist worksteal -q --durations=15 tests "$@"
