# SPDX-License-Identifier: MIT
"""What each kernel generation does differently (kernel-model.md §8), one small case per switch.

Every case runs the generation with the behaviour and the one without it on the same tiny machine
and asserts the difference, worked by hand from the kernels' sources; ``check()`` runs after every
step (``tiny`` machines check after each public call, and the cases call it again at the end).
"""
from __future__ import annotations

import pytest
from conftest import tiny

from vmaplab import PAGE_SIZE, Vmalloc, VmallocError
from vmaplab.kernel.config import GFP_NOWAIT  # __GFP_KSWAPD_RECLAIM alone (6.1 .. 6.17): cannot block

P = PAGE_SIZE


def busy_acquires(vm: Vmalloc) -> list[str]:
    """The sections of the busy-tree lock(s) the traced calls took, in order."""
    busy = {vn.busy_lock for vn in vm.nodes}
    return [r.section for r in vm.trace.of("lock") if r.op == "acquire" and r.lock in busy]


# -- 7.3: short pools survive a partial decay (decay_wraps_short_pools) ----------------------------
def pooled_after_two_purges(version: str, n: int) -> int:
    """n one-page vmallocs on CPU 0, freed, purged into node 0's pool 1, then one more partial decay."""
    vm = tiny(version, nr_cpus=2, pages=64, lazy_max_unit_pages=1000)
    addrs = [vm.vmalloc(P, cpu=0) for _ in range(n)]
    for a in addrs:
        vm.vfree(a, cpu=0)
    vm.purge(cpu=0)                        # decay (nothing pooled yet), then the n VAs go to the pool
    assert vm.nodes[0].pool[1].len == n
    vm.purge(cpu=0)                        # the decay under test: nothing lazy, pools decayed
    vm.check()
    return vm.nodes[0].pool[1].len


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_short_pool_is_emptied_by_6_12_and_kept_by_7_3(n):
    # 6.12: n_decay = n >> 2 = 0, decremented after the first VA: it wraps and the loop takes all.
    # 7.3: "if (!n_decay--) break" before the first VA: none taken.
    assert pooled_after_two_purges("6.12", n) == 0
    assert pooled_after_two_purges("7.3", n) == n


def test_a_long_pool_loses_a_quarter_in_both():
    assert pooled_after_two_purges("6.12", 9) == pooled_after_two_purges("7.3", 9) == 9 - 2


# -- 6.12: the vm_struct is bound before the busy insert (vm_bound_before_insert) ------------------
def test_a_vmalloc_takes_the_busy_lock_once_from_6_10():
    for version, sections in (("6.9", ["insert_vmap_area", "setup_vmalloc_vm"]),
                              ("6.12", ["insert_vmap_area"]), ("7.3", ["insert_vmap_area"])):
        vm = tiny(version, trace=True)
        vm.trace.clear()
        a = vm.vmalloc(P, cpu=1)
        assert busy_acquires(vm) == sections, version
        assert vm.find_vm_area(a).addr == a
        vm.check()


def test_pcpu_areas_still_bind_in_their_insert_hold_on_6_12():
    vm = tiny("6.12", trace=True)
    vm.trace.clear()
    vms = vm.pcpu_get_vm_areas([0, 4 * P], [2 * P, 2 * P], P)
    assert busy_acquires(vm) == ["insert_vmap_area", "insert_vmap_area"] and all(v.addr for v in vms)
    vm.check()


# -- 6.12 / 7.3: the warnings' own words -----------------------------------------------------------
def overflow_dmesg(version: str) -> list[str]:
    vm = tiny(version, nr_cpus=1, pages=8)
    assert vm.vmalloc(8 * P, cpu=0) is None
    vm.check()
    return list(vm.dmesg)


def test_the_overflow_warning_in_each_kernel_s_words():
    end = Vmalloc(nr_cpus=1, vmalloc_size=8 * P).VMALLOC_END       # alloc_vmap_area's vend
    start = end + 1 - 8 * P
    old = ["vmap allocation for size 36864 failed: use vmalloc=<size> to increase size",
           "vmalloc error: size 32768, vm_struct allocation failed"]
    assert overflow_dmesg("6.1") == overflow_dmesg("6.9") == old
    assert overflow_dmesg("6.12") == [
        f"vmalloc_node_range for size 36864 failed: Address range restricted to {start:#x} - {end:#x}",
        "vmalloc error: size 32768, vm_struct allocation failed"]
    assert overflow_dmesg("7.3") == [
        f"vmalloc_node_range for size 36864 failed: Address range restricted to {start:#x} - {end:#x}",
        "vmalloc error: size 32768, align 0x1, vm_struct allocation failed"]


def pages_failure_dmesg(version: str) -> list[str]:
    vm = tiny(version, nr_cpus=1, pages=64, nr_ram_pages=8)
    a = vm.vmalloc(4 * P, cpu=0)                   # 4 of the 8 pages
    assert vm.vmalloc(6 * P, cpu=0) is None        # 6 <= totalram, only 4 left: 4 obtained
    vm.vfree(a, cpu=0)
    vm.check()
    return list(vm.dmesg)


def test_the_pages_failure_warning_in_each_kernel_s_words():
    assert pages_failure_dmesg("6.1") == ["vmalloc error: size 16384, page order 0, failed to allocate pages"]
    assert pages_failure_dmesg("6.12") == ["vmalloc error: size 16384, failed to allocate pages"]
    assert pages_failure_dmesg("7.3") == ["vmalloc error: size 24576, failed to allocate pages"]


# -- 7.3: a request that cannot block fails without the purge (nowait_fails_fast) ------------------
def test_a_nowait_vmalloc_skips_the_purge_and_retry_on_7_3():
    results = {}
    for version in ("6.12", "7.3"):
        vm = tiny(version, nr_cpus=1, pages=8, lazy_max_unit_pages=1000)
        a = vm.vmalloc(3 * P, cpu=0)               # 4 pages with its guard
        vm.vfree(a, cpu=0)                         # lazy: the window's first half is not free yet
        b = vm.vmalloc_node(6 * P, cpu=0, gfp=GFP_NOWAIT)     # 7 pages: only after a purge
        results[version] = (b, vm.stats.reclaims, vm.vmap_lazy_nr, list(vm.dmesg))
        vm.check()
    assert results["6.12"][:3] == (Vmalloc(nr_cpus=1, vmalloc_size=8 * P).VMALLOC_START, 1, 0)
    assert results["7.3"][:3] == (None, 0, 4)
    # 7.3 says nothing about the range; __vmalloc_node_range still reports its own failure
    assert results["7.3"][3] == ["vmalloc error: size 24576, align 0x1, vm_struct allocation failed"]


# -- 6.1: the block purge takes usable blocks (block_purge_keeps_usable, vb_flush_once) ------------
def test_6_1_purges_an_unmapped_block_that_6_8_keeps_for_later():
    out = {}
    for version in ("6.1", "6.8"):
        vm = tiny(version, nr_cpus=1, pages=64, lazy_max_unit_pages=1000)
        pages = vm.alloc_pages(2)
        a = vm.vm_map_ram(pages[:1], cpu=0)        # block of 8: free 7
        vm.vm_unmap_ram(a, 1, cpu=0)               # free 7 + dirty 1: no live page, 7 >= 8/4 free
        vm.vm_unmap_aliases(cpu=0)
        b = vm.vm_map_ram(pages[1:], cpu=0)
        out[version] = (vm.stats.vb_purged, b - a)
        vm.vm_unmap_ram(b, 1, cpu=0)
        vm.check()
    assert out["6.8"] == (0, P)                    # the same block, bumped to its second page
    assert out["6.1"] == (1, 0)                    # a new block, at the purged block's address


def test_6_1_flushes_a_dirty_range_again_on_every_vm_unmap_aliases():
    flushes = {}
    for version in ("6.1", "6.8"):
        vm = tiny(version, nr_cpus=1, pages=64, lazy_max_unit_pages=1000)
        pages = vm.alloc_pages(2)
        a = vm.vm_map_ram(pages[:1], cpu=0)
        b = vm.vm_map_ram(pages[1:], cpu=0)        # keeps the block live
        vm.vm_unmap_ram(a, 1, cpu=0)
        vm.vm_unmap_aliases(cpu=0)
        vm.vm_unmap_aliases(cpu=0)
        flushes[version] = vm.stats.tlb_flushes
        vm.vm_unmap_ram(b, 1, cpu=0)
        vm.check()
    assert flushes == {"6.1": 2, "6.8": 1}


def test_6_1_does_not_flush_a_block_with_no_free_space():
    flushes = {}
    for version in ("6.1", "6.8"):
        vm = tiny(version, nr_cpus=1, pages=64, lazy_max_unit_pages=1000)
        pages = vm.alloc_pages(8)
        runs = [vm.vm_map_ram(pages[i:i + 2], cpu=0) for i in range(0, 8, 2)]    # the block is full
        vm.vm_unmap_ram(runs[0], 2, cpu=0)         # dirty 2, free 0: off the free list
        vm.vm_unmap_aliases(cpu=0)
        flushes[version] = vm.stats.tlb_flushes
        vm.check()
    assert flushes == {"6.1": 0, "6.8": 1}


# -- 6.1: vread and vmallocinfo of areas without a vm_struct (vread_vm_map_ram, vm_map_ram_flagged) --
def test_6_1_reads_vm_map_ram_memory_as_zeros():
    for version, want in (("6.1", bytes(P)), ("6.8", b"\x41" * P)):
        vm = tiny(version, nr_cpus=1)
        pages = vm.alloc_pages(4)
        small = vm.vm_map_ram(pages[:1], cpu=0)    # in a vmap block
        large = vm.vm_map_ram(pages[1:], cpu=0)    # 3 pages > vmap_max_alloc (2): an area of its own
        assert vm.find_vmap_area(large).size == 3 * P
        vm.write(small, b"\x41" * P)
        vm.write(large, b"\x41" * P)
        assert vm.vread(small, P) == want and vm.vread(large, P) == want, version
        vm.check()


def test_6_1_prints_every_bare_busy_va_as_vm_map_ram():
    for version, printed in (("6.1", True), ("6.8", False)):
        vm = tiny(version, nr_cpus=1)
        va = vm.alloc_vmap_area(2 * P, P, vm.VMALLOC_START, vm.VMALLOC_END, 0, 0xCC0, 0)
        line = f"0x{va.va_start:016x}-0x{va.va_end:016x}    8192 vm_map_ram\n"
        assert (vm.vmallocinfo() == line) is printed and (vm.vmallocinfo() == "") is not printed
        vm.check()


# -- 6.1: a vfree takes vmap_area_lock three times (vfree_unlinks_once) ----------------------------
def test_a_6_1_vfree_takes_vmap_area_lock_three_times():
    for version, sections in (("6.1", ["find_vmap_area", "remove_vm_area", "unlink_va"]),
                              ("6.8", ["find_unlink_vmap_area"])):
        vm = tiny(version, nr_cpus=1, trace=True)
        a = vm.vmalloc(P, cpu=0)
        vm.trace.clear()
        vm.vfree(a, cpu=0)
        assert busy_acquires(vm) == sections, version
        assert vm.find_vmap_area(a) is None and vm.vmap_lazy_nr == 2
        vm.check()


def test_a_6_1_large_vm_unmap_ram_looks_up_then_unlinks():
    for version, sections in (("6.1", ["find_vmap_area", "unlink_va"]), ("6.8", ["find_unlink_vmap_area"])):
        vm = tiny(version, nr_cpus=1, trace=True)
        a = vm.vm_map_ram(vm.alloc_pages(3), cpu=0)
        vm.trace.clear()
        vm.vm_unmap_ram(a, 3, cpu=0)
        assert busy_acquires(vm) == sections, version
        vm.check()


# -- 7.3: lookups probe the nodes downwards (lookup_probes_down) ----------------------------------
def test_7_3_finds_a_va_of_an_earlier_zone_in_fewer_probes():
    probes = {}
    for version in ("6.12", "7.3"):
        vm = tiny(version, nr_cpus=4, pages=128, trace=True)   # 4 nodes, 16-page zones
        a = vm.vmalloc(19 * P, cpu=0)              # 20 pages from zone 0 (node 0) into zone 1 (node 1)
        assert vm.addr_to_node_id(a) == 0 and vm.addr_to_node_id(a + 16 * P) == 1
        vm.trace.clear()
        assert vm.find_vmap_area(a + 17 * P, cpu=0).va_start == a
        probes[version] = [r.lock for r in vm.trace.of("lock") if r.op == "acquire"]
        vm.check()
    # node 1 first; then 6.12 goes up 2, 3, 0 and 7.3 down to 0
    assert probes == {"6.12": ["vn[1].busy.lock", "vn[2].busy.lock", "vn[3].busy.lock", "vn[0].busy.lock"],
                      "7.3": ["vn[1].busy.lock", "vn[0].busy.lock"]}


# -- 7.3: a failed alloc_vmap_area traces an error code (alloc_trace_errno) ------------------------
def test_7_3_traces_a_failed_carve_as_an_errno():
    traced = {}
    for version in ("6.12", "7.3"):
        vm = tiny(version, nr_cpus=1, pages=8, trace=True)
        assert vm.vmalloc(8 * P, cpu=0) is None
        traced[version] = {r.va_start for r in vm.trace.of("alloc_vmap_area") if r.failed}
        vm.check()
    # the free tree spans [1, ULONG_MAX): the lowest fit lies past the window's end, so -ERANGE
    assert traced == {"6.12": {vm.VMALLOC_END}, "7.3": {2**64 - 34}}


# -- 6.12: vmallocinfo leaves out an area still being set up (info_skips_uninitialized) -----------
def test_6_12_leaves_an_uninitialized_area_out_of_vmallocinfo():
    from vmaplab.kernel.config import VM_MAP, VM_UNINITIALIZED
    for version, lines in (("6.1", 1), ("6.12", 0), ("7.3", 0)):
        vm = tiny(version, nr_cpus=1)
        area = vm.get_vm_area(P, VM_MAP | VM_UNINITIALIZED, cpu=0)
        assert len(vm.vmallocinfo().splitlines()) == lines, version
        vm.free_vm_area(area, cpu=0)
        vm.check()


# -- 6.12: the shrinker decays under vmap_purge_lock (shrinker_takes_purge_lock) ------------------
def test_6_12_shrinks_the_pools_under_the_purge_mutex():
    held = {}
    for version in ("6.9", "6.12"):
        vm = tiny(version, nr_cpus=2, lazy_max_unit_pages=1000, trace=True)
        vm.vfree(vm.vmalloc(P, cpu=0), cpu=0)
        vm.purge(cpu=0)                            # one VA pooled on node 0
        vm.trace.clear()
        vm.shrinker.scan(cpu=0)
        held[version] = [r.lock for r in vm.trace.of("lock") if r.op == "acquire"]
        assert vm.nodes[0].pool_total() == 0
        vm.check()
    assert "vmap_purge_lock" not in held["6.9"] and held["6.12"][0] == "vmap_purge_lock"


# -- 6.1: pcpu_get_vm_areas inserts every area in one hold (pcpu_insert_per_area) ----------------
def test_6_1_inserts_a_percpu_chunk_s_areas_in_one_hold():
    for version, holds in (("6.1", 1), ("6.8", 3)):
        vm = tiny(version, nr_cpus=1, trace=True)
        vm.trace.clear()
        vms = vm.pcpu_get_vm_areas([0, 4 * P, 8 * P], [2 * P, 2 * P, 2 * P], P)
        assert busy_acquires(vm) == ["insert_vmap_area"] * holds, version
        assert [v.addr - vms[0].addr for v in vms] == [0, 4 * P, 8 * P]
        assert all(vm.find_vm_area(v.addr) is v for v in vms)
        vm.check()


# -- 6.12/7.3: vrealloc (has_vrealloc, vrealloc_frees_tail, vrealloc_names_caller; tests/test_vrealloc.py) --
def test_vrealloc_per_generation():
    out = {}
    for version in ("6.9", "6.12", "7.3"):
        vm = tiny(version, nr_cpus=1, pages=64)
        p = vm.vmalloc(3 * P, cpu=0)                         # [S, S+4P): 3 pages and the guard
        if not vm.gen.has_vrealloc:
            with pytest.raises(VmallocError, match="version"):
                vm.vrealloc(p, P)
            out[version] = None
            continue
        same = vm.vrealloc(p, P) == p                        # shrink: in place everywhere
        pages = vm.find_vm_area(p).nr_pages                  # 7.3 frees the 2 tail pages
        q = vm.vrealloc(p, 2 * P, caller="grow+0x1/0x2")     # 6.12: fits the area; 7.3: past nr_pages
        out[version] = (same, pages, q - p, vm.find_vm_area(q).caller)
        vm.check()
    assert out == {"6.9": None, "6.12": (True, 3, 0, None), "7.3": (True, 1, 4 * P, "grow+0x1/0x2")}


# -- 7.3: GFP_NOWAIT carries __GFP_NOWARN (nowait_nowarn) --------------------------------------------
def test_the_machines_own_gfp_nowait_is_silent_on_7_3_only():
    out = {}
    for version in ("6.12", "7.3"):
        vm = tiny(version, nr_cpus=1, pages=4)
        out[version] = (vm.vmalloc(8 * P, gfp=vm.gen.gfp_nowait), list(vm.dmesg))
        vm.check()
    assert out["7.3"] == (None, [])
    assert out["6.12"][0] is None and out["6.12"][1][-1] == "vmalloc error: size 32768, vm_struct allocation failed"
