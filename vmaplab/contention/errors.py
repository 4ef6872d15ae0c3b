# SPDX-License-Identifier: MIT
"""The simulator's error: a bad argument to the contention model, named in its message.

A subclass of VmallocError (itself a ValueError, so older callers that caught ValueError still do):
the CLI's one ``except VmallocError`` prints it as one line with exit status 2, like every other
bad input in vmaplab.
"""
from __future__ import annotations

from ..kernel.errors import VmallocError


class ContentionError(VmallocError):
    """A simulator setting, cost constant, machine or profile row that cannot be used; the message names it."""
