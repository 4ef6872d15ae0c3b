# SPDX-License-Identifier: MIT
"""The free tree's shape from the guest (docs/oracle.md §4): FreeSpace.adopt_shape / RBTree.adopt_shape on
tiny hand-built trees and its refusals (nothing changes); the recorded kernels' trees adopted and kept
node for node; and (marked oracle, slow) the unplugged twins on 6.12, boot after boot. The probe's
sections themselves are parsed in tests/test_oracle.py."""
from __future__ import annotations

import os
import random
import time
from typing import NamedTuple

import pytest

from vmaplab.kernel.area import VmapArea
from vmaplab.kernel.config import PAGE_SIZE, ULONG_MAX
from vmaplab.kernel.errors import VmallocError
from vmaplab.kernel.freespace import FreeBlock, FreeSpace
from vmaplab.kernel.rbtree import RBTree, TreeShapeError
from vmaplab.oracle.scenario import load_scenario, shipped_scenarios

P = PAGE_SIZE
# Four free blocks, x < y < z < w:  x=[8P,24P) y=[30P,34P) z=[64P,200P) w=[300P,ULONG_MAX)
BUSY = [(1, 8 * P), (24 * P, 30 * P), (34 * P, 64 * P), (200 * P, 300 * P)]
X, Y, Z, W = (8 * P, 24 * P), (30 * P, 34 * P), (64 * P, 200 * P), (300 * P, ULONG_MAX)


def block(r, red, sms=None):
    return FreeBlock(r[0], r[1], red, sms)


def tiny() -> FreeSpace:
    fs = FreeSpace(BUSY)
    assert [(va.va_start, va.va_end) for va in fs] == [X, Y, Z, W]
    return fs


# Inserting x, y, z, w in address order gives: y black at the root, x and z black, w red right of z.
DEFAULT = [block(Y, False), block(X, False), block(Z, False), block(W, True)]
# The same blocks rooted at z: z black; y black on its left with x red below it; w black on its right.
ROOTED_AT_Z = [block(Z, False), block(Y, False), block(X, True), block(W, False)]


def test_shape_lists_the_tree_in_pre_order():
    fs = tiny()
    assert [(b.va_start, b.va_end, b.red) for b in fs.shape()] == [(b.va_start, b.va_end, b.red) for b in DEFAULT]
    assert fs.shape()[0].subtree_max_size == ULONG_MAX - 300 * P


def test_adopting_its_own_shape_changes_nothing():
    fs = tiny()
    before = fs.shape()
    fs.adopt_shape(before)
    assert fs.shape() == before and fs.tree.check() == []


def test_the_shape_decides_where_an_aligned_search_lands():
    """16-page alignment of 4 pages: x could hold it at 16P, but x alone (16 pages) is smaller than
    size + align - 1, so x's subtree is skipped unless x is on the search path (§4). Two blocks, x and w."""
    def two():
        return FreeSpace([(1, 8 * P), (24 * P, 300 * P)])
    fs = two()
    assert fs.tree.root.va_start == X[0]                        # inserted in order: x at the root, w red
    assert fs.alloc(4 * P, 16 * P, 1, ULONG_MAX) == 16 * P      # x on the path is checked exactly
    fs = two()
    fs.adopt_shape([block(W, False), block(X, True)])
    assert fs.tree.check() == []
    assert fs.tree.root.va_start == W[0] and fs.tree.root.left.va_start == X[0] and fs.tree.root.left.red
    assert fs.alloc(4 * P, 16 * P, 1, ULONG_MAX) == 304 * P     # x is a left leaf now: skipped; w, aligned
    assert fs.tree.check() == []


def test_adopt_recomputes_subtree_max_size_and_checks_a_given_one():
    fs = tiny()
    top = ULONG_MAX - 300 * P
    fs.adopt_shape([b._replace(subtree_max_size=s) for b, s in zip(ROOTED_AT_Z, (top, 16 * P, 16 * P, top))])
    assert fs.tree.check() == []
    assert fs.tree.root.va_start == Z[0] and fs.tree.root.subtree_max_size == top
    assert fs.tree.root.left.subtree_max_size == 16 * P


def test_the_list_and_counters_are_kept():
    fs = tiny()
    writes, visits, ops = fs.tree.writes, fs.tree.visits, fs.tree.ops
    objects = list(fs)
    fs.adopt_shape(ROOTED_AT_Z)
    assert list(fs) == objects and all(a is b for a, b in zip(fs, objects))
    assert (fs.tree.writes, fs.tree.visits, fs.tree.ops) == (writes, visits, ops)
    assert fs.tree.head is objects[0] and fs.tree.tail is objects[-1]


REFUSALS = [
    ("three of four", ROOTED_AT_Z[:3], "the shape has 3 free blocks, the model 4"),
    ("another block", [block(Z, False), block((30 * P, 33 * P), False), block(X, True), block(W, False)],
     "free block 1 in address order is 0x1e000-0x21000 in the shape, 0x1e000-0x22000 in the model"),
    ("a block twice", [block(Z, False), block(Z, False), block(X, True), block(W, False)], "free block 1"),
    ("not a pre-order", [block(X, False), block(Z, False), block(W, True), block(Y, True)],
     "not a search-tree pre-order"),
    ("red root", [block(Y, True), block(X, False), block(Z, False), block(W, True)], "the root"),
    ("red red", [block(Y, False), block(X, False), block(Z, True), block(W, True)], "has a red child"),
    ("black heights", [block(Y, False), block(X, False), block(Z, False), block(W, False)],
     "unequal black heights"),
    ("a chain", [block(X, False), block(Y, True), block(Z, False), block(W, True)], "unequal black heights"),
    ("subtree_max_size", [block(Z, False, 16 * P), *ROOTED_AT_Z[1:]], "gives subtree_max_size 0x10000"),
]


@pytest.mark.parametrize("why, blocks, message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_shape_names_the_problem_and_changes_nothing(why, blocks, message):
    fs = tiny()
    before = fs.shape()
    links = [(va.left, va.right, va.parent, va.red, va.subtree_max_size) for va in fs]
    with pytest.raises(TreeShapeError, match=message.replace("(", r"\(")) as e:
        fs.adopt_shape(blocks)
    assert isinstance(e.value, VmallocError)
    assert fs.shape() == before
    assert [(va.left, va.right, va.parent, va.red, va.subtree_max_size) for va in fs] == links
    assert fs.tree.check() == []


def test_an_empty_tree_adopts_an_empty_shape():
    t = RBTree("t", augmented=True)
    t.adopt_shape([])
    assert t.root is None and t.check() == []


def test_a_node_of_another_tree_is_refused():
    t = RBTree("t", augmented=True)
    t.insert(VmapArea(1, 10))
    other = VmapArea(1, 10)
    with pytest.raises(TreeShapeError, match="is not in the tree"):
        t.adopt_shape(RBTree("u", augmented=True).shape() or [t.shape()[0]._replace(va=other)])


@pytest.mark.parametrize("seed", range(8))
def test_any_insertion_order_gives_a_shape_another_tree_adopts(seed):
    """The same ranges inserted in a random order make a valid red-black tree of another shape;
    the address-ordered tree adopts it, and both then search alike (sortedcontainers-style, seeded)."""
    rng = random.Random(seed)
    starts = sorted(rng.sample(range(1, 1000), 60))
    ranges = [(s * 4 * P, s * 4 * P + rng.randint(1, 3) * P) for s in starts]     # 1..3 pages, apart
    src = RBTree("src", augmented=True)
    for a, b in rng.sample(ranges, len(ranges)):
        src.insert(VmapArea(a, b))
    dst = RBTree("dst", augmented=True)
    for a, b in ranges:
        dst.insert(VmapArea(a, b))
    by_start = {va.va_start: va for va in dst}
    dst.adopt_shape([ns._replace(va=by_start[ns.va.va_start]) for ns in src.shape()])
    assert dst.check() == []
    assert [(n.va.va_start, n.red, n.subtree_max_size) for n in dst.shape()] == \
        [(n.va.va_start, n.red, n.subtree_max_size) for n in src.shape()]


# -- the recorded answers (docs/oracle.md §7.3) ---------------------------------------------------------
def _shape_records():
    from vmaplab.oracle.records import load_all
    keep = ("align", "ioremap", "vm-map-ram", "unplugged", "vrealloc")
    return [r for r in load_all() if r.run.free_before is not None and any(k in r.scenario.name for k in keep)]


@pytest.mark.parametrize("record", _shape_records(), ids=lambda r: f"{r.series}/{r.scenario.name}")
def test_a_recorded_free_tree_is_adopted_and_the_final_trees_agree(record):
    """Where the shape matters (aligned searches, vmap blocks): the record's tree is adopted, and after the
    ops the model's free tree is the kernel's, node for node, colours and cached sizes included."""
    cmp = record.replay()
    assert cmp.free_tree == "kernel"
    assert cmp.free_tree_after == "same", cmp.free_tree_after


def test_a_record_without_the_free_tree_replays_on_the_rebuilt_shape():
    """Records made before the probe read the tree (short-pool-across-purges is shipped so, for the course's
    notebook 03) replay as they always did; so does any record with its sections cut out."""
    from dataclasses import replace

    from vmaplab.oracle.records import load_all
    from vmaplab.oracle.scenario import compare
    records = load_all()
    old = [r for r in records if r.run.free_before is None]
    assert old and all((c := r.replay()).free_tree == "rebuilt" and c.matched == len(c.ops) for r in old)
    new = next(r for r in records if r.scenario.name == "vrealloc-moved" and r.series == "6.12")
    cut = compare(new.scenario, replace(new.run, free_before=None, free_after=None), new.release, new.own_model)
    assert cut.free_tree == "rebuilt" and cut.free_tree_after == "" and cut.matched == len(cut.ops)


# -- the unplugged twins on the real kernel (docs/oracle.md §4) -----------------------------------------
TWIN_BOOTS = int(os.environ.get("VMAPLAB_TWIN_BOOTS", "10"))


class TwinRun(NamedTuple):
    round: int
    name: str
    matched: int
    total: int
    final: bool                 # the final /proc/vmallocinfo agrees, callers aside
    free_tree: str              # "kernel" when the model took the guest's shape
    free_tree_after: str        # "same" when the model's final tree is the kernel's, link for link


@pytest.mark.oracle
@pytest.mark.slow
def test_the_unplugged_twins_match_in_every_boot():
    """Each ``*-unplugged`` scenario (an aligned scenario without its plugs) matches its own model in every
    one of TWIN_BOOTS rounds on 6.12, every op and the final /proc/vmallocinfo, with the guest's free tree
    adopted. One round is four boots (the non-vm_map_ram twins share one; each vm_map_ram twin ends its
    own, run.boot_batches); measured once on this machine's 2 TCG cores: see docs/oracle.md §4."""
    from vmaplab.oracle.errors import OracleUnavailable
    from vmaplab.oracle.guest import require_tools
    from vmaplab.oracle.run import kernel_and_probe, run_scenarios
    try:
        require_tools()
        kernel_and_probe(progress=lambda msg: None, spec="6.12")
    except OracleUnavailable as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the real-kernel oracle is unavailable here: {e}")
    scns = [s for s in (load_scenario(p) for p in shipped_scenarios()) if s.name.endswith("-unplugged")]
    assert len(scns) >= 7
    rows: list[TwinRun] = []
    boots: set[tuple[int, float]] = set()       # (round, that boot's seconds): the guest's own time
    t0 = time.monotonic()
    for rnd in range(TWIN_BOOTS):
        for run in run_scenarios(scns, progress=lambda msg: None, kernel_spec="6.12"):
            cmp = run.comparisons[run.model]
            boots.add((rnd, run.boot_seconds))
            rows.append(TwinRun(rnd, run.scenario.name, cmp.matched, len(cmp.ops), cmp.final.match, cmp.free_tree,
                                cmp.free_tree_after))
    print(f"\n{TWIN_BOOTS} rounds of {len(scns)} twins on 6.12 in {time.monotonic() - t0:.0f} s: {len(boots)} boots, "
          f"{sum(s for _, s in boots):.0f} s in the guests")
    for r in rows:
        print(f"  round {r.round} {r.name:32} {r.matched}/{r.total} final={r.final} tree={r.free_tree[:60]} "
              f"after={r.free_tree_after[:60]}")
    bad = [r for r in rows if not (r.matched == r.total and r.final and r.free_tree == "kernel")]
    assert not bad, bad[:5]
