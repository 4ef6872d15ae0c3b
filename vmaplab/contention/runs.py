# SPDX-License-Identifier: MIT
"""Run drivers: the pairs and sweeps that notebooks, benchmarks, widgets and the CLI share.

What it is: one description of a simulator run (:class:`RunSpec`, a frozen record), one way to
run many of them (:func:`run_specs`: in this process or in a process pool, results in the order
of the specs whatever the pool does), and the experiments built on them: :func:`run_pair` (6.8
and 6.9 on one workload, with a timeline window) and :func:`threads_sweep` (the v1 cover letter's
curve: microseconds per fix_size pair per job, n jobs on the 64-CPU machine).

Invariants: a run is a pure function of its spec (every random choice comes from the spec's
seed), so results do not depend on ``jobs`` or on the order the pool finishes them.

No second sweep loop exists elsewhere: :func:`map_unordered` is the one loop; ``vmaplab sweep``
(``contention/experiments.py``), ``vmaplab simulate --jobs`` (its versions in parallel),
``benchmarks/sweeps_contention.py`` and notebook 04 go through it.
"""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from ..kernel.generations import LETTER_VERSIONS
from .costs import ContentionCosts
from .errors import ContentionError
from .published import V1_CURVE
from .settings import MAX_SIM_THREADS, RunSpec  # noqa: F401 (re-exported: the runs' record and its limit)
from .sim import ContentionSim, SimResult
from .topology import LETTER_MACHINE

VERSIONS = LETTER_VERSIONS            # the letter's two kernels
THREADS_SWEEP_JOBS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class RunSummary:
    """What a sweep keeps of one run: real-equivalent wall time, the spinlock slow path's share, the profile.

    ``profile``: the perf-like table's rows as (symbol, children %, self %).
    """
    spec: RunSpec
    wall_ns: float
    slowpath_self_pct: float
    profile: tuple = ()

    @property
    def wall_s(self) -> float:
        return self.wall_ns / 1e9


def run_spec(spec: RunSpec) -> RunSummary:
    """Run one spec to the end (a top-level function, so a process pool can pickle it)."""
    r = spec.simulator().run()
    return RunSummary(spec, r.wall_ns, r.slowpath_self_pct,
                      tuple((row["symbol"], row["children_pct"], row["self_pct"]) for row in r.profile))


def run_specs(specs: Iterable[RunSpec], jobs: int = 1, progress: Callable | None = None,
              desc: str = "runs", executor: Executor | None = None) -> list[RunSummary]:
    """Every spec's summary, in the order given, whatever order the runs finish in.

    ``executor``: any ``concurrent.futures.Executor`` (a Dask client's ``get_executor()``); without
    one, ``jobs`` > 1 makes a local process pool. ``progress`` wraps the stream of finished runs
    (``tqdm`` in a terminal or a notebook).
    """
    specs = list(specs)
    out: list[RunSummary | None] = [None] * len(specs)
    for i, summary in map_unordered(run_spec, specs, executor, jobs, progress, desc):
        out[i] = summary
    done = [s for s in out if s is not None]
    if len(done) != len(out):               # map_unordered yields every index once, or raises
        raise ContentionError(f"{len(out) - len(done)} of {len(out)} runs never reported")
    return done


def map_unordered(fn: Callable, items: list, executor: Executor | None = None, jobs: int = 1,
                  progress: Callable | None = None, desc: str = "runs"):
    """Yield ``(index, fn(item))`` as runs finish: in this process (``jobs`` 1, no executor), in a
    local process pool, or on ``executor``. The one loop every sweep goes through.

    Ctrl-C (KeyboardInterrupt) or the consumer stopping early cancels every queued run and, for
    the local pool, terminates its workers at once (they ignore SIGINT themselves, so a terminal's
    Ctrl-C reaches only this process's handler); after a KeyboardInterrupt the runs that had
    already finished are still yielded, then the interrupt is raised again.
    """
    if not items:
        return
    if executor is None and jobs <= 1:
        results = enumerate(map(fn, items))
        yield from (progress(results, total=len(items), desc=desc) if progress else results)
        return
    pool = executor if executor is not None else ProcessPoolExecutor(jobs, initializer=_ignore_sigint)
    futures: dict = {}
    yielded = set()
    try:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        finished = as_completed(futures)
        for f in (progress(finished, total=len(futures), desc=desc) if progress else finished):
            yielded.add(f)
            yield futures[f], f.result()
    except KeyboardInterrupt:
        _stop(pool, futures, own=executor is None)
        for f in futures:                    # finished before the interrupt, not yet handed over
            if f not in yielded and f.done() and not f.cancelled() and f.exception() is None:
                yield futures[f], f.result()
        raise
    except BaseException:
        _stop(pool, futures, own=executor is None)
        raise
    if executor is None:
        pool.shutdown(wait=True)


def _ignore_sigint() -> None:
    """A pool worker's initializer: Ctrl-C is the parent's to handle (it terminates the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: Executor, futures: dict, own: bool) -> None:
    """Cancel every queued run; terminate a pool we made (its running runs are abandoned)."""
    for f in futures:
        f.cancel()
    if not own:
        return
    terminate = getattr(pool, "terminate_workers", None)           # Python 3.14
    if terminate is not None:
        terminate()
    else:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def run_pair(nr_threads: int = 32, scale: int = 20000, window_us: tuple = (100, 160), seed: int = 0,
             machine: str = LETTER_MACHINE, params: dict | None = None, **kwargs) -> dict[str, SimResult]:
    """Run 6.8 and 6.9 on the same workload, recording the timeline of ``window_us`` (simulated µs)."""
    window = (window_us[0] * 1e3, window_us[1] * 1e3)
    return {version: ContentionSim(version, nr_threads=nr_threads, scale=scale, seed=seed, machine=machine,
                                   params=params or {"run_test_mask": 7}, timeline_window_ns=window,
                                   **kwargs).run()
            for version in VERSIONS}


@dataclass(frozen=True)
class ThreadsPoint:
    """One column of the threads sweep: µs per fix_size pair per job, simulated and in the v1 letter."""
    jobs: int
    us_per_pair: dict[str, float]       # version -> simulated
    v1_before: float | None
    v1_after: float | None


def threads_sweep(scale: int = 2000, jobs: int = 1, progress: Callable | None = None,
                  costs: ContentionCosts | None = None, seed: int = 0,
                  points: tuple[int, ...] = THREADS_SWEEP_JOBS) -> list[ThreadsPoint]:
    """The v1 cover letter's curve: n fix_size_alloc_test jobs on the 64-CPU machine, both versions.

    The letter ran n jobs on the whole machine, so the workers go where the scheduler puts them
    (one per core complex first). Its "after" is the v1 design (per-CPU zones): a shape, not a
    target. ``us_per_pair`` is the real-equivalent wall time over the 10^6 loops.
    """
    costs = costs or ContentionCosts()
    specs = [RunSpec(v, n, 64, scale, seed, 1, costs) for n in points for v in VERSIONS]
    done = iter(run_specs(specs, jobs, progress, desc="threads"))
    out = []
    for n in points:
        walls = {v: next(done).wall_ns / 1e3 / 1e6 for v in VERSIONS}
        before, after = V1_CURVE.get(n, (None, None))
        out.append(ThreadsPoint(n, walls, before, after))
    return out
