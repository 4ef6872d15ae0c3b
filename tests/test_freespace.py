# SPDX-License-Identifier: MIT
"""The free tree (§2.6, §4.3): fit types, merges, lowest match, and one suite over two implementations."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmaplab import ULONG_MAX, FreeSpace, InvariantError, LinearFreeSpace, VmapArea
from vmaplab.kernel.freespace import (
    FL_FIT_TYPE,
    LE_FIT_TYPE,
    NE_FIT_TYPE,
    NOTHING_FIT,
    RE_FIT_TYPE,
    align_up,
    classify_va_fit_type,
    find_vmap_lowest_linear_match,
    find_vmap_lowest_match,
    is_within_this_va,
)

P = 0x1000


def ranges(fs):
    return [(v.va_start, v.va_end) for v in fs]


def test_initial_free_space_is_one_to_ulong_max():
    # §2.6: [1, ULONG_MAX) minus the early areas
    assert ranges(FreeSpace()) == [(1, ULONG_MAX)]
    assert ranges(FreeSpace([(0x10000, 0x12000)])) == [(1, 0x10000), (0x12000, ULONG_MAX)]


def test_classify_fit_types():
    va = VmapArea(0x10000, 0x14000)
    assert classify_va_fit_type(va, 0x10000, 0x4000) == FL_FIT_TYPE
    assert classify_va_fit_type(va, 0x10000, 0x1000) == LE_FIT_TYPE
    assert classify_va_fit_type(va, 0x13000, 0x1000) == RE_FIT_TYPE
    assert classify_va_fit_type(va, 0x11000, 0x1000) == NE_FIT_TYPE
    assert classify_va_fit_type(va, 0xF000, 0x1000) == NOTHING_FIT
    assert classify_va_fit_type(va, 0x13000, 0x2000) == NOTHING_FIT


def test_the_four_clips_and_the_three_merges_by_hand():
    fs = FreeSpace()
    # NE: the block [1, MAX) starts below vstart, so the request starts at vstart, mid-block
    assert fs.alloc(P, 1, 0x10000, 0x20000) == 0x10000
    assert ranges(fs) == [(1, 0x10000), (0x11000, ULONG_MAX)]
    # LE: the block starts exactly at vstart
    assert fs.alloc(P, 1, 0x11000, 0x20000) == 0x11000
    assert ranges(fs) == [(1, 0x10000), (0x12000, ULONG_MAX)]
    # RE: a window that exactly fits ends where the block ends
    assert fs.alloc(P, 1, 0xF000, 0x10000) == 0xF000
    assert ranges(fs) == [(1, 0xF000), (0x12000, ULONG_MAX)]
    # a lone hole, then FL: the block disappears
    fs.free(VmapArea(0x10000, 0x11000))
    assert ranges(fs) == [(1, 0xF000), (0x10000, 0x11000), (0x12000, ULONG_MAX)]
    assert fs.alloc(P, 1, 0x10000, 0x20000) == 0x10000
    assert ranges(fs) == [(1, 0xF000), (0x12000, ULONG_MAX)]
    # merge with prev, with next, then with both
    fs.free(VmapArea(0xF000, 0x10000))
    assert ranges(fs) == [(1, 0x10000), (0x12000, ULONG_MAX)]
    fs.free(VmapArea(0x11000, 0x12000))
    assert ranges(fs) == [(1, 0x10000), (0x11000, ULONG_MAX)]
    fs.free(VmapArea(0x10000, 0x11000))
    assert ranges(fs) == [(1, ULONG_MAX)]
    assert not fs.tree.check()


def test_overlapping_free_is_refused_with_the_kernel_warning():
    log = []
    fs = FreeSpace(warn=log.append)
    with pytest.raises(InvariantError):
        fs.free(VmapArea(0x10000, 0x11000))
    assert log == ["vmalloc bug: 0x10000-0x11000 overlaps with 0x1-0xffffffffffffffff"]
    assert ranges(fs) == [(1, ULONG_MAX)]


def test_lowest_match_picks_lowest_fitting_hole():
    fs = FreeSpace()
    base = 0x100000
    addrs = [fs.alloc(P, 1, base, 1 << 40) for _ in range(10)]
    assert addrs == [base + i * P for i in range(10)]
    for i in (7, 2, 5):
        fs.free(VmapArea(addrs[i], addrs[i] + P))
    assert fs.alloc(P, 1, base, 1 << 40) == addrs[2]       # lowest of the three holes
    assert fs.alloc(2 * P, 1, base, 1 << 40) == base + 10 * P  # no hole holds two pages


def test_alignment_wraps_like_64_bit_c():
    # §5.2 align_shift_alloc_test: ALIGN(VMALLOC_START, 1 << 46) wraps to 0 and is rejected
    start = 0xffffc90000000000
    assert align_up(start, 1 << 45) == 0xffffe00000000000
    assert align_up(start, 1 << 46) == 0
    va = VmapArea(start, 0xffffe8ffffffffff)
    assert is_within_this_va(va, P, 1 << 45, start)
    assert not is_within_this_va(va, P, 1 << 46, start)


def _random_ops(seed, n, aligned):
    r = random.Random(seed)
    live = []
    for _ in range(n):
        if live and r.random() < 0.45:
            yield ("free", live.pop(r.randrange(len(live))))
        else:
            size = P * r.randint(1, 6)
            align = r.choice([1, P, 4 * P, 16 * P]) if aligned else r.choice([1, P])
            vstart = 0x100000 + P * r.randint(0, 64)
            yield ("alloc", size, align, vstart, 0x100000 + 512 * P, live)


def _replay(fs, ops, after_alloc=None):
    """Apply a _random_ops stream to a FreeSpace."""
    for op in ops:
        if op[0] == "free":
            fs.free(VmapArea(op[1][0], op[1][0] + op[1][1]))
            continue
        _, size, align, vstart, vend, live = op
        a = fs.alloc(size, align, vstart, vend)
        if a is not None:
            live.append((a, size))
        if after_alloc is not None:
            after_alloc(size, vstart)


@pytest.mark.parametrize("seed", range(5))
def test_tree_matches_linear_reference(seed):
    """One suite over two implementations: with alignments up to a page, results are identical."""
    fs, lin = FreeSpace(), LinearFreeSpace()
    for op in _random_ops(seed, 3000, aligned=False):
        if op[0] == "free":
            start, size = op[1]
            fs.free(VmapArea(start, start + size))
            lin.free(start, start + size)
        else:
            _, size, align, vstart, vend, live = op
            a, b = fs.alloc(size, align, vstart, vend), lin.alloc(size, align, vstart, vend)
            assert a == b
            if a is not None:
                live.append((a, size))
        assert ranges(fs) == lin.as_tuples()
    assert not fs.tree.check()


@settings(deadline=None)     # examples: the loaded profile
@given(seed=st.integers(0, 2**32 - 1), size_pages=st.integers(1, 8), align_shift=st.integers(0, 20),
       vstart_pages=st.integers(0, 300))
def test_adjusted_search_property(seed, size_pages, align_shift, vstart_pages):
    """With the padding allowance the tree may skip small blocks, but never a block that is
    large enough for any padding and starts at or after vstart (§4.3)."""
    fs = FreeSpace()
    _replay(fs, _random_ops(seed, 400, aligned=True))
    size, align, vstart = size_pages * P, 1 << align_shift, 0x100000 + vstart_pages * P
    got = find_vmap_lowest_match(fs.tree, size, align, vstart, True)
    exact = find_vmap_lowest_match(fs.tree, size, align, vstart, False)
    assert exact is find_vmap_lowest_linear_match(fs.tree, size, align, vstart)
    assert got is None or is_within_this_va(got, size, align, vstart)
    bound = next((v for v in fs.tree if v.va_start >= vstart and v.size >= size + align - 1), None)
    if bound is not None:
        assert got is not None and got.va_start <= bound.va_start


def test_exact_search_equals_linear_scan_for_any_alignment():
    """DEBUG_AUGMENT_LOWEST_MATCH_CHECK compares the unadjusted search with the linear one."""
    fs = FreeSpace()

    def compare(size, vstart):
        for al in (1, P, 8 * P):
            assert (find_vmap_lowest_match(fs.tree, size, al, vstart, False)
                    is find_vmap_lowest_linear_match(fs.tree, size, al, vstart))
    _replay(fs, _random_ops(7, 2000, aligned=True), after_alloc=compare)
