# SPDX-License-Identifier: MIT
"""Lesson models: frames agree with the linear oracle, scripts meet what they promise, bad input is refused."""
import pytest

from vmaplab import PAGE_SIZE, InvalidArgumentError, LinearFreeSpace
from vmaplab.course.lessons import (
    DEFAULT_TREE_SCRIPT,
    LESSON_BASE,
    FreeTreeDemo,
    PoolsDemo,
    busy_by_node,
    free_tree_quiz,
    sharding_workload,
    zone_nodes,
)
from vmaplab.kernel.config import ULONG_MAX


def test_free_tree_frames_match_a_linear_first_fit_oracle():
    demo = FreeTreeDemo(64, ())
    oracle = LinearFreeSpace([(1, LESSON_BASE), (LESSON_BASE + 64 * PAGE_SIZE, ULONG_MAX)])
    lo, hi = LESSON_BASE, LESSON_BASE + 64 * PAGE_SIZE
    allocs = []
    for op in DEFAULT_TREE_SCRIPT:
        frame = demo.apply(op)
        if op[0] == "alloc":
            want = oracle.alloc(op[1] * PAGE_SIZE, op[2] * PAGE_SIZE, lo, hi)
            allocs.append(want)
            assert frame.result == ((want - lo) // PAGE_SIZE, (want - lo) // PAGE_SIZE + op[1])
        else:
            s = allocs[op[1]]
            oracle.free(s, s + (frame.result[1] - frame.result[0]) * PAGE_SIZE)
        free = [((s - lo) // PAGE_SIZE, (e - lo) // PAGE_SIZE) for s, e in oracle.as_tuples() if lo <= s < hi]
        assert [(n["start"], n["end"]) for n in frame.after] == free
        # subtree_max_size of every node is the largest block below it
        for n in frame.after:
            below = [m for m in frame.after if _under(frame.after, m, n)]
            assert n["smax"] == max(m["end"] - m["start"] for m in below)


def _under(nodes, m, n):
    while m is not None:
        if m is n:
            return True
        m = nodes[m["parent"]] if m["parent"] is not None else None
    return False


def test_default_script_meets_every_fit_type_and_merge():
    outcomes = {f.outcome for f in FreeTreeDemo().frames}
    assert {"FL_FIT_TYPE", "LE_FIT_TYPE", "RE_FIT_TYPE", "NE_FIT_TYPE", "inserted as a new block",
            "merged with the previous block", "merged with the next block", "merged with both neighbours"} <= outcomes


def test_search_path_ends_at_the_chosen_block():
    for f in FreeTreeDemo().frames:
        if f.kind == "alloc" and f.found is not None:
            assert f.path[-1] == f.found and f.path[0] == next(n["x"] for n in f.before if n["parent"] is None)


@pytest.mark.parametrize("op", [("alloc", 0, 1), ("alloc", 2, 3), ("free", 99), ("grow", 1)])
def test_bad_lesson_steps_are_refused_and_change_nothing(op):
    demo = FreeTreeDemo()
    frames, free = len(demo.frames), demo.free_ranges()
    with pytest.raises(InvalidArgumentError):
        demo.apply(op)
    assert len(demo.frames) == frames and demo.free_ranges() == free


def test_quiz_is_seeded():
    assert free_tree_quiz(7).question == free_tree_quiz(7).question
    assert free_tree_quiz(7).answer == free_tree_quiz(7).answer
    assert len({free_tree_quiz(s).question for s in range(10)}) > 5


def test_zone_nodes_follow_the_formula_and_the_cap():
    z = zone_nodes(8, zone_pages=4, nr_zones=40)
    assert z["zone_size"] == 4 * PAGE_SIZE and z["node"] == [((z["start"] // z["zone_size"]) + i) % 8 for i in range(40)]
    assert zone_nodes(1000, nr_zones=1)["nr_vmap_nodes"] == 128
    with pytest.raises(InvalidArgumentError):
        zone_nodes(8, nr_zones=0)


def test_one_hot_cpu_still_spreads_busy_areas_over_all_nodes():
    rows = busy_by_node(sharding_workload(nr_cpus=8, nr_areas=400, seed=0, hot_cpus=1))
    counts = [r["areas"] for r in rows]
    assert sum(counts) == 400 and min(counts) > 400 / 8 / 2


def test_pools_demo_decays_by_a_quarter_and_empties_short_pools():
    demo = PoolsDemo()
    seen = set()
    for f in demo.frames:
        for _node, _idx, before, removed, full in f.decays:
            if not before:
                continue
            if full or before < 4:
                assert removed == before
                seen.add("full" if full else "short")
            else:
                assert removed == before // 4
                seen.add("quarter")
    assert seen == {"full", "short", "quarter"}
    assert demo.frames[-1].misses > demo.frames[-2].misses        # after the shrinker, allocations miss
    assert PoolsDemo().frames == demo.frames                      # deterministic


def test_pools_demo_refuses_unknown_steps():
    with pytest.raises(InvalidArgumentError):
        PoolsDemo(script=(("explode",),))


def test_busy_by_node_counts_the_recorded_owner_beside_the_address_shard():
    from vmaplab.course.lessons import busy_by_node, sharding_workload
    rows = busy_by_node(sharding_workload(nr_cpus=8, nr_areas=200, seed=1, hot_cpus=2))
    assert sum(r["by_cpu"] for r in rows) == sum(r["areas"] for r in rows) == 200
    assert [r["by_cpu"] > 0 for r in rows] == [True, True] + [False] * 6      # only CPUs 0 and 1 allocated
    assert all(r["areas"] > 0 for r in rows)                                   # the address spreads them


def test_address_cells_show_the_zone_size_and_the_wrap():
    from vmaplab.course.lessons import address_cells
    c = address_cells(200, zone_pages=16, cell_pages=4)
    assert c["nr_vmap_nodes"] == 128 and c["wraps"]
    assert c["node"][:8] == [0, 0, 0, 0, 1, 1, 1, 1] and c["node"][128 * 4] == 0
    with pytest.raises(InvalidArgumentError, match="cell_pages must divide zone_pages"):
        address_cells(4, zone_pages=16, cell_pages=3)


def test_the_128_page_script_grows_a_tree_worth_drawing_and_meets_every_fit():
    from vmaplab.course.lessons import TREE_SCRIPT_128
    demo = FreeTreeDemo(128, TREE_SCRIPT_128)
    assert max(len(f.after) for f in demo.frames) >= 10
    assert {f.outcome for f in demo.frames if f.kind == "alloc"} == {"FL_FIT_TYPE", "LE_FIT_TYPE", "NE_FIT_TYPE",
                                                                       "RE_FIT_TYPE"}
    assert any("previous" in f.outcome or "previous" in f.title or "previous" in f.explain for f in demo.frames)
