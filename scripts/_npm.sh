# SPDX-License-Identifier: MIT
# Sourced by scripts/lite.sh and scripts/test.sh: the JupyterLite build takes Pyodide's core from the npm
# registry with `npm pack` (Debian's npm; nothing else of node is used).
if ! command -v npm >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's npm for the JupyterLite build ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "no npm and no root to install it: the JupyterLite build needs it (sudo apt-get install npm)" >&2
  fi
fi
