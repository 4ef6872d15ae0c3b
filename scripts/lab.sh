#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: set up a fresh virtual environment in .venv and open JupyterLab on the notebooks,
# starting with the tour. Extra arguments go to `jupyter lab` (e.g. --port 8899 or --no-browser).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install --quiet -e ".[notebooks,speedups]"
. scripts/_speedups.sh
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)         # JupyterLab refuses to run as root without it
exec jupyter lab --ServerApp.root_dir="$PWD" "${extra[@]}" "$@" notebooks/00-tour.ipynb
