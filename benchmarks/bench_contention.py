"""Speed of the contention simulator, as ratios to baselines measured in the same run.

1. The floor for any Python DES: an empty heapq push/pop loop, per event.
2. The engine with a FIFO lock on the synthetic one-lock workload, per lock acquisition
   (target: within 5x of the floor).
3. The allocator-driven headline (run_test_mask=7, 64 threads, s=1000, both versions) on one
   core, per lock acquisition and in total (target: under 30 s), with peak memory.

Usage: python benchmarks/bench_contention.py [--no-headline] [--scale 1000]
"""
from __future__ import annotations

import argparse
import heapq
import resource
import sys
import time
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-headline", action="store_true")
    p.add_argument("--scale", type=int, default=1000)
    args = p.parse_args(argv)
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    floor = empty_heap_ns()
    r = one_lock(64, 3000, 2500, 200_000)
    per_acq = r.host_run_s / r.acquisitions * 1e9      # the event loop alone; random draws are made before
    print(f"empty heapq push/pop loop: {floor:.0f} ns per event")
    print(f"engine + FIFO lock, one-lock workload (two events per acquisition: think, release): {per_acq:.0f} ns "
          f"per acquisition = {per_acq / floor:.1f}x the floor")
    if args.no_headline:
        return 0
    total, acqs = 0.0, 0
    for version in ("6.8", "6.9"):
        t0 = time.perf_counter()
        sim = ContentionSim(version, nr_threads=64, nr_cpus=64, scale=args.scale)
        res = sim.run()
        dt = time.perf_counter() - t0
        n = sum(lk["acquisitions"] for lk in res.locks)
        total, acqs = total + dt, acqs + n
        print(f"headline {version}: {dt:.1f} s host, {n} lock acquisitions, {dt / n * 1e9:.0f} ns each "
              f"(allocator, recorder and engine) = {dt / n * 1e9 / floor:.1f}x the floor; "
              f"simulated wall {res.wall_s:.1f} s")
    # peak resident memory of this process (Linux reports KiB); tracing allocations would slow the run
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"headline, both versions, scale 1/{args.scale}: {total:.1f} s on one core "
          f"({max(total - dt, dt):.1f} s with --jobs 2); peak RSS {peak / 2**10:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
