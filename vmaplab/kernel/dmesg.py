# SPDX-License-Identifier: MIT
"""The simulated kernel ring buffer: every warning the kernel would print, in its words.

Mirrors: printk/pr_warn, WARN_ONCE/pr_warn_once (once per message site), and
rate limits of burst 10 per 5 s of simulated time, one state per limiter:
``printk_ratelimit()`` for the overflow warning (kernel-model.md §4.2) and ``warn_alloc()``'s
own for the "vmalloc error" lines (kernel-model.md §4.4).

Simplifications: no log levels or timestamps in the text; the rate limit uses
the allocator's attached clock (0 when none), so without a clock only the first
10 rate-limited lines of a run are kept and the rest are counted.
"""
from __future__ import annotations

from collections.abc import Callable

RATELIMIT_INTERVAL_NS = 5_000_000_000
RATELIMIT_BURST = 10


class KernelLog(list[str]):
    """A ``list[str]`` of kernel messages, with once-only and rate-limited variants."""

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        super().__init__()
        self._once: set[str] = set()
        self.clock = clock
        self._limits: dict[str, list[int]] = {}     # limiter -> [interval begin, printed in it]
        self.suppressed = 0

    def warn(self, msg: str) -> None:
        self.append(msg)

    def warn_once(self, site: str, msg: str) -> None:
        """WARN_ONCE / pr_warn_once: only the first message of ``site`` is printed."""
        if site not in self._once:
            self._once.add(site)
            self.append(msg)

    def ratelimited(self, msg: str, limiter: str = "printk") -> bool:
        """Print unless ``limiter`` already let 10 lines through in the current 5 s interval."""
        now = self.clock() if self.clock is not None else 0
        state = self._limits.setdefault(limiter, [now, 0])
        if now - state[0] >= RATELIMIT_INTERVAL_NS:
            state[0], state[1] = now, 0
        if state[1] < RATELIMIT_BURST:
            state[1] += 1
            self.append(msg)
            return True
        self.suppressed += 1
        return False
