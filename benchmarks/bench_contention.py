"""Speed of the contention simulator, as ratios to baselines measured in the same run.

1. The floor for any Python DES: an empty heapq push/pop loop, per event.
2. The engine with a FIFO lock on the synthetic one-lock workload, per lock acquisition
   (issue 15's target: within 4x of the floor). The floor and the engine are measured in turns,
   ``--rounds`` times each, and compared by their fastest rounds: this machine's speed drifts
   within a minute, and interleaving keeps both under the same drift.
3. The allocator-driven headline (run_test_mask=7, 64 threads, s=1000, both versions): one after
   the other on one core, then both at once in two processes as ``vmaplab simulate --jobs 2``
   runs them (issue 15's target: under 30 s wall), with peak memory.

The interpreter is printed first: a distribution's Python (Debian's /usr/bin/python3.11) and a
locally built one (pyenv, without profile-guided optimisation) differ by more than 10% here.

Usage: python benchmarks/bench_contention.py [--no-headline] [--scale 1000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import heapq
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab.contention import one_lock  # noqa: E402
from vmaplab.contention.sim import ContentionSim  # noqa: E402


def empty_heap_ns(n: int = 1_000_000) -> float:
    heap, seq = [], 0
    t0 = time.perf_counter()
    for i in range(n):
        heapq.heappush(heap, (float(i % 977), seq, None))
        seq += 1
        if len(heap) > 64:
            heapq.heappop(heap)
    while heap:
        heapq.heappop(heap)
    return (time.perf_counter() - t0) / n * 1e9


def _headline(version: str, scale: int) -> tuple[float, int, float]:
    """One headline run: (host seconds, lock acquisitions, simulated wall seconds)."""
    t0 = time.perf_counter()
    res = ContentionSim(version, nr_threads=64, nr_cpus=64, scale=scale).run()
    return time.perf_counter() - t0, sum(lk["acquisitions"] for lk in res.locks), res.wall_s


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-headline", action="store_true")
    p.add_argument("--scale", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"python {platform.python_version()} at {sys.executable} (-> {Path(sys.executable).resolve()})")
    floors, engines = [], []
    for _ in range(args.rounds):
        floors.append(empty_heap_ns())
        r = one_lock(64, 3000, 2500, 200_000)
        engines.append(r.host_run_s / r.acquisitions * 1e9)   # the event loop alone; draws are made before
    floor, per_acq = min(floors), min(engines)
    print(f"empty heapq push/pop loop: {floor:.0f} ns per event (fastest of {args.rounds}; "
          f"slowest {max(floors):.0f})")
    print(f"engine + FIFO lock, one-lock workload (two events per acquisition: think, release): {per_acq:.0f} ns "
          f"per acquisition (slowest {max(engines):.0f}) = {per_acq / floor:.2f}x the floor")
    if args.no_headline:
        return 0
    total = 0.0
    for version in ("6.8", "6.9"):
        dt, n, wall = _headline(version, args.scale)
        total += dt
        print(f"headline {version}: {dt:.1f} s host, {n} lock acquisitions, {dt / n * 1e9:.0f} ns each "
              f"(allocator, recorder and engine) = {dt / n * 1e9 / floor:.1f}x the floor; simulated wall {wall:.1f} s")
    print(f"headline, both versions, scale 1/{args.scale}: {total:.1f} s on one core")
    # as `vmaplab simulate --jobs 2` runs them: one process per version, at the same time
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        both = list(pool.map(_headline, ("6.8", "6.9"), (args.scale, args.scale)))
    wall2 = time.perf_counter() - t0
    print(f"headline, both versions at once in 2 processes: {wall2:.1f} s wall "
          f"(6.8 {both[0][0]:.1f} s, 6.9 {both[1][0]:.1f} s host each)")
    # peak resident memory of the largest process (Linux reports KiB); tracing allocations would slow the run
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"peak RSS of one run {peak / 2**10:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
