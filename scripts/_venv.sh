# SPDX-License-Identifier: MIT
# Sourced by scripts/test.sh and scripts/demo.sh: create and activate .venv with Python >= 3.11.
# On a fresh Debian, `python3 -m venv` needs the python3-venv package: install it when missing.
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "vmaplab needs Python 3.11 or newer; $PY is $("$PY" --version 2>&1)" >&2
  exit 1
fi
if ! "$PY" -m venv .venv 2>/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  else
    echo "python3 -m venv failed: install the python3-venv package (sudo apt-get install python3-venv)" >&2
    exit 1
  fi
  rm -rf .venv
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
