# SPDX-License-Identifier: MIT
"""The per-CPU kva allocator (§4.11) on 8-page blocks (vmap_max_alloc = 2)."""
from conftest import tiny

from vmaplab import PAGE_SIZE, VMAP_BLOCK, VMAP_RAM

P = PAGE_SIZE


def test_bump_allocation_then_a_fully_dirty_block_goes_lazy(version):
    vm = tiny(version, nr_cpus=2, pages=64, trace=True)
    pages = vm.alloc_pages(8)
    a = vm.vm_map_ram(pages[:1], cpu=1)
    start = vm.VMALLOC_START
    assert a == start                                      # the first block, first page
    va = vm.find_vmap_area(a)
    assert va.size == 8 * P and va.vm is None
    assert va.flags & (VMAP_RAM | VMAP_BLOCK) == VMAP_RAM | VMAP_BLOCK
    b = vm.vm_map_ram(pages[1:3], cpu=1)                   # order 1 at offset 8 - free = 1
    c = vm.vm_map_ram(pages[3:4], cpu=1)
    assert (b, c) == (start + P, start + 3 * P)
    d = vm.vm_map_ram(pages[4:5], cpu=0)                   # another CPU: a block of its own
    assert d == start + 8 * P
    vm.vm_unmap_ram(a, 1, cpu=1)
    vm.vm_unmap_ram(b, 2, cpu=1)
    vm.vm_unmap_ram(c, 1, cpu=1)
    vb = vm._vb_lookup(start)
    assert (vb.free, vb.dirty, vb.used) == (4, 4, 0)
    e = vm.vm_map_ram(pages[5:7], cpu=1)                   # holes are never reused: bump on
    f = vm.vm_map_ram([pages[7]] + vm.alloc_pages(1), cpu=1)
    assert (e, f) == (start + 4 * P, start + 6 * P)
    assert vb.free == 0 and vb not in vm.vmap_block_queue[1].free
    vm.vm_unmap_ram(e, 2, cpu=1)
    assert vm.vmap_lazy_nr == 0
    vm.vm_unmap_ram(f, 2, cpu=1)                           # dirty == 8: the block is released
    assert vm._vb_lookup(start) is None and vm.vmap_lazy_nr == 8
    assert [r.op for r in vm.trace.of("vmap_block")][-1] == "release"


def test_large_vm_map_ram_gets_its_own_area_without_guard(version):
    vm = tiny(version, nr_cpus=2, pages=64)
    pages = vm.alloc_pages(3)
    a = vm.vm_map_ram(pages)
    va = vm.find_vmap_area(a)
    assert va.size == 3 * P and va.flags & (VMAP_RAM | VMAP_BLOCK) == VMAP_RAM
    vm.vm_unmap_ram(a, 3)
    assert vm.vmap_lazy_nr == 3


def test_forced_fragmented_purge_on_overflow(version):
    # §4.11: a block with no live pages is purged by reclaim even with free space left
    vm = tiny(version, nr_cpus=2, pages=17, lazy_max_unit_pages=1000)
    pages = vm.alloc_pages(4)
    a = vm.vm_map_ram(pages[:1])
    vm.vm_unmap_ram(a, 1)                                  # free 7, dirty 1: fragmented
    b = vm.vm_map_ram(pages[1:2], cpu=1)                   # second block fills the window
    assert b == vm.VMALLOC_START + 8 * P
    # no 2-page hole is left: the overflow path purges the fragmented first block, then retries
    assert vm.vmalloc(P) == vm.VMALLOC_START
    assert vm.stats.vb_purged == 1 and vm._vb_lookup(a) is None
    assert vm._vb_lookup(b) is not None                    # free 7 + dirty 0: still usable


def test_vm_unmap_aliases_flushes_dirty_ranges_without_purging_usable_blocks(version):
    vm = tiny(version, nr_cpus=2, pages=64, trace=True)
    pages = vm.alloc_pages(2)
    a = vm.vm_map_ram(pages[:1])
    vm.vm_map_ram(pages[1:2])
    vm.vm_unmap_ram(a, 1)
    flushes = vm.stats.tlb_flushes
    vm.vm_unmap_aliases()
    vb = vm._vb_lookup(a)
    assert vb is not None and (vb.dirty_min, vb.dirty_max) == (8, 0)
    assert vm.stats.tlb_flushes == flushes + 1
    flush = vm.trace.of("tlb_flush")[-1]
    assert (flush.start, flush.end) == (a, a + P)
