# SPDX-License-Identifier: MIT
"""Files a user hands the tool: one reader that checks them before any parser sees them.

What it guards: a sweep spec (TOML), an oracle scenario (JSON), a name that becomes a file name.
Before a parser runs, :func:`read_user_file` checks the kind of file (a regular file: a FIFO would
block, ``/dev/zero`` never ends, a directory is not text), its size, its encoding (UTF-8, the line
of the first bad byte named) and its nesting (brackets inside each other, bounded, so a parser
never recurses a thousand levels). Every error names the file.

Invariants: nothing is read past ``max_bytes + 1``; the open never blocks; errors are the
caller's :class:`VmallocError` subclass, one line each.
"""
from __future__ import annotations

import functools
import os
import re
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import TypeGuard

from ..kernel.errors import VmallocError

# A name that becomes a file-name stem: results/NAME.csv, last-run/NAME.probe.txt, nothing else
STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_STEM = 100


def read_user_file(path: str | Path, *, kind: str, max_bytes: int, exc: type[VmallocError],
                   max_nesting: int | None = None) -> str:
    """The text of ``path``: a regular file of at most ``max_bytes``, UTF-8, with brackets (``[``, ``{``)
    nested at most ``max_nesting`` deep; else ``exc`` naming the file and saying it is not a ``kind``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)       # a FIFO would block an open without it
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise exc(f"{path}: not a regular file")
            data = f.read(max_bytes + 1)
    except VmallocError:                       # ours (a ValueError too): already names the file
        raise
    except OSError as e:
        raise exc(f"{path}: cannot read ({e.strerror})") from None
    except (ValueError, TypeError) as e:       # a NUL in the path, or no path at all
        raise exc(f"{path!r:.100}: cannot read ({e})") from None
    return _checked(data, path, kind=kind, max_bytes=max_bytes, exc=exc, max_nesting=max_nesting)


def read_user_stream(stream, name: str, *, kind: str, max_bytes: int, exc: type[VmallocError],
                     max_nesting: int | None = None) -> str:
    """The text a binary ``stream`` (a pipe: standard input) holds, with :func:`read_user_file`'s checks
    but the kind of file: a pipe ends when its writer closes it, and nothing past ``max_bytes + 1`` is read."""
    try:
        data = stream.read(max_bytes + 1)
    except OSError as e:
        raise exc(f"{name}: cannot read ({e.strerror})") from None
    return _checked(data, name, kind=kind, max_bytes=max_bytes, exc=exc, max_nesting=max_nesting)


def _checked(data: bytes, path, *, kind: str, max_bytes: int, exc: type[VmallocError],
             max_nesting: int | None) -> str:
    if len(data) > max_bytes:
        raise exc(f"{path}: larger than {max_bytes} bytes; not a {kind}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise exc(f"{path}: not UTF-8 (line {data[:e.start].count(10) + 1})") from None
    if max_nesting is not None and nesting(text) > max_nesting:
        raise exc(f"{path}: nested too deeply (more than {max_nesting} arrays or tables inside each other)")
    return text


def nesting(text: str) -> int:
    """An upper bound on the nesting of arrays and tables/objects (brackets in strings count too)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def is_stem(name: object) -> TypeGuard[str]:
    """A plain file-name stem: letters, digits, ``.``, ``_``, ``-``; starting with a letter or digit; at most
    100 characters (no ``/``, no NUL, not ``.`` or ``..``)."""
    return isinstance(name, str) and len(name) <= MAX_STEM and STEM.fullmatch(name) is not None


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    with suppress(OSError):                  # the rename itself survives a crash once the folder is synced
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
