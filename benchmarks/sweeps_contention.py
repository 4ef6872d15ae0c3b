"""Sweeps of the contention simulator (contention-model.md §7.2, §7.3).

  scale        s-invariance: the headline at several scales (results should not depend on s)
  threads      the v1 cover letter's curve: us per 1-page vmalloc/vfree pair per job, 1..32 jobs (T7)
  sensitivity  one constant at a time (tornado table): wall ratio and spin shares

Usage: python benchmarks/sweeps_contention.py scale|threads|sensitivity [--scale 2000] [--threads 64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab.contention.costs import ContentionCosts  # noqa: E402
from vmaplab.contention.published import V1_CURVE  # noqa: E402
from vmaplab.contention.sim import ContentionSim  # noqa: E402
from vmaplab.costs import CostModel  # noqa: E402

T7 = V1_CURVE


def pair(costs: ContentionCosts, threads: int, scale: int, params=None) -> tuple:
    out = []
    for version in ("6.8", "6.9"):
        res = ContentionSim(version, nr_threads=threads, nr_cpus=max(threads, 1), scale=scale, costs=costs,
                            params=params or {"run_test_mask": 7}).run()
        out.append(res)
    return out


def sweep_scale(args) -> None:
    print(f"s-invariance, run_test_mask=7 nr_threads={args.threads}")
    print(f"{'scale':>6} {'6.8 wall s':>11} {'6.9 wall s':>11} {'ratio':>7} {'6.8 spin %':>11} {'6.9 spin %':>11}")
    for s in (500, 1000, 2000):
        a, b = pair(ContentionCosts(), args.threads, s)
        print(f"{s:>6} {a.wall_s:>11.1f} {b.wall_s:>11.1f} {a.wall_s / b.wall_s:>7.2f} "
              f"{a.slowpath_self_pct:>11.2f} {b.slowpath_self_pct:>11.2f}", flush=True)


def sweep_threads(args) -> None:
    print("v1 curve: fix_size_alloc_test (1 page), us per vmalloc/vfree pair per job")
    print(f"{'jobs':>5} {'6.8 sim':>9} {'before T7':>10} {'6.9 sim':>9} {'v1 T7':>8}")
    for n in (1, 2, 4, 8, 16, 32):
        a, b = pair(ContentionCosts(), n, args.scale, {"run_test_mask": 1})
        print(f"{n:>5} {a.wall_ns / 1e3 / 1e6:>9.3f} {T7[n][0]:>10.3f} {b.wall_ns / 1e3 / 1e6:>9.3f} {T7[n][1]:>8.3f}",
              flush=True)


def sweep_sensitivity(args) -> None:
    base = ContentionCosts()
    calls = base.calls
    variants = [("defaults", base)]
    for name, values in (("t_mem_ns", (70, 120)), ("k_hot", (10, 14)), ("f_smt", (1.3, 2.0))):
        variants += [(f"{name}={v}", base.with_(**{name: v})) for v in values]
    variants += [(f"clear_page_ns={v}", base.with_(calls=CostModel(**{**calls.__dict__, "clear_page_ns": v})))
                 for v in (60, 300)]
    variants += [(f"cs_base_ns={v}", base.with_(cs_base_ns=v)) for v in (100,)]
    print(f"sensitivity, run_test_mask=7 nr_threads={args.threads}, scale 1/{args.scale}")
    print(f"{'variant':<20} {'6.8 wall':>9} {'6.9 wall':>9} {'ratio':>7} {'6.8 spin':>9} {'6.9 spin':>9}")
    for name, costs in variants:
        a, b = pair(costs, args.threads, args.scale)
        print(f"{name:<20} {a.wall_s:>9.1f} {b.wall_s:>9.1f} {a.wall_s / b.wall_s:>7.2f} "
              f"{a.slowpath_self_pct:>9.2f} {b.slowpath_self_pct:>9.2f}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", choices=["scale", "threads", "sensitivity"])
    p.add_argument("--scale", type=int, default=2000)
    p.add_argument("--threads", type=int, default=64)
    args = p.parse_args(argv)
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    {"scale": sweep_scale, "threads": sweep_threads, "sensitivity": sweep_sensitivity}[args.sweep](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
