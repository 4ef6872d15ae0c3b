# SPDX-License-Identifier: MIT
"""Fetch and unpack Debian's kernel packages: the kernels the oracle boots and builds against.

What it does (docs/oracle.md §1): for one kernel series (``SERIES``: 6.1 and 6.12 from Debian 12's
own archive; 7.3 from trixie-backports, in ``vmaplab.oracle.trixie``), asks apt which image is the
newest one whose headers and kbuild packages exist, downloads the packages with ``apt-get download``
(every one pinned to the image's version) into the user's cache directory (reused between runs),
and unpacks them with ``dpkg-deb -x`` into a tree of their own. Nothing is installed on the host;
nothing of the kernel's is committed to this repository. A user's own build (a directory with a
bzImage and a ``make modules_prepare``d tree) is taken as it is (``own_build``).

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


def cache_dir() -> Path:
    """``$VMAPLAB_CACHE`` or ``$XDG_CACHE_HOME/vmaplab`` or ``~/.cache/vmaplab``, then ``oracle/``."""
    base = os.environ.get("VMAPLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vmaplab")
    return Path(base) / "oracle"


@dataclass(frozen=True)
class KernelTree:
    """One kernel ready to boot: its image, the headers modules build against, and how they build."""
    release: str                    # uname -r, e.g. 6.12.117+deb12-amd64
    root: Path                      # the unpacked packages (or the user's build directory)
    source_tarball: Path | None     # linux-source-<series>.tar.xz; None for a user's build
    vmlinuz: Path
    headers: Path
    series: str = ""                # "6.1", "6.12", "7.3", or "" for a user's build
    build_root: Path | None = None  # a chroot with the compiler the headers want; None: the host

    @property
    def version(self) -> str:
        """The upstream version, e.g. 6.12.117 (from the release: 6.1.0-57-amd64 gives 6.1.0)."""
        return re.split(r"[+-]", self.release)[0]


@dataclass(frozen=True)
class DebianSeries:
    """Where one series' packages are in Debian 12's archive and how they are named."""
    name: str               # "6.1"
    abi_re: str             # the ABI part of linux-image-<abi>-amd64-unsigned
    per_abi_kbuild: bool    # linux-kbuild-<abi> (6.12) or linux-kbuild-<series> (6.1)

    def packages(self, abi: str) -> list[str]:
        kbuild = f"linux-kbuild-{abi}" if self.per_abi_kbuild else f"linux-kbuild-{self.name}"
        return [f"linux-image-{abi}-{FLAVOUR}-unsigned", f"linux-headers-{abi}-{FLAVOUR}",
                f"linux-headers-{abi}-common", kbuild, f"linux-source-{self.name}"]


SERIES = {
    "6.1": DebianSeries("6.1", r"6\.1\.0-\d+", per_abi_kbuild=False),        # bookworm's own kernel
    "6.12": DebianSeries("6.12", r"6\.12\.\d+\+deb\d+", per_abi_kbuild=True),  # bookworm-security / backports
}
DEFAULT_SERIES = "6.12"


def run_tool(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise OracleUnavailable(f"{what}: {cmd[0]} not found (the oracle needs Debian's apt and dpkg)") from None
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OracleUnavailable(f"{what}: `{' '.join(cmd)}` failed: {tail[0]}")
    return p.stdout


def version_key(abi: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", abi))


def newest_abi(series: str = DEFAULT_SERIES, apt_options: tuple[str, ...] = ()) -> str:
    """The newest ABI of ``series`` with image, headers and kbuild packages in apt's lists."""
    s = SERIES[series]
    listing = run_tool(["apt-cache", *apt_options, "pkgnames", f"linux-image-{series}."], "apt-cache")
    pattern = re.compile(rf"^linux-image-({s.abi_re})-{FLAVOUR}-unsigned$")
    abis = sorted({m.group(1) for line in listing.split() if (m := pattern.match(line))},
                  key=version_key, reverse=True)
    for abi in abis:
        kbuild = s.packages(abi)[3]
        if run_tool(["apt-cache", *apt_options, "pkgnames", kbuild], "apt-cache").split():
            return abi
    raise OracleUnavailable(f"no linux-image-{series}.*-{FLAVOUR}-unsigned in apt's package lists: "
                            "enable bookworm-security (or bookworm-backports) and run apt-get update")


def package_version(name: str, apt_options: tuple[str, ...] = ()) -> str:
    """The candidate version apt would download for ``name``."""
    for line in run_tool(["apt-cache", *apt_options, "show", name], "apt-cache").splitlines():
        if line.startswith("Version: "):
            return line.split(None, 1)[1]
    raise OracleUnavailable(f"apt-cache show {name} gave no version")


def package_names(abi: str, series: str = DEFAULT_SERIES) -> list[str]:
    return SERIES[series].packages(abi)


def download(names: list[str], version: str, debs: Path, apt_options: tuple[str, ...] = ()) -> list[Path]:
    """apt-get download each package (pinned to ``version``) not yet in ``debs``.

    apt-get writes only complete files; two series may share a package name (linux-kbuild-6.1 has
    several versions), so a .deb is recognised by name and version.
    """
    debs.mkdir(parents=True, exist_ok=True)
    tag = version.replace(":", "%3a")

    def have() -> dict[str, Path]:
        return {p.name.split("_")[0]: p for p in debs.glob(f"*_{tag}_*.deb")}
    missing = [n for n in names if n not in have()]
    if missing:
        run_tool(["apt-get", *apt_options, "download", "-q", *(f"{n}={version}" for n in missing)],
             "downloading the kernel packages", cwd=debs)
    found = have()
    lost = [n for n in names if n not in found]
    if lost:
        raise OracleUnavailable(f"apt-get download did not produce {', '.join(lost)}")
    return [found[n] for n in names]


def fix_headers_makefile(headers: Path, common_installed: str, common_now: Path) -> None:
    """Debian's headers Makefile includes the common tree by its installed path: point it at ``common_now``."""
    mk = headers / "Makefile"
    mk.write_text(mk.read_text().replace(common_installed, f"{common_now}/"))


def unpack(debs: list[Path], tree: Path, finish=None) -> None:
    """``dpkg-deb -x`` every package into ``tree``, atomically (a temporary name, renamed last)."""
    tmp = tree.with_name(tree.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for deb in debs:
        run_tool(["dpkg-deb", "-x", str(deb), str(tmp)], f"unpacking {deb.name}")
    if finish is not None:
        finish(tmp)
    (tmp / ".complete").write_text(tree.name + "\n")
    shutil.rmtree(tree, ignore_errors=True)
    tmp.rename(tree)


def require_apt() -> None:
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise OracleUnavailable(f"{tool} not found: the oracle fetches Debian's kernel packages with apt")


def fetch(progress=print, series: str = DEFAULT_SERIES) -> KernelTree:
    """Download (once) and unpack (once) the newest kernel of ``series``; returns its tree."""
    if series not in SERIES:
        from . import trixie  # 7.x: another suite, another layout, a build root
        return trixie.fetch(progress, series)
    require_apt()
    abi = newest_abi(series)
    release = f"{abi}-{FLAVOUR}"
    cache = cache_dir()
    tree = cache / "trees" / release
    if not (tree / ".complete").exists():
        progress(f"oracle: fetching Linux {release} from Debian's archive into {cache}")
        names = package_names(abi, series)
        debs = download(names, package_version(names[0]), cache / "debs")
        common = f"/usr/src/linux-headers-{abi}-common/"
        unpack(debs, tree, lambda tmp: fix_headers_makefile(
            tmp / "usr" / "src" / f"linux-headers-{release}", common,
            tree / "usr" / "src" / f"linux-headers-{abi}-common"))
    tarballs = sorted((tree / "usr" / "src").glob(f"linux-source-{series}.tar.*"))
    if not tarballs:
        raise OracleUnavailable(f"linux-source-{series} unpacked without its tarball under {tree}")
    return KernelTree(release=release, root=tree, source_tarball=tarballs[0],
                      vmlinuz=tree / "boot" / f"vmlinuz-{release}",
                      headers=tree / "usr" / "src" / f"linux-headers-{release}", series=series)


def own_build(path: Path) -> KernelTree:
    """A developer's own kernel: ``path`` holds a bzImage (or arch/x86/boot/bzImage) and is a
    prepared tree (``make modules_prepare``: include/config/kernel.release exists)."""
    path = Path(path).resolve()
    image = next((p for p in (path / "bzImage", path / "arch" / "x86" / "boot" / "bzImage") if p.is_file()), None)
    rel = path / "include" / "config" / "kernel.release"
    if image is None or not rel.is_file():
        raise OracleUnavailable(f"{path} is not a prepared kernel build: it needs a bzImage (or "
                                "arch/x86/boot/bzImage) and include/config/kernel.release (make modules_prepare)")
    return KernelTree(release=rel.read_text().strip(), root=path, source_tarball=None,
                      vmlinuz=image, headers=path, series="")


def source_files(kernel: KernelTree, relpaths: list[str]) -> dict[str, Path]:
    """Files of the kernel's source (e.g. ``lib/test_vmalloc.c``), extracted once into the cache.

    One pass of ``tar`` over the tarball for every file not yet extracted (the tarball is
    xz-compressed: one pass costs about 20 s, whatever the number of files). A user's own build
    is its own source tree.
    """
    if kernel.source_tarball is None:
        return {rel: kernel.root / rel for rel in relpaths}
    top = kernel.source_tarball.name.split(".tar")[0]
    base = kernel.root / "source"
    paths = {rel: base / top / rel for rel in relpaths}
    missing = [f"{top}/{rel}" for rel, p in paths.items() if not p.exists()]
    if missing:
        base.mkdir(parents=True, exist_ok=True)
        run_tool(["tar", "-xf", str(kernel.source_tarball), "-C", str(base), *missing],
             f"extracting {len(missing)} file(s) of the kernel's source")
    return paths
