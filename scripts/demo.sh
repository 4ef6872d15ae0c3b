#!/usr/bin/env bash
# Set up a fresh virtual environment in .venv and run the allocator demo (the main job until the notebooks land).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install --quiet -e .
vmaplab demo "$@"
