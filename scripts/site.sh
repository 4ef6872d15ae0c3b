#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The book: the seven notebooks (stored outputs, live plotly figures), the docs, the API reference and
# search as one static site in site/_output (MkDocs + Material + mkdocs-jupyter + mkdocstrings: the
# [site] extra, pinned; docs/site.md), then serve it on 127.0.0.1 (default port 8001: --port N) and print
# its address. --build-only: build, do not serve. --with-lite: build the JupyterLite site first
# (scripts/lite.sh --build-only), so the book carries it under lite/; without it, an existing
# lite/_output is copied in, and when there is none the notebook pages say so.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0 with_lite=0 port=8001
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --with-lite) with_lite=1 ;;
    --port) port="$2"; shift ;;
    *) echo "usage: bash scripts/site.sh [--build-only] [--with-lite] [--port N]" >&2; exit 2 ;;
  esac
  shift
done
[ "$with_lite" = 1 ] && bash scripts/lite.sh --build-only
. scripts/_venv.sh
python -m pip install --quiet -e ".[notebooks,site]"
python site/build.py
[ "$build_only" = 1 ] && exit 0
echo "the book: http://127.0.0.1:$port/  (Ctrl-C stops the server)"
exec python -m http.server "$port" --bind 127.0.0.1 --directory site/_output
