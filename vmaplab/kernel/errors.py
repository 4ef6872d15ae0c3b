# SPDX-License-Identifier: MIT
"""Exceptions raised by vmaplab.

Invalid calls raise :class:`VmallocError` (or a subclass) *before* any state
changes, so the allocator is exactly as it was. Resource exhaustion is not an
error: it returns ``None`` and logs a kernel-style line to ``vm.dmesg``.
:class:`InvariantError` means the simulator itself is corrupt (a bug).
"""
from __future__ import annotations


class VmallocError(ValueError):
    """An invalid call: the message names the problem in kernel terms."""


class InvalidArgumentError(VmallocError):
    """-EINVAL: a size, alignment or window the kernel would refuse."""


class BadFreeError(VmallocError):
    """A free of an address that is not the start of a live area (double free, never allocated)."""


class WrongFreeFunctionError(VmallocError):
    """An area freed with a function that does not match how it was created."""


class ConfigError(VmallocError):
    """An impossible machine configuration."""


class InvariantError(RuntimeError):
    """check() found the simulated allocator in a state the kernel never reaches."""
