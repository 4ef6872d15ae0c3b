# SPDX-License-Identifier: MIT
"""Sweep speed: the same 16 runs on one worker process, on a 2-process pool and on a 2-worker Dask
LocalCluster, as ratios to the one-worker time measured in the same round (docs/experiments.md).

The one worker is a process pool of 1, not this process: this process hosts the LocalCluster's
scheduler, whose thread would share its GIL and slow a baseline run here (ratios above 2 showed it).

The runs are 16 headline-like runs (run_test_mask=7, 16 threads on 16 CPUs, four seeds, both
versions, scale 1/2000), each a few seconds (with the compiled speedups; 1/4000 made them about one),
so process start-up and the last run's uneven split between the workers are a small part. On a 2-core
machine the target is a speedup of at least 1.8 with 2 workers, on both executors. Every executor
must give the same rows (checked here too).

Usage: python benchmarks/bench_sweep.py [--scale 2000] [--no-dask] [--rounds 3]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab import speedups  # noqa: E402
from vmaplab.contention.experiments import dask_executor, parse_experiment, run_experiment  # noqa: E402


def spec(scale: int):
    return parse_experiment({"name": "bench-sweep", "base": {"nr_threads": 16, "run_test_mask": 7, "scale": scale},
                             "grid": {"version": ["6.8", "6.9"], "seed": list(range(8))}})


def timed(label: str, out: Path, **how) -> tuple[float, str]:
    t0 = time.perf_counter()
    run_experiment(spec(ARGS.scale), out, **how)
    dt = time.perf_counter() - t0
    print(f"{label:34s} {dt:8.2f} s", flush=True)
    return dt, out.with_suffix(".csv").read_text()


def main(argv=None) -> int:
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=2000)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--rounds", type=int, default=3)
    ARGS = p.parse_args(argv)
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    built = sum(r.built for r in speedups.status()) if speedups.enabled() else 0
    print(f"speedups: {built} of {len(speedups.MODULES)} modules compiled for this run and its workers"
          + ("" if speedups.enabled() else " (VMAPLAB_PURE is set)"))
    # executors in turns, --rounds times: this machine's speed drifts by 15% within minutes, and a
    # round's executors run close together, under about the same drift
    times: dict[str, list[float]] = {"one": [], "pool": [], "dask": []}
    results: list[str] = []
    with tempfile.TemporaryDirectory() as d, contextlib.ExitStack() as stack:
        executor = None
        if not ARGS.no_dask:
            executor, client = stack.enter_context(dask_executor(2))
            print(f"  dask: {len(client.scheduler_info()['workers'])} workers, {client.dashboard_link}")
        for r in range(ARGS.rounds):
            # the order turns round by round (one, pool, Dask; then Dask, pool, one), so a drift
            # across a round favours no executor
            order = ["one", "pool", "dask"] if r % 2 == 0 else ["dask", "pool", "one"]
            for name in order:
                if name == "one":
                    # one worker process, not this one: here the Dask scheduler's thread would share the GIL
                    with ProcessPoolExecutor(1) as one:
                        dt, rows = timed("16 runs, process pool of 1", Path(d, f"one{r}"), executor=one)
                elif name == "pool":
                    dt, rows = timed("16 runs, process pool of 2", Path(d, f"pool{r}"), jobs=2)
                elif executor is not None:
                    dt, rows = timed("16 runs, Dask LocalCluster(2, 1 thread)", Path(d, f"dask{r}"), executor=executor)
                else:
                    continue
                times[name].append(dt)
                results.append(rows)
    same = all(rows == results[0] for rows in results)
    # each round's executors against that round's one-worker time, then the median round
    for name, label in (("pool", "process pool of 2"), ("dask", "Dask LocalCluster(2, 1 thread)")):
        if times[name]:
            ratios = [one / t for one, t in zip(times["one"], times[name])]
            print(f"{label}: speedup {statistics.median(ratios):.2f}x over one worker (median of the rounds: "
                  f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.8)")
    print(f"every executor gave the same rows: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
