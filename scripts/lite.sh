#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The course with no server: build every notebook into a static JupyterLite site in lite/_output, from PyPI
# and npm packages only (clean every time; downloads cached in ~/.cache/vmaplab/lite), then serve it on
# 127.0.0.1 (default port 8000: --port N) and print the tour's address. --build-only: build, do not serve.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0 port=8000
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --port) port="$2"; shift ;;
    *) echo "usage: bash scripts/lite.sh [--build-only] [--port N]" >&2; exit 2 ;;
  esac
  shift
done
. scripts/_venv.sh
. scripts/_npm.sh
python -m pip install --quiet -e ".[notebooks,lite]"
python scripts/build_lite.py
[ "$build_only" = 1 ] && exit 0
echo "the course, in the browser: http://127.0.0.1:$port/  (Ctrl-C stops the server)"
exec python -m http.server "$port" --bind 127.0.0.1 --directory lite/_output
