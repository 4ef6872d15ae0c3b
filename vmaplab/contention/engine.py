# SPDX-License-Identifier: MIT
"""A discrete-event engine: a heap of ``(t_ns, seq, action)``, nothing else.

Mirrors: SimPy's core idea (the engine knows only the clock and the event heap;
pacing for a viewer lives elsewhere) without its per-event overhead
(contention-model.md §5.3: one heap push per lock acquisition).

Invariants: events run in ``(t_ns, seq)`` order, so two events at the same
time run in the order they were scheduled and a run is exactly reproducible;
the clock never goes backwards; an event may not be scheduled in the past.
"""
from __future__ import annotations

import gc
import heapq
from collections.abc import Callable
from contextlib import contextmanager

from .errors import ContentionError

_heappush = heapq.heappush

# Young collections per allocated object while events run: a run allocates millions of short-lived
# closures and tuples, and the default threshold (700) would walk the young generation thousands of
# times for the few cycles a run leaves (results do not depend on when garbage is collected).
RUN_GC_THRESHOLD = 100_000


@contextmanager
def fewer_collections(threshold: int = RUN_GC_THRESHOLD):
    """A block with the garbage collector's young threshold raised to ``threshold`` (restored after)."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], threshold), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


class Engine:
    """``schedule(t_ns, action)``; ``step()`` runs one event; ``run(until_ns)`` runs them in order."""

    __slots__ = ("now_ns", "_heap", "_seq", "events_run")

    def __init__(self):
        self.now_ns = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.events_run = 0

    def schedule(self, t_ns: float, action: Callable[[], None]) -> None:
        """Run ``action()`` at simulated time ``t_ns`` (not before now)."""
        if t_ns < self.now_ns:
            raise ContentionError(f"cannot schedule at {t_ns} ns: the clock is already at {self.now_ns} ns")
        _heappush(self._heap, (t_ns, self._seq, action))
        self._seq += 1

    def __len__(self) -> int:
        return len(self._heap)

    def peek_ns(self) -> float | None:
        """When the next event happens, or None when nothing is pending."""
        return self._heap[0][0] if self._heap else None

    def step(self) -> bool:
        """Run the next event; False when there is none."""
        if not self._heap:
            return False
        t, _seq, action = heapq.heappop(self._heap)
        self.now_ns = t
        self.events_run += 1
        action()
        return True

    def run(self, until_ns: float | None = None) -> float:
        """Run events until none is left or the next one is later than ``until_ns``; returns the clock."""
        heap, pop = self._heap, heapq.heappop
        with fewer_collections():
            self._loop(heap, pop, until_ns)
        if until_ns is not None and until_ns > self.now_ns:
            self.now_ns = until_ns
        return self.now_ns

    def _loop(self, heap, pop, until_ns: float | None) -> None:
        # events run = pushes - growth of the heap, so the loop itself counts nothing
        seq0, len0 = self._seq, len(heap)
        try:
            if until_ns is None:                   # the common case, without the bound check
                while heap:
                    t, _seq, action = pop(heap)
                    self.now_ns = t
                    action()
            else:
                while heap and heap[0][0] <= until_ns:
                    t, _seq, action = pop(heap)
                    self.now_ns = t
                    action()
        finally:
            self.events_run += (self._seq - seq0) - (len(heap) - len0)
