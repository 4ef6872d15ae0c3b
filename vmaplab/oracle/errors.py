# SPDX-License-Identifier: MIT
"""Errors of the oracle: a missing prerequisite, a guest that misbehaved, a bad scenario."""
from __future__ import annotations

from ..kernel.errors import ExternalError, VmallocError

EXIT_UNAVAILABLE = 3       # the CLI's exit status when the oracle cannot run here (tests skip on it)


class OracleUnavailable(ExternalError):
    """A prerequisite of the real kernel is missing (no qemu, not root for apt, no archive, ...).

    Its message says what is missing and how to get it; the CLI prints it on one line and exits
    with status 3, tests skip with it as the reason.
    """


class GuestError(ExternalError):
    """The guest booted but did not produce what the protocol promises (docs/oracle.md §2)."""


class ScenarioError(VmallocError):
    """A scenario file is malformed; the message names the op (by index) and the field."""
