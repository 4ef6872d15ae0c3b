# SPDX-License-Identifier: MIT
"""Linux 7.x for the oracle: Debian 13 (trixie) backports' kernel, and a trixie root to build modules in.

What it does (docs/oracle.md, "7.x from trixie-backports"):

* ``fetch`` finds the newest ``7.3.N+debM`` kernel in trixie-backports through a **private apt
  configuration** under ``cache_dir()/apt-trixie/`` (its own sources list, package lists, cache,
  an empty dpkg status and no preferences), downloads the kernel packages with ``apt-get
  download`` (every one pinned to the image's version) and unpacks them with ``debian.unpack``.
  The host's own apt configuration (``/etc/apt``) is read by apt for its general options but its
  sources, lists and pins are never used, and nothing under ``/etc/apt`` is written.
* ``build_root`` makes (once per kernel release) a minimal trixie system with ``mmdebstrap``:
  gcc-14, make, libc6-dev, and that kernel's headers package installed. The host (Debian 12:
  gcc-12, glibc 2.36) cannot build against 7.x's headers, which want gcc-14, and whose kbuild
  tools (modpost, objtool) are linked against glibc 2.38 or newer.
* ``build_module`` builds one out-of-tree module inside that root: the sources are copied into a
  temporary directory under the root's ``/tmp``, and ``make`` runs under ``chroot`` in a private
  mount namespace (``unshare``) in which ``/proc`` is mounted inside the root (objtool reads it).

Invariants: the private apt options always name a sources list under ``apt-trixie/`` and an empty
directory for its parts, so no host source is ever used; every package is downloaded at the
image's exact version; the unpacked tree and the build root are complete or absent (each is made
under a ``.partial`` name and renamed last); the mount of ``/proc`` never leaves the namespace.

Simplifications: amd64 only, the plain ``amd64`` flavour; the kernel image is Debian's unsigned
binary (``linux-binary-unsigned-…``), which needs no module package to boot an initramfs. The
package lists are refreshed when they are older than ``LISTS_MAX_AGE`` (a day); a newer kernel
in the archive then makes a new tree and a new build root, and the old ones stay in the cache
until a user deletes them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import debian
from .debian import FLAVOUR, KernelTree
from .errors import GuestError, OracleUnavailable

MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITE = "trixie"
SUITES = ("trixie-backports", "trixie")     # the kernel is in backports; its build tools in trixie
LISTS_MAX_AGE = 24 * 3600                   # seconds
SERIES = ("7.3",)
# what the build root holds besides apt's essentials (the headers package is added, pinned)
BUILD_ROOT_PACKAGES = ("make", "gcc-14", "libc6-dev", "libelf1t64")


def source_lines() -> list[str]:
    """The private sources list: trixie-backports and trixie, signed by Debian's archive keyring."""
    return [f"deb [signed-by={KEYRING}] {MIRROR} {suite} main" for suite in SUITES]


def apt_dir() -> Path:
    return debian.cache_dir() / "apt-trixie"


def apt_options(base: Path | None = None) -> tuple[str, ...]:
    """The ``-o`` options that make apt-get and apt-cache use only the private configuration.

    Creates the files they name (an empty status file, empty parts and preferences directories,
    the sources list) when missing; never touches anything outside ``base``.
    """
    base = Path(base) if base is not None else apt_dir()
    for d in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
        (base / d).mkdir(parents=True, exist_ok=True)
    sources = base / "sources.list"
    text = "\n".join(source_lines()) + "\n"
    if not sources.exists() or sources.read_text() != text:
        sources.write_text(text)
    for empty in ("status", "preferences"):
        if not (base / empty).exists():
            (base / empty).write_text("")
    return ("-o", f"Dir::Etc::SourceList={sources}",
            "-o", f"Dir::Etc::SourceParts={base / 'sources.list.d'}",
            "-o", f"Dir::Etc::Preferences={base / 'preferences'}",
            "-o", f"Dir::Etc::PreferencesParts={base / 'preferences.d'}",
            "-o", f"Dir::State::Lists={base / 'lists'}",
            "-o", f"Dir::Cache={base / 'cache'}",
            "-o", f"Dir::State::status={base / 'status'}",
            "-o", f"Dir::State::extended_states={base / 'extended_states'}")


def update_lists(options: tuple[str, ...], base: Path | None = None, progress=print,
                 max_age: float = LISTS_MAX_AGE) -> bool:
    """``apt-get update`` with the private options when its lists are missing or older than ``max_age``.

    Returns True if it ran. A stamp file records the last successful update; when an update fails
    (no network) and lists exist, they are used as they are.
    """
    base = Path(base) if base is not None else apt_dir()
    stamp = base / "updated"
    if stamp.exists() and time.time() - stamp.stat().st_mtime < max_age and any((base / "lists").glob("*Packages*")):
        return False
    progress(f"oracle: reading trixie and trixie-backports package lists into {base}")
    try:
        debian.run_tool(["apt-get", *options, "update", "-q"], "apt-get update (trixie-backports, private lists)")
    except OracleUnavailable as e:
        if not any((base / "lists").glob("*Packages*")):
            raise
        progress(f"oracle: {e}; using the package lists of the last update")
        return False
    stamp.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
    return True


def _check_series(series: str) -> None:
    if series not in SERIES:
        raise OracleUnavailable(f"kernel series {series!r} is not known: the oracle boots "
                                f"{', '.join([*debian.SERIES, *SERIES])}")


def package_names(abi: str, series: str = "7.3") -> list[str]:
    """The packages of one 7.x kernel: the image (first), its base, headers, kbuild, and the source."""
    _check_series(series)
    return [f"linux-binary-unsigned-{abi}-{FLAVOUR}", f"linux-base-{abi}-{FLAVOUR}",
            f"linux-headers-{abi}-{FLAVOUR}", f"linux-headers-{abi}-common",
            f"linux-kbuild-{abi}", f"linux-source-{series}"]


def newest_abi(series: str, options: tuple[str, ...]) -> str:
    """The newest ``<series>.N+debM`` with image, base, headers and kbuild packages in the private lists."""
    _check_series(series)
    listing = debian.run_tool(["apt-cache", *options, "pkgnames", "linux-"], "apt-cache (private lists)").split()
    names = set(listing)
    pattern = re.compile(rf"^linux-binary-unsigned-({re.escape(series)}\.\d+\+deb\d+)-{FLAVOUR}$")
    abis = sorted({m.group(1) for n in names if (m := pattern.match(n))}, key=debian.version_key, reverse=True)
    for abi in abis:
        if all(n in names for n in package_names(abi, series)[:5]):
            return abi
    raise OracleUnavailable(f"no linux-binary-unsigned-{series}.*-{FLAVOUR} with headers and kbuild in "
                            f"trixie-backports' package lists (under {apt_dir()}): is {MIRROR} reachable?")


def image_path(tree: Path, release: str) -> Path:
    """Where the unsigned image puts the kernel (checked, since Debian has moved it before)."""
    for p in (tree / "usr" / "lib" / "modules" / release / "vmlinuz.unsigned",
              tree / "usr" / "lib" / "modules" / release / "vmlinuz",
              tree / "boot" / f"vmlinuz-{release}"):
        if p.is_file():
            return p
    found = sorted(str(p.relative_to(tree)) for p in tree.rglob("vmlinuz*"))
    raise OracleUnavailable(f"no kernel image for {release} under {tree} (found: {', '.join(found) or 'none'})")


def fetch(progress=print, series: str = "7.3") -> KernelTree:
    """Download (once) and unpack (once) the newest kernel of ``series`` from trixie-backports, and
    make (once) its build root; returns the tree, with ``build_root`` set."""
    _check_series(series)
    debian.require_apt()
    options = apt_options()
    update_lists(options, progress=progress)
    abi = newest_abi(series, options)
    release = f"{abi}-{FLAVOUR}"
    cache = debian.cache_dir()
    if not (build_root_dir(release) / ".complete").exists():
        require_mmdebstrap()                    # before a 200 MB download, not after
    tree = cache / "trees" / release
    if not (tree / ".complete").exists():
        names = package_names(abi, series)
        version = debian.package_version(names[0], options)
        progress(f"oracle: fetching Linux {release} ({version}) from trixie-backports into {cache}")
        debs = debian.download(names, version, cache / "debs", options)
        common = f"/usr/src/linux-headers-{abi}-common/"
        debian.unpack(debs, tree, lambda tmp: debian.fix_headers_makefile(
            tmp / "usr" / "src" / f"linux-headers-{release}", common,
            tree / "usr" / "src" / f"linux-headers-{abi}-common"))
    tarballs = sorted((tree / "usr" / "src").glob(f"linux-source-{series}.tar.*"))
    if not tarballs:
        raise OracleUnavailable(f"linux-source-{series} unpacked without its tarball under {tree}")
    root = build_root(release, progress)
    return KernelTree(release=release, root=tree, source_tarball=tarballs[0], vmlinuz=image_path(tree, release),
                      headers=tree / "usr" / "src" / f"linux-headers-{release}", series=series,
                      build_root=root)


# -- the build root -----------------------------------------------------------------------------
def require_mmdebstrap() -> str:
    path = shutil.which("mmdebstrap")
    if path is None:
        raise OracleUnavailable("mmdebstrap not found: apt-get install mmdebstrap")
    return path


def mmdebstrap_command(release: str, version: str, target: Path) -> list[str]:
    """The one command that makes a build root for ``release`` (headers pinned to ``version``)."""
    include = ",".join([*BUILD_ROOT_PACKAGES, f"linux-headers-{release}={version}"])
    return [require_mmdebstrap(), "--variant=apt", f"--include={include}", "--quiet", SUITE, str(target),
            *source_lines()]


def build_root_dir(release: str) -> Path:
    return debian.cache_dir() / "buildroots" / release


def build_root(release: str, progress=print) -> Path:
    """``cache_dir()/buildroots/<release>``: a trixie system with gcc-14 and this kernel's headers.

    Made once with mmdebstrap (20 s and about 400 MB here), under a ``.partial`` name renamed last.
    """
    root = build_root_dir(release)
    if (root / ".complete").exists():
        return root
    require_mmdebstrap()
    options = apt_options()
    version = debian.package_version(f"linux-headers-{release}", options)
    partial = root.with_name(release + ".partial")
    cmd = mmdebstrap_command(release, version, partial)
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    progress(f"oracle: making a trixie build root for {release} with mmdebstrap into {root}")
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:] or ["no output"]
        raise OracleUnavailable(f"mmdebstrap could not make the trixie build root: {' / '.join(tail)}")
    headers = partial / "usr" / "src" / f"linux-headers-{release}"
    if not (headers / "Makefile").is_file():
        shutil.rmtree(partial, ignore_errors=True)
        raise OracleUnavailable(f"the build root made by mmdebstrap has no {headers.relative_to(partial)}")
    (partial / ".complete").write_text(f"{release} {version} {time.monotonic() - t0:.0f}s\n")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


def _unshare() -> list[str]:
    """The ``unshare`` prefix: as root, a private mount namespace; otherwise a user namespace mapping
    us to root, with its own pid namespace (proc may be mounted only by that namespace's owner)."""
    if shutil.which("unshare") is None:
        raise OracleUnavailable("unshare not found (util-linux): building modules in the trixie root needs it")
    ns = ["--mount", "--fork", "--propagation", "private"]
    if os.geteuid() != 0:
        ns = ["--user", "--map-root-user", "--pid", *ns]
    return ["unshare", *ns]


def namespace_command(root: Path, inner: list[str]) -> list[str]:
    """Run ``inner`` chrooted in ``root`` in a private mount namespace with /proc mounted in the root."""
    return [*_unshare(), "sh", "-c", 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"', str(root), *inner]


def check_namespaces() -> None:
    """OracleUnavailable, in one line, unless a private mount namespace with /proc can be made here."""
    with tempfile.TemporaryDirectory(prefix="vmaplab-ns-") as d:
        (Path(d) / "proc").mkdir()
        p = subprocess.run([*_unshare(), "sh", "-c", 'mount -t proc proc "$0/proc"', d],
                           capture_output=True, text=True)
    if p.returncode != 0:
        who = "root" if os.geteuid() == 0 else "user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        last = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise OracleUnavailable(f"cannot mount /proc in a private namespace to build in the trixie root "
                                f"(needs {who}, in a container allowed to mount): {last}")


def build_module(kernel: KernelTree, name: str, sources: dict[str, bytes]) -> bytes:
    """Build ``<name>.ko`` from ``sources`` (a Kbuild file among them) in ``kernel.build_root``; its bytes."""
    root = kernel.build_root
    if root is None or not (root / ".complete").exists():
        raise OracleUnavailable(f"no complete build root for {kernel.release}: fetch the 7.x kernel again")
    headers = f"/usr/src/linux-headers-{kernel.release}"
    if not (root / headers.lstrip("/") / "Makefile").is_file():
        raise OracleUnavailable(f"the build root {root} has no {headers}: delete it to make it again")
    check_namespaces()
    work = Path(tempfile.mkdtemp(prefix=f"vmaplab-{name}-", dir=root / "tmp"))
    try:
        for fname, data in sources.items():
            (work / fname).write_bytes(data)
        inside = "/" + work.relative_to(root).as_posix()
        make = ["make", "-C", headers, f"M={inside}", "CONFIG_DEBUG_INFO_BTF_MODULES=", "modules"]
        p = subprocess.run(namespace_command(root, make), capture_output=True, text=True)
        ko = work / f"{name}.ko"
        if p.returncode != 0 or not ko.exists():
            raise GuestError(f"building {name}.ko in {root} failed:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return ko.read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
