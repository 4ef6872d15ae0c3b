# SPDX-License-Identifier: MIT
# Sourced by scripts/test.sh and .ci/run: the oracle tests boot Debian's Linux 6.1, 6.12 and 7.3 under QEMU
# and build a module against their headers (7.3's in a trixie build root made with mmdebstrap). Host tools from Debian (the kernel packages themselves are
# downloaded by `vmaplab oracle` into ~/.cache/vmaplab/oracle, never installed).
_oracle_pkgs=""
command -v qemu-system-x86_64 >/dev/null || _oracle_pkgs="$_oracle_pkgs qemu-system-x86"
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx insmod || _oracle_pkgs="$_oracle_pkgs busybox-static"
command -v make >/dev/null || _oracle_pkgs="$_oracle_pkgs make"
command -v gcc-12 >/dev/null || _oracle_pkgs="$_oracle_pkgs gcc-12"
command -v xz >/dev/null || _oracle_pkgs="$_oracle_pkgs xz-utils"
command -v mmdebstrap >/dev/null || _oracle_pkgs="$_oracle_pkgs mmdebstrap"
if [ -n "$_oracle_pkgs" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's$_oracle_pkgs for the oracle tests ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $_oracle_pkgs >/dev/null
  else
    echo "missing$_oracle_pkgs and no root to install them: the oracle tests will be skipped (CI fails instead)" >&2
  fi
fi
unset _oracle_pkgs
