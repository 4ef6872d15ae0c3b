#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Set up a fresh virtual environment in .venv and run every test (unit, property, stress, notebooks under
# nbval, the real-browser tests, the Binder install test, the real-kernel oracle under QEMU, the JupyterLite site). Used by the
# README and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
. scripts/_chromium.sh
. scripts/_oracle.sh
. scripts/_npm.sh
python -m pip install --quiet -e ".[test]"
. scripts/_speedups.sh
python -m pytest "$@"
