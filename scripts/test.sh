#!/usr/bin/env bash
# Set up a fresh virtual environment in .venv and run every test (unit, property, stress, notebooks under
# nbval, the real-browser tests, the Binder install test). Used by the README and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
. scripts/_chromium.sh
python -m pip install --quiet -e ".[test]"
python -m pytest "$@"
