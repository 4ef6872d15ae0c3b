# SPDX-License-Identifier: MIT
"""The allocator-driven contention simulator: theory properties and the direction of the effect."""
import json

import pytest

from vmaplab.cli import main
from vmaplab.contention.costs import ContentionCosts
from vmaplab.contention.profile import Profile, call_path
from vmaplab.contention.sim import ContentionSim


def small(version, **kw):
    opts = dict(nr_threads=8, nr_cpus=8, scale=5000, params={"run_test_mask": 7})
    opts.update(kw)
    return ContentionSim(version, **opts).run()


def test_one_cpu_never_spins(version):
    r = small(version, nr_threads=1, nr_cpus=1)
    assert r.spin_ns == 0 and r.slowpath_self_pct == 0
    assert all(lk["contended"] == 0 for lk in r.locks)


def test_same_seed_same_result():
    a, b = small("6.9", seed=3).as_dict(), small("6.9", seed=3).as_dict()
    assert a == b
    assert small("6.9", seed=4).as_dict() != a


def test_the_series_reduces_spinning_and_wall_time():
    before, after = small("6.8"), small("6.9")
    assert before.slowpath_self_pct > 2 * after.slowpath_self_pct
    assert before.wall_s > after.wall_s
    # every worker passed its three tests in both runs
    for r in (before, after):
        summary = [s for s in r.summary if s.startswith("Summary")]
        assert len(summary) == 24 and all("passed: 1 failed: 0" in s for s in summary)


def test_pools_carry_much_of_the_gain():
    with_pools, without = small("6.9"), small("6.9", pools=False)
    assert without.wall_s > with_pools.wall_s


def test_spin_is_attributed_to_the_slow_path_under_raw_spin_lock():
    r = small("6.8")
    rows = {row["symbol"]: row for row in r.profile}
    slow = rows["native_queued_spin_lock_slowpath"]
    assert abs(slow["self_pct"] - r.slowpath_self_pct) < 1e-6
    assert rows["_raw_spin_lock"]["children_pct"] >= slow["children_pct"]
    assert rows["kthread"]["children_pct"] > 99


def test_profile_children_and_self_by_hand():
    p = Profile()
    p.add(("a", "b"), 30)
    p.add(("a", "c"), 10)
    p.add(("a",), 60)
    rows = {r["symbol"]: (r["children_pct"], r["self_pct"]) for r in p.table()}
    assert rows == {"a": (100.0, 60.0), "b": (30.0, 30.0), "c": (10.0, 10.0)}
    assert call_path("spin", ("fix_size_alloc_test", "vmalloc"), "alloc_vmap_area")[-4:] == (
        "__get_vm_area_node", "alloc_vmap_area", "_raw_spin_lock", "native_queued_spin_lock_slowpath")


def test_step_api_and_timeline_window():
    sim = ContentionSim("6.9", nr_threads=4, nr_cpus=4, scale=5000, params={"run_test_mask": 1},
                        timeline_window_ns=(0, 50_000))
    for _ in range(50):
        assert sim.step()
    snap = sim.snapshot()
    assert snap["t_ns"] > 0 and len(snap["cpus"]) == 4
    res = sim.run()
    assert res.timeline and all(t1 >= t0 for _c, t0, t1, *_ in res.timeline)
    assert {state for _c, _t0, _t1, state, *_ in res.timeline} <= {"run", "cs", "spin", "ipi"}


def test_simulate_cli_json(capsys):
    assert main(["simulate", "run_test_mask=1", "nr_threads=4", "--cpus", "4", "--scale", "20000",
                 "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)             # stdout is exactly one JSON document
    assert captured.err.startswith("ARG simulate run_test_mask=1")    # the echo goes to stderr
    assert set(data) == {"6.8", "6.9", "ratio"}
    for v in ("6.8", "6.9"):
        assert {"wall_s", "slowpath_self_pct", "profile", "locks"} <= set(data[v])
    assert data["ratio"] == pytest.approx(data["6.8"]["wall_s"] / data["6.9"]["wall_s"])


def test_one_node_makes_6_9_behave_like_6_8():
    # contention-model.md §7.2 sanity: nr_nodes = 1 in 6.9 ~ 6.8 (no pools; per-node locks become global)
    one_node, old = small("6.9", nr_vmap_nodes=1), small("6.8")
    assert abs(one_node.wall_s / old.wall_s - 1) < 0.25
    assert one_node.slowpath_self_pct > 2 * small("6.9").slowpath_self_pct


def test_nr_vmap_nodes_what_if_is_validated():
    from vmaplab import ConfigError, Vmalloc
    for bad in (0, 5, 200):
        with pytest.raises(ConfigError):
            Vmalloc(nr_cpus=4, nr_vmap_nodes=bad)
    with pytest.raises(ConfigError):
        Vmalloc(nr_cpus=4, version="6.8", nr_vmap_nodes=1)
    assert Vmalloc(nr_cpus=8, nr_vmap_nodes=2).nr_vmap_nodes == 2


def test_warm_start_only_where_it_applies():
    assert ContentionSim("6.9", nr_threads=2, scale=1000).warm_start
    assert not ContentionSim("6.9", nr_threads=2, scale=1).warm_start          # an unscaled run is its own steady state
    assert not ContentionSim("6.8", nr_threads=2, scale=1000).warm_start       # no pools to warm
    assert not ContentionSim("6.9", nr_threads=2, scale=1000, pools=False).warm_start
    assert not ContentionSim("6.9", nr_threads=2, scale=1000, warm_start=False).warm_start


def test_warm_start_measures_turns_and_lifts_the_pool_hit_rate():
    """A scaled fix_size loop is a handful of purge intervals long: cold, its first interval misses."""
    def run(warm):
        sim = ContentionSim("6.9", nr_threads=8, scale=500, params={"run_test_mask": 1}, warm_start=warm)
        res = sim.run()
        sim.vm.check()
        st = res.allocator
        return sim, st["pool_hits"] / (st["pool_hits"] + st["pool_misses"]), res
    warm, warm_rate, warm_res = run(True)
    cold, cold_rate, cold_res = run(False)
    seen = warm.warm.turns_per_interval["fix_size_alloc_test [test_vmalloc]"]
    # 8 workers freeing 2 pages a turn: an interval is about lazy_max_pages / 16 turns of each
    expect = warm.vm.lazy_max_pages() / 16
    assert seen and all(0.5 * expect < t < 2 * expect for t in seen)
    assert warm_rate > cold_rate + 0.05 and warm_res.wall_s < cold_res.wall_s


def test_purged_vas_are_local_work_in_purge_vmap_node():
    """Each VA a purge accounts costs purge_va_ns outside any lock, under purge_vmap_node in 6.9."""
    base = small("6.9")
    free = small("6.9", costs=ContentionCosts().with_(purge_va_ns=0.0))
    sym = {r["symbol"]: r["self_pct"] for r in base.profile}
    assert sym.get("purge_vmap_node", 0) > 0
    assert "purge_vmap_node" not in {r["symbol"] for r in free.profile if r["self_pct"] > 0}
    assert base.wall_s > free.wall_s


def test_simulate_cli_text_splits_the_slow_path_by_lock(capsys):
    assert main(["simulate", "run_test_mask=7", "nr_threads=8", "--scale", "20000", "--quiet",
                 "--drain", "kworker"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip().startswith("slow path by lock:")]
    assert len(lines) == 2 and "vmap_area_lock" in lines[0] and "vn[*].busy.lock" in lines[1]
    # the shares add up to the slow path's self share printed above them
    for ln, wall in zip(lines, [w for w in out.splitlines() if w.startswith("wall time")]):
        total = sum(float(part.split()[-1].rstrip("%")) for part in ln.split(":", 1)[1].split(","))
        assert total == pytest.approx(float(wall.split("self ")[1].rstrip("%")), abs=0.05)
    assert "critical section (lock)" in out and "purge helpers" in out


def test_cost_overrides_are_typed_and_bad_ones_change_nothing(capsys):
    base = ContentionCosts()
    c = base.with_overrides(["f_smt=1.3", "clear_page_ns=60", "f_smt_clear=1", "init_on_alloc=false",
                             "k_hot=10", "cache_model=depth"])
    assert (c.f_smt, c.calls.clear_page_ns, c.f_smt_clear, c.calls.init_on_alloc, c.k_hot, c.cache_model) == \
        (1.3, 60.0, 1.0, False, 10, "depth")
    assert base == ContentionCosts()                     # a copy: the defaults are untouched
    for bad, why in (["nope=1"], "unknown cost 'nope'"), (["f_smt"], "NAME=VALUE"), \
                    (["f_smt=x"], "wants a number"), (["t_mem_ns=-5"], "in 0.."), (["init_on_alloc=2"], "true or false"):
        with pytest.raises(ValueError, match=why):
            base.with_overrides(bad)
    assert main(["simulate", "--cost", "f_smt=fast", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "f_smt wants a number" in err and "Traceback" not in err


def test_clear_page_smt_factor_applies_only_to_clearing():
    # with f_smt_clear = 1 only clear_page stops slowing down next to a busy sibling: a shorter run
    # whose clear_page self time drops by about f_smt, while the other page work keeps its share
    def run(**kw):          # every CPU's SMT sibling (c + 32) runs a worker
        r = small("6.9", nr_threads=64, nr_cpus=64, scale=20000, costs=ContentionCosts(**kw),
                  params={"run_test_mask": 4})
        return r, {row["symbol"]: row["self_pct"] * r.busy_ns for row in r.profile}
    (a, pa), (b, pb) = run(), run(f_smt_clear=1.0)
    assert b.wall_s < a.wall_s
    assert pb["clear_page_rep"] / pa["clear_page_rep"] == pytest.approx(1 / 1.6, rel=0.1)
    assert pb["vmap_pages_range"] / pa["vmap_pages_range"] == pytest.approx(1.0, rel=0.1)


def test_fewer_workers_than_cpus_are_spread_like_the_scheduler():
    from vmaplab.contention.topology import generic, threadripper_3970x
    order = threadripper_3970x(64).spread_order()
    assert order[:9] == [0, 4, 8, 12, 16, 20, 24, 28, 1] and order[32:34] == [32, 36] and sorted(order) == list(range(64))
    assert generic(5).spread_order() == [0, 1, 2, 3, 4]
    cpus = lambda **kw: [w.cpu for w in ContentionSim("6.9", scale=1000, **kw).run_.workers]  # noqa: E731
    assert cpus(nr_threads=3, nr_cpus=64) == [0, 4, 8]
    assert cpus(nr_threads=3, nr_cpus=64, placement="packed") == [0, 1, 2]
    assert cpus(nr_threads=64, nr_cpus=64) == list(range(64))          # a full machine keeps CPU i for worker i
    with pytest.raises(ValueError, match="placement"):
        ContentionSim("6.9", nr_threads=2, nr_cpus=4, placement="random")
    # two workers in different core complexes pass their lines across the chip: slower pairs than next door
    wall = {p: small("6.8", nr_threads=2, nr_cpus=64, scale=20000, params={"run_test_mask": 1}, placement=p).wall_s
            for p in ("spread", "packed")}
    assert wall["spread"] > 1.3 * wall["packed"]


def test_cold_start_flag_leaves_the_pools_as_the_previous_loop_left_them(capsys):
    def misses(*extra):
        assert main(["simulate", "run_test_mask=7", "nr_threads=8", "--cpus", "8", "--scale", "20000",
                     "--version", "6.9", "--json", "--quiet", *extra]) == 0
        out = capsys.readouterr().out
        stats = json.loads(out[out.index("{"):])["6.9"]["allocator"]
        return stats["pool_misses"] / (stats["pool_hits"] + stats["pool_misses"])
    assert misses("--cold-start") > misses() + 0.05


def test_waiting_for_a_lock_the_caller_took_is_under_the_caller():
    """alloc_vmap_area takes the busy lock and calls insert_vmap_area with it held (contention-model.md §2.4)."""
    who = ("long_busy_list_alloc_test", "vmalloc")
    spin = call_path("spin", who, "insert_vmap_area", "6.9")
    assert spin[-3:] == ("alloc_vmap_area", "_raw_spin_lock", "native_queued_spin_lock_slowpath")
    assert "insert_vmap_area" not in spin and "insert_vmap_area" not in call_path("fast", who, "insert_vmap_area")
    assert call_path("cs", who, "insert_vmap_area", "6.9")[-2:] == ("alloc_vmap_area", "insert_vmap_area")
    free = ("long_busy_list_alloc_test", "vfree")
    for version, callee in (("6.8", "merge_or_add_vmap_area"), ("6.9", "insert_vmap_area")):
        lazy = call_path("spin", free, "free_vmap_area_noflush", version)
        assert lazy[-3:] == ("free_vmap_area_noflush", "_raw_spin_lock", "native_queued_spin_lock_slowpath")
        assert call_path("cs", free, "free_vmap_area_noflush", version)[-1] == callee
    # find_unlink_vmap_area takes its lock itself: the waiting is under it
    assert call_path("spin", free, "find_unlink_vmap_area")[-3] == "find_unlink_vmap_area"


def test_sections_say_where_the_busy_searches_own_paths_were():
    """§6.5: only busy-tree sections have searches among the setup areas; each is counted once."""
    r = small("6.9", machine="threadripper-3970x", nr_cpus=64, nr_threads=8)
    rows = {(s["lock"], s["section"]): s for s in r.sections}
    insert = rows[("vn[*].busy.lock", "insert_vmap_area")]
    own = insert["own_path"]
    assert 0 < own["l2"] + own["l3"] + own["memory"] + own["never"] <= 1.0 + 1e-9
    for (lock, _section), s in rows.items():
        if "busy" not in lock:
            assert sum(s["own_path"].values()) == 0
    off = small("6.9", machine="threadripper-3970x", nr_cpus=64, nr_threads=8,
                costs=ContentionCosts(cache_capacity=False))
    assert all(sum(s["own_path"].values()) == 0 for s in off.sections)
