# SPDX-License-Identifier: MIT
"""Calibrate the contention model in the order of contention-model.md §7.1, then test it out of sample.

1. Single CPU: with zero per-call and per-page costs, simulate fix_size and long_busy on one
   CPU (no zeroing, like the 2020 measurement T6), then solve the two linear equations
     fix_size:  F + 1 P + t1 = 0.430 us per pair      long_busy: 2 F + 101 P + t2 = 7.664 us per iteration
   for F (vmalloc + vfree fixed cost, split evenly) and P (per page: alloc/map/unmap/free in the
   reference's 30:10:10:25 proportions). Those constants are then frozen.
2. Hardware latencies come from sources (printed, not fitted).
3. Tree costs come from vmaplab's trees: which node lines each critical section read or wrote, and
   whether another CPU had written them since (hits, transfers, cold misses per lock, printed
   from the headline run).
4. Out of sample: the cover letter's run_test_mask=7 nr_threads=64 on 6.8 and 6.9, compared with
   the published numbers, with errors. Nothing is tuned to them.

Usage: python benchmarks/calibrate_contention.py [--scale 1000] [--threads 64] [--skip-headline]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab.contention.calibration import T6_FIX_US, T6_LONG_US, T7_ONE_JOB_US, single_cpu_us  # noqa: E402
from vmaplab.contention.calibration import calibrate as calibrate_three
from vmaplab.contention.costs import ContentionCosts  # noqa: E402
from vmaplab.contention.profile import format_table  # noqa: E402
from vmaplab.contention.published import published  # noqa: E402
from vmaplab.contention.sim import ContentionSim  # noqa: E402
from vmaplab.workloads.costs import CostModel  # noqa: E402


def calibrate(scale: int) -> ContentionCosts:
    print("step 1: per-call and per-page costs from the single-CPU timings T6 (no zeroing)")
    three = calibrate_three(ContentionCosts(), scale)       # the one solve (contention/calibration.py)
    f, p = three.pair_fixed_ns / 1e3, three.page_work_ns / 1e3
    print(f"  solved: F = {f * 1e3:.1f} ns per vmalloc+vfree pair, P = {p * 1e3:.1f} ns per page")
    if not three.consistent:
        raise SystemExit("calibration failed: the tree/lock model alone exceeds the single-CPU timings")
    calls = CostModel(vmalloc_fixed_ns=f * 500, vfree_fixed_ns=f * 500, page_alloc_ns=p * 1e3 * 30 / 75,
                      page_map_ns=p * 1e3 * 10 / 75, page_unmap_ns=p * 1e3 * 10 / 75,
                      page_free_ns=p * 1e3 * 25 / 75, init_on_alloc=False)
    costs = ContentionCosts(calls=calls)
    fix, long_ = single_cpu_us(costs, 1, scale), single_cpu_us(costs, 4, scale)
    print(f"  check: fix_size {fix:.3f} us (T6 {T6_FIX_US}), long_busy {long_:.3f} us (T6 {T6_LONG_US})")
    for mask, name, t6 in ((2, "full_fit", 0.566), (8, "random_size", 3.853), (16, "fix_align", 1.370)):
        got = single_cpu_us(costs, mask, scale)
        print(f"  out of sample, one CPU: {name} {got:.3f} us per iteration (T6 {t6}, error {100 * (got / t6 - 1):+.0f}%)")
    costs = ContentionCosts(calls=replace(calls, init_on_alloc=True))
    print(f"  the three-equation calibration (contention/calibration.py, T7 - T6 read as the zeroing of one page): "
          f"F {three.pair_fixed_ns:.0f} ns, P {three.page_work_ns:.1f} ns, clear_page {three.clear_page_ns:.0f} ns "
          f"(contention-model.md §7.5: not the defaults)")
    one = single_cpu_us(costs, 1, scale)
    print(f"  with clear_page (init_on_alloc): fix_size {one:.3f} us (v1 1-job T7 {T7_ONE_JOB_US}, "
          f"error {100 * (one / T7_ONE_JOB_US - 1):+.0f}%)")
    c = costs.calls
    print(f"  frozen: vmalloc/vfree fixed {c.vmalloc_fixed_ns:.0f}/{c.vfree_fixed_ns:.0f} ns, pages "
          f"alloc/map/unmap/free/clear {c.page_alloc_ns:.1f}/{c.page_map_ns:.1f}/{c.page_unmap_ns:.1f}/"
          f"{c.page_free_ns:.1f}/{c.clear_page_ns:.0f} ns")
    return costs


def hardware(costs: ContentionCosts) -> None:
    print("step 2: hardware latencies from sources (contention-model.md §2.3, §6.3), not fitted")
    print(f"  SMT/CCX/cross-CCX line transfer 6.5/24/94 ns; t_hit {costs.t_hit_ns} ns, t_mem {costs.t_mem_ns} ns, "
          f"f_smt {costs.f_smt}, IPI {costs.ipi_sender_ns / 1e3:.0f}/{costs.ipi_receiver_ns / 1e3:.1f} us")
    print(f"  cache model {costs.cache_model!r}: each tree node's line keeps its last writer and the CPUs "
          f"with a copy (k_hot {costs.k_hot} levels is used by the 'depth' fallback only)")
    print(f"  [M] extra reads per doubling of a scaled tree: busy {costs.busy_visits_per_level}, "
          f"free {costs.free_visits_per_level} (benchmarks/tree_visits.py)")


def headline(costs: ContentionCosts, threads: int, scale: int, seed: int) -> dict:
    print(f"step 3+4: run_test_mask=7 nr_threads={threads}, scale 1/{scale}, threadripper-3970x, FIFO locks")
    out = {}
    for version in ("6.8", "6.9"):
        t0 = time.perf_counter()
        sim = ContentionSim(version, nr_threads=threads, nr_cpus=threads, scale=scale, seed=seed, costs=costs)
        res = sim.run()
        out[version] = res
        print(f"  {version}: simulated in {time.perf_counter() - t0:.1f} s on one core")
        for lk in res.locks[:3]:
            print(f"    {lk['lock']:<22} acquisitions {lk['acquisitions'] * scale:>12}  contended "
                  f"{100 * lk['contended_share']:5.1f}%  mean hold {lk['mean_hold_ns']:6.0f} ns")
        print("\n".join("    " + line for line in format_table(res.profile, 16)))
    a, b = out["6.8"], out["6.9"]
    print("\nout of sample (published vs simulated):")
    print(f"  {'quantity':<34} {'published':>10} {'simulated':>10} {'error':>8}")
    pub = published()                  # parsed from the cover letter's text
    rows = [("wall 6.8 (s)", pub["6.8"]["wall_s"], a.wall_s), ("wall 6.9 (s)", pub["6.9"]["wall_s"], b.wall_s),
            ("ratio 6.8/6.9", pub["ratio"], a.wall_s / b.wall_s),
            ("slow path self 6.8 (%)", pub["6.8"]["slowpath_self_pct"], a.slowpath_self_pct),
            ("slow path self 6.9 (%)", pub["6.9"]["slowpath_self_pct"], b.slowpath_self_pct)]
    for name, pub, sim in rows:
        err = f"{100 * (sim / pub - 1):+.0f}%" if "%" not in name else f"{sim - pub:+.1f} pt"
        print(f"  {name:<34} {pub:>10.2f} {sim:>10.2f} {err:>8}")
    sym = {r["symbol"]: r["self_pct"] for r in b.profile}
    order = ["clear_page_rep", "native_queued_spin_lock_slowpath", "insert_vmap_area", "purge_vmap_node"]
    print("  6.9 self %: " + ", ".join(f"{s} {sym.get(s, 0.0):.2f}" for s in order)
          + ("  (published order holds)" if all(sym.get(x, 0) > sym.get(y, 0) for x, y in zip(order, order[1:]))
             and sym.get(order[-1], 0) > 0
             else "  (published order: clear_page > slow path > insert_vmap_area > purge_vmap_node)"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=1000)
    p.add_argument("--threads", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-headline", action="store_true")
    args = p.parse_args(argv)
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    costs = calibrate(args.scale)
    hardware(costs)
    if not args.skip_headline:
        headline(costs, args.threads, args.scale, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
