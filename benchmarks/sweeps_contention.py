# SPDX-License-Identifier: MIT
"""Sweeps of the contention simulator (contention-model.md §7.2, §7.3).

  scale        s-invariance: the headline at several scales and seeds (results should not depend on s)
  threads      the v1 cover letter's curve: us per 1-page vmalloc/vfree pair per job, 1..64 jobs (T7)
  sensitivity  one constant at a time (tornado table): wall ratio and spin shares

Runs are independent, so they go to --jobs processes (results do not depend on it); every run
goes through vmaplab.contention.runs, the driver notebook 04 uses too.

Usage: python benchmarks/sweeps_contention.py scale|threads|sensitivity [--scale 2000] [--threads 64]
           [--scales 250,500,1000,2000,4000] [--seeds 0,1,2] [--jobs 2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab.contention.costs import ContentionCosts  # noqa: E402
from vmaplab.contention.published import published  # noqa: E402
from vmaplab.contention.runs import RunSpec, run_specs, threads_sweep  # noqa: E402
from vmaplab.workloads.costs import CostModel  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def sweep_scale(args) -> None:
    scales, seeds = _ints(args.scales), _ints(args.seeds)
    tasks = [RunSpec(v, args.threads, None, s, seed) for s in scales for v in ("6.8", "6.9") for seed in seeds]
    res = {r.spec: r for r in run_specs(tasks, args.jobs)}
    print(f"s-invariance, run_test_mask=7 nr_threads={args.threads}, seeds {args.seeds}: mean (min..max) over seeds")
    print(f"{'scale':>6} {'6.8 wall s':>22} {'6.9 wall s':>22} {'ratio':>6} {'6.8 spin %':>11} {'6.9 spin %':>20}")
    for s in scales:
        row = {v: [res[RunSpec(v, args.threads, None, s, seed)] for seed in seeds] for v in ("6.8", "6.9")}
        wall = {v: [r.wall_s for r in row[v]] for v in row}
        spin = {v: [r.slowpath_self_pct for r in row[v]] for v in row}
        ratio = statistics.mean(wall["6.8"]) / statistics.mean(wall["6.9"])
        print(f"{s:>6} {_spread(wall['6.8']):>22} {_spread(wall['6.9']):>22} {ratio:>6.2f} "
              f"{statistics.mean(spin['6.8']):>11.2f} {_spread(spin['6.9']):>20}")


def _spread(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.1f} ({min(xs):.1f}..{max(xs):.1f})"


def sweep_threads(args) -> None:
    print(f"v1 curve: fix_size_alloc_test (1 page), us per vmalloc/vfree pair per job, scale 1/{args.scale}, "
          f"n jobs on 64 CPUs (one per core complex first)")
    print(f"{'jobs':>5} {'6.8 sim':>9} {'before T7':>10} {'6.9 sim':>9} {'v1 T7':>8}")
    nan = float("nan")
    for p in threads_sweep(args.scale, args.jobs):
        before = nan if p.v1_before is None else p.v1_before
        after = nan if p.v1_after is None else p.v1_after
        print(f"{p.jobs:>5} {p.us_per_pair['6.8']:>9.3f} {before:>10.3f} {p.us_per_pair['6.9']:>9.3f} {after:>8.3f}")


def sweep_sensitivity(args) -> None:
    base = ContentionCosts()
    calls = base.calls
    variants = [("defaults", base)]
    for name, values in (("t_cross_ns", (75, 120)), ("t_mem_ns", (70, 120)), ("f_smt", (1.3, 2.0)),
                         ("purge_va_ns", (90, 400))):
        variants += [(f"{name}={v}", base.with_(**{name: v})) for v in values]
    variants += [(f"clear_page_ns={v}", base.with_(calls=CostModel(**{**calls.__dict__, "clear_page_ns": v})))
                 for v in (60, 300)]
    variants += [(f"cs_base_ns={v}", base.with_(cs_base_ns=v)) for v in (100,)]
    variants += [("f_smt_clear=1.0", base.with_(f_smt_clear=1.0))]     # clear_page's SMT slowdown counted once
    variants += [("cache_model=depth", base.with_(cache_model="depth"))]     # §6.1's fallback, k_hot 12
    tasks = [RunSpec(v, args.threads, None, args.scale, 0, 7, costs) for _name, costs in variants for v in ("6.8", "6.9")]
    res = [(r.wall_s, r.slowpath_self_pct) for r in run_specs(tasks, args.jobs)]
    pub = published()
    print(f"sensitivity, run_test_mask=7 nr_threads={args.threads}, scale 1/{args.scale} "
          f"(published: ratio {pub['ratio']:.2f}, spin {pub['6.8']['slowpath_self_pct']} / {pub['6.9']['slowpath_self_pct']})")
    print(f"{'variant':<20} {'6.8 wall':>9} {'6.9 wall':>9} {'ratio':>7} {'6.8 spin':>9} {'6.9 spin':>9}")
    for i, (name, _costs) in enumerate(variants):
        a, b = res[2 * i], res[2 * i + 1]
        print(f"{name:<20} {a[0]:>9.1f} {b[0]:>9.1f} {a[0] / b[0]:>7.2f} {a[1]:>9.2f} {b[1]:>9.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", choices=["scale", "threads", "sensitivity"])
    p.add_argument("--scale", type=int, default=2000)
    p.add_argument("--threads", type=int, default=64)
    p.add_argument("--scales", default="250,500,1000,2000,4000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    {"scale": sweep_scale, "threads": sweep_threads, "sensitivity": sweep_sensitivity}[args.sweep](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
