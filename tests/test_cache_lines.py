# SPDX-License-Identifier: MIT
"""The cache-line model the simulator attaches to the kernel's trees (RBTree.observer, contention-model.md §6.1)."""
import pytest

from vmaplab.contention.cachelines import CacheLineObserver
from vmaplab.contention.recorder import CriticalSection, LineTally
from vmaplab.contention.sim import ContentionSim
from vmaplab.kernel.area import VmapArea
from vmaplab.kernel.rbtree import RBTree


def _tree(n: int, cpu: int | None) -> RBTree:
    t = RBTree("t")
    t.observer = None if cpu is None else CacheLineObserver(cpu)
    for k in range(n):
        t.insert(VmapArea(k * 0x2000, k * 0x2000 + 0x1000))
    t.observer = None
    return t


def _as(t: RBTree, cpu: int) -> CacheLineObserver:
    t.observer = CacheLineObserver(cpu)
    return t.observer


def test_untracked_tree_leaves_lines_alone():
    t = _tree(7, None)
    assert all(va.line is None for va in t)
    t.find(0x2000)
    assert all(va.line is None for va in t)


def test_reads_transfer_from_the_writer_then_hit():
    t = _tree(15, cpu=0)                          # CPU 0 built it: every line is CPU 0's
    lines = _as(t, 1)
    v0 = t.visits
    t.find(14 * 0x2000)
    path = t.visits - v0
    assert lines.hits == 0 and lines.cold == 0 and lines.remote == [0] * path
    lines = _as(t, 1)
    t.find(14 * 0x2000)                           # CPU 1 has copies now
    assert lines.hits == path and lines.remote == []
    lines = _as(t, 0)
    t.find(14 * 0x2000)                           # reads do not invalidate the writer's copy
    assert lines.hits == path and lines.remote == []


def test_a_write_invalidates_other_copies():
    t = _tree(15, cpu=0)
    _as(t, 1)
    t.find(14 * 0x2000)                           # CPU 1 shares the path
    lines = _as(t, 1)
    t.erase(t.find(14 * 0x2000))                  # writes lines it read, which CPU 0 also holds:
    assert lines.remote == []                     # no fetch, an upgrade that invalidates CPU 0's copy
    assert lines.upgrades and set(lines.upgrades) == {0}
    lines = _as(t, 0)
    t.find(13 * 0x2000)
    assert 1 in lines.remote                      # CPU 0 now fetches what CPU 1 wrote


def test_a_blind_write_fetches_the_line_and_upgrades_cost_the_slowest_once():
    t = _tree(3, cpu=0)
    node = t.find(0x2000)
    lines = _as(t, 5)
    t.note_write(node)                            # CPU 5 never read it: a read for ownership from CPU 0
    assert lines.remote == [0] and lines.upgrades == [] and (node.line.writer, node.line.holders) == (5, 1 << 5)
    sim = ContentionSim("6.9", nr_threads=64, nr_cpus=64, scale=1000)
    item = CriticalSection("vn[0].busy.lock", "insert_vmap_area", 1, 0, 0, 10, LineTally(0, 0, [], [1, 4, 32], 0, []))
    c = sim.costs
    # three upgrades (same CCX 24 ns, across 94 ns, SMT sibling 6.5 ns) overlap: the slowest one counts
    assert sim.pricer.price(0, None, item) == pytest.approx(c.cs_base_ns + 94.0)


def test_a_fresh_struct_costs_nothing_to_link_and_prefilled_nodes_are_cold():
    t = _tree(1, None)                            # an untracked node: no cache has it
    lines = _as(t, 3)
    t.insert(VmapArea(0x10000, 0x11000))          # reads the old root (cold), links a new struct
    assert lines.cold == 1 and lines.remote == []


def _sections(sim):
    seen = []
    orig = sim.pricer.hold_ns

    def hold(cpu, lock, item):
        seen.append(item)
        return orig(cpu, lock, item)
    sim.pricer.hold_ns = hold
    return seen


def test_one_cpu_never_fetches_a_line_from_another():
    sim = ContentionSim("6.8", nr_threads=1, nr_cpus=4, scale=4000, params={"run_test_mask": 7})
    seen = _sections(sim)
    sim.run()
    tracked = [it.lines for it in seen if it.lines is not None]
    assert tracked and all(not remote and not upgrades for _h, _c, remote, upgrades, _l3, _p in tracked)
    assert sum(lines.hits for lines in tracked) > 0


def test_contended_sections_fetch_lines_and_the_depth_model_records_none():
    sim = ContentionSim("6.8", nr_threads=8, scale=4000, params={"run_test_mask": 1})
    seen = _sections(sim)
    sim.run()
    assert sum(len(it.lines.remote) for it in seen if it.lines is not None) > 0
    from vmaplab.contention.costs import ContentionCosts
    sim = ContentionSim("6.8", nr_threads=8, scale=4000, params={"run_test_mask": 1},
                        costs=ContentionCosts(cache_model="depth"))
    seen = _sections(sim)
    sim.run()
    assert seen and all(it.lines is None for it in seen)


@pytest.mark.parametrize("version, scale, expect", [
    ("6.9", 1000, {2: 120.0}),                      # the node's own CPU, where a helper runs it
    ("6.8", 1, {0: 120.0}),                         # one global list: the draining CPU
    ("6.8", 1000, {0: 30.0, 1: 30.0, 2: 30.0, 3: 30.0}),  # scaled: spread over the running CPUs
])
def test_purge_accounting_lands_where_the_kernel_would_run_it(version, scale, expect):
    sim = ContentionSim(version, nr_threads=4, scale=scale, params={"run_test_mask": 1})
    sim.start()
    sim.charge_purge_work(0, 120.0, 2)
    assert {c: st.purge_debt for c, st in enumerate(sim.cpus) if st.purge_debt} == pytest.approx(expect)


def test_sections_account_for_every_lock_hold():
    """The per-section table adds up to the lock table: same holds, same hold time."""
    res = ContentionSim("6.9", nr_threads=8, scale=4000, params={"run_test_mask": 7}).run()
    assert sum(d["holds"] for d in res.sections) == sum(lk["acquisitions"] for lk in res.locks) * 4000
    assert sum(d["hold_s"] for d in res.sections) == pytest.approx(sum(lk["hold_ns"] for lk in res.locks) / 1e9)
    groups = {d["lock"] for d in res.sections}
    assert "vn[*].busy.lock" in groups and "free_vmap_area_lock" in groups
    assert "sections" in res.as_dict()
    assert 0 <= res.as_dict()["overlapping_purges"] <= res.allocator["purges"]


def test_workers_warmed_together_get_interleaved_areas():
    """The real pools hold areas their workers took from the free tree in turn: so do the warmed ones."""
    sim = ContentionSim("6.9", nr_threads=4, scale=4000, params={"run_test_mask": 1})
    while len(sim.warm.warmed) < 4 and sim.step():
        pass
    assert len(sim.warm.warmed) == 4
    spans = []
    for node in range(4):
        starts = sorted(va.va_start for va in sim.vm.nodes[node].pool[1].va_list)
        assert starts
        spans.append((starts[0], starts[-1]))
    # every pool's lowest area lies below every other pool's highest one: the ranges overlap
    assert all(lo < hi2 for lo, _hi in spans for _lo2, hi2 in spans)


@pytest.mark.slow          # three 64-thread runs: about a minute on 2 cores
def test_kworker_drain_runs_one_purge_at_a_time():
    """The inline drain lets purges overlap in simulated time; drain="kworker" serialises them, seeded."""
    with pytest.raises(ValueError):
        ContentionSim("6.9", nr_threads=2, drain="later")
    inline = ContentionSim("6.9", nr_threads=64, scale=4000).run()
    assert inline.overlapping_purges > 0                       # the same counter sees overlaps inline
    runs = [ContentionSim("6.9", nr_threads=64, scale=4000, drain="kworker").run() for _ in range(2)]
    assert runs[0].allocator["purges"] > 1 and runs[0].overlapping_purges == 0
    assert runs[0].wall_ns == runs[1].wall_ns and runs[0].summary == runs[1].summary


def test_shared_counter_line_charges_one_transfer_from_the_last_writer():
    from vmaplab.contention.locks import SharedLine
    from vmaplab.contention.topology import threadripper_3970x
    line = SharedLine("vmap_lazy_nr", threadripper_3970x(64), rmw_ns=5.0)
    # first touch, same CPU again, its SMT sibling, a core of the same CCX, another CCX
    stalls = [line.rmw(c) for c in (0, 0, 32, 1, 4)]
    assert stalls == [5.0, 5.0, 6.5 + 5, 24.0 + 5, 94.0 + 5]
    assert line.as_dict() == {"line": "vmap_lazy_nr", "rmws": 5, "transfers": 3, "stall_ns": sum(stalls),
                              "mean_stall_ns": sum(stalls) / 5}


def test_lazy_free_adds_to_vmap_lazy_nr_before_taking_the_lazy_lock(version):
    sim = ContentionSim(version, nr_threads=2, nr_cpus=2, machine="generic", scale=1000,
                        params={"run_test_mask": 1, "test_loop_count": 20000})
    vm = sim.vm
    addr = vm.vmalloc(4096, cpu=0)
    sim.rec.items = []
    vm.vfree(addr, cpu=0)
    kinds = [it.section if isinstance(it, CriticalSection) else type(it).__name__ for it in sim.rec.items]
    at = kinds.index("AtomicUpdate")
    assert kinds[at + 1] == "free_vmap_area_noflush" and kinds.count("AtomicUpdate") == 1
    res = sim.run()                      # every lazy free of the run did one RMW, none of them queued
    line = res.atomics[0]
    assert line["line"] == "vmap_lazy_nr" and line["rmws"] >= 2 * 20000
    assert 0 < line["transfers"] < line["rmws"] and line["mean_stall_ns"] < 50 + 5 + 1e-9


def test_smt_factor_full_for_a_running_sibling_half_for_a_spinning_one():
    sim = ContentionSim("6.9", nr_threads=64, nr_cpus=64, scale=1000)
    for active, spin_until, expect in ((False, 0.0, 1.0), (True, 0.0, 1.6), (True, 1e9, 1.3)):
        sim.cpus[32].active, sim.cpus[32].spin_until = active, spin_until
        assert sim.smt_factors(0) == pytest.approx((expect, expect))


# -- finite caches (contention-model.md §6.4) -------------------------------------------------------
from vmaplab.contention.cachelines import LINE_BYTES, PAGE_BYTES, Caches, CapacityObserver, page_work_bytes  # noqa: E402
from vmaplab.contention.topology import TOPOLOGIES  # noqa: E402


def _caches() -> Caches:
    # the 3970X: CPUs 0 and 32 share core 0; CPUs 0-3 (and their siblings) share complex 0
    return Caches(TOPOLOGIES["threadripper-3970x"](64))


def _cap(t: RBTree, cpu: int, caches: Caches) -> CapacityObserver:
    t.observer = CapacityObserver(cpu, caches)
    return t.observer


def test_capacity_sizes_come_from_the_machine():
    c = _caches()
    assert (c.l2_bytes, c.l3_bytes) == (512 * 1024, 16 * 1024 * 1024)
    assert len(c.l2) == 32 and len(c.l3) == 8
    c7713 = Caches(TOPOLOGIES["epyc-7713"](128))
    assert c7713.l3_bytes == 32 * 1024 * 1024 and len(c7713.l3) == 8


def test_a_line_stays_in_l2_until_a_cache_full_of_bytes_went_through():
    c = _caches()
    t = _tree(15, cpu=None)
    _cap(t, 1, c)
    t.find(14 * 0x2000)                           # cold: nobody has these lines
    lines = _cap(t, 1, c)
    t.find(14 * 0x2000)
    path = lines.hits
    assert path > 0 and lines.cold == 0 and lines.l3 == 0
    # 100 cleared pages (400 KiB) leave the L2 (512 KiB) holding the path; 128 (512 KiB) evict it
    c.stream(1, page_work_bytes("vmalloc", 100, True))
    lines = _cap(t, 1, c)
    t.find(14 * 0x2000)
    assert lines.hits == path
    c.stream(1, 128 * PAGE_BYTES)
    lines = _cap(t, 1, c)
    t.find(14 * 0x2000)
    assert lines.hits == 0 and lines.l3 == path and lines.cold == 0     # still in the complex's L3
    # the SMT sibling (CPU 33 shares core 1) streams through the same L2
    c.stream(33, 128 * PAGE_BYTES)
    lines = _cap(t, 1, c)
    t.find(14 * 0x2000)
    assert lines.hits == 0 and lines.l3 == path
    # a complex-mate (CPU 2) finds the lines in the shared L3; another complex's CPU does not
    lines = _cap(t, 2, c)
    t.find(14 * 0x2000)
    assert lines.l3 == path
    lines = _cap(t, 4, c)                         # complex 1: a clean copy in complex 0, a transfer
    t.find(14 * 0x2000)
    assert lines.remote and lines.cold == 0 and lines.l3 == 0
    # 16 MiB through complex 0 and complex 1 evict them everywhere: memory
    for cpu in (0, 4):
        c.stream(cpu, 16 * 1024 * 1024)
    lines = _cap(t, 3, c)
    t.find(14 * 0x2000)
    assert lines.cold == path and lines.remote == [] and lines.hits == 0


def test_fetched_lines_count_as_stream_and_writes_move_the_line():
    c = _caches()
    t = _tree(15, cpu=None)
    lines = _cap(t, 0, c)
    t.find(14 * 0x2000)
    assert c.l2[0] == lines.cold * LINE_BYTES == c.l3[0]
    _cap(t, 8, c)                                 # CPU 8: core 8, complex 2
    t.erase(t.find(14 * 0x2000))
    lines = _cap(t, 0, c)
    t.find(13 * 0x2000)
    assert 8 in lines.remote                      # what CPU 8 wrote comes from CPU 8
    c.stream(8, 17 * 1024 * 1024)                 # ... until CPU 8's caches dropped it
    lines = _cap(t, 1, c)
    t.find(13 * 0x2000)
    assert 8 not in lines.remote


def test_page_work_bytes():
    assert page_work_bytes("vmalloc", 100, True) == 100 * (4096 + 64 + 8)
    assert page_work_bytes("vmalloc", 1, False) == 72
    assert page_work_bytes("vfree", 3, False) == 3 * 72
    assert page_work_bytes("vm_map_ram", 4, False) == 32
    assert page_work_bytes("kvfree_rcu", 4, False) == 0


def test_missing_levels_are_priced_like_the_clean_lines_read():
    from vmaplab.contention.costs import ContentionCosts
    from vmaplab.contention.pricing import SectionPricer
    costs = ContentionCosts()
    p = SectionPricer(costs, TOPOLOGIES["threadripper-3970x"](64), 1, None, None, set())
    # 2 L2 hits, 1 L3 hit, 1 memory miss: a missing level costs their mean
    mean = (2 * costs.t_hit_ns + costs.t_l3_ns + costs.t_mem_ns) / 4
    assert p._missing_levels_ns(3.0, 2, 1, 1) == pytest.approx(3 * mean)
    assert p._missing_levels_ns(3.0, 0, 0, 0) == 3 * costs.t_hit_ns
    assert p._missing_levels_ns(0.0, 2, 1, 1) == 0.0
    off = costs.with_(cache_capacity=False)
    cs = CriticalSection("vn[0].busy.lock", "insert_vmap_area", 1, 4, 2, 10,
                         LineTally(2, 1, [], [], 1, []))
    assert SectionPricer(off, TOPOLOGIES["threadripper-3970x"](64), 1, None, None, set()).price(0, None, cs) \
        == off.cs_base_ns + (2 + 2) * off.t_hit_ns + off.t_mem_ns
    assert p.price(0, None, cs) == costs.cs_base_ns + 4 * costs.t_hit_ns + costs.t_l3_ns + costs.t_mem_ns


# -- a key's own path among setup areas (contention-model.md §6.5) ---------------------------------
from vmaplab.workloads.test_vmalloc import SetupAreas  # noqa: E402


def test_setup_areas_know_what_lies_among_them():
    s = SetupAreas()
    assert not s.around(5)
    for a in (30, 10, 20):
        s.add(a)
    assert s.addrs == [10, 20, 30] and 20 in s and len(s) == 3
    assert s.around(10) and s.around(25) and s.around(30)
    assert not s.around(9) and not s.around(31)
    s.discard(30)
    s.discard(99)                                  # not there: nothing happens
    assert s.addrs == [10, 20] and not s.around(25)


def test_a_search_among_setup_areas_notes_where_its_path_was():
    c = _caches()
    t = _tree(15, cpu=None)                       # areas at 0, 0x2000, ... 14 * 0x2000
    setup = SetupAreas()
    for k in (0, 14):
        setup.add(k * 0x2000)
    obs = CapacityObserver(1, c, setup)
    t.observer = obs
    t.find(7 * 0x2000)                            # among setup areas, never searched by this core
    t.find(7 * 0x2000)                            # again at once: its L2
    c.stream(1, 128 * PAGE_BYTES)                 # a cache-full through the L2: its complex's L3
    t.find(7 * 0x2000)
    c.stream(1, 16 * 1024 * 1024)                 # 16 MiB through its core and complex 0: memory
    t.find(7 * 0x2000)
    assert obs.private == [-1, 2, 3, 0]
    setup.discard(14 * 0x2000)                    # now no setup area above the key: a shared path
    t.find(7 * 0x2000)
    assert obs.private == [-1, 2, 3, 0]
    t.observer = CapacityObserver(1, c, None)     # not a busy tree: nothing noted
    t.find(7 * 0x2000)
    assert t.observer.private == []


def test_own_path_levels_are_priced_by_where_the_path_was():
    from vmaplab.contention.costs import ContentionCosts
    from vmaplab.contention.pricing import SectionPricer
    costs = ContentionCosts()
    p = SectionPricer(costs, TOPOLOGIES["threadripper-3970x"](64), 1, None, None, set())
    assert p._own_path_ns([2, 3, 0], 4.0, 0, 0, 0) == pytest.approx(
        4 * (costs.t_hit_ns + costs.t_l3_ns + costs.t_mem_ns))
    # never searched there: like the clean lines the search read (one L2 hit, one memory)
    assert p._own_path_ns([-1], 4.0, 1, 0, 1) == pytest.approx(4 * (costs.t_hit_ns + costs.t_mem_ns) / 2)
    assert p._own_path_ns([], 4.0, 1, 0, 1) == 0.0


def test_setup_vmalloc_vm_writes_only_its_own_va():
    """contention-model.md §7.5: setup_vmalloc_vm binds va->vm under the busy lock and touches no other
    tree node, so its hold records exactly one write, no search, and, with the VA just inserted by the
    same CPU, no line from another CPU; priced as cs_base plus one L2 hit (23 ns), not as a list section
    paying the previous holder's written lines."""
    from vmaplab.contention.costs import ContentionCosts
    sim = ContentionSim("6.8", nr_threads=8, scale=4000, params={"run_test_mask": 1})
    seen = _sections(sim)
    sim.run()
    setups = [it for it in seen if it.section == "setup_vmalloc_vm"]
    assert setups and all(it.ops == 0 and it.writes == 1 and it.lines is not None for it in setups)
    local = [it for it in setups if not it.lines.remote and not it.lines.upgrades]
    assert len(local) > 0.9 * len(setups)            # another CPU's rebalancing rarely rewrote the VA between
    c = ContentionCosts()
    del sim.pricer.hold_ns                           # _sections' recording wrapper, back to the method
    assert sim.pricer.price(0, 1, local[0]) == pytest.approx(c.cs_base_ns + c.t_hit_ns)
