#!/usr/bin/env bash
# Set up a fresh virtual environment in .venv and run the allocator demo (the main job until the notebooks land).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e .
vmaplab demo "$@"
