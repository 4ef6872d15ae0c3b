# SPDX-License-Identifier: MIT
"""The "one lock, think Z, hold S" workload: the simulator's theory panel and its self-test.

Each of N CPUs alternates exponential local work (mean Z) and one critical
section (mean S) on a single lock until it has done its share of acquisitions.
With zero handover costs and a FIFO lock this is exactly the M/M/1//N machine
repairman of theory.machine_repairman; the DES must agree with it.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from functools import partial

from .engine import Engine
from .errors import ContentionError
from .locks import FifoLock, TasLock
from .topology import generic


@dataclass(frozen=True)
class OneLockResult:
    n: int
    wall_ns: float
    acquisitions: int
    spin_share: float          # spin time / (N × wall)
    throughput_per_ns: float
    host_run_s: float = field(default=0.0, compare=False)   # host time of the event loop alone (benchmarks)


def one_lock(n: int, z_ns: float, s_ns: float, acquisitions: int, policy: str = "fifo",
             seed: int = 0, xfer_ns: float = 0.0, c_lock_ns: float = 0.0, c_set_ns: float = 0.0) -> OneLockResult:
    """Simulate the synthetic workload; every random draw comes from per-CPU streams of ``seed``."""
    if n < 1 or acquisitions < n:
        raise ContentionError("need n >= 1 and at least one acquisition per CPU")
    eng = Engine()
    topo = generic(n, xfer_ns)
    lock: FifoLock | TasLock
    if policy == "fifo":
        lock = fifo = FifoLock("L", eng, topo, c_lock_ns, c_set_ns)
    elif policy == "tas":
        lock = tas = TasLock("L", eng, topo, seed, c_lock_ns, c_set_ns)
    else:
        raise ContentionError(f"policy must be 'fifo' or 'tas', got {policy!r}")
    # Each CPU's (think, hold) draws, made up front from its own stream (drawing is the
    # workload's cost, not the engine's), last one first so a turn pops it.
    draws = []
    for c in range(n):
        rng = random.Random(f"one_lock/{seed}/{c}")
        turns = [((rng.expovariate(1 / z_ns) if z_ns else 0.0), (rng.expovariate(1 / s_ns) if s_ns else 0.0))
                 for _ in range(acquisitions // n)]
        turns.reverse()
        draws.append(turns)

    # partial, not lambda: calling one runs the target without a wrapper frame (this is the
    # benchmark of the engine's per-event cost)
    def next_turn(c: int) -> None:
        """Think Z, then ask for the lock (nothing once this CPU's share is done)."""
        if draws[c]:
            z, hold = draws[c].pop()
            eng.schedule(eng.now_ns + z, partial(request, c, hold))

    if policy == "fifo":
        def request(c: int, hold: float) -> None:
            # the grant is known at request time: one event, at the release (as the simulator does)
            eng.schedule(fifo.acquire(c, hold)[2], partial(next_turn, c))
    else:
        def request(c: int, hold: float) -> None:
            tas.request(c, hold, lambda *_: next_turn(c))

    for c in range(n):
        next_turn(c)
    t0 = time.perf_counter()
    wall = eng.run()
    host = time.perf_counter() - t0
    st = lock.stats
    return OneLockResult(n, wall, st.acquisitions, st.spin_ns / (n * wall) if wall else 0.0,
                         st.acquisitions / wall if wall else 0.0, host)
