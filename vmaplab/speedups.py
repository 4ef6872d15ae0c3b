# SPDX-License-Identifier: MIT
"""Optional compiled speedups: the simulator's hot modules built by Cython, loaded only when they match the source.

Mirrors no kernel code. The simulator is pure Python and stays so: these are the same ``.py``
files compiled unchanged (Cython's pure-Python mode, no type declarations), so they execute the
same operations on the same Python objects and give the same results, byte for byte (a test
compares a run of each). They are never needed: without them, or with ``VMAPLAB_PURE=1``, every
module is the ``.py`` file.

How it works. ``vmaplab speedups build`` (needs the ``[speedups]`` extra: Cython, and a C
compiler with the Python headers) compiles each module of :data:`MODULES` from a copy of the
package and stores it in the cache (:func:`cache_dir`) under the SHA-256 of its source. When
``vmaplab`` is imported, :func:`install` puts a finder in front of ``sys.meta_path`` that loads a
module of :data:`MODULES` from the cache only if a build of its *current* source is there: an
edited ``.py`` has a new hash, so a stale build is never loaded (the module is then the ``.py``
until the next build). Nothing is written into the package's folders.

Invariants: a compiled module is loaded only under its own name and only for the exact source
bytes it was built from; the finder never raises (anything unexpected means: use the source).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.machinery
import importlib.util
import io
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import NamedTuple

PACKAGE_DIR = Path(__file__).resolve().parent

# The modules a simulation spends its time in (profiled on the headline run, contention-model.md §5.4)
MODULES = (
    "vmaplab.kernel.area", "vmaplab.kernel.config", "vmaplab.kernel.freespace", "vmaplab.kernel.nodes",
    "vmaplab.kernel.pages", "vmaplab.kernel.pcpu", "vmaplab.kernel.purge", "vmaplab.kernel.rbtree",
    "vmaplab.kernel.state", "vmaplab.kernel.trace", "vmaplab.kernel.vmalloc",
    "vmaplab.workloads.costs", "vmaplab.workloads.test_vmalloc",
    "vmaplab.contention.cachelines", "vmaplab.contention.engine", "vmaplab.contention.locks",
    "vmaplab.contention.numeric", "vmaplab.contention.pricing", "vmaplab.contention.profile",
    "vmaplab.contention.recorder", "vmaplab.contention.sim", "vmaplab.contention.synthetic",
    "vmaplab.contention.warm",
)
_EXT = importlib.machinery.EXTENSION_SUFFIXES[0]      # e.g. .cpython-311-x86_64-linux-gnu.so (the ABI)
# Cython's settings; annotation_typing off: a hint is not a type (Python semantics, e.g. a defaultdict
# where a hint says dict). They are part of each build's key, so a change rebuilds everything.
DIRECTIVES = {"language_level": 3, "binding": True, "annotation_typing": False}
_FORMAT = f"vmaplab-speedups-2 {sorted(DIRECTIVES.items())}\0".encode()


class ModuleStatus(NamedTuple):
    """One module of :data:`MODULES`: whether a build of its current source is cached, and whether it is in use."""
    name: str
    built: bool
    loaded: bool          # the module imported in this process is the compiled one
    path: str             # the cached build's file ('' when there is none)


def cache_dir() -> Path:
    """Where builds live: ``$VMAPLAB_SPEEDUPS_DIR``, else ``$XDG_CACHE_HOME/vmaplab/speedups`` (``~/.cache``)."""
    given = os.environ.get("VMAPLAB_SPEEDUPS_DIR")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vmaplab" / "speedups"


def enabled() -> bool:
    """False with ``VMAPLAB_PURE`` set (to anything but empty or 0), or where no extension can load."""
    if os.environ.get("VMAPLAB_PURE", "") not in ("", "0"):
        return False
    return sys.implementation.name == "cpython" and sys.platform != "emscripten"


def source_path(name: str) -> Path:
    """The ``.py`` file of a module of this package."""
    parts = name.split(".")
    if parts[0] != "vmaplab" or len(parts) < 2:
        raise ValueError(f"not a vmaplab module: {name!r}")
    return PACKAGE_DIR.joinpath(*parts[1:]).with_suffix(".py")


def build_path(name: str, source: bytes | None = None) -> Path:
    """Where the build of ``name``'s source (the current file unless given) is, or would be, cached."""
    if source is None:
        source = source_path(name).read_bytes()
    digest = hashlib.sha256(_FORMAT + name.encode() + b"\0" + source).hexdigest()[:24]
    return cache_dir() / f"{name}-{digest}{_EXT}"


class _Finder:
    """A meta-path finder that serves :data:`MODULES` from their current builds, else defers to the source."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _MODULE_SET:
            return None
        try:
            so = build_path(fullname)
            if not so.is_file():
                return None
            return importlib.util.spec_from_file_location(fullname, so)
        except Exception:           # an unreadable source or cache: the source file, as without speedups
            return None

    def invalidate_caches(self) -> None:
        pass


_MODULE_SET = frozenset(MODULES)
_finder = _Finder()


def install() -> bool:
    """Put the finder first in ``sys.meta_path`` (once); True when speedups may be used in this process."""
    if not enabled():
        return False
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    return True


def status() -> list[ModuleStatus]:
    """Each module of :data:`MODULES`: built for its current source? loaded compiled in this process?"""
    rows = []
    for name in MODULES:
        so = build_path(name)
        mod = sys.modules.get(name)
        loaded = mod is not None and str(getattr(mod, "__file__", "")).endswith(_EXT)
        rows.append(ModuleStatus(name, so.is_file(), loaded, str(so) if so.is_file() else ""))
    return rows


@functools.lru_cache(maxsize=1)
def _speedups_error() -> type:
    """:class:`SpeedupsError`, made on first use: this module is imported before the hook is installed,
    and importing the kernel's errors here would load the hot modules from source first."""
    from .kernel.errors import ExternalError

    class SpeedupsError(ExternalError):
        """The build cannot run here (no Cython, no C compiler or Python headers): the source is used."""
    SpeedupsError.__module__ = __name__
    return SpeedupsError


def __getattr__(name: str):
    if name == "SpeedupsError":          # an ExternalError (kernel/errors.py), made on first use
        return _speedups_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(jobs: int = 2, force: bool = False, log=print) -> list[str]:
    """Compile every module of :data:`MODULES` whose current source has no build yet; returns their names.

    Compiles a copy of the package in a temporary folder (the package's folders stay as they
    are) and moves each result into :func:`cache_dir` atomically, so concurrent imports and
    builds never see half a file. Raises :class:`SpeedupsError` when it cannot build.
    """
    out = _writable_cache_dir()                 # before a minute of compiling, not after
    todo = [m for m in MODULES if force or not build_path(m).is_file()]
    claim([build_path(m).name for m in MODULES if m not in todo])    # in use here: another prune keeps them
    if not todo:
        log("speedups: every module is built for its current source")
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
    except ImportError as e:
        raise _speedups_error()(f"the build needs Cython and setuptools (pip install 'vmaplab[speedups]'): {e}") from None
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.is_file():
        raise _speedups_error()(f"no Python headers ({include}): on Debian, apt-get install python3-dev")
    if shutil.which(os.environ.get("CC", "cc").split()[0]) is None:
        raise _speedups_error()("no C compiler (cc): on Debian, apt-get install gcc")
    log(f"speedups: compiling {len(todo)} module(s) with Cython, {jobs} job(s) ...")
    with tempfile.TemporaryDirectory(prefix="vmaplab-speedups-") as tmp:
        tree = Path(tmp) / "src"
        shutil.copytree(PACKAGE_DIR, tree / "vmaplab", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        sources = {m: (tree / source_path(m).relative_to(PACKAGE_DIR.parent)) for m in todo}
        exts = [Extension(m, [str(src)]) for m, src in sources.items()]
        here = os.getcwd()
        chatter = io.StringIO()                 # Cython's and distutils' own lines: the error says what failed
        try:
            os.chdir(tree)
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                exts = cythonize(exts, nthreads=jobs, quiet=True,
                                 compiler_directives=DIRECTIVES)
                dist = Distribution({"ext_modules": exts, "script_name": "vmaplab-speedups"})
                cmd = dist.get_command_obj("build_ext")
                cmd.build_lib, cmd.build_temp, cmd.parallel = str(Path(tmp) / "lib"), str(Path(tmp) / "tmp"), jobs
                dist.run_command("build_ext")
        except (SystemExit, Exception) as e:    # Cython's or the compiler's failure (distutils exits)
            raise _speedups_error()(f"the build failed: {type(e).__name__}: {e}".splitlines()[0]) from None
        finally:
            os.chdir(here)
        for m, src in sources.items():
            built = Path(tmp, "lib", *m.split(".")).with_suffix(_EXT)
            target = build_path(m, src.read_bytes())
            staged = target.with_name(target.name + f".{os.getpid()}.tmp")
            shutil.copyfile(built, staged)
            os.replace(staged, target)
    claim([build_path(m).name for m in todo])
    log(f"speedups: {len(todo)} module(s) built into {out}")
    return todo


def _writable_cache_dir() -> Path:
    """:func:`cache_dir`, created if missing, checked writable; else one SpeedupsError line naming it."""
    out = cache_dir()
    where = "VMAPLAB_SPEEDUPS_DIR" if os.environ.get("VMAPLAB_SPEEDUPS_DIR") else "the cache folder"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise _speedups_error()(f"{where} {out} cannot hold builds ({e.strerror or type(e).__name__}): "
                            f"point VMAPLAB_SPEEDUPS_DIR at a folder you can write") from None
    return out


# Who built or uses which build: one file per checkout under owners/ (its package folder on the
# first line, then build names). The cache is shared; prune deletes a build only if this checkout
# owns it, no current source of it matches it, and no other checkout that still exists claims it.
def _owner_file(package_dir: Path | None = None) -> Path:
    tag = hashlib.sha256(str(package_dir or PACKAGE_DIR).encode()).hexdigest()[:16]
    return cache_dir() / "owners" / f"{tag}.txt"


def _claims(path: Path) -> tuple[str, set[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return "", set()
    return (lines[0] if lines else ""), set(lines[1:])


def claim(names) -> None:
    """Record that this checkout built or uses the builds ``names`` (written atomically, merged)."""
    path = _owner_file()
    _dir, have = _claims(path)
    want = have | set(names)
    if want == have:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(path.name + f".{os.getpid()}.tmp")
        staged.write_text("\n".join([str(PACKAGE_DIR), *sorted(want)]) + "\n", encoding="utf-8")
        os.replace(staged, path)
    except OSError:                 # an unwritable cache: prune then keeps every build, which is safe
        pass


def prune(log=print) -> int:
    """Delete this checkout's cached builds that no current source matches; returns how many.

    Builds another checkout claims (one whose folder still exists), and builds nobody claims, stay.
    """
    keep = {build_path(m).name for m in MODULES}
    _dir, mine = _claims(_owner_file())
    others: set[str] = set()
    for path in (cache_dir() / "owners").glob("*.txt"):
        if path != _owner_file():
            folder, names = _claims(path)
            if folder and Path(folder).is_dir():
                others |= names
    gone = 0
    for f in cache_dir().glob(f"vmaplab.*{_EXT}"):
        if f.name not in keep and f.name in mine and f.name not in others:
            f.unlink()
            gone += 1
    if mine - keep:
        path = _owner_file()
        _dir, names = _claims(path)
        try:
            path.write_text("\n".join([str(PACKAGE_DIR), *sorted(names & keep)]) + "\n", encoding="utf-8")
        except OSError:
            pass
    if gone:
        log(f"speedups: removed {gone} stale build(s) of this checkout")
    return gone
