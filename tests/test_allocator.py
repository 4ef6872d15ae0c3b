# SPDX-License-Identifier: MIT
"""Worked examples derived by hand from the spec; each cites its section."""
import pytest
from conftest import snapshot, tiny

from vmaplab import (
    MODULES_END,
    MODULES_VADDR,
    PAGE_SIZE,
    ULONG_MAX,
    VM_ALLOC,
    VMALLOC_START,
    Vmalloc,
)
from vmaplab.contention.warm import prefill_node_pool  # the warm start's carving, through public kernel calls
from vmaplab.kernel.errors import InvariantError
from vmaplab.kernel.trace import AllocVmapArea, PurgeNode

S, P = VMALLOC_START, PAGE_SIZE


def test_addresses_by_lowest_match_with_guard_pages(version):
    # §4.3 lowest match + §3.10 guard page: each 1-page vmalloc takes 2 pages
    vm = Vmalloc(nr_cpus=4, version=version, debug=True)
    assert [vm.vmalloc(P), vm.vmalloc(P), vm.vmalloc(3 * P)] == [S, S + 2 * P, S + 4 * P]
    assert vm.find_vmap_area(S + 4 * P).size == 4 * P
    vm2 = vm.find_vm_area(S + 4 * P)
    assert vm2.size == 4 * P and vm2.nr_pages == 3 and vm2.flags == VM_ALLOC


def test_aligned_request_splits_no_edge_and_the_hole_is_reused(version):
    # §4.3 NE_FIT_TYPE then LE_FIT_TYPE from the left part
    vm = Vmalloc(nr_cpus=4, version=version, debug=True)
    assert vm.vmalloc(P) == S
    assert vm.vmalloc_node(P, align=0x10000) == S + 0x10000
    assert [(v.va_start, v.va_end) for v in vm.free_space][1] == (S + 2 * P, S + 0x10000)
    assert vm.vmalloc(P) == S + 2 * P


def test_freed_area_is_not_reused_before_purge(version):
    # §4.5 lazy free: the range stays in a lazy tree until a purge
    vm = Vmalloc(nr_cpus=4, version=version, debug=True)
    a = vm.vmalloc(P, cpu=1)
    vm.vfree(a, cpu=1)
    assert vm.vmap_lazy_nr == 2
    assert vm.vmalloc(P, cpu=1) == S + 2 * P
    vm.purge()
    assert vm.vmap_lazy_nr == 0
    # 6.8: back in the free tree, so any CPU gets it by lowest match
    if version == "6.8":
        assert vm.vmalloc(P, cpu=3) == a


def test_pool_reuse_by_the_same_node_only():
    # §4.15.1-2: lazy in node c % N, pooled there after a partial purge, reused by that node only
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True)
    a = vm.vmalloc(P, cpu=1)
    vm.vfree(a, cpu=1)
    assert len(vm.nodes[1].lazy) == 1 and vm.addr_to_node_id(a) == 0
    vm.purge(cpu=1)
    assert [va.va_start for va in vm.nodes[1].pool[1]] == [a]
    assert vm.vmalloc(P, cpu=2) == S + 2 * P            # another node: the free tree
    assert vm.vmalloc(P, cpu=1) == a                    # same node: the pool
    assert vm.stats.pool_hits == 1 and len(vm.nodes[1].pool[1]) == 0


def test_cpus_beyond_128_share_nodes():
    # §4.2 node_alloc: node = cpu % nr_vmap_nodes
    vm = Vmalloc(nr_cpus=256, version="6.9", debug=True)
    a = vm.vmalloc(P, cpu=129)
    vm.vfree(a, cpu=129)
    vm.purge(cpu=0)
    assert len(vm.nodes[1].pool[1]) == 1
    assert vm.vmalloc(P, cpu=1) == a


def test_owner_recorded_whatever_the_size_and_never_pooled_if_big():
    # §4.2: owner code even for a 2 MiB VA; §3.5: only 1..256-page VAs are pooled
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True)
    a = vm.vmalloc(2 << 20, cpu=3)
    va = vm.find_vmap_area(a)
    assert va.flags >> 8 == 4 and vm.owner_node_id(va) == 3
    vm.vfree(a, cpu=3)
    assert len(vm.nodes[3].lazy) == 1
    vm.purge()
    assert sum(vn.pool_total() for vn in vm.nodes) == 0
    assert vm.vmalloc(2 << 20, cpu=0) == a


def test_restricted_window_has_no_owner_and_returns_to_the_free_tree():
    # §4.15.5: module-window VAs never use pools
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True)
    a = vm.vmalloc_node_range(P, 1, MODULES_VADDR, MODULES_END, cpu=2)
    assert a == MODULES_VADDR and vm.find_vmap_area(a).flags == 0
    vm.vfree(a, cpu=2)
    assert len(vm.addr_to_node(a).lazy) == 1            # no owner: the address's node
    vm.purge()
    assert sum(vn.pool_total() for vn in vm.nodes) == 0
    assert vm.vmalloc_node_range(P, 1, MODULES_VADDR, MODULES_END, cpu=2) == a


def test_pool_head_misaligned_is_rotated_to_the_tail():
    # §4.2 node_pool_del_va: only the head is examined; misaligned head -> tail, slow path
    vm = Vmalloc(nr_cpus=2, version="6.9", debug=True)
    a, b = vm.vmalloc(P), vm.vmalloc(P)                 # S and S + 0x2000
    vm.vfree(a)
    vm.vfree(b)
    vm.purge()
    pool = vm.nodes[0].pool[1]
    assert [v.va_start for v in pool] == [b, a]          # purged in address order, pushed at head
    c = vm.vmalloc_node(P, align=4 * P)                  # head b is not 16 KiB aligned
    assert c != a and c != b
    assert [v.va_start for v in pool] == [a, b] and vm.stats.pool_rotations == 1
    assert vm.vmalloc_node(P, align=4 * P) == a          # now the aligned one is at the head


@pytest.mark.parametrize("length,kept", [(1, 0), (2, 0), (3, 0), (4, 3), (5, 4), (7, 6), (8, 6), (9, 7), (13, 10)])
def test_partial_decay_exact_amounts(length, kept):
    # §3.8: L >= 4 keeps L - L//4 (losing the newest = head), 1 <= L <= 3 is emptied
    vm = Vmalloc(nr_cpus=2, version="6.9", debug=True)
    addrs = [vm.vmalloc(P, cpu=0) for _ in range(length)]
    for a in addrs:
        vm.vfree(a, cpu=0)
    vm.purge(cpu=0)                                       # decay (nothing pooled yet), then fill
    pool = vm.nodes[0].pool[1]
    assert len(pool) == length and pool.len == length
    vm.purge(cpu=0)                                       # a second partial decay
    assert len(pool) == kept and pool.len == kept
    assert sorted(v.va_start for v in pool) == addrs[:kept]   # the highest addresses went first
    assert vm.stats.decayed == length - kept


def test_full_decay_on_reclaim_empties_every_pool():
    # §4.7 reclaim_and_purge_vmap_areas: full decay, purged VAs go to the free tree
    vm = Vmalloc(nr_cpus=2, version="6.9", debug=True)
    addrs = [vm.vmalloc(P, cpu=c) for c in (0, 1, 0, 1, 0)]
    for i, a in enumerate(addrs):
        vm.vfree(a, cpu=i % 2)
    vm.purge()
    assert vm.nodes[0].pool_total() == 3 and vm.nodes[1].pool_total() == 2
    vm.reclaim_and_purge_vmap_areas(cpu=0)
    assert all(vn.pool_total() == 0 for vn in vm.nodes)
    assert [(v.va_start, v.va_end) for v in vm.free_space] == [(1, ULONG_MAX)]


def test_overflow_purges_then_retries(version):
    # §4.2 overflow handling: first failure -> reclaim_and_purge -> retry succeeds
    vm = tiny(version, pages=9, lazy_max_unit_pages=1000, trace=True)
    addrs = [vm.vmalloc(P) for _ in range(4)]
    assert addrs == [S, S + 2 * P, S + 4 * P, S + 6 * P]
    vm.vfree(addrs[0])
    assert vm.vmap_lazy_nr == 2 and not vm.pending_work
    assert vm.vmalloc(P) == S
    assert vm.stats.reclaims == 1 and vm.dmesg == []
    failed = [r.failed for r in vm.trace.of("alloc_vmap_area")]
    assert failed[-2:] == [1, 0]


def test_exhaustion_returns_none_with_the_kernel_warnings(version):
    # §4.2 + §4.4: purge, notifiers, then the overflow warning and the vmalloc error
    vm = tiny(version, pages=9)
    for _ in range(4):
        vm.vmalloc(P)
    assert vm.vmalloc(P) is None
    assert vm.dmesg == ["vmap allocation for size 8192 failed: use vmalloc=<size> to increase size",
                        "vmalloc error: size 4096, vm_struct allocation failed"]
    assert vm.stats.alloc_failures == 1 and vm.stats.reclaims == 1


def test_purge_notifier_chain_frees_space_and_the_allocation_retries(version):
    # §4.2: a notifier that frees something resets the purge flag and the loop retries
    vm = tiny(version, pages=9, lazy_max_unit_pages=1000)
    addrs = [vm.vmalloc(P) for _ in range(4)]
    calls = []

    def notifier(machine, cpu):
        calls.append(cpu)
        if len(calls) == 1:
            machine.vfree(addrs[2], cpu=cpu)
            return 1
        return 0
    vm.register_vmap_purge_notifier(notifier)
    assert vm.vmalloc(P) == addrs[2]
    assert calls == [0] and vm.stats.reclaims == 2 and vm.dmesg == []


def test_drain_work_is_scheduled_past_the_threshold_and_helpers_appear_at_twice_it():
    # §3.6, §3.7, §4.15.4: lazy_max = fls(4) * 4 = 12 pages here
    vm = tiny("6.9", nr_cpus=4, pages=200, lazy_max_unit_pages=4, autorun_work=False, trace=True)
    assert vm.lazy_max_pages() == 12
    addrs = [vm.vmalloc(P, cpu=i % 4) for i in range(12)]
    for i, a in enumerate(addrs[:6]):
        vm.vfree(a, cpu=i % 4)
    assert vm.vmap_lazy_nr == 12 and vm.pending_work == []       # not above the threshold yet
    for i, a in enumerate(addrs[6:]):
        vm.vfree(a, cpu=i % 4)
    assert vm.vmap_lazy_nr == 24 and vm.pending_work == ["drain_vmap_area_work"]
    assert vm.run_workqueue() == 1
    # 24 // 12 = 2 -> clamp(2, 1, 4) - 1 = 1 helper: the first marked node, on its own CPU
    helpers = [(r.node, r.cpu) for r in vm.trace.of("purge_node") if r.helper]
    assert helpers == [(0, 0)] and vm.stats.purge_helpers == 1 and vm.vmap_lazy_nr == 0


def test_6_8_lazy_areas_merge_in_one_global_purge_tree():
    # §4.14: lazily freed VAs merge; vmap_lazy_nr still counts pages
    vm = Vmalloc(nr_cpus=4, version="6.8", debug=True)
    a, b, c = vm.vmalloc(P), vm.vmalloc(P), vm.vmalloc(P)
    vm.vfree(a, cpu=0)
    vm.vfree(b, cpu=3)
    assert [(v.va_start, v.va_end) for v in vm.nodes[0].lazy] == [(a, b + 2 * P)]
    assert vm.vmap_lazy_nr == 4
    del c


def test_6_9_lazy_areas_do_not_merge():
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True)
    a, b = vm.vmalloc(P), vm.vmalloc(P)
    vm.vfree(a, cpu=0)
    vm.vfree(b, cpu=0)
    assert [(v.va_start, v.va_end) for v in vm.nodes[0].lazy] == [(a, a + 2 * P), (b, b + 2 * P)]


def test_single_node_6_9_behaves_without_pools():
    # §4.15.6: one node, no owner codes, nothing pooled
    vm = Vmalloc(nr_cpus=1, version="6.9", debug=True)
    a = vm.vmalloc(P)
    assert vm.find_vmap_area(a).flags == 0
    vm.vfree(a)
    vm.purge()
    assert vm.vmalloc(P) == a and vm.stats.pool_hits == 0


def test_find_vmap_area_probes_upwards_from_the_address_node():
    # §4.6: a VA spanning zones lives in the node of its start; lookups probe i, i+1, ...
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True, trace=True)
    a = vm.vmalloc(0x30000)                               # zones 0..3 (+ guard into zone 3)
    inner = a + 0x10000                                   # zone 1
    vm.trace.clear()
    assert vm.find_vmap_area(inner).va_start == a
    probed = [r.lock for r in vm.trace.of("lock") if r.op == "acquire"]
    assert probed == ["vn[1].busy.lock", "vn[2].busy.lock", "vn[3].busy.lock", "vn[0].busy.lock"]
    assert vm.find_vmap_area(a + 0x40000) is None


def test_busy_areas_are_sharded_by_zone():
    # §3.4: a 15-page vmalloc (16 with guard) fills exactly one 64 KiB zone
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True)
    addrs = [vm.vmalloc(15 * P, cpu=0) for _ in range(8)]
    assert [vm.addr_to_node_id(a) for a in addrs] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert [len(vn.busy) for vn in vm.nodes] == [2, 2, 2, 2]


def test_vmalloc_page_array_is_itself_vmalloced_past_one_page():
    # §4.4: an array of more than 512 page pointers is vmalloc'ed (the "vpages" case)
    vm = Vmalloc(nr_cpus=2, debug=True)
    a = vm.vmalloc(513 * P)
    area = vm.find_vm_area(a)
    assert area.nr_pages == 513 and area.pages_array_addr is not None
    assert vm.find_vm_area(area.pages_array_addr).nr_pages == 2      # 513 * 8 bytes
    assert vm.nr_vmalloc_pages == 515
    vm.vfree(a)
    assert vm.nr_vmalloc_pages == 0 and vm.pages.nr_used == 0


def test_out_of_memory_fails_and_releases_everything(version):
    # §4.4: a short page allocation warns and frees the area through vfree
    vm = tiny(version, nr_ram_pages=3)
    assert vm.vmalloc(5 * P) is None
    assert vm.dmesg == ["vmalloc error: size 20480, exceeds total pages"]
    assert vm.vmalloc(2 * P) is not None
    assert vm.vmalloc(2 * P) is None
    # the kernel prints the size it did obtain (area->nr_pages * PAGE_SIZE)
    assert vm.dmesg[-1] == "vmalloc error: size 4096, failed to allocate pages"
    assert vm.pages.nr_used == 2 and vm.nr_vmalloc_pages == 2


def test_vzalloc_zeroes_and_vmalloc_user_sets_usermap():
    from vmaplab import VM_USERMAP
    vm = Vmalloc(nr_cpus=2, debug=True)
    a = vm.vmalloc_user(P)
    assert vm.find_vm_area(a).flags & VM_USERMAP
    assert vm.vzalloc(P) is not None


def test_ioremap_alignment_and_offset():
    # §4.4: VM_IOREMAP areas are aligned to the size's power of two (at least a page)
    vm = Vmalloc(nr_cpus=2, debug=True)
    vm.vmalloc(P)
    io = vm.ioremap(0xfed00123, 0x5000)
    base = io & ~(P - 1)
    assert io & (P - 1) == 0x123 and base % 0x8000 == 0
    area = vm.find_vm_area(base)
    assert area.phys_addr == 0xfed00000 and area.size == 0x7000   # 6 pages spanned + guard
    vm.iounmap(io)


def test_ioremap_alignment_is_capped_at_pud_shift_on_x86_64():
    # §10.4: x86-64's IOREMAP_MAX_ORDER is PUD_SHIFT, so 2 MiB and 4 MiB ioremaps are aligned to
    # their size (the generic cap would give 512 KiB). Hand-derived: one page (+ guard) at the
    # window's start (4 MiB aligned); a 2 MiB ioremap goes to the next 2 MiB boundary, start + 2 MiB,
    # and with its guard page ends at start + 4 MiB + 4 KiB, so a 4 MiB one goes to start + 8 MiB
    # (the generic cap would have put them at start + 512 KiB and start + 2.5 MiB).
    vm = Vmalloc(nr_cpus=2, debug=True)
    start = vm.vmalloc(P)
    assert start % (4 << 20) == 0
    assert vm.ioremap(0xd0400000, 2 << 20) == start + (2 << 20)
    assert vm.ioremap(0xd0800000, 4 << 20) == start + (8 << 20)


def test_vmap_put_pages_is_freed_by_vfree():
    from vmaplab import VM_MAP, VM_MAP_PUT_PAGES
    vm = Vmalloc(nr_cpus=2, debug=True)
    pages = vm.alloc_pages(3)
    a = vm.vmap(pages, VM_MAP | VM_MAP_PUT_PAGES)
    assert vm.find_vm_area(a).nr_pages == 3
    vm.vfree(a)
    assert vm.pages.nr_used == 0
    pages = vm.alloc_pages(2)
    b = vm.vmap(pages)
    vm.vunmap(b)
    assert vm.pages.nr_used == 2                          # vunmap leaves the pages to the caller
    vm.free_pages(pages)


def test_kvfree_rcu_waits_for_a_grace_period():
    vm = Vmalloc(nr_cpus=2, debug=True)
    a = vm.vmalloc(P)
    vm.kvfree_rcu(a, cpu=1)
    assert vm.find_vmap_area(a) is not None and vm.rcu_pending == 1
    assert vm.rcu_grace_period() == 1
    assert vm.find_vmap_area(a) is None and vm.vmap_lazy_nr == 2
    assert len(vm.nodes[0].lazy) == 1                     # the owner (allocating CPU's) node


def test_shrinker_counts_and_drains_pools():
    # §4.8: count = sum of pool lengths (SHRINK_EMPTY when 0); scan = full decay, SHRINK_STOP
    from vmaplab import SHRINK_EMPTY, SHRINK_STOP
    vm = Vmalloc(nr_cpus=2, version="6.9", debug=True)
    assert vm.shrinker.count() == SHRINK_EMPTY
    addrs = [vm.vmalloc(P * (1 + i % 2), cpu=i % 2) for i in range(6)]
    for i, a in enumerate(addrs):
        vm.vfree(a, cpu=i % 2)
    vm.purge()
    assert vm.shrinker.count() == 6 and vm.shrinker.name == "vmap-node"
    assert vm.shrinker.scan(1) == SHRINK_STOP
    assert vm.shrinker.count() == SHRINK_EMPTY
    assert [(v.va_start, v.va_end) for v in vm.free_space] == [(1, ULONG_MAX)]


def test_vm_flush_reset_perms_purges_at_once():
    from vmaplab import VM_FLUSH_RESET_PERMS
    vm = Vmalloc(nr_cpus=2, version="6.9", debug=True)
    a = vm.vmalloc_node_range(P, 1, vm.VMALLOC_START, vm.VMALLOC_END, VM_FLUSH_RESET_PERMS)
    flushes = vm.stats.tlb_flushes
    vm.vfree(a)
    assert vm.vmap_lazy_nr == 0 and vm.stats.tlb_flushes == flushes + 1


def test_trace_records_are_deterministic_and_formatted():
    from vmaplab.kernel.trace import format_record

    def run():
        vm = Vmalloc(nr_cpus=4, version="6.9", trace=True)
        for i in range(20):
            a = vm.vmalloc(P * (1 + i % 3), cpu=i % 4)
            if i % 2:
                vm.vfree(a, cpu=i % 4)
        vm.purge()
        return [format_record(r) for r in vm.trace]
    first, second = run(), run()
    assert first == second
    assert first[0].startswith("cpu=0 seq=0 t_ns=0 pool: ")
    alloc = next(line for line in first if " alloc_vmap_area: " in line)
    assert alloc.endswith("va_start: 18446683600570023936 size=8192 align=1 "
                          "vstart=0xffffc90000000000 vend=0xffffe8ffffffffff failed=0")
    assert any(" purge_vmap_area_lazy: start=0xffffc90000002000 " in line for line in first)
    seqs = [int(line.split()[1][4:]) for line in first]
    assert seqs == list(range(len(first)))


def test_purge_node_records_pool_and_global_split():
    vm = Vmalloc(nr_cpus=2, version="6.9", trace=True, debug=True)
    a = vm.vmalloc(P, cpu=1)
    big = vm.vmalloc(300 * P, cpu=1)
    vm.vfree(a, cpu=1)
    vm.vfree(big, cpu=1)
    vm.purge(cpu=0)
    rec = [r for r in vm.trace if isinstance(r, PurgeNode)]
    assert [(r.node, r.nr_purged, r.to_pool, r.to_global) for r in rec] == [(1, 2, 1, 1)]
    assert isinstance(vm.trace.of("alloc_vmap_area")[0], AllocVmapArea)


def test_vmalloc_dump_obj_looks_in_one_node_only():
    # §4.6: trylock of the address's node only, no probing
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True)
    a = vm.vmalloc_node_range(0x20000, 1, S, vm.VMALLOC_END, caller="xfs_buf_alloc+0x1c/0x80")
    assert vm.vmalloc_dump_obj(a + 0x123) == (
        " 32-page vmalloc region starting at 0xffffc90000000000 allocated at xfs_buf_alloc+0x1c/0x80")
    assert vm.vmalloc_dump_obj(a + 0x10000) is None       # zone 1: node 1 does not hold it
    assert vm.find_vmap_area(a + 0x10000).va_start == a   # find_vmap_area probes and finds it


def test_prefill_node_pool_carves_owned_pooled_vas():
    from vmaplab import decode_vn_id
    vm = tiny("6.9", nr_cpus=2)
    added = prefill_node_pool(vm, 1, 2 * PAGE_SIZE, 3)
    pool = vm.nodes[1].pool[1]
    assert added == 3 and len(pool) == pool.len == 3
    assert all(decode_vn_id(va.flags, vm.nr_vmap_nodes) == 1 and va.size == 2 * PAGE_SIZE for va in pool)
    vm.check()
    head = pool.va_list[0].va_start
    hits = vm.stats.pool_hits
    assert vm.vmalloc(PAGE_SIZE, cpu=1) == head and vm.stats.pool_hits == hits + 1
    vm.check()


def test_prefill_node_pool_adds_nothing_where_pools_do_not_apply():
    vm = tiny("6.9", nr_cpus=2)
    before = snapshot(vm)
    assert prefill_node_pool(vm, 2, 2 * PAGE_SIZE, 3) == 0            # no such node
    assert prefill_node_pool(vm, 0, 5 * PAGE_SIZE, 3) == 0            # 5 pages: beyond max_va_size_pages=4
    assert prefill_node_pool(vm, 0, PAGE_SIZE + 1, 3) == 0            # not page aligned
    assert snapshot(vm) == before
    assert prefill_node_pool(tiny("6.8"), 0, 2 * PAGE_SIZE, 3) == 0
    full = tiny("6.9", nr_cpus=2, pages=8)
    assert prefill_node_pool(full, 0, 4 * PAGE_SIZE, 10) == 1          # a second would pass VMALLOC_END
    full.check()
    # no room left for CPU 1's request: the overflow path's full decay hands the pooled VA back
    assert full.vmalloc(3 * PAGE_SIZE, cpu=1) is not None and full.nodes[0].pool_total() == 0
    full.check()


@pytest.mark.parametrize("pfns", [list(range(40, 140)), [7, 3, 90, 91, 5, 60, 61, 62, 63, 64]],
                         ids=["consecutive", "scattered"])
def test_page_allocator_marks_and_refuses_double_free(pfns):
    from vmaplab.kernel.pages import PageAllocator
    pa = PageAllocator(1 << 12)
    got = pa.alloc_pages_bulk(200)
    assert got == list(range(200)) and pa.nr_used == 200
    pa.write(pfns[0], 0, b"x")
    pa.free_pages(pfns)
    assert not any(pa.is_allocated(p) for p in pfns) and pfns[0] not in pa.data
    assert all(pa.is_allocated(p) for p in set(got) - set(pfns)) and pa.nr_used == 200 - len(pfns)
    with pytest.raises(InvariantError, match="freeing free pfn"):
        pa.free_pages([pfns[-1]] if len(pfns) < 20 else pfns)
    assert pa.nr_used == 200 - len(pfns)
    again = pa.alloc_pages_bulk(len(pfns))          # the freed ones come back, last freed first
    assert sorted(again) == sorted(pfns) and all(pa.is_allocated(p) for p in again)
