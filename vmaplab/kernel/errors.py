# SPDX-License-Identifier: MIT
"""Exceptions raised by vmaplab: one root, three branches.

::

    VmaplabError                 everything vmaplab raises on purpose
    ├── VmallocError             bad input: a call, a setting or a file the kernel (or vmaplab) refuses;
    │                            raised before any state changes, so nothing changed (a ValueError too)
    ├── InvariantError           vmaplab itself is wrong: check() found a state the kernel never reaches
    │                            (a bug to report; a RuntimeError too)
    └── ExternalError            something outside vmaplab failed or is missing: QEMU, a guest kernel,
                                 a compiler, Debian's archive (a RuntimeError too)

Each layer's own errors subclass a branch (``ContentionError``, ``SpecError``, ``ScenarioError``,
``ExerciseError``... are VmallocErrors; ``OracleUnavailable``, ``GuestError``, ``SpeedupsError`` are
ExternalErrors); the CLI maps the branches to exit statuses in one table (``cli.EXIT_STATUS``).
Resource exhaustion is not an error: the call returns ``None`` and logs a kernel-style line to
``vm.dmesg``, as the kernel does.
"""
from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class VmaplabError(Exception):
    """The root of every exception vmaplab raises on purpose."""


class VmallocError(VmaplabError, ValueError):
    """An invalid call, setting or file: the message names the argument, and nothing changed."""


class InvalidArgumentError(VmallocError):
    """-EINVAL: a size, alignment or window the kernel would refuse."""


class BadFreeError(VmallocError):
    """A free of an address that is not the start of a live area (double free, never allocated)."""


class WrongFreeFunctionError(VmallocError):
    """An area freed with a function that does not match how it was created."""


class ConfigError(VmallocError):
    """An impossible machine configuration."""


class InvariantError(VmaplabError, RuntimeError):
    """check() (or a cheap check on the way) found the simulated allocator in a state the kernel never reaches."""


class ExternalError(VmaplabError, RuntimeError):
    """A tool or system vmaplab relies on is missing or failed; the message says which and how to get it."""


def present(value: T | None, what: str) -> T:
    """``value``, which the model's own bookkeeping guarantees is there (a VA just found, the vm_struct
    of a vmalloc area); None means vmaplab is wrong, said as an InvariantError naming ``what``."""
    if value is None:
        raise InvariantError(f"BUG: {what} is missing")
    return value
