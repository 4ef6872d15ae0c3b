#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Set up a fresh virtual environment in .venv and run the command-line demo of the allocator (no Jupyter).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install --quiet -e .
vmaplab demo "$@"
