# SPDX-License-Identifier: MIT
"""How well each cost constant is known: a range (low, high) and where it comes from.

The uncertainty experiments (docs/experiments.md §3) sample every constant at once within these
ranges. A range marked "sensitivity" is the one the sensitivity table already moves the constant
over (contention-model.md §7.3); "estimate" is our judgement of the plausible span around a
derived or estimated default, stated here so it can be argued with; "measured" spans the values
benchmarks/tree_visits.py finds; "vendor" is a published hardware figure. No range was chosen by
looking at what it does to the headline.
"""
from __future__ import annotations

from typing import NamedTuple


class CostRange(NamedTuple):
    low: float
    high: float
    source: str


COST_RANGES: dict[str, CostRange] = {
    # per call and per page (vmaplab.workloads.costs.CostModel)
    "vmalloc_fixed_ns": CostRange(90.0, 150.0, "estimate: +-25% around the 0.43 us one-job pair it is derived from"),
    "vfree_fixed_ns": CostRange(90.0, 150.0, "estimate: as vmalloc_fixed_ns"),
    "page_alloc_ns": CostRange(20.0, 45.0, "estimate: pcp-list hits to a refill now and then"),
    "page_map_ns": CostRange(5.0, 20.0, "estimate: one PTE, hot or not"),
    "page_unmap_ns": CostRange(5.0, 20.0, "estimate: as page_map_ns"),
    "page_free_ns": CostRange(15.0, 40.0, "estimate: free_unref_page, pcp list"),
    "clear_page_ns": CostRange(35.0, 125.0, "measured: benchmarks/clear_page.py, a page in cache (35-45) to from memory (115-125)"),
    "tree_visit_ns": CostRange(2.0, 5.0, "estimate: an L2 hit, 8-18 cycles"),
    "rcu_queue_ns": CostRange(10.0, 40.0, "estimate"),
    "cpu_ghz": CostRange(3.6, 4.5, "vendor: the 3970X base 3.7 and boost 4.5 GHz; 3.68 from the v1 letter"),
    # the contention model (ContentionCosts)
    "t_hit_ns": CostRange(2.0, 5.0, "estimate: an L2 hit, 8-18 cycles"),
    "t_mem_ns": CostRange(70.0, 120.0, "sensitivity"),
    "k_hot": CostRange(10, 14, "estimate: 256 KiB to 1 MiB of L2 in 128-byte nodes (depth model only)"),
    "cs_base_ns": CostRange(10.0, 100.0, "sensitivity: the table's 100, down to half the default"),
    "pool_op_ns": CostRange(5.0, 20.0, "estimate"),
    "c_lock_ns": CostRange(10.0, 30.0, "estimate"),
    "c_set_ns": CostRange(5.0, 20.0, "estimate"),
    "f_smt": CostRange(1.3, 2.0, "sensitivity"),
    "f_smt_clear": CostRange(1.0, 2.0, "sensitivity: 1.0 (counted once) to f_smt's top"),
    "atomic_rmw_ns": CostRange(3.0, 10.0, "estimate"),
    "ipi_sender_ns": CostRange(5000.0, 20000.0, "estimate: x0.5 to x2"),
    "ipi_receiver_ns": CostRange(750.0, 3000.0, "estimate: x0.5 to x2"),
    "busy_visits_per_level": CostRange(1.8, 2.2, "measured: the spread over address patterns"),
    "free_visits_per_level": CostRange(0.85, 1.05, "measured: as busy_visits_per_level"),
    "busy_private_visits_per_level": CostRange(0.9, 1.2, "measured: a balanced tree's interior, 1.0 a doubling, up to a red-black tree's extra red levels"),
    "t_cross_ns": CostRange(75.0, 120.0, "sensitivity"),
    "purge_va_ns": CostRange(90.0, 400.0, "sensitivity"),
    "t_l3_ns": CostRange(9.0, 14.0, "vendor/measured: Zen 2 L3 load-to-use 35-50 cycles at 3.7 GHz"),
}


def latin_hypercube(n: int, ranges: dict[str, CostRange | tuple], rng) -> list[dict]:
    """``n`` points, one per stratum of every range (a Latin hypercube), drawn from ``rng``.

    Each range is cut into ``n`` equal strata; every stratum of every range holds exactly one
    point, and the strata are paired at random. An int range gives ints (rounded).
    """
    names = sorted(ranges)
    columns = {}
    for name in names:
        low, high = ranges[name][0], ranges[name][1]
        strata = list(range(n))
        rng.shuffle(strata)
        values = [low + (s + rng.random()) / n * (high - low) for s in strata]
        if isinstance(low, int) and isinstance(high, int):
            values = [round(v) for v in values]
        columns[name] = values
    return [{name: columns[name][i] for name in names} for i in range(n)]
