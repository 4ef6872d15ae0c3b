# SPDX-License-Identifier: MIT
"""Time per alloc/free pair on the augmented free tree vs a plain first-fit linear scan.

Setup at each size n: 2n one-page areas are carved from a fresh free space and every
other one is freed again, leaving n busy pages and n one-page holes (the free tree then
holds n + 2 blocks, as after full_fit_alloc_test's junk frees). The measured pair asks
for two pages, which no hole can hold, so a search must rule out every hole:
subtree_max_size lets the tree do that in O(log n); the linear scan walks all n.
The pair then frees the range again (merge-on-free). Both implementations start from
the same state and are timed in the same run; the ratio is linear / tree.

A second table times the whole machine, vmalloc(PAGE_SIZE) + vfree() on 6.8 and 6.9
with n live one-page areas (busy trees of size n, lazy free, pools on 6.9).

Usage: python benchmarks/bench_freetree.py [--sizes 1000,10000,100000,1000000] [--e2e-max 100000]
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab import PAGE_SIZE, FreeSpace, LinearFreeSpace, Vmalloc, VmapArea  # noqa: E402

try:
    from tqdm import tqdm
except ImportError:          # the benchmark runs without it, just without progress bars
    def tqdm(it, **_kw):
        return it

P = PAGE_SIZE
VSTART = 0xFFFFC90000000000
VEND = 0xFFFFE8FFFFFFFFFF


def build(n: int) -> FreeSpace:
    fs = FreeSpace()
    addrs = [fs.alloc(P, 1, VSTART, VEND) for _ in tqdm(range(2 * n), desc=f"carve 2n (n={n})", leave=False)]
    for a in tqdm(addrs[::2], desc="free every other", leave=False):
        fs.free(VmapArea(a, a + P))
    return fs


def time_pairs(alloc, free, budget_s: float, max_pairs: int) -> tuple[float, int]:
    """Seconds per pair, measured over as many pairs as fit in the budget (at least 3)."""
    pairs, t0 = 0, time.perf_counter()
    while pairs < max_pairs:
        a = alloc(2 * P, 1, VSTART, VEND)
        free(a)
        pairs += 1
        if pairs >= 3 and time.perf_counter() - t0 > budget_s:
            break
    return (time.perf_counter() - t0) / pairs, pairs


def free_tree_table(sizes: list[int]) -> None:
    print("free tree: one 2-page alloc + free while n one-page holes cannot fit it")
    print(f"{'n live':>9} {'tree us/pair':>13} {'visits/pair':>12} {'linear us/pair':>15} {'linear/tree':>12}")
    for n in sizes:
        fs = build(n)
        lin = LinearFreeSpace()
        lin.ranges = [[v.va_start, v.va_end] for v in fs]
        visits0 = fs.tree.visits
        gc.disable()
        t_tree, k_tree = time_pairs(fs.alloc, lambda a, fs=fs: fs.free(VmapArea(a, a + 2 * P)), 1.0, 20000)
        visits = (fs.tree.visits - visits0) / k_tree
        t_lin, _k = time_pairs(lin.alloc, lambda a, lin=lin: lin.free(a, a + 2 * P), 2.0, 20000)
        gc.enable()
        if [(v.va_start, v.va_end) for v in fs] != lin.as_tuples():
            raise SystemExit("tree and linear reference diverged")
        print(f"{n:>9} {t_tree * 1e6:>13.2f} {visits:>12.1f} {t_lin * 1e6:>15.1f} {t_lin / t_tree:>12.1f}")

        gc.collect()


def e2e_table(sizes: list[int]) -> None:
    print("\nwhole machine: vmalloc(PAGE_SIZE) + vfree() with n live one-page areas (64 CPUs)")
    print(f"{'n live':>9} {'6.8 us/pair':>12} {'6.9 us/pair':>12} {'6.8/6.9':>8}")
    for n in sizes:
        row = {}
        for version in ("6.8", "6.9"):
            vm = Vmalloc(nr_cpus=64, version=version, nr_ram_pages=2 * n + (1 << 16))
            for i in tqdm(range(n), desc=f"{version} fill n={n}", leave=False):
                vm.vmalloc(P, cpu=i % 64)
            gc.disable()
            pairs, t0 = 0, time.perf_counter()
            while pairs < 20000 and (pairs < 100 or time.perf_counter() - t0 < 1.0):
                cpu = pairs % 64
                vm.vfree(vm.vmalloc(P, cpu=cpu), cpu=cpu)
                pairs += 1
            row[version] = (time.perf_counter() - t0) / pairs
            gc.enable()
            del vm
            gc.collect()
        print(f"{n:>9} {row['6.8'] * 1e6:>12.2f} {row['6.9'] * 1e6:>12.2f} {row['6.8'] / row['6.9']:>8.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000,1000000")
    p.add_argument("--e2e-max", type=int, default=100000, help="largest n for the whole-machine table")
    args = p.parse_args(argv)
    print("ARG " + " ".join(sys.argv[1:] if argv is None else argv))
    sizes = [int(x) for x in args.sizes.split(",")]
    free_tree_table(sizes)
    e2e_table([n for n in sizes if n <= args.e2e_max])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
