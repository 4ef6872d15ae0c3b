# SPDX-License-Identifier: MIT
"""The per-call and per-page constants derived from single-CPU timings, for any other constants.

Mirrors nothing in the kernel: it is contention-model.md §7.0's calibration step as a function, so
an uncertainty sample can be made consistent with the calibration facts before it predicts the
validation numbers (docs/experiments.md §3, "calibrated samples").

The facts (§7.0, "Calibrate"):

* T6 (Rezki, 14 Dec 2020, one CPU, no zeroing): 0.430 µs per fix_size pair and 7.664 µs per
  long_busy iteration (two pairs and 101 pages), 10^6 loops each;
* T7 (the v1 letter's one-job point, 6.3, with zeroing): 0.576 µs per fix_size pair.

Three unknowns follow from them, everything else held at the given costs: F, the fixed cost of a
vmalloc+vfree pair (split between ``vmalloc_fixed_ns`` and ``vfree_fixed_ns`` in their given
proportion); P, the page work per page without zeroing (split among ``page_alloc_ns``,
``page_map_ns``, ``page_unmap_ns`` and ``page_free_ns`` in their given proportions); and
``clear_page_ns``, from the one page T7's pair zeroes. Each is linear in the simulated single-CPU
time (one CPU waits for nothing), so two runs per equation solve it exactly.

Invariant: the returned costs reproduce T6's two timings and T7's one on a single CPU, to the
linear solve's rounding, whenever ``consistent`` is True; when the other constants alone already
exceed a timing (an unknown would be negative), the unknown is set to 0 and ``consistent`` is
False, and the costs are returned as they are, for the caller to count or drop.

Simplifications: T6 ran a 2020 kernel and T7 a 6.3 one on the same machine; the model takes the
difference of their pairs as the zeroing of one page (the only modelled difference between them).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .costs import ContentionCosts
from .published import V1_CURVE
from .sim import ContentionSim

T6_FIX_US = 0.430       # per fix_size pair, one CPU, no zeroing (T6)
T6_LONG_US = 7.664      # per long_busy iteration, one CPU, no zeroing (T6)
T7_ONE_JOB_US = V1_CURVE[1][0]       # per fix_size pair, one job, with zeroing (the v1 letter)
PAGE_WORK = ("page_alloc_ns", "page_map_ns", "page_unmap_ns", "page_free_ns")
FIXED = ("vmalloc_fixed_ns", "vfree_fixed_ns")


@dataclass(frozen=True)
class Calibrated:
    """Costs consistent with T6 and T7, and the three values derived for them."""
    costs: ContentionCosts
    pair_fixed_ns: float        # F: vmalloc_fixed_ns + vfree_fixed_ns
    page_work_ns: float         # P: the four per-page constants without zeroing
    clear_page_ns: float
    consistent: bool            # False: some unknown would have been negative and was set to 0


def single_cpu_us(costs: ContentionCosts, mask: int, scale: int) -> float:
    """Simulated µs per loop iteration of one test on one CPU (6.8: the timings predate the nodes)."""
    sim = ContentionSim("6.8", nr_threads=1, nr_cpus=1, machine="generic", scale=scale, costs=costs,
                        params={"run_test_mask": mask})
    return sim.run().wall_ns / 1e3 / 1_000_000


def _scaled(calls, names: tuple[str, ...], total: float):
    """``calls`` with the constants ``names`` scaled to sum to ``total``, keeping their proportions."""
    now = sum(getattr(calls, n) for n in names)
    share = {n: (getattr(calls, n) / now if now > 0 else 1 / len(names)) for n in names}
    return replace(calls, **{n: total * share[n] for n in names})


def _with(costs: ContentionCosts, f: float, p: float, clear: float, zero: bool) -> ContentionCosts:
    calls = _scaled(_scaled(costs.calls, FIXED, f), PAGE_WORK, p)
    return replace(costs, calls=replace(calls, clear_page_ns=clear, init_on_alloc=zero))


def calibrate(costs: ContentionCosts, scale: int = 1000) -> Calibrated:
    """Derive F, P and ``clear_page_ns`` from T6 and T7 with every other constant of ``costs`` kept.

    T6's two timings, linear in F and P (a pair has one F; fix_size one page, long_busy 101 pages
    and two pairs), are solved from runs with F = P = 0 and zeroing off; T7 then gives the clear of
    its one page from a run with the solved F and P and no clearing cost.
    """
    t1 = single_cpu_us(_with(costs, 0.0, 0.0, 0.0, False), 1, scale)
    t2 = single_cpu_us(_with(costs, 0.0, 0.0, 0.0, False), 4, scale)
    # fix_size: F + P + t1 = T6_FIX; long_busy: 2F + 101P + t2 = T6_LONG
    p_us = (T6_LONG_US - t2 - 2 * (T6_FIX_US - t1)) / 99
    f_us = T6_FIX_US - t1 - p_us
    consistent = p_us > 0 and f_us > 0
    f, p = max(f_us, 0.0) * 1e3, max(p_us, 0.0) * 1e3
    t3 = single_cpu_us(_with(costs, f, p, 0.0, True), 1, scale)
    clear = (T7_ONE_JOB_US - t3) * 1e3          # the pair zeroes one page
    consistent = consistent and clear > 0
    clear = max(clear, 0.0)
    init = costs.calls.init_on_alloc
    return Calibrated(_with(costs, f, p, clear, init), f, p, clear, consistent)
