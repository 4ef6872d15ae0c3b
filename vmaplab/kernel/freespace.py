# SPDX-License-Identifier: MIT
"""The global free space: an augmented red-black tree of free VAs, and a linear reference.

Mirrors (kernel-model.md §2.6, §4.3): ``free_vmap_area_root``/``free_vmap_area_list``,
``is_within_this_va``, ``find_vmap_lowest_match`` (and its debug twin
``find_vmap_lowest_linear_match``), ``classify_va_fit_type``, ``va_clip``
(was ``adjust_va_to_fit_type``), ``va_alloc``, ``__alloc_vmap_area``,
``merge_or_add_vmap_area[_augment]`` and ``vmap_init_free_space``.

Invariants: free VAs never overlap and never touch (a freed range is merged
with both neighbours); each node caches ``subtree_max_size``; free ∪ busy ∪
lazy ∪ pooled ∪ in-flight tiles ``[1, ULONG_MAX)`` exactly once.

The four ways an allocation [start, start+size) sits in a free block [S, E)::

    FL_FIT_TYPE  |<------- va ------->|      the block disappears
                 |<----- request ---->|
    LE_FIT_TYPE  |<------- va ------->|      va.va_start += size
                 |<-req->|
    RE_FIT_TYPE  |<------- va ------->|      va.va_end = start
                              |<-req->|
    NE_FIT_TYPE  |<------- va ------->|      split: lva=[S,start), va=[start+size,E)
                      |<-req->|              (needs a second VA object)

Arithmetic is 64-bit: ALIGN() wraps modulo 2**64 exactly as in C, which is how
``align_shift_alloc_test`` fails at 1 << 46 on x86-64 (kernel-model.md §5.2).

The free tree's shape (docs/oracle.md §4): an aligned search checks only the blocks on its
path, so where it lands depends on the red-black tree's shape, which a machine rebuilt from
/proc/vmallocinfo does not have. :meth:`FreeSpace.adopt_shape` takes the kernel's own tree (its
free blocks in pre-order with colours, as the oracle's probe reads them, :class:`FreeBlock`) and
relinks the model's blocks that way, after checking they are the same blocks; it is not a kernel
operation.

Simplifications: no kmemleak, no RCU; VA objects are plain Python objects so
the GFP_NOWAIT allocation of an NE split never fails.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from .area import VmapArea
from .config import PAGE_SIZE, ULONG_MAX
from .errors import InvariantError
from .locks import LockId
from .rbtree import NodeShape, OverlapError, RBTree, TreeShapeError

ENOENT, EINVAL, ERANGE = 2, 22, 34     # the errno values 7.3's __alloc_vmap_area returns (negated)

NOTHING_FIT, FL_FIT_TYPE, LE_FIT_TYPE, RE_FIT_TYPE, NE_FIT_TYPE = range(5)
FIT_TYPE_NAMES = ("NOTHING_FIT", "FL_FIT_TYPE", "LE_FIT_TYPE", "RE_FIT_TYPE", "NE_FIT_TYPE")


def align_up(x: int, align: int) -> int:
    """ALIGN(x, align) in unsigned 64-bit arithmetic (wraps to 0 past ULONG_MAX)."""
    return ((x + align - 1) & ~(align - 1)) & ULONG_MAX


def candidate_start(va_start: int, align: int, vstart: int) -> int:
    """Where a request would start inside a free block beginning at va_start (§4.3)."""
    return align_up(va_start, align) if va_start > vstart else align_up(vstart, align)


def range_fits(va_start: int, va_end: int, size: int, align: int, vstart: int) -> bool:
    """is_within_this_va() on a bare range: can [aligned start, +size) be cut from it? (§4.3)"""
    nva = align_up(va_start, align) if va_start > vstart else align_up(vstart, align)
    if nva + size > ULONG_MAX or nva < vstart:      # C: "can be overflowed"
        return False
    return nva + size <= va_end


def is_within_this_va(va: VmapArea, size: int, align: int, vstart: int) -> bool:
    """is_within_this_va(): can [aligned start, +size) be cut from ``va``? (§4.3)"""
    return range_fits(va.va_start, va.va_end, size, align, vstart)


def adjust_search_size(size: int, align: int, vstart: int, vend: int) -> bool:
    """Whether the search tests subtrees against ``size + align - 1`` (§4.3): the kernel's rule in __alloc_vmap_area.

    A window that exactly fits the request, or page alignment, needs no padding allowance.
    """
    return not (align <= PAGE_SIZE or vend - vstart == size)


def initial_free_ranges(busy_ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """vmap_init_free_space()'s ranges: [1, ULONG_MAX) minus the early busy ranges, in address order (§4.1)."""
    out, vmap_start = [], 1
    for start, end in sorted(busy_ranges):
        if start > vmap_start:
            out.append((vmap_start, start))
        vmap_start = max(vmap_start, end)
    if vmap_start < ULONG_MAX:
        out.append((vmap_start, ULONG_MAX))
    return out


def find_vmap_lowest_match(tree: RBTree, size: int, align: int, vstart: int,
                           adjust_search_size: bool, path: list[VmapArea] | None = None) -> VmapArea | None:
    """find_vmap_lowest_match(): the lowest free block that fits, in O(log n) (§4.3).

    Subtrees are entered only if their ``subtree_max_size`` covers
    ``size + align - 1`` (when adjusting), so with large alignments a block that
    would fit with little padding can be skipped; the node under the cursor is
    always tested exactly. Counts the distinct nodes read in ``tree.visits`` (climbing back
    through ancestors re-reads lines already read on the way down).
    """
    if path is None and tree.observer is not None:
        path = []
        found = find_vmap_lowest_match(tree, size, align, vstart, adjust_search_size, path)
        tree.observer.read(path)
        return found
    length = size + align - 1 if adjust_search_size else size
    tree.ops += 1
    node = tree.root
    visits = 0
    while node is not None:
        visits += 1
        if path is not None:
            path.append(node)
        left = node.left
        if left is not None and left.subtree_max_size >= length and vstart < node.va_start:
            node = left
            continue
        if range_fits(node.va_start, node.va_end, size, align, vstart):
            tree.visits += visits
            return node
        right = node.right
        if right is not None and right.subtree_max_size >= length:
            node = right
            continue
        # Nothing below: climb until an ancestor fits or has a promising right
        # subtree we have not searched yet (vstart moves past it).
        while True:
            node = node.parent             # an ancestor: read on the way down already, not counted again
            if node is None:
                tree.visits += visits
                return None
            if path is not None:
                path.append(node)
            if range_fits(node.va_start, node.va_end, size, align, vstart):
                tree.visits += visits
                return node
            right = node.right
            if right is not None and right.subtree_max_size >= length and vstart <= node.va_start:
                vstart = node.va_start + 1
                node = right
                break
    tree.visits += visits
    return None


def find_vmap_lowest_linear_match(areas: Iterable[VmapArea], size: int, align: int,
                                  vstart: int) -> VmapArea | None:
    """find_vmap_lowest_linear_match(): the first block in address order that fits. O(n)."""
    for va in areas:
        if is_within_this_va(va, size, align, vstart):
            return va
    return None


def classify_va_fit_type(va: VmapArea, nva_start: int, size: int) -> int:
    """classify_va_fit_type(): how [nva_start, +size) sits inside ``va`` (§4.3 table)."""
    if nva_start < va.va_start or nva_start + size > va.va_end:
        return NOTHING_FIT
    if va.va_start == nva_start:
        return FL_FIT_TYPE if va.va_end == nva_start + size else LE_FIT_TYPE
    if va.va_end == nva_start + size:
        return RE_FIT_TYPE
    return NE_FIT_TYPE


def va_clip(tree: RBTree, va: VmapArea, nva_start: int, size: int,
            take_spare: Callable[[], VmapArea]) -> int:
    """va_clip(): cut [nva_start, +size) out of free block ``va``; returns the fit type.

    Mirrors va_clip (formerly adjust_va_to_fit_type). ``take_spare`` supplies
    the second object an NE split needs (the per-CPU preload, else GFP_NOWAIT).
    Returns NOTHING_FIT, changing nothing, if the range is not inside ``va``.
    """
    fit = classify_va_fit_type(va, nva_start, size)
    if fit == FL_FIT_TYPE:
        tree.erase(va)
    elif fit == LE_FIT_TYPE:
        va.va_start += size
        tree.note_write(va)
        tree.propagate_from(va)
    elif fit == RE_FIT_TYPE:
        va.va_end = nva_start
        tree.note_write(va)
        tree.propagate_from(va)
    elif fit == NE_FIT_TYPE:
        lva = take_spare()
        lva.va_start, lva.va_end = va.va_start, nva_start
        va.va_start = nva_start + size
        tree.note_write(va)
        tree.propagate_from(va)
        # lva lies just below va with nothing in between, so its place is in
        # va's left subtree: search from va, not from the root.
        tree.insert(lva, start=va)
    return fit


def merge_or_add_vmap_area(tree: RBTree, va: VmapArea,
                           warn: Callable[[str], None] | None = None) -> VmapArea | None:
    """merge_or_add_vmap_area[_augment](): insert ``va``, coalescing with touching neighbours.

    Returns the surviving object (``va`` or a neighbour that absorbed it), or
    None if ``va`` overlaps an existing range (kernel: "vmalloc bug" warning,
    nothing changed). Works for the augmented free tree and plain trees alike.
    """
    try:
        parent, is_left = tree.find_insert_pos(va)
    except OverlapError as e:
        if warn is not None:
            warn(f"vmalloc bug: {e.new.va_start:#x}-{e.new.va_end:#x} overlaps with "
                 f"{e.old.va_start:#x}-{e.old.va_end:#x}")
        return None
    if parent is None:
        prev = nxt = None
    elif is_left:
        prev, nxt = parent.prev, parent
    else:
        prev, nxt = parent, parent.next
    merged = False
    if nxt is not None and nxt.va_start == va.va_end:
        nxt.va_start = va.va_start
        tree.note_write(nxt)
        va = nxt
        merged = True
    if prev is not None and prev.va_end == va.va_start:
        if merged:
            tree.erase(va)             # the old next is absorbed into prev
        prev.va_end = va.va_end
        tree.note_write(prev)
        va = prev
        merged = True
    if not merged:
        tree.link(va, parent, is_left)
    elif tree.augmented:
        tree.propagate_from(va)
    return va


class FreeBlock(NamedTuple):
    """One node of a free tree as a kernel holds it: ``struct vmap_area``'s range, its ``rb_node`` colour and
    cached ``subtree_max_size`` (None: not given). A list of them in pre-order is a tree's whole shape."""
    va_start: int
    va_end: int
    red: bool
    subtree_max_size: int | None = None

    def __repr__(self) -> str:
        sms = "None" if self.subtree_max_size is None else f"{self.subtree_max_size:#x}"
        return f"FreeBlock(va_start={self.va_start:#x}, va_end={self.va_end:#x}, red={self.red}, subtree_max_size={sms})"


class FreeSpace:
    """free_vmap_area_root + free_vmap_area_list: the global free space (§2.6).

    ``alloc``'s ``spare`` is the source of an NE split's second object (the allocator passes the
    calling CPU's ``ne_fit_preload_node``; a bare VmapArea otherwise).
    """

    lock_name = LockId("free_vmap_area_lock").name

    def __init__(self, busy_ranges: Iterable[tuple[int, int]] = (),
                 warn: Callable[[str], None] | None = None):
        self.tree = RBTree("free_vmap_area_root", augmented=True)
        self.warn = warn
        self.last_errno = 0         # why the last alloc() failed (ENOENT, ERANGE or EINVAL)
        self.vmap_init_free_space(busy_ranges)

    def vmap_init_free_space(self, busy_ranges: Iterable[tuple[int, int]]) -> None:
        """vmap_init_free_space(): [1, ULONG_MAX) minus the early vmlist areas (§2.6, §4.1)."""
        for start, end in initial_free_ranges(busy_ranges):
            self.tree.insert(VmapArea(start, end))

    def __len__(self) -> int:
        return len(self.tree)

    def __iter__(self) -> Iterator[VmapArea]:
        return iter(self.tree)

    def __repr__(self) -> str:
        return f"<FreeSpace areas={len(self.tree)} largest={self.tree.root.subtree_max_size if self.tree.root else 0:#x}>"

    def free_all(self, vas: Iterable[VmapArea]) -> None:
        """free() each of ``vas`` in turn (reclaim_list_global's loop, under one lock hold)."""
        for va in vas:
            self.free(va)

    def lowest_match(self, size: int, align: int, vstart: int, adjust: bool,
                     path: list[VmapArea] | None = None) -> VmapArea | None:
        return find_vmap_lowest_match(self.tree, size, align, vstart, adjust, path)

    def alloc(self, size: int, align: int, vstart: int, vend: int,
              spare: Callable[[], VmapArea] = VmapArea) -> int | None:
        """__alloc_vmap_area() + va_alloc(): carve the lowest fitting range; None if none (§4.3).

        Simplification: 6.9 returns ``vend`` for failure; here it is None, and ``last_errno`` says
        why as 7.3's error values do (ENOENT: no block fits; ERANGE: the fit passes ``vend``;
        EINVAL: va_clip failed), for the trace of a failed alloc_vmap_area (kernel-model.md §8).
        """
        va = find_vmap_lowest_match(self.tree, size, align, vstart, adjust_search_size(size, align, vstart, vend))
        if va is None:
            self.last_errno = ENOENT
            return None
        return self.va_alloc(va, size, align, vstart, vend, spare)

    def va_alloc(self, va: VmapArea, size: int, align: int, vstart: int, vend: int,
                 spare: Callable[[], VmapArea] = VmapArea) -> int | None:
        """va_alloc(): clip the request out of ``va``; None if it would pass ``vend``."""
        nva_start = candidate_start(va.va_start, align, vstart)
        if nva_start + size > vend:
            self.last_errno = ERANGE
            return None
        if va_clip(self.tree, va, nva_start, size, spare) == NOTHING_FIT:
            if self.warn is not None:
                self.warn("WARNING: va_clip failed: NOTHING_FIT")
            self.last_errno = EINVAL
            return None
        return nva_start

    def adopt_shape(self, blocks: Sequence[FreeBlock]) -> None:
        """Give the free tree the shape of a kernel's free_vmap_area_root (docs/oracle.md §4). O(n).

        ``blocks`` lists the kernel's free blocks in pre-order with their colours. They must be exactly
        the model's free blocks (the same ranges, as many); the order must be a search tree's pre-order
        and the colours red-black; a given ``subtree_max_size`` must equal the recomputed one. Anything
        else raises :class:`TreeShapeError` (a VmallocError) naming the first problem, changing nothing.
        Not a kernel operation: the blocks keep their objects, the sorted list and the counters are
        unchanged, only the links, the colours and the cached sizes follow the kernel's.
        """
        mine = list(self.tree)
        if len(blocks) != len(mine):
            raise TreeShapeError(f"free tree: the shape has {len(blocks)} free blocks, the model {len(mine)}")
        by_start = {va.va_start: va for va in mine}
        for i, (b, va) in enumerate(zip(sorted(blocks, key=lambda b: b.va_start), mine)):
            if (b.va_start, b.va_end) != (va.va_start, va.va_end):
                raise TreeShapeError(f"free tree: free block {i} in address order is {b.va_start:#x}-{b.va_end:#x} "
                                     f"in the shape, {va.va_start:#x}-{va.va_end:#x} in the model")
        self.tree.adopt_shape([NodeShape(by_start[b.va_start], b.red, b.subtree_max_size) for b in blocks])

    def shape(self) -> list[FreeBlock]:
        """The free tree in pre-order with colours and cached sizes: what adopt_shape takes. O(n)."""
        return [FreeBlock(ns.va.va_start, ns.va.va_end, ns.red, ns.subtree_max_size) for ns in self.tree.shape()]

    def free(self, va: VmapArea) -> VmapArea:
        """Merge a range back (merge_or_add_vmap_area_augment on the free tree).

        An overlap logs the kernel's "vmalloc bug" line and then raises
        InvariantError: in the simulator it can only mean corrupted state.
        """
        merged = merge_or_add_vmap_area(self.tree, va, self.warn)
        if merged is None:
            raise InvariantError(f"freeing {va!r} overlaps the free space")
        return merged


class LinearFreeSpace:
    """A plain sorted list of [start, end) free ranges with first-fit search: the oracle.

    Same interface as FreeSpace.alloc/free; every operation is O(n). Used by
    tests (one suite, two implementations) and by check() on sampled queries.
    """

    def __init__(self, busy_ranges: Iterable[tuple[int, int]] = ()):
        self.ranges: list[list[int]] = [[start, end] for start, end in initial_free_ranges(busy_ranges)]

    def alloc(self, size: int, align: int, vstart: int, vend: int) -> int | None:
        for i, (start, end) in enumerate(self.ranges):
            if not range_fits(start, end, size, align, vstart):
                continue
            nva = candidate_start(start, align, vstart)
            if nva + size > vend:
                return None
            pieces = [r for r in ([start, nva], [nva + size, end]) if r[1] > r[0]]
            self.ranges[i:i + 1] = pieces
            return nva
        return None

    def free(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.ranges, [start, end])
        if (i > 0 and self.ranges[i - 1][1] > start) or (i < len(self.ranges) and self.ranges[i][0] < end):
            raise InvariantError(f"overlap freeing {start:#x}-{end:#x}")
        self.ranges.insert(i, [start, end])
        if i + 1 < len(self.ranges) and self.ranges[i + 1][0] == end:
            self.ranges[i][1] = self.ranges.pop(i + 1)[1]
        if i > 0 and self.ranges[i - 1][1] == start:
            self.ranges[i - 1][1] = self.ranges.pop(i)[1]

    def as_tuples(self) -> list[tuple[int, int]]:
        return [(start, end) for start, end in self.ranges]
