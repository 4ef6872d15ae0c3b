# SPDX-License-Identifier: MIT
"""The cost of free_pages() of one page against a vmalloc+vfree pair, with n 16-page areas live.

free_pages() must refuse a page still mapped by vmap()/vm_map_ram(); it looks that up in the
running count of each alloc_pages() page's mappings, so its cost should not grow with the number
of live areas. The baseline is a vmalloc(PAGE_SIZE)+vfree pair on the same machine, in the same
run; the ratio free_pages / pair is what to compare across runs.

Usage: python benchmarks/bench_free_pages.py [--live 100,1000,10000] [--repeat 200]
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmaplab import PAGE_SIZE, Vmalloc  # noqa: E402


def measure(live: int, repeat: int) -> tuple[float, float]:
    """(ms per single-page free_pages, ms per vmalloc+vfree pair) with ``live`` 16-page areas."""
    vm = Vmalloc(nr_cpus=4, version="6.9", nr_ram_pages=1 << 22)
    for _ in range(live):
        vm.vmalloc(16 * PAGE_SIZE)
    pages = [vm.alloc_pages(1) for _ in range(repeat)]
    gc.collect()
    gc.disable()                 # a collection inside one timed loop would swamp a 5 µs call
    t0 = time.perf_counter()
    for p in pages:
        vm.free_pages(p)
    t_free = (time.perf_counter() - t0) / repeat
    t0 = time.perf_counter()
    for _ in range(repeat):
        vm.vfree(vm.vmalloc(PAGE_SIZE))
    t_pair = (time.perf_counter() - t0) / repeat
    gc.enable()
    return t_free * 1e3, t_pair * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--live", default="100,1000,10000")
    p.add_argument("--repeat", type=int, default=500)
    args = p.parse_args(argv)
    print(f"{'live areas':>10} {'free_pages ms':>14} {'pair ms':>9} {'free/pair':>10}")
    for n in (int(x) for x in args.live.split(",")):
        f, pair = measure(n, args.repeat)
        print(f"{n:>10} {f:>14.4f} {pair:>9.4f} {f / pair:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
