# SPDX-License-Identifier: MIT
# Sourced by scripts/lab.sh and scripts/test.sh, in the active venv with vmaplab[speedups] installed:
# compile the simulator's hot modules (vmaplab speedups build; once per version of their source, cached in
# ~/.cache/vmaplab/speedups). Optional: without a C compiler the source runs, with the same results, slower.
# VMAPLAB_SPEEDUPS=0 skips it. Installs gcc and the Python headers from Debian when missing and root.
if [ "${VMAPLAB_SPEEDUPS:-1}" != 0 ]; then
  _headers=$(python -c 'import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))')
  if { ! command -v cc >/dev/null || [ "$_headers" != True ]; } && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    _pkgs="gcc"
    [ "$_headers" != True ] && _pkgs="$_pkgs python3-dev"
    echo "installing Debian's $_pkgs for the simulator's compiled speedups ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $_pkgs >/dev/null || true
  fi
  _jobs=$(python -c 'import os; print(min(2, os.cpu_count() or 1))')
  if python -c 'import sys; from vmaplab import speedups; sys.exit(all(r.built for r in speedups.status()))'; then
    echo "compiling the simulator's hot modules with Cython (once per version of their source; about a minute) ..."
  fi
  if _out=$(python -m vmaplab speedups build --jobs "$_jobs" 2>&1); then
    echo "$_out" | grep '^speedups: [0-9]* of' || true
  else
    echo "$_out" | grep -v '^ARG ' >&2 || true
    echo "vmaplab speedups: not built (the simulator runs from its source: same results, slower)" >&2
  fi
fi
