"""The simulated kernel ring buffer: every warning the kernel would print, in its words.

Mirrors: printk/pr_warn, WARN_ONCE/pr_warn_once (once per message site), and
printk_ratelimit() (burst 10 per 5 s of simulated time; spec §4.2 overflow).

Simplifications: no log levels or timestamps in the text; the rate limit uses
the allocator's attached clock (0 when none), so without a clock only the first
10 rate-limited lines of a run are kept and the rest are counted.
"""
from __future__ import annotations

RATELIMIT_INTERVAL_NS = 5_000_000_000
RATELIMIT_BURST = 10


class KernelLog(list):
    """A ``list[str]`` of kernel messages, with once-only and rate-limited variants."""

    def __init__(self, clock=None):
        super().__init__()
        self._once: set[str] = set()
        self.clock = clock
        self._rl_begin = 0
        self._rl_printed = 0
        self.suppressed = 0

    def warn(self, msg: str) -> None:
        self.append(msg)

    def warn_once(self, site: str, msg: str) -> None:
        """WARN_ONCE / pr_warn_once: only the first message of ``site`` is printed."""
        if site not in self._once:
            self._once.add(site)
            self.append(msg)

    def ratelimited(self, msg: str) -> bool:
        """printk_ratelimit(): print unless 10 lines were printed in the last 5 s."""
        now = self.clock() if self.clock is not None else 0
        if now - self._rl_begin >= RATELIMIT_INTERVAL_NS:
            self._rl_begin, self._rl_printed = now, 0
        if self._rl_printed < RATELIMIT_BURST:
            self._rl_printed += 1
            self.append(msg)
            return True
        self.suppressed += 1
        return False
