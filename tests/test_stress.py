# SPDX-License-Identifier: MIT
"""A million random operations per design with a fixed seed, checking every invariant at intervals.

The window is 256 MiB and the live set hovers around 400 areas, so lazy purges come every few
hundred frees, and overflow, reclaim, purge helpers and pool decay all happen.
"""
import random

import pytest

from vmaplab import PAGE_SIZE, Vmalloc

P = PAGE_SIZE
N_OPS = 1_000_000
CHECK_EVERY = 100_000
LIVE_TARGET = 400
SIZES = (1, 1, 1, 2, 2, 3, 4, 5, 8, 16)


def run_stress(version: str):
    """The stress run; returns the machine and its allocation-failure count."""
    r = random.Random(20240102)
    vm = Vmalloc(nr_cpus=8, version=version, vmalloc_size=(256 << 20), lazy_max_unit_pages=1024,
                 nr_ram_pages=1 << 17, vmap_bbmap_bits=128)
    live: list[tuple[str, int, int, list]] = []
    failures = 0
    for i in range(1, N_OPS + 1):
        cpu = r.randrange(8)
        x = r.random()
        if live and x < 0.93 * len(live) / (len(live) + LIVE_TARGET):
            kind, addr, count, pfns = live.pop(r.randrange(len(live)))
            if kind == "area":
                vm.free_vm_area(vm.find_vm_area(addr), cpu=cpu)
            elif kind == "vmalloc":
                vm.vfree(addr, cpu=cpu)
            elif kind == "rcu":
                vm.kvfree_rcu(addr, cpu=cpu)
            else:
                vm.vm_unmap_ram(addr, count, cpu=cpu)
                vm.free_pages(pfns)
        elif x < 0.93:
            pages = r.choice(SIZES) if r.random() < 0.97 else r.choice((64, 255, 256, 257, 300))
            addr = vm.vmalloc_node(pages * P, align=r.choice((1, 1, 1, P, 1 << 15)), cpu=cpu)
            if addr is None:
                failures += 1
            else:
                live.append(("rcu" if r.random() < 0.05 else "vmalloc", addr, pages, []))
        elif x < 0.985:
            count = r.choice((1, 2, 4, 64, 65))
            if vm.pages.nr_free > count:
                pfns = vm.alloc_pages(count)
                addr = vm.vm_map_ram(pfns, cpu=cpu)
                if addr is None:
                    vm.free_pages(pfns)
                else:
                    live.append(("ram", addr, count, pfns))
        elif x < 0.986:
            # a reservation as big as most of the window: overflow, reclaim and retry
            area = vm.get_vm_area((200 << 20) + r.randrange(0, 40 << 20, P), cpu=cpu)
            if area is None:
                failures += 1
            else:
                live.append(("area", area.addr, 0, []))
        elif x < 0.995:
            vm.rcu_grace_period(cpu=cpu)
        elif x < 0.998:
            vm.purge(cpu=cpu, full=r.random() < 0.3)
        else:
            vm.shrinker.scan(128, cpu=cpu)
        if i % CHECK_EVERY == 0:
            vm.check()
    vm.rcu_grace_period()
    vm.check()
    return vm, failures


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.8", "6.9"])
def test_million_random_operations(version):
    vm, failures = run_stress(version)
    s = vm.stats
    # the run really went through the paths it is meant to stress
    assert s.purges > 100 and s.reclaims > 0 and s.vb_new > 0 and s.rcu_grace_periods > 0
    if version == "6.9":
        assert s.pool_hits > 10_000 and s.decayed > 0 and s.purge_helpers > 0
    assert failures < N_OPS // 100 and vm.dmesg


if __name__ == "__main__":          # python tests/test_stress.py: the counters of both runs
    for v in ("6.8", "6.9"):
        machine, failed = run_stress(v)
        print(v, machine, machine.stats, "failed allocations", failed, "dmesg lines", len(machine.dmesg))
