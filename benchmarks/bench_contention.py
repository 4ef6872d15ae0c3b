# SPDX-License-Identifier: MIT
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

Each measurement runs in fresh processes, once per mode of ``--modes``: ``compiled`` (the
speedups, ``vmaplab speedups build``) and ``pure`` (``VMAPLAB_PURE=1``, the source files); the
default is both when the speedups are built, modes in turns, so each ratio compiled/pure is
taken under about the same drift.

4. With ``--capacity``: the headline at once with the finite caches of contention-model.md §6.4-§6.5
   (the default model) and without them (``cache_capacity=False``), in turns, ``--rounds`` times,
   and the ratio of their medians (issue 23's target: at most 1.2).

Usage: python benchmarks/bench_contention.py [--no-headline] [--scale 1000] [--rounds 5] [--modes compiled,pure]
       [--capacity]
"""
from __future__ import annotations

import argparse
import heapq
import multiprocessing
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab import speedups  # noqa: E402


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


def _in_use() -> int:
    """How many of the speedups' modules this process runs compiled."""
    return sum(r.loaded for r in speedups.status())


def _floor_and_engine(rounds: int) -> tuple[list[float], list[float], int]:
    """The floor and the engine in turns, ``rounds`` times: (floor ns per event, engine ns per acquisition, in use)."""
    from vmaplab.contention import one_lock
    floors, engines = [], []
    for _ in range(rounds):
        floors.append(empty_heap_ns())
        r = one_lock(64, 3000, 2500, 200_000)
        engines.append(r.host_run_s / r.acquisitions * 1e9)   # the event loop alone; draws are made before
    return floors, engines, _in_use()


def _headline(version: str, scale: int, capacity: bool = True) -> tuple[float, int, float, int]:
    """One headline run: (host seconds, lock acquisitions, simulated wall seconds, compiled modules in use)."""
    from vmaplab.contention.costs import ContentionCosts
    from vmaplab.contention.sim import ContentionSim
    t0 = time.perf_counter()
    res = ContentionSim(version, nr_threads=64, nr_cpus=64, scale=scale,
                        costs=ContentionCosts(cache_capacity=capacity)).run()
    return time.perf_counter() - t0, sum(lk["acquisitions"] for lk in res.locks), res.wall_s, _in_use()


def _sequential(scale: int) -> list[tuple[float, int, float, int]]:
    return [_headline(v, scale) for v in ("6.8", "6.9")]


def _pool(mode: str, workers: int) -> ProcessPoolExecutor:
    """Fresh processes (spawned: they import vmaplab anew) running ``mode``: compiled speedups or the source."""
    os.environ["VMAPLAB_PURE"] = "1" if mode == "pure" else "0"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _mode_label(mode: str, in_use: int) -> str:
    return f"{mode} ({in_use} of {len(speedups.MODULES)} modules compiled)"


def _capacity_cost(mode: str, scale: int, rounds: int) -> int:
    """The headline at once (2 processes) with finite caches and without, in turns: the cost of §6.4-§6.5."""
    import statistics
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for capacity in ((True, False) if r % 2 == 0 else (False, True)):   # alternate, so drift favours neither
            t0 = time.perf_counter()
            with _pool(mode, 2) as pool:
                list(pool.map(_headline, ("6.8", "6.9"), (scale, scale), (capacity, capacity)))
            times[capacity].append(time.perf_counter() - t0)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"[{mode}] headline at once, scale 1/{scale}, {rounds} rounds each: finite caches {on:.1f} s "
          f"(runs {', '.join(f'{t:.1f}' for t in times[True])}), without {off:.1f} s "
          f"(runs {', '.join(f'{t:.1f}' for t in times[False])}); ratio of medians {on / off:.2f}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-headline", action="store_true")
    p.add_argument("--scale", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--capacity", action="store_true",
                   help="only the headline at once with and without finite caches, in turns (the first mode)")
    built = all(r.built for r in speedups.status()) and speedups.enabled()
    p.add_argument("--modes", default="compiled,pure" if built else "pure",
                   help="compiled and/or pure, comma-separated (default: both when the speedups are built)")
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    if not set(modes) <= {"compiled", "pure"} or ("compiled" in modes and not built):
        p.error(f"--modes: compiled and/or pure ({'built' if built else 'no speedups built: vmaplab speedups build'})")
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"python {platform.python_version()} at {sys.executable} (-> {Path(sys.executable).resolve()})")
    if args.capacity:
        return _capacity_cost(modes[0], args.scale, args.rounds)
    engine: dict[str, float] = {}
    for mode in modes:
        with _pool(mode, 1) as pool:
            floors, engines, in_use = pool.submit(_floor_and_engine, args.rounds).result()
        floor, per_acq = min(floors), min(engines)
        engine[mode] = per_acq / floor
        print(f"[{_mode_label(mode, in_use)}] empty heapq push/pop loop: {floor:.0f} ns per event (fastest of "
              f"{args.rounds}; slowest {max(floors):.0f}); engine + FIFO lock, one-lock workload (two events per "
              f"acquisition: think, release): {per_acq:.0f} ns per acquisition (slowest {max(engines):.0f}) "
              f"= {per_acq / floor:.2f}x the floor")
    if args.no_headline:
        return 0
    at_once: dict[str, float] = {}
    for mode in modes:
        with _pool(mode, 1) as pool:
            seq = pool.submit(_sequential, args.scale).result()
        total = 0.0
        for version, (dt, n, wall, in_use) in zip(("6.8", "6.9"), seq):
            total += dt
            print(f"[{_mode_label(mode, in_use)}] headline {version}: {dt:.1f} s host, {n} lock acquisitions, "
                  f"{dt / n * 1e9:.0f} ns each (allocator, recorder and engine); simulated wall {wall:.1f} s")
        print(f"[{mode}] headline, both versions, scale 1/{args.scale}: {total:.1f} s on one core")
        # as `vmaplab simulate --jobs 2` runs them: one process per version, at the same time
        t0 = time.perf_counter()
        with _pool(mode, 2) as pool:
            both = list(pool.map(_headline, ("6.8", "6.9"), (args.scale, args.scale)))
        at_once[mode] = wall2 = time.perf_counter() - t0
        print(f"[{mode}] headline, both versions at once in 2 processes: {wall2:.1f} s wall "
              f"(6.8 {both[0][0]:.1f} s, 6.9 {both[1][0]:.1f} s host each; includes starting the processes)")
    if len(at_once) == 2:
        print(f"compiled / pure: headline at once {at_once['compiled'] / at_once['pure']:.2f}, "
              f"engine ratio {engine['compiled']:.2f}x vs {engine['pure']:.2f}x the floor")
    # peak resident memory of the largest process (Linux reports KiB); tracing allocations would slow the run
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"peak RSS of one run {peak / 2**10:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
