# SPDX-License-Identifier: MIT
"""The course's sentences about the kernel, each run on the model with the sentence's own example.

Every test names, in its docstring, the notebook cell (``NB02 "The three routing rules"``), the
exercise or the docs section (``kernel-model.md §4.7``) whose claim it pins, so a sentence that
goes wrong, or a model change that makes it wrong, fails here. Sentences about a release the model
does not run (history before 5.2, 32-bit kernels, which release added what) are checked in the
kernel's own source where the oracle's cached Debian source has it (skipped without it), and the
few that neither can reach are pinned by wording: the wrong sentence must not come back.

The kernel functions each claim was read in (Linux 6.1, 6.12 and 7.3 Debian sources) are named in
the docstrings.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vmaplab import PAGE_SIZE, VM_NO_GUARD, VMALLOC_START, TestVmallocParams, TestVmallocRun, Vmalloc
from vmaplab.contention.published import published
from vmaplab.course import lessons
from vmaplab.course.exercises import make
from vmaplab.kernel.config import MAX_VA_SIZE_PAGES, VMAP_ZONE_SIZE_PAGES
from vmaplab.kernel.errors import VmallocError
from vmaplab.kernel.freespace import FreeSpace, adjust_search_size, find_vmap_lowest_linear_match

ROOT = Path(__file__).resolve().parents[1]
P, S = PAGE_SIZE, VMALLOC_START


def _acquires(tracer, mark: int = 0) -> list:
    return [r for r in tracer.records[mark:] if r.event == "lock" and r.op == "acquire"]


def _text(rel: str) -> str:
    return (ROOT / rel).read_text()


# ---------------------------------------------------------------------------------- notebook 00
def test_68_vmalloc_takes_vmap_area_lock_twice_and_vfree_the_purge_lock():
    """NB00 "The story" (three global spinlocks), NB04 "What you learned" (6.8: the same global
    locks), kernel-model.md §4.15: a 6.8 vmalloc takes free_vmap_area_lock and vmap_area_lock twice
    (insert, then setup_vmalloc_vm), a vfree vmap_area_lock then purge_vmap_area_lock.
    Read in 6.1's alloc_vmap_area, setup_vmalloc_vm and free_vmap_area_noflush (the pre-series design)."""
    vm = Vmalloc(nr_cpus=4, version="6.8")
    tr = vm.start_trace()
    addr = vm.vmalloc(P, cpu=1)
    assert [r.lock for r in _acquires(tr)] == ["free_vmap_area_lock", "vmap_area_lock", "vmap_area_lock"]
    mark = len(tr.records)
    vm.vfree(addr, cpu=2)
    assert [r.lock for r in _acquires(tr, mark)] == ["vmap_area_lock", "purge_vmap_area_lock"]


def test_69_nodes_follow_possible_cpus_up_to_128_and_busy_trees_split_by_address():
    """NB00 "The story" (one vmap node per possible CPU up to 128; busy trees split by address
    range), NB02 "The cap, in numbers", kernel-model.md §3.3: vmap_init_nodes clamps
    num_possible_cpus() to 1..128 (6.12, 7.3); online CPUs do not count."""
    for cpus, nodes in ((1, 1), (4, 4), (128, 128), (129, 128), (256, 128)):
        assert Vmalloc(nr_cpus=cpus, version="6.9").nr_vmap_nodes == nodes
    assert Vmalloc(nr_cpus=8, nr_online_cpus=2, version="6.9").nr_vmap_nodes == 8
    vm = Vmalloc(nr_cpus=4, version="6.9")
    addrs = [vm.vmalloc(15 * P, cpu=0) for _ in range(4)]          # one 16-page zone each, all on CPU 0
    assert [next(vn.id for vn in vm.nodes if vn.busy.find(a)) for a in addrs] == [0, 1, 2, 3]


def test_both_versions_hand_out_the_same_addresses():
    """NB00 "Both versions hand out the same addresses": one free tree, lowest fit, in both."""
    got = {}
    for v in ("6.8", "6.9"):
        vm = Vmalloc(nr_cpus=4, version=v, seed=0)
        got[v] = [vm.vmalloc(n * P, cpu=i % 4) for i, n in enumerate((1, 15, 15, 15, 15, 2))]
    assert got["6.8"] == got["6.9"] == [S, S + 2 * P, S + 18 * P, S + 34 * P, S + 50 * P, S + 66 * P]


def test_the_before_numbers_are_the_letters_on_its_6_7_rc8_base():
    """NB00 "The story" and "Why it matters", kernel-model.md §7.1: 10m51s and 93.07% were
    measured on the series' base, 6.7-rc8 (the course's "6.8"); 51s after."""
    letter = (ROOT / "vmaplab" / "data" / "cover-letter-v3.txt").read_text()
    assert "based on the 6.7.0-rc8" in letter
    pub = published()
    assert round(pub["6.8"]["wall_s"]) == 10 * 60 + 51 and round(pub["6.9"]["wall_s"]) == 51
    assert pub["6.8"]["slowpath_self_pct"] == 93.07
    for rel in ("notebooks/src/00-tour.py", "docs/kernel-model.md"):
        assert "6.7-rc8" in _text(rel), rel


def test_a_pooled_area_comes_back_without_the_global_lock_in_69_and_merges_in_68():
    """NB00 "Free, lazily; purge; reuse" (allocated on CPU 0, freed on CPU 1: node 0's pool of
    2-page areas, taken back by CPU 0 with no global lock; 6.8 merges it into the free tree)."""
    for v in ("6.8", "6.9"):
        vm = Vmalloc(nr_cpus=4, version=v, seed=0)
        a = vm.vmalloc(P, cpu=0)
        vm.vfree(a, cpu=1)
        vm.purge(cpu=1)
        if v == "6.9":
            assert [vn.pool[1].len for vn in vm.nodes] == [1, 0, 0, 0]
        else:
            assert vm.free_space.tree.find(a) is not None
        tr = vm.start_trace()
        assert vm.vmalloc(P, cpu=0) == a
        assert ("free_vmap_area_lock" in {r.lock for r in _acquires(tr)}) == (v == "6.8")


# ---------------------------------------------------------------------------------- notebook 01
def test_the_free_tree_is_global_in_both_versions():
    """NB01 opening: free_vmap_area_root under free_vmap_area_lock in 6.8 and 6.9 alike."""
    for v in ("6.8", "6.9"):
        vm = Vmalloc(nr_cpus=4, version=v)
        tr = vm.start_trace()
        vm.vmalloc(P, cpu=3)
        assert _acquires(tr)[0].lock == "free_vmap_area_lock"


def test_the_lowest_match_reads_about_two_root_to_leaf_paths():
    """NB01 "Why the lowest match is O(log n)": with subtree_max_size one search reads at most about
    two root-to-leaf paths (find_vmap_lowest_match); the lowest fit is what a linear scan finds."""
    c = lessons.lowest_match_cost(10000)
    assert c["free_blocks"] == 10000 and c["addr"] == c["linear"]
    assert c["visits"] <= 2 * c["height"] < 100


def test_the_adjusted_search_length_only_above_page_alignment():
    """NB01 "The picture of one step" and its quiz, kernel-model.md §4.3: __alloc_vmap_area searches
    for size + align - 1 only when align > PAGE_SIZE and the window is not exactly the size (6.12);
    so an aligned request can fail although a block could hold it."""
    assert not adjust_search_size(3 * P, P, S, S + 64 * P)
    assert adjust_search_size(3 * P, 4 * P, S, S + 64 * P)
    assert not adjust_search_size(4 * P, 4 * P, S, S + 4 * P)
    # free blocks [4, 6), [9, 10), [13, 14), [17, 40) (pages): [4, 6) holds 2 pages aligned to 4, but
    # its subtree's largest block (2 pages) is below 2 + 4 - 1, so the search never enters it
    busy = [(1, S + 4 * P), (S + 6 * P, S + 9 * P), (S + 10 * P, S + 13 * P), (S + 14 * P, S + 17 * P),
            (S + 40 * P, 2**64 - 1)]
    fs = FreeSpace(busy)
    assert find_vmap_lowest_linear_match(fs, 2 * P, 4 * P, S).va_start == S + 4 * P
    assert fs.alloc(2 * P, 4 * P, S, S + 64 * P) == S + 20 * P
    assert FreeSpace(busy).alloc(2 * P, P, S, S + 64 * P) == S + 4 * P   # page aligned: the lowest fit


def test_before_5_2_wording_names_the_busy_list_not_a_free_list():
    """NB01 "Why the lowest match is O(log n)": before 5.2 alloc_vmap_area walked the busy list from
    a cached hint; there was no free list. (Not runnable on the model: the wrong sentence must not
    return, and the right one names 5.2.)"""
    text = _text("notebooks/src/01-free-tree.py")
    assert "scan of the free list" not in text
    assert re.search(r"Before\s+#\s+Linux 5\.2 \(2019\)", text) and "*busy*" in text


# ---------------------------------------------------------------------------------- notebook 02
def test_addr_to_node_id_is_zone_modulo_nodes_and_zones_are_16_pages():
    """NB02 opening and "The first zones", kernel-model.md §3.3-§3.4: (addr / zone) % nodes with a
    16-page zone, a constant in vmap_init_nodes (6.12, 7.3); any other size is a vmaplab what-if."""
    assert VMAP_ZONE_SIZE_PAGES == 16
    vm = Vmalloc(nr_cpus=8, version="6.9")
    assert vm.vmap_zone_size == 16 * P
    for page in (0, 15, 16, 17 * 16, 8 * 16 + 3):
        addr = S + page * P
        assert vm.addr_to_node_id(addr) == (addr // (16 * P)) % 8
    z = lessons.zone_nodes(8, nr_zones=20)
    assert z["node"][:10] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    for seed in range(40):
        ex = make("zone-node", seed)
        zone = int(re.search(r"zones of (\d+) pages", ex.question).group(1))
        assert ("vmaplab what-if" in ex.question) == (zone != 16)


def test_an_area_spanning_zones_is_recorded_by_its_start_only():
    """NB02 "An area that spans zones is still recorded only by its start address" (alloc_vmap_area
    inserts into addr_to_node(va->va_start))."""
    vm = Vmalloc(nr_cpus=4, version="6.9")
    vm.vmalloc(7 * P, cpu=0)                         # pages 0..7: node 0's zone
    a = vm.vmalloc(20 * P, cpu=2)                    # pages 8..28: starts in zone 0, spans zone 1
    assert vm.addr_to_node_id(a) == 0 and vm.addr_to_node_id(a + 20 * P) == 1
    assert [vn.busy.find(a) is not None for vn in vm.nodes] == [True, False, False, False]


def test_one_hot_cpu_busy_locks_spread_but_lazy_locks_stay_on_its_node():
    """NB02 "Why shard by address? Balance." (the vfrees take eight busy locks; every lazy insert
    takes node 0's lazy lock), issue 24 item 1. free_vmap_area_noflush picks id_to_node(vn_id) when
    the owner id is valid (6.12, 7.3)."""
    vm = lessons.sharding_workload(nr_cpus=8, nr_areas=400, seed=0, hot_cpus=1)
    tr = vm.start_trace()
    for va in [va for vn in vm.nodes for va in list(vn.busy)]:
        vm.vfree(va.va_start, cpu=5)
    held = _acquires(tr)
    busy = {r.lock for r in held if r.section == "find_unlink_vmap_area"}
    lazy = {r.lock for r in held if r.section == "free_vmap_area_noflush"}
    assert busy == {f"vn[{i}].busy.lock" for i in range(8)}
    assert lazy == {"vn[0].lazy.lock"}
    assert [len(vn.lazy) for vn in vm.nodes][1:] == [0] * 7


def test_the_three_routing_rules_on_the_notebooks_run():
    """NB02 "The three routing rules, side by side" (routing_demo as the cell calls it): busy by
    address, lazy and pool by owner, the pool lookup by the current CPU (alloc_vmap_area,
    free_vmap_area_noflush, purge_vmap_node, node_alloc in 6.12 and 7.3); an interior address of
    an area crossing into the next zone makes find_vmap_area probe every node."""
    d = lessons.routing_demo(nr_cpus=8, nr_areas=64, alloc_cpu=0, free_cpu=5, seed=0)
    rows = d["rows"]
    assert all(r["busy"] > 0 and r["busy_locks"] == r["busy"] for r in rows)
    assert [r["lazy"] for r in rows] == [r["lazy_locks"] for r in rows] == [64] + [0] * 7
    assert [r["pooled"] for r in rows] == [64] + [0] * 7
    assert d["lookups"][5]["hits"] == 0 and d["lookups"][0]["hits"] == d["lookups"][0]["asked"] == 8
    probe = d["probe"]
    assert probe["addr_node"] == (probe["busy_node"] + 1) % 8 and probe["probes"] == 8
    assert probe["locks"][0] == f"vn[{probe['addr_node']}].busy.lock"
    assert probe["locks"][-1] == f"vn[{probe['busy_node']}].busy.lock"


def test_an_area_without_an_owner_goes_to_its_address_node_and_is_not_pooled():
    """NB02 "The three routing rules" (without an owner), NB03 "What you learned", the routing
    exercise, kernel-model.md §4.5 and §4.7, issue 24 item 11: node_alloc records an owner only for
    whole-window requests; free_vmap_area_noflush falls back to addr_to_node; purge_vmap_node pools
    only a valid vn_id (6.12, 7.3)."""
    vm = Vmalloc(nr_cpus=4, version="6.9")
    lo = S + (1 << 30)
    area = vm.get_vm_area(3 * P, cpu=2, start=lo, end=lo + (1 << 30))
    node = vm.addr_to_node_id(area.addr)
    vm.free_vm_area(area, cpu=3)
    assert [any(va.va_start == area.addr for va in vn.lazy) for vn in vm.nodes] == [i == node for i in range(4)]
    vm.purge(cpu=1)
    assert sum(vn.pool_total() for vn in vm.nodes) == 0 and vm.free_space.tree.find(area.addr) is not None
    whole = vm.vmalloc(3 * P, cpu=2)
    vm.vfree(whole, cpu=3)
    vm.purge(cpu=1)
    assert [vn.pool_total() for vn in vm.nodes] == [0, 0, 1, 0]


# ---------------------------------------------------------------------------------- notebook 03
def test_each_node_has_256_exact_size_pools_guard_included():
    """NB03 opening, kernel-model.md §3.5: MAX_VA_SIZE_PAGES = 256 pools a node; vmalloc(PAGE_SIZE)
    makes a two-page VA, pool index 1; a 256-page VA (255 pages + guard) is the largest pooled."""
    vm = Vmalloc(nr_cpus=2, version="6.9")
    assert MAX_VA_SIZE_PAGES == 256 and all(len(vn.pool) == 256 for vn in vm.nodes)
    small, big, too_big = vm.vmalloc(P, cpu=0), vm.vmalloc(255 * P, cpu=0), vm.vmalloc(256 * P, cpu=0)
    for a in (small, big, too_big):
        vm.vfree(a, cpu=0)
    vm.purge()
    assert vm.nodes[0].pool[1].len == 1 and vm.nodes[0].pool[255].len == 1 and vm.nodes[0].pool_total() == 2
    assert vm.free_space.tree.find(too_big) is not None


def test_the_purge_decays_a_node_before_it_detaches_and_pools_after_the_flush():
    """kernel-model.md §4.7, NB03 opening ("each purge first decays"), issue 24 item 2:
    __purge_vmap_area_lazy calls decay_va_pool_node before taking the lazy list (6.12, 7.3); the
    freshly purged VAs are pooled after the TLB flush and survive that purge's decay."""
    vm = Vmalloc(nr_cpus=2, version="6.9")
    old = [vm.vmalloc(P, cpu=0) for _ in range(8)]
    new = [vm.vmalloc(P, cpu=0) for _ in range(4)]
    for a in old:
        vm.vfree(a, cpu=0)
    vm.purge()
    for a in new:
        vm.vfree(a, cpu=0)
    tr = vm.start_trace()
    vm.purge()
    events = [(r.event, getattr(r, "lock", None), getattr(r, "op", None)) for r in tr.records]
    decay = events.index(("decay", None, None))
    detach = events.index(("lock", "vn[0].lazy.lock", "acquire"))
    flush = events.index(("tlb_flush", None, None))
    adds = [i for i, e in enumerate(events) if e == ("pool", None, "add")]
    assert decay < detach < flush < min(adds) and len(adds) == 4
    pooled = {va.va_start for va in vm.nodes[0].pool[1]}
    assert set(new) <= pooled and len(pooled) == 8 - 8 // 4 + 4


def test_decay_drops_a_quarter_and_empties_small_pools_in_69():
    """NB03 "The decay rule" and "What you learned", the decay exercise, kernel-model.md §3.8:
    decay_va_pool_node in 6.9-6.12 removes len >> 2, and a pool of 1-3 entirely (its countdown
    wraps); 7.3 leaves small pools alone (not modelled)."""
    for held, kept in ((1, 0), (3, 0), (4, 3), (8, 6), (13, 10)):
        vm = Vmalloc(nr_cpus=2, version="6.9")
        addrs = [vm.vmalloc(P, cpu=0) for _ in range(held)]
        for a in addrs:
            vm.vfree(a, cpu=0)
        vm.purge()
        vm.purge()
        assert vm.nodes[0].pool[1].len == kept, held


def test_the_shrinker_drains_every_pool():
    """NB03 opening and "What you learned", kernel-model.md §4.8: vmap_node_shrink_count counts the
    pooled VAs, vmap_node_shrink_scan decays every node's pools fully (6.12, 7.3)."""
    demo = lessons.PoolsDemo()
    before = [f for f in demo.frames if f.title.startswith("shrinker")][0]
    assert sum(map(sum, demo.frames[before.step - 1].pools)) > 0 and sum(map(sum, before.pools)) == 0
    vm = Vmalloc(nr_cpus=2, version="6.9")
    addrs = [vm.vmalloc(P, cpu=c) for c in (0, 1, 1)]
    for a in addrs:
        vm.vfree(a, cpu=0)
    vm.purge()
    assert vm.shrinker.count() == 3
    vm.shrinker.scan()
    assert sum(vn.pool_total() for vn in vm.nodes) == 0


def test_vfree_frees_pages_at_once_and_defers_only_the_flush_and_the_reuse():
    """NB03 "What lazy freeing defers" (lazy_free_demo as the cell calls it), NB00 "Free, lazily",
    kernel-model.md §4.5, issue 24 item 4: vfree → remove_vm_area → free_unmap_vmap_area (unmap, no
    flush) → free_vmap_area_noflush, then the pages (6.12)."""
    d = lessons.lazy_free_demo(pages=8, alloc_cpu=1, free_cpu=2)
    assert d["pages_back_at_vfree"] == 8 and not d["mapped_after_vfree"] and d["read_after_vfree"] == bytes(16)
    assert d["lazy_node"] == 1 and d["vmap_lazy_nr"] == 9 and d["flushes_at_vfree"] == 0
    assert not d["reused_before_purge"] and d["flushes_at_purge"] == 1 and d["reused_after_purge"]


def test_vfree_lazily_frees_the_va_before_it_frees_the_pages():
    """kernel-model.md §4.5, issue 24 item 12: vfree calls remove_vm_area (which ends in
    free_vmap_area_noflush) before the loop that frees the pages (6.12)."""
    vm = Vmalloc(nr_cpus=2, version="6.9")
    addr = vm.vmalloc(4 * P, cpu=0)
    seen = []
    free_pages = vm.pages.free_pages

    def spy(pfns):
        seen.append((len(pfns), vm.vmap_lazy_nr, vm.find_vmap_area(addr)))
        return free_pages(pfns)
    vm.pages.free_pages = spy
    vm.vfree(addr, cpu=0)
    assert seen == [(4, 5, None)]


def test_three_paths_start_a_purge():
    """NB03 "What lazy freeing defers" (purge_triggers), NB05 "unpurged vm_area", kernel-model.md
    §4.7 and §3.7, issue 24 item 6: the drain work past lazy_max_pages (with helpers per further
    lazy_max_pages), vm_unmap_aliases below it, reclaim_and_purge_vmap_areas on allocation failure
    (6.12, 7.3: alloc_vmap_area's overflow path, _vm_unmap_aliases, drain_vmap_area_work)."""
    drain, aliases, failure = lessons.purge_triggers()
    assert drain["lazy"] > drain["lazy_max_pages"] and drain["scheduled"] == ["drain_vmap_area_work"]
    assert drain["purges"] == 1 and drain["helpers"] == min(drain["lazy"] // drain["lazy_max_pages"], 4) - 1 == 2
    assert aliases["lazy"] < aliases["lazy_max_pages"] and aliases["purges"] == 1 and aliases["pooled"] == 1
    assert failure["lazy"] < failure["lazy_max_pages"] and failure["reclaims"] == 1 and failure["allocated"]


def test_the_allocation_failure_purge_pools_nothing():
    """NB03 "What you learned", kernel-model.md §4.7, issue 24 item 11: reclaim_and_purge_vmap_areas
    purges with full_pool_decay, which sets skip_populate (6.12, 7.3)."""
    vm = Vmalloc(nr_cpus=2, version="6.9")
    addrs = [vm.vmalloc(P, cpu=0) for _ in range(6)]
    for a in addrs:
        vm.vfree(a, cpu=0)
    vm.reclaim_and_purge_vmap_areas(cpu=0)
    assert vm.vmap_lazy_nr == 0 and sum(vn.pool_total() for vn in vm.nodes) == 0
    assert all(vm.free_space.tree.find(a) is not None for a in addrs)


def test_the_guard_page_catches_an_overrun_and_vm_map_ram_has_none():
    """NB03 "The guard page": __get_vm_area_node adds a page unless VM_NO_GUARD; vm_map_ram asks
    alloc_vmap_area for exactly its size (6.12); so two vm_map_ram areas can touch."""
    g = lessons.guard_demo()
    assert g["vmalloc_va_pages"] == 2 and g["overrun_faults"]
    assert g["map_ram_va_pages"] == g["map_ram_pages"] and g["adjacent"] and g["overrun_lands_in_next"]
    assert g["no_guard_va_pages"] == 3
    vm = Vmalloc(nr_cpus=1, version="6.9")
    a = vm.vmalloc(P)
    with pytest.raises(VmallocError):
        vm.write(a + P - 1, b"ab")
    assert vm.get_vm_area(2 * P, flags=VM_NO_GUARD).size == 2 * P


def test_pooled_address_space_comes_back_by_full_decay_on_failure():
    """NB03 "the price of pooling address space": pooled VAs are out of the free tree; a request
    that finds no room runs reclaim_and_purge_vmap_areas, whose full decay returns them (6.12)."""
    p = lessons.pool_price_demo()
    assert p["pooled"] == p["areas"] == p["shrinker_count"] and p["pooled_pages"] == 2 * p["areas"]
    assert p["largest_free_pages"] < 16 and p["reclaims"] == 1 and p["retry_succeeded"] and p["pooled_after"] == 0


def test_a_vm_freed_on_another_cpu_comes_back_to_the_allocating_cpu():
    """kernel-model.md §4.15, NB03 "Exercise: whose pool?", issue 24 item 3: owner = the allocating
    CPU's node; only that node's CPUs get it back from the pool (node_alloc)."""
    vm = Vmalloc(nr_cpus=4, version="6.9")
    a = vm.vmalloc(2 * P, cpu=1)
    vm.vfree(a, cpu=3)
    vm.purge(cpu=3)
    assert vm.vmalloc(2 * P, cpu=3) != a
    assert vm.vmalloc(2 * P, cpu=1) == a


# ---------------------------------------------------------------------------------- notebook 04
def test_64_nodes_have_three_locks_each():
    """NB04 "The locks" (6.9's 64 nodes × 3 locks), issue 24 item 12: struct vmap_node has a busy, a
    lazy and a pool lock."""
    vm = Vmalloc(nr_cpus=64, version="6.9")
    names = {lock for vn in vm.nodes for lock in (vn.busy_lock, vn.lazy_lock, vn.pool_lock)}
    assert len(vm.nodes) == 64 and len(names) == 3 * 64


def test_every_lazy_free_adds_to_the_global_counter_in_both_versions():
    """NB04 "The locks" (vmap_lazy_nr, one atomic per lazy free, unchanged by 6.9), kernel-model.md
    §4.5: free_vmap_area_noflush's atomic_long_add_return (6.1, 6.12, 7.3)."""
    for v in ("6.8", "6.9"):
        vm = Vmalloc(nr_cpus=4, version=v)
        a, b = vm.vmalloc(P, cpu=0), vm.vmalloc(3 * P, cpu=2)
        vm.vfree(a, cpu=1)
        assert vm.vmap_lazy_nr == 2
        vm.vfree(b, cpu=3)
        assert vm.vmap_lazy_nr == 6


def test_a_purge_every_57344_pages_on_64_cpus():
    """NB04 "What is left" (a purge every 57,344 lazily freed pages), kernel-model.md §3.6:
    lazy_max_pages() = fls(online CPUs) * 32 MiB in pages."""
    assert Vmalloc(nr_cpus=64, version="6.9").lazy_max_pages() == 57344
    assert Vmalloc(nr_cpus=64, nr_online_cpus=4, version="6.9").lazy_max_pages() == 3 * 8192


def test_in_69_a_pool_miss_and_a_decay_take_the_global_free_lock():
    """NB04 "What is left" and "What you learned" (the global free lock is left to pool misses and
    decayed areas), the spinning-lock exercise: node_alloc's miss falls to __alloc_vmap_area under
    free_vmap_area_lock; decay_va_pool_node returns areas by reclaim_list_global (6.12)."""
    vm = Vmalloc(nr_cpus=2, version="6.9")
    addrs = [vm.vmalloc(P, cpu=0) for _ in range(8)]
    for a in addrs:
        vm.vfree(a, cpu=0)
    vm.purge()
    tr = vm.start_trace()
    vm.vmalloc(P, cpu=0)                                # a hit
    assert "free_vmap_area_lock" not in {r.lock for r in _acquires(tr)}
    mark = len(tr.records)
    vm.vmalloc(P, cpu=1)                                # a miss: node 1 has no pool
    assert _acquires(tr, mark)[0].lock == "free_vmap_area_lock"
    mark = len(tr.records)
    vm.purge()                                          # 7 pooled: decay 1 back to the free tree
    assert [r.section for r in _acquires(tr, mark) if r.lock == "free_vmap_area_lock"] == ["reclaim_list_global"]


# ---------------------------------------------------------------------------------- notebook 05
def test_vmallocinfo_prints_node_by_node_busy_then_unpurged():
    """NB05 opening and "This machine's own vmallocinfo": 6.9's show_vmap_area walks the nodes' busy
    trees one by one, then each node's lazy (unpurged) areas."""
    vm = Vmalloc(nr_cpus=2, version="6.9")
    addrs = [vm.vmalloc(15 * P, cpu=0) for _ in range(4)]      # zones 0..3: nodes 0, 1, 0, 1
    vm.vfree(addrs[0], cpu=1)
    starts = [int(line.split("-")[0], 16) for line in vm.vmallocinfo().splitlines()]
    assert starts == [addrs[2], addrs[1], addrs[3], addrs[0]]
    assert "unpurged vm_area" in vm.vmallocinfo().splitlines()[-1]


def test_vread_scans_every_node_for_the_lowest_area():
    """NB05 "vread across areas and holes", kernel-model.md §4.9, issue 24 item 7:
    find_vmap_area_exceed_addr_lock takes the lowest start over every node's busy tree (6.12)."""
    vm = Vmalloc(nr_cpus=4, version="6.9")
    areas = [vm.vmalloc(15 * P, cpu=0) for _ in range(4)]        # nodes 0, 1, 2, 3
    for i, a in enumerate(areas):
        vm.write(a, bytes([0x41 + i]) * 4)
    vm.vfree(areas[0], cpu=0)
    vm.vfree(areas[1], cpu=0)
    addr = areas[0] + P                                          # node 0's zone; the next area is in node 2
    va = vm.find_vmap_area_exceed_addr_lock(addr)
    assert va.va_start == areas[2] and vm.addr_to_node_id(addr) == 0 and vm.addr_to_node_id(va.va_start) == 2
    data = vm.vread(addr, areas[2] - addr + 4)
    assert data[:-4] == bytes(len(data) - 4) and data[-4:] == b"CCCC"


def test_vmap_ram_vread_wording_names_6_3():
    """kernel-model.md §4.9, issue 24 item 12: vmap_ram_vread appeared in 6.3; 6.1's vread skips
    areas without a vm_struct (read in 6.1). The release is not runnable: pinned by wording."""
    text = _text("docs/kernel-model.md")
    assert "readable (6.2)" not in text and "`vmap_ram_vread` appeared in 6.3" in text


# ---------------------------------------------------------------------------------- notebook 06
def test_fix_size_alloc_test_is_one_page_pairs_sized_by_nr_pages():
    """NB06 "smoke" (fix_size_alloc_test: one-page vmalloc/vfree pairs), kernel-model.md §5.1,
    issue 24 item 4: nr_pages sizes fix_size_alloc_test (and vm_map_ram_test), 0 meaning one page;
    random_size_alloc_test ignores it (6.1, 6.12, 7.3's lib/test_vmalloc.c)."""
    def sizes(mask, nr_pages):
        vm = Vmalloc(nr_cpus=1, version="6.9", seed=0)
        tr = vm.start_trace()
        TestVmallocRun(vm, TestVmallocParams(run_test_mask=mask, nr_pages=nr_pages, test_loop_count=20),
                       seed=0).run()
        return {r.size // P for r in tr.of("alloc_vmap_area")}
    assert sizes(1, 0) == {2} and sizes(1, 3) == {4}
    assert sizes(1 << 10, 70) == {70}                            # vm_map_ram_test: an area of its own
    assert sizes(1 << 3, 0) == sizes(1 << 3, 3)


# ---------------------------------------------------------------------------------- docs §5
def test_nr_threads_zero_runs_one_worker():
    """kernel-model.md §5.1, issue 24 item 4: the module clamps nr_threads to 1..USHRT_MAX (0: one
    worker); one worker per CPU is test_vmalloc.sh's stress preset (6.1, 6.12, 7.3)."""
    from vmaplab.workloads.test_vmalloc import PRESETS
    assert TestVmallocParams(nr_threads=0).fixed().nr_threads == 1
    assert TestVmallocParams(nr_threads=1 << 20).fixed().nr_threads == 0xFFFF
    assert PRESETS["stress"].startswith("nr_threads={NUM_CPUS}")
    vm = Vmalloc(nr_cpus=4, version="6.9")
    run = TestVmallocRun(vm, TestVmallocParams(nr_threads=0, run_test_mask=1, test_loop_count=5), seed=0)
    run.run()
    assert len(run.workers) == 1


def test_summary_lines_per_worker_per_test_then_its_cycles():
    """kernel-model.md §5.3, issue 24 item 12: for each worker, one Summary: line per selected test,
    then "All test took workerN=... cycles" (test_vmalloc.c's main loop, 6.1, 6.12)."""
    vm = Vmalloc(nr_cpus=4, version="6.9")
    lines = TestVmallocRun(vm, TestVmallocParams(nr_threads=3, run_test_mask=5, test_loop_count=5), seed=0).run()
    kinds = ["S" if ln.startswith("Summary: ") else "A" for ln in lines]
    assert kinds == ["S", "S", "A"] * 3
    assert [ln.split("=")[0] for ln in lines if ln.startswith("All")] == [f"All test took worker{i}" for i in range(3)]


# ---------------------------------------------------------------------------------- the kernel's source
def _kernel_source(rel: str) -> str:
    """A file of Debian's 6.12 source from the oracle's cache (vmaplab.oracle.debian), or a skip."""
    from vmaplab.oracle.debian import KernelTree, cache_dir, source_files
    trees = sorted(p for p in (cache_dir() / "trees").glob("6.12.*") if (p / ".complete").exists())
    for tree in trees:
        tarballs = sorted((tree / "usr" / "src").glob("linux-source-6.12.tar.*"))
        if tarballs:
            kernel = KernelTree(release=tree.name, root=tree, source_tarball=tarballs[0],
                                vmlinuz=tree / "boot", headers=tree / "usr" / "src", series="6.12")
            return source_files(kernel, [rel])[rel].read_text()
    pytest.skip("no cached Debian kernel source (the oracle's first run downloads it)")


def _body(source: str, name: str) -> str:
    m = re.search(rf"^(?:[\w*]+[ \t]+)*\**{name}\([^;{{]*\)\s*\{{", source, re.M)
    assert m, f"{name} not defined"
    return source[m.end():source.index("\n}", m.end())]


def test_kernel_source_decays_before_it_detaches_and_routes_lazy_by_owner():
    """kernel-model.md §4.7 and §4.5, NB02's rules, read in 6.12's mm/vmalloc.c: decay_va_pool_node
    comes before the lazy list is replaced; free_vmap_area_noflush prefers id_to_node(vn_id);
    purge_vmap_node pools only with a valid vn_id and without skip_populate; the 16-page zone and the
    64-bit-only node array in vmap_init_nodes."""
    src = _kernel_source("mm/vmalloc.c")
    purge = _body(src, "__purge_vmap_area_lazy")
    assert purge.index("decay_va_pool_node(") < purge.index("list_replace_init(&vn->lazy.head")
    assert re.search(r"is_vn_id_valid\(vn_id\)\s*\?\s*id_to_node\(vn_id\)\s*:\s*addr_to_node\(va->va_start\)",
                     _body(src, "free_vmap_area_noflush"))
    assert re.search(r"is_vn_id_valid\(vn_id\) && !vn->skip_populate", _body(src, "purge_vmap_node"))
    init = _body(src, "vmap_init_nodes")
    assert "#if BITS_PER_LONG == 64" in init and "vmap_zone_size = (1 << 4) * PAGE_SIZE" in init
    assert "raw_smp_processor_id() % nr_vmap_nodes" in _body(src, "node_alloc")


def test_kernel_source_test_vmalloc_parameters():
    """kernel-model.md §5.1 and §5.3, read in 6.12's lib/test_vmalloc.c: nr_threads clamped to
    1..USHRT_MAX; nr_pages used by fix_size_alloc_test and vm_map_ram_test only; use_huge exists;
    a Summary line per test inside the per-worker loop, then the worker's cycles."""
    src = _kernel_source("lib/test_vmalloc.c")
    assert "nr_threads = clamp(nr_threads, 1, (int) USHRT_MAX);" in src
    users = {name for name in re.findall(r"^(?:static )?int\s+(\w+_test)\(void\)", src, re.M)
             if "nr_pages" in _body(src, name)}
    assert users == {"fix_size_alloc_test", "vm_map_ram_test"}
    assert "__param(bool, use_huge" in src
    main = src[src.index("Summary: %s"):]
    assert main.index("Summary: %s") < main.index("All test took worker%d")


def test_nb04_from_6_10_a_third_of_the_busy_lock_takes_go():
    """NB04 "After 6.9": a fix_size pair took the busy locks three times in 6.9 (insert, bind, the vfree's
    lookup) and twice from 6.10 (the vm_struct bound in the insert's hold): about a third fewer takes."""
    from vmaplab.contention.locks import lock_group
    from vmaplab.contention.sim import ContentionSim
    takes = {}
    for version in ("6.9", "6.12"):
        r = ContentionSim(version, nr_threads=8, scale=20000, seed=1, params={"run_test_mask": 1}).run()
        takes[version] = sum(lk["acquisitions"] for lk in r.locks if lock_group(lk["lock"]) == "vn[*].busy.lock")
    assert abs(takes["6.12"] / takes["6.9"] - 2 / 3) < 0.02, takes
