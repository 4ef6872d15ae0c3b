# SPDX-License-Identifier: MIT
"""Fetch and unpack Debian's Linux 6.12 packages: the kernel the oracle boots and builds against.

What it does (docs/oracle.md §1): asks apt which ``linux-image-6.12.*+deb12-amd64-unsigned`` is the
newest one whose headers and kbuild packages exist, downloads the five packages with
``apt-get download`` into the user's cache directory (reused between runs), and unpacks them with
``dpkg-deb -x`` into a tree of their own. Nothing is installed on the host; nothing of the
kernel's is committed to this repository.

Invariants: a release directory is complete or absent (unpacked into a temporary name, renamed
last); a failed download leaves no partial ``.deb`` under its final name.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import OracleUnavailable

FLAVOUR = "amd64"
SERIES = "6.12"


def cache_dir() -> Path:
    """``$VMAPLAB_CACHE`` or ``$XDG_CACHE_HOME/vmaplab`` or ``~/.cache/vmaplab``, then ``oracle/``."""
    base = os.environ.get("VMAPLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vmaplab")
    return Path(base) / "oracle"


@dataclass(frozen=True)
class KernelTree:
    """One unpacked Debian kernel: what the guest boots and what modules build against."""
    release: str            # uname -r, e.g. 6.12.117+deb12-amd64
    root: Path              # the unpacked packages (boot/, usr/src/, usr/lib/)
    source_tarball: Path    # linux-source-6.12.tar.xz

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def headers(self) -> Path:
        return self.root / "usr" / "src" / f"linux-headers-{self.release}"

    @property
    def version(self) -> str:
        """The upstream version, 6.12.N."""
        return self.release.split("+")[0]


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise OracleUnavailable(f"{what}: {cmd[0]} not found (the oracle needs Debian's apt and dpkg)")
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OracleUnavailable(f"{what}: `{' '.join(cmd)}` failed: {tail[0]}")
    return p.stdout


def _version_key(abi: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", abi))


def newest_abi() -> str:
    """The newest 6.12 ABI (``6.12.N+deb12``) with image, headers and kbuild packages in apt's lists."""
    listing = _run(["apt-cache", "pkgnames", f"linux-image-{SERIES}."], "apt-cache")
    pattern = re.compile(rf"^linux-image-({re.escape(SERIES)}\.\d+\+deb\d+)-{FLAVOUR}-unsigned$")
    abis = sorted({m.group(1) for line in listing.split() if (m := pattern.match(line))},
                  key=_version_key, reverse=True)
    for abi in abis:
        if _run(["apt-cache", "pkgnames", f"linux-kbuild-{abi}"], "apt-cache").split():
            return abi
    raise OracleUnavailable(f"no linux-image-{SERIES}.*-{FLAVOUR}-unsigned in apt's package lists: "
                            "enable bookworm-security (or bookworm-backports) and run apt-get update")


def package_names(abi: str) -> list[str]:
    return [f"linux-image-{abi}-{FLAVOUR}-unsigned", f"linux-headers-{abi}-{FLAVOUR}",
            f"linux-headers-{abi}-common", f"linux-kbuild-{abi}", f"linux-source-{SERIES}"]


def _download(names: list[str], debs: Path) -> list[Path]:
    """apt-get download each package not yet in ``debs`` (apt-get writes only complete files)."""
    debs.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_")[0]: p for p in debs.glob("*.deb")}
    missing = [n for n in names if n not in have]
    if missing:
        _run(["apt-get", "download", "-q", *missing], "downloading the kernel packages", cwd=debs)
        have = {p.name.split("_")[0]: p for p in debs.glob("*.deb")}
    lost = [n for n in names if n not in have]
    if lost:
        raise OracleUnavailable(f"apt-get download did not produce {', '.join(lost)}")
    return [have[n] for n in names]


def _fix_headers_makefile(unpacked: Path, final: Path, release: str, abi: str) -> None:
    """Debian's headers Makefile includes the common tree by its installed path: point it at ``final``."""
    mk = unpacked / "usr" / "src" / f"linux-headers-{release}" / "Makefile"
    installed = f"/usr/src/linux-headers-{abi}-common/"
    mk.write_text(mk.read_text().replace(installed, f"{final}/usr/src/linux-headers-{abi}-common/"))


def fetch(progress=print) -> KernelTree:
    """Download (once) and unpack (once) the newest 6.12 kernel; returns its tree."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise OracleUnavailable(f"{tool} not found: the oracle fetches Debian's kernel packages with apt")
    abi = newest_abi()
    release = f"{abi}-{FLAVOUR}"
    cache = cache_dir()
    tree = cache / "trees" / release
    if not (tree / ".complete").exists():
        progress(f"oracle: fetching Linux {release} from Debian's archive into {cache}")
        debs = _download(package_names(abi), cache / "debs")
        tmp = tree.with_name(tree.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"unpacking {deb.name}")
        _fix_headers_makefile(tmp, tree, release, abi)
        (tmp / ".complete").write_text(release + "\n")
        shutil.rmtree(tree, ignore_errors=True)
        tmp.rename(tree)
    tarballs = sorted((tree / "usr" / "src").glob(f"linux-source-{SERIES}.tar.*"))
    if not tarballs:
        raise OracleUnavailable(f"linux-source-{SERIES} unpacked without its tarball under {tree}")
    return KernelTree(release=release, root=tree, source_tarball=tarballs[0])


def source_files(kernel: KernelTree, relpaths: list[str]) -> dict[str, Path]:
    """Files of the kernel's source (e.g. ``lib/test_vmalloc.c``), extracted once into the cache.

    One pass of ``tar`` over the tarball for every file not yet extracted (the tarball is
    xz-compressed: one pass costs about 20 s, whatever the number of files).
    """
    base = kernel.root / "source"
    paths = {rel: base / f"linux-source-{SERIES}" / rel for rel in relpaths}
    missing = [f"linux-source-{SERIES}/{rel}" for rel, p in paths.items() if not p.exists()]
    if missing:
        base.mkdir(parents=True, exist_ok=True)
        _run(["tar", "-xf", str(kernel.source_tarball), "-C", str(base), *missing],
             f"extracting {len(missing)} file(s) of the kernel's source")
    return paths
