# SPDX-License-Identifier: MIT
# Sourced by scripts/test.sh and .ci/run: the browser tests need Debian's chromium at /usr/bin/chromium
# (Playwright drives it; it never downloads a browser of its own).
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the browser tests ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "no /usr/bin/chromium and no root to install it: the browser tests will be skipped (CI fails instead)" >&2
  fi
fi
