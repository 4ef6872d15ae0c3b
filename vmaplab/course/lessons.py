# SPDX-License-Identifier: MIT
"""Seeded, step-by-step lesson models: plain data the notebooks' figures and widgets draw.

Mirrors nothing new: every step runs the core's own code (``FreeSpace.alloc``
with ``find_vmap_lowest_match`` and ``va_clip``, ``Vmalloc`` calls, purges,
the shrinker) and records what a viewer needs as plain tuples and dicts, so
the figures (``vmaplab.course.figures``) only draw and the widgets only choose a frame.

Invariants: the same arguments (and seed) give the same frames, byte for
byte; a frame is never mutated after it is recorded; addresses in frames are
page numbers relative to the lesson's window start (``base``), so small
numbers read well on an axis.

Simplifications: a free-tree lesson uses a bare ``FreeSpace`` limited to a
small window (no nodes, no pools), as the kernel's tree would look if only
that window were free; its requests come straight to the tree, as every
6.8 allocation and every 6.9 pool miss does.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TypeVar

from ..kernel.area import VmapArea, decode_vn_id
from ..kernel.config import MAX_VMAP_NODES, PAGE_SIZE, ULONG_MAX
from ..kernel.errors import InvalidArgumentError, InvariantError
from ..kernel.freespace import (
    FIT_TYPE_NAMES,
    FreeSpace,
    adjust_search_size,
    candidate_start,
    classify_va_fit_type,
    find_vmap_lowest_linear_match,
)
from ..kernel.rbtree import RBTree
from ..kernel.trace import Decay, Lock, PurgeNode, PurgeVmapAreaLazy
from ..kernel.vmalloc import Vmalloc

LESSON_BASE = 0xFFFFC90000000000          # VMALLOC_START on x86-64: where the windows start

_T = TypeVar("_T")


def _must(value: _T | None, what: str) -> _T:
    """``value``, which a lesson's own machine always has room for: None there is vmaplab's bug."""
    if value is None:
        raise InvariantError(f"{what} returned None on a lesson machine with room for it")
    return value


# ------------------------------------------------------------------------------- the free tree
def tree_layout(tree: RBTree, base: int = 0, unit: int = PAGE_SIZE) -> list[dict]:
    """The nodes of ``tree`` in address order, with depth and colour: what a tree drawing needs.

    Each dict: ``start``, ``end``, ``smax`` (``subtree_max_size``; all in ``unit``s from ``base``),
    ``red``, ``depth``, ``x`` (in-order index) and ``parent`` (the parent's ``x``, None at the root).
    """
    index = {id(va): x for x, va in enumerate(tree)}
    rows = []
    for x, va in enumerate(tree):
        depth, p = 0, va.parent
        while p is not None:
            depth, p = depth + 1, p.parent
        rows.append({"start": (va.va_start - base) // unit, "end": (va.va_end - base) // unit,
                     "smax": va.subtree_max_size // unit, "red": bool(va.red), "depth": depth, "x": x,
                     "parent": None if va.parent is None else index[id(va.parent)]})
    return rows


@dataclass(frozen=True)
class TreeFrame:
    """One step of a free-tree lesson: the request, the search path, the outcome, the tree after."""
    step: int
    title: str
    kind: str                       # "start", "alloc" or "free"
    path: tuple                     # in-order indexes (in ``before``) the search cursor stood on
    found: int | None               # in-order index (in ``before``) of the block chosen
    outcome: str                    # fit type name, or how a free merged
    result: tuple | None            # (start, end) pages allocated or freed, None on failure
    before: tuple                   # tree_layout() before the step
    after: tuple                    # tree_layout() after the step
    busy: tuple                     # ((start, end, label), ...) allocated ranges after the step
    explain: str
    busy_before: tuple = ()         # the allocated ranges before the step


DEFAULT_TREE_SCRIPT = (
    ("alloc", 3, 1), ("alloc", 6, 1), ("alloc", 4, 1), ("alloc", 8, 1),
    ("free", 1), ("alloc", 2, 4), ("alloc", 3, 1), ("free", 2), ("alloc", 3, 2),
    ("free", 0), ("free", 3), ("alloc", 16, 16), ("free", 4), ("free", 5), ("free", 6), ("free", 7),
)
"""A script that meets LE, NE, FL and RE fits and every merge case on a 64-page window.

``("alloc", pages, align_pages)`` allocates; ``("free", i)`` frees the i-th allocation."""


TREE_SCRIPT_128 = (tuple(("alloc", n, 1) for n in (3, 5, 2, 6, 4, 3, 7, 2, 5, 4, 3, 6, 2, 4, 5, 3, 6, 2, 4, 3)) +
                   tuple(("free", i) for i in range(1, 20, 2)) +
                   (("alloc", 5, 1), ("alloc", 2, 8), ("alloc", 2, 4), ("alloc", 6, 1), ("alloc", 3, 1),
                    ("free", 2), ("free", 4), ("alloc", 16, 16), ("free", 0), ("free", 23)))
"""A 128-page script whose tree grows to 11 free blocks: twenty areas, every other one freed, then
each fit type (FL, RE, NE, LE) and merges with the previous and the next block."""


class FreeTreeDemo:
    """A free tree over ``pages`` pages, driven by a script of allocations and frees.

    >>> demo = FreeTreeDemo()
    >>> [f.outcome for f in demo.frames][1:4]
    ['LE_FIT_TYPE', 'LE_FIT_TYPE', 'LE_FIT_TYPE']
    >>> sorted({f.outcome for f in demo.frames if f.kind == "alloc"})
    ['FL_FIT_TYPE', 'LE_FIT_TYPE', 'NE_FIT_TYPE', 'RE_FIT_TYPE']
    """

    def __init__(self, pages: int = 64, script=DEFAULT_TREE_SCRIPT, base: int = LESSON_BASE):
        if not isinstance(pages, int) or pages < 2:
            raise InvalidArgumentError(f"a free-tree lesson needs at least 2 pages, got {pages!r}")
        self.pages, self.base = pages, base
        self.vstart, self.vend = base, base + pages * PAGE_SIZE
        self.fs = FreeSpace([(1, base), (self.vend, ULONG_MAX)])
        self.allocs: list[tuple[int, int] | None] = []
        self.frames: list[TreeFrame] = []
        layout = self.layout()
        self.frames.append(TreeFrame(0, f"a free window of {pages} pages", "start", (), None, "", None,
                                     layout, layout, (), "One free block covers the whole window."))
        for op in script:
            self.apply(op)

    def layout(self) -> tuple:
        return tuple(tree_layout(self.fs.tree, self.base))

    def free_ranges(self) -> list[tuple[int, int]]:
        return [((va.va_start - self.base) // PAGE_SIZE, (va.va_end - self.base) // PAGE_SIZE) for va in self.fs]

    def _busy(self) -> tuple:
        return tuple((s, e, f"#{i}") for i, r in enumerate(self.allocs) if r is not None for s, e in [r])

    def apply(self, op) -> TreeFrame:
        """Run one scripted operation and record its frame."""
        if op[0] == "alloc" and len(op) == 3:
            frame = self._alloc(int(op[1]), int(op[2]))
        elif op[0] == "free" and len(op) == 2:
            frame = self._free(int(op[1]))
        else:
            raise InvalidArgumentError(f"unknown lesson step {op!r}: use ('alloc', pages, align) or ('free', i)")
        self.frames.append(frame)
        return frame

    def _alloc(self, pages: int, align: int) -> TreeFrame:
        if pages < 1 or align < 1 or align & (align - 1):
            raise InvalidArgumentError(f"alloc needs pages >= 1 and a power-of-two alignment, got {pages}, {align}")
        size, align_b = pages * PAGE_SIZE, align * PAGE_SIZE
        before, busy_before = self.layout(), self._busy()
        index = {id(va): x for x, va in enumerate(self.fs.tree)}
        path: list[VmapArea] = []
        adjust = adjust_search_size(size, align_b, self.vstart, self.vend)
        va = self.fs.lowest_match(size, align_b, self.vstart, adjust, path)
        steps = tuple(index[id(n)] for n in path)
        title = f"vmalloc: {pages} page{'s' * (pages > 1)}, align {align}"
        if va is None:
            self.allocs.append(None)
            return TreeFrame(len(self.frames), title, "alloc", steps, None, "NOTHING_FIT", None, before,
                             before, self._busy(), f"No free block can hold {pages} pages aligned to {align}: "
                             "the allocation fails (the kernel would purge and retry first).", busy_before)
        found = index[id(va)]
        nva = candidate_start(va.va_start, align_b, self.vstart)
        fit = FIT_TYPE_NAMES[classify_va_fit_type(va, nva, size)]
        block = (before[found]["start"], before[found]["end"])
        # the block lies in the window and fits: va_alloc fails only if va_clip finds the tree broken
        addr = _must(self.fs.va_alloc(va, size, align_b, self.vstart, self.vend), "va_alloc")
        start = (addr - self.base) // PAGE_SIZE
        self.allocs.append((start, start + pages))
        return TreeFrame(len(self.frames), title, "alloc", steps, found, fit, (start, start + pages), before,
                         self.layout(), self._busy(),
                         f"The search read {len(steps)} node(s) and chose the lowest block that fits, "
                         f"[{block[0]}, {block[1]}); [{start}, {start + pages}) was cut from it: {fit}.", busy_before)

    def _free(self, i: int) -> TreeFrame:
        alloc = self.allocs[i] if 0 <= i < len(self.allocs) else None
        if alloc is None:
            raise InvalidArgumentError(f"allocation #{i} does not exist or is already freed")
        start, end = alloc
        free = self.free_ranges()
        prev = any(e == start for _s, e in free)
        nxt = any(s == end for s, _e in free)
        before, busy_before = self.layout(), self._busy()
        self.fs.free(VmapArea(self.base + start * PAGE_SIZE, self.base + end * PAGE_SIZE))
        self.allocs[i] = None
        outcome = {(True, True): "merged with both neighbours", (True, False): "merged with the previous block",
                   (False, True): "merged with the next block", (False, False): "inserted as a new block"}[prev, nxt]
        return TreeFrame(len(self.frames), f"vfree #{i}: [{start}, {end})", "free", (), None, outcome,
                         (start, end), before, self.layout(), self._busy(),
                         f"[{start}, {end}) went back to the free tree and was {outcome}; "
                         "subtree_max_size was updated up to the root.", busy_before)


def lowest_match_cost(n: int, seed: int | None = None) -> dict:
    """How many tree nodes one lowest-match search reads among ``n`` free holes of 1..3 pages.

    Allocates ``n`` 4-page slots in a window, frees a random 1..3-page part of each (seeded by
    ``seed``, default ``n``), then asks for 3 pages: ``visits`` is the free tree's own counter for
    that search (``find_vmap_lowest_match``), ``height`` the tree's height, ``linear`` the block a
    plain scan in address order picks (``find_vmap_lowest_linear_match``) and ``addr`` the result.

    >>> c = lowest_match_cost(100)
    >>> c["addr"] == c["linear"], c["visits"] <= 2 * c["height"]
    (True, True)
    """
    if not isinstance(n, int) or n < 1:
        raise InvalidArgumentError(f"n must be a positive int, got {n!r}")
    r = random.Random(n if seed is None else seed)
    base = 1 << 40
    end = base + 4 * n * PAGE_SIZE
    fs = FreeSpace([(1, base), (end, ULONG_MAX)])
    for _ in range(n):
        fs.alloc(4 * PAGE_SIZE, PAGE_SIZE, base, end)
    for i in range(n):
        start = base + 4 * i * PAGE_SIZE
        fs.free(VmapArea(start, start + r.randint(1, 3) * PAGE_SIZE))
    linear = find_vmap_lowest_linear_match(fs, 3 * PAGE_SIZE, PAGE_SIZE, base)
    height = max(row["depth"] for row in tree_layout(fs.tree)) + 1
    blocks, before = len(fs), fs.tree.visits
    addr = fs.alloc(3 * PAGE_SIZE, PAGE_SIZE, base, end)
    return {"free_blocks": blocks, "visits": fs.tree.visits - before, "height": height, "addr": addr,
            "linear": None if linear is None else linear.va_start}


@dataclass(frozen=True)
class Quiz:
    """An OSTEP-style question: a seeded free tree and one request; the answer stays hidden."""
    seed: int
    question: str
    answer: str
    demo: FreeTreeDemo = field(repr=False)


def free_tree_quiz(seed: int = 0, pages: int = 32) -> Quiz:
    """A random free window (seeded) and a request: at which page does it land, with which fit type?

    >>> q = free_tree_quiz(2)
    >>> print(q.question)
    Free blocks (pages): [8, 11), [16, 17), [19, 32)
    Request: 4 page(s) aligned to 2 page(s). Where does it land, with which fit type?
    >>> print(q.answer)
    At page 20: [20, 24), NE_FIT_TYPE, after reading 2 tree node(s).
    """
    r = random.Random(seed)
    script: list[tuple[str, int] | tuple[str, int, int]] = []
    live: list[int] = []
    used = 0
    while used < pages * 3 // 4:                  # fill most of the window ...
        n = r.randint(1, 4)
        live.append(len(live))
        script.append(("alloc", n, 1))
        used += n
    for i in sorted(r.sample(live, len(live) * 2 // 5)):   # ... then punch holes in it
        script.append(("free", i))
    demo = FreeTreeDemo(pages, tuple(script))
    pages_q, align_q = r.randint(1, 4), r.choice((1, 1, 2, 4))
    free = ", ".join(f"[{s}, {e})" for s, e in demo.free_ranges())
    question = (f"Free blocks (pages): {free}\n"
                f"Request: {pages_q} page(s) aligned to {align_q} page(s). Where does it land, with which fit type?")
    linear = find_vmap_lowest_linear_match(demo.fs, pages_q * PAGE_SIZE, align_q * PAGE_SIZE, demo.vstart)
    frame = demo.apply(("alloc", pages_q, align_q))
    if frame.result is None and linear is not None:
        s = (linear.va_start - demo.base) // PAGE_SIZE
        answer = (f"It fails, although [{s}, {(linear.va_end - demo.base) // PAGE_SIZE}) could hold it: with an "
                  f"alignment above one page the search only enters subtrees whose subtree_max_size covers "
                  f"size + align - 1 ({pages_q + align_q} pages less one byte), so it never looks there.")
    elif frame.result is None:
        answer = "It fails: no free block fits (NOTHING_FIT)."
    else:
        answer = (f"At page {frame.result[0]}: [{frame.result[0]}, {frame.result[1]}), {frame.outcome}, "
                  f"after reading {len(frame.path)} tree node(s).")
    return Quiz(seed, question, answer, demo)


# ------------------------------------------------------------------------------- segment mapping
def zone_nodes(nr_cpus: int, zone_pages: int = 16, nr_zones: int = 64) -> dict:
    """Which vmap node each of the first ``nr_zones`` zones of the vmalloc space belongs to (6.9).

    Uses a real 6.9 machine's ``addr_to_node_id``; ``nr_vmap_nodes`` shows the 128 cap.

    >>> z = zone_nodes(200, nr_zones=4)
    >>> z["nr_vmap_nodes"], z["node"]
    (128, [0, 1, 2, 3])
    """
    if not isinstance(nr_zones, int) or nr_zones < 1:
        raise InvalidArgumentError(f"nr_zones must be a positive int, got {nr_zones!r}")
    vm = Vmalloc(nr_cpus=nr_cpus, version="6.9", vmap_zone_size_pages=zone_pages, pools=False)
    start = vm.VMALLOC_START
    zone = vm.vmap_zone_size if vm.nr_vmap_nodes > 1 else zone_pages * PAGE_SIZE
    return {"nr_cpus": nr_cpus, "nr_vmap_nodes": vm.nr_vmap_nodes, "zone_pages": zone_pages,
            "cap": MAX_VMAP_NODES, "start": start, "zone_size": zone,
            "node": [vm.addr_to_node_id(start + z * zone) for z in range(nr_zones)]}


def address_cells(nr_cpus: int, zone_pages: int = 16, cell_pages: int = 4, max_cells: int = 2048,
                  per_row: int = 32) -> dict:
    """The node of every ``cell_pages``-page stretch of the vmalloc space from its start (6.9), as many
    rows of ``per_row`` cells as it takes to see the zones wrap round to node 0 (at most ``max_cells``).

    A fixed cell size (not one cell per zone) makes the zone size visible: a 64-page zone is 16
    cells of one colour. Uses a real 6.9 machine's ``addr_to_node_id``.

    >>> c = address_cells(4, zone_pages=8, cell_pages=4, per_row=8)
    >>> c["node"][:8], c["wraps"]
    ([0, 0, 1, 1, 2, 2, 3, 3], True)
    """
    if not isinstance(cell_pages, int) or cell_pages < 1 or zone_pages % cell_pages:
        raise InvalidArgumentError(f"cell_pages must divide zone_pages ({zone_pages}), got {cell_pages!r}")
    vm = Vmalloc(nr_cpus=nr_cpus, version="6.9", vmap_zone_size_pages=zone_pages, pools=False)
    cells_per_turn = vm.nr_vmap_nodes * zone_pages // cell_pages
    wanted = min(max_cells, max(2 * cells_per_turn, 8 * per_row))
    n = -(-wanted // per_row) * per_row
    start = vm.VMALLOC_START
    return {"nr_cpus": nr_cpus, "nr_vmap_nodes": vm.nr_vmap_nodes, "zone_pages": zone_pages,
            "cell_pages": cell_pages, "per_row": per_row, "start": start, "cap": MAX_VMAP_NODES,
            "zone_size": vm.vmap_zone_size, "wraps": n > cells_per_turn,
            "node": [vm.addr_to_node_id(start + c * cell_pages * PAGE_SIZE) for c in range(n)]}


def busy_by_node(vm: Vmalloc) -> list[dict]:
    """Busy VAs and pages per node: how evenly address sharding spreads them; ``by_cpu`` counts the
    busy VAs whose recorded owner (the allocating CPU's node, kept in ``va.flags``) is this node:
    where they would sit if the busy trees were sharded by CPU."""
    owners = [decode_vn_id(va.flags, vm.nr_vmap_nodes) for vn in vm.nodes for va in vn.busy]
    return [{"node": vn.id, "areas": len(vn.busy), "pages": sum(va.size for va in vn.busy) // PAGE_SIZE,
             "by_cpu": owners.count(vn.id)} for vn in vm.nodes]


def sharding_workload(nr_cpus: int = 8, nr_areas: int = 400, seed: int = 0, hot_cpus: int = 1) -> Vmalloc:
    """A 6.9 machine where only ``hot_cpus`` CPUs allocate ``nr_areas`` areas of 1..8 pages.

    Sharding by address, not by CPU, still spreads the busy VAs over every node.
    """
    r = random.Random(seed)
    vm = Vmalloc(nr_cpus=nr_cpus, version="6.9", seed=seed, nr_ram_pages=1 << 16)
    for _ in range(nr_areas):
        if vm.vmalloc(r.randint(1, 8) * PAGE_SIZE, cpu=r.randrange(hot_cpus)) is None:
            break
    return vm


def routing_demo(nr_cpus: int = 8, nr_areas: int = 64, alloc_cpu: int = 0, free_cpu: int = 5,
                 seed: int = 0) -> dict:
    """The three routing rules of 6.9, on one run: ``alloc_cpu`` allocates ``nr_areas`` areas of 1..8
    pages, ``free_cpu`` vfrees them all, a purge runs, then both CPUs ask for the same sizes again.

    Mirrors what ``alloc_vmap_area`` (busy tree of ``addr_to_node(va_start)``),
    ``free_vmap_area_noflush`` (lazy tree of the owner node, ``decode_vn_id(va->flags)``),
    ``purge_vmap_node`` (pools of that same node) and ``node_alloc`` (pools of the *current*
    CPU's node) do; every count is read from the machine's trees and trace records.

    ``rows[i]``: node ``i``'s busy areas after the allocations and the busy-lock holds the vfrees
    took there (``find_unlink_vmap_area``); its lazy areas after the vfrees and their lazy-lock
    holds (``free_vmap_area_noflush``); its pooled areas after the purge. ``lookups[cpu]``: how
    many of ``asked`` requests each CPU's pools served. ``probe``: ``find_vmap_area`` of an interior
    address of an area that crosses into the next zone, with the busy trees it had to lock.

    >>> d = routing_demo(nr_cpus=4, nr_areas=16, alloc_cpu=1, free_cpu=2)
    >>> [r["lazy"] for r in d["rows"]], [r["pooled"] for r in d["rows"]]
    ([0, 16, 0, 0], [0, 16, 0, 0])
    >>> d["lookups"][2]["hits"], d["lookups"][1]["hits"] == d["lookups"][1]["asked"]
    (0, True)
    """
    if not isinstance(nr_areas, int) or nr_areas < 1:
        raise InvalidArgumentError(f"nr_areas must be a positive int, got {nr_areas!r}")
    for name, cpu in (("alloc_cpu", alloc_cpu), ("free_cpu", free_cpu)):
        if not isinstance(cpu, int) or not 0 <= cpu < nr_cpus:
            raise InvalidArgumentError(f"{name} must be a CPU in 0..{nr_cpus - 1}, got {cpu!r}")
    r = random.Random(seed)
    vm = Vmalloc(nr_cpus=nr_cpus, version="6.9", seed=seed, nr_ram_pages=1 << 16)
    tracer = vm.start_trace()
    sizes = [r.randint(1, 8) for _ in range(nr_areas)]
    addrs = [vm.vmalloc(pages * PAGE_SIZE, cpu=alloc_cpu) for pages in sizes]
    busy = [len(vn.busy) for vn in vm.nodes]
    span = next(((a, n) for a, n in zip(addrs, sizes)            # a failed vmalloc (None) spans nothing
                 if a is not None and vm.addr_to_node_id(a + n * PAGE_SIZE - 1) != vm.addr_to_node_id(a)), None)
    probe = None
    if span is not None:
        inner = span[0] + span[1] * PAGE_SIZE - 1            # the area's last byte, in the next zone
        mark = len(tracer.records)
        found = _must(vm.find_vmap_area(inner, cpu=free_cpu), "find_vmap_area of a live area's last byte")
        locked = [rec.lock for rec in tracer.records[mark:] if isinstance(rec, Lock) and rec.op == "acquire"]
        probe = {"addr": inner, "va_start": found.va_start, "addr_node": vm.addr_to_node_id(inner),
                 "busy_node": vm.addr_to_node_id(found.va_start), "probes": len(locked), "locks": locked}
    mark = len(tracer.records)
    for a in addrs:
        vm.vfree(a, cpu=free_cpu)
    held = [rec for rec in tracer.records[mark:] if isinstance(rec, Lock) and rec.op == "acquire"]
    lazy = [len(vn.lazy) for vn in vm.nodes]
    vm.purge(cpu=free_cpu)
    pooled = [vn.pool_total() for vn in vm.nodes]
    lookups = {}
    for cpu in (free_cpu, alloc_cpu):                   # the other CPU first: its misses take nothing
        hits = vm.stats.pool_hits
        for pages in sizes[:8]:
            vm.vmalloc(pages * PAGE_SIZE, cpu=cpu)
        lookups[cpu] = {"node": cpu % vm.nr_vmap_nodes, "asked": len(sizes[:8]), "hits": vm.stats.pool_hits - hits}
    rows = [{"node": vn.id, "busy": busy[vn.id],
             "busy_locks": sum(rec.lock == vn.busy_lock and rec.section == "find_unlink_vmap_area" for rec in held),
             "lazy": lazy[vn.id],
             "lazy_locks": sum(rec.lock == vn.lazy_lock and rec.section == "free_vmap_area_noflush" for rec in held),
             "pooled": pooled[vn.id]} for vn in vm.nodes]
    return {"nr_cpus": nr_cpus, "nr_vmap_nodes": vm.nr_vmap_nodes, "alloc_cpu": alloc_cpu, "free_cpu": free_cpu,
            "nr_areas": nr_areas, "rows": rows, "lookups": lookups, "probe": probe}


# ------------------------------------------------------------------------------- lazy freeing
def largest_free_pages(vm: Vmalloc) -> int:
    """The largest free block inside ``vm``'s vmalloc window, in pages (what a request there can get)."""
    end = vm.VMALLOC_END              # exclusive, as the allocator treats it
    return max((min(va.va_end, end) - max(va.va_start, vm.VMALLOC_START) for va in vm.free_space
                if va.va_start < end and va.va_end > vm.VMALLOC_START), default=0) // PAGE_SIZE


def _fill(vm: Vmalloc, cpu: int) -> list[int]:
    """One-page vmallocs on ``cpu`` while the window has room for one (two pages with the guard)."""
    addrs = []
    while largest_free_pages(vm) >= 2:
        addr = vm.vmalloc(PAGE_SIZE, cpu=cpu)
        if addr is None:
            raise InvariantError("a one-page vmalloc failed with room for it in the window")
        addrs.append(addr)
    return addrs


def lazy_free_demo(pages: int = 8, alloc_cpu: int = 1, free_cpu: int = 2, seed: int = 0) -> dict:
    """What a 6.9 ``vfree`` does at once and what it defers, read from a 4-CPU machine.

    Mirrors ``vfree`` → ``remove_vm_area`` → ``free_unmap_vmap_area`` (page tables unmapped, no TLB
    flush) → ``free_vmap_area_noflush`` (the VA into a lazy tree), then the pages freed; and the
    purge that flushes the TLB and makes the range reusable. Returns the counts before and after.

    >>> d = lazy_free_demo()
    >>> d["pages_back_at_vfree"], d["flushes_at_vfree"], d["reused_before_purge"], d["reused_after_purge"]
    (8, 0, False, True)
    """
    vm = Vmalloc(nr_cpus=4, version="6.9", seed=seed, nr_ram_pages=1 << 12)
    addr = vm.vmalloc(pages * PAGE_SIZE, cpu=alloc_cpu)
    if addr is None:                # more pages than the demo's RAM: say so, not "write: ... got None"
        raise InvalidArgumentError(f"pages: a vmalloc of {pages!r} pages failed on the demo's 4096-page machine")
    vm.write(addr, b"\x5a" * 16)
    free_before = vm.pages.nr_free
    vm.vfree(addr, cpu=free_cpu)
    out: dict = {"addr": addr, "pages": pages, "pages_back_at_vfree": vm.pages.nr_free - free_before,
                 "mapped_after_vfree": vm.find_vmap_area(addr) is not None, "read_after_vfree": vm.vread(addr, 16),
                 "lazy_node": next(vn.id for vn in vm.nodes if any(va.va_start == addr for va in vn.lazy)),
                 "vmap_lazy_nr": vm.vmap_lazy_nr, "lazy_max_pages": vm.lazy_max_pages(),
                 "flushes_at_vfree": vm.stats.tlb_flushes}
    out["reused_before_purge"] = vm.vmalloc(pages * PAGE_SIZE, cpu=alloc_cpu) == addr
    vm.purge(cpu=free_cpu)
    out["flushes_at_purge"] = vm.stats.tlb_flushes - out["flushes_at_vfree"]
    out["reused_after_purge"] = vm.vmalloc(pages * PAGE_SIZE, cpu=alloc_cpu) == addr
    return out


def purge_triggers(seed: int = 0) -> list[dict]:
    """The three ways a 6.9 purge starts, each on a small 4-CPU machine: one row per trigger.

    ``drain work``: lazily freed pages pass ``lazy_max_pages()`` (``free_vmap_area_noflush``
    schedules ``drain_vmap_area_work``; with twice the threshold pending, ``__purge_vmap_area_lazy``
    hands a node to a helper); ``vm_unmap_aliases``: a caller asks, below the threshold;
    ``allocation failure``: ``alloc_vmap_area`` finds no room and calls
    ``reclaim_and_purge_vmap_areas`` (full decay, nothing pooled). Each row: ``lazy`` pages before,
    ``purges``, ``helpers``, ``pooled`` VAs after, ``reclaims``.

    >>> [(r["trigger"], r["purges"] >= 1) for r in purge_triggers()]
    [('drain work', True), ('vm_unmap_aliases', True), ('allocation failure', True)]
    """
    rows = []
    # drain work: a 2-page lazy_max unit, work run by hand so twice the threshold is pending
    vm = Vmalloc(nr_cpus=4, version="6.9", seed=seed, lazy_max_unit_pages=8, autorun_work=False)
    allocs = [(vm.vmalloc(PAGE_SIZE, cpu=c % 4), c % 4) for c in range(40)]
    for a, c in allocs:
        vm.vfree(a, cpu=c)
    lazy = vm.vmap_lazy_nr
    pending = vm.pending_work
    vm.run_workqueue()
    rows.append({"trigger": "drain work", "lazy": lazy, "lazy_max_pages": vm.lazy_max_pages(),
                 "scheduled": pending, "purges": vm.stats.purges, "helpers": vm.stats.purge_helpers,
                 "pooled": sum(vn.pool_total() for vn in vm.nodes), "reclaims": vm.stats.reclaims})
    # vm_unmap_aliases: one lazy area, far below the threshold
    vm = Vmalloc(nr_cpus=4, version="6.9", seed=seed)
    vm.vfree(vm.vmalloc(PAGE_SIZE, cpu=0), cpu=0)
    lazy = vm.vmap_lazy_nr
    vm.vm_unmap_aliases(cpu=0)
    rows.append({"trigger": "vm_unmap_aliases", "lazy": lazy, "lazy_max_pages": vm.lazy_max_pages(),
                 "scheduled": [], "purges": vm.stats.purges, "helpers": vm.stats.purge_helpers,
                 "pooled": sum(vn.pool_total() for vn in vm.nodes), "reclaims": vm.stats.reclaims})
    # allocation failure: a 32-page window whose only room is lazily freed
    vm = Vmalloc(nr_cpus=4, version="6.9", seed=seed, vmalloc_size=32 * PAGE_SIZE)
    addrs = _fill(vm, 0)
    for a in addrs:
        vm.vfree(a, cpu=0)
    lazy = vm.vmap_lazy_nr
    got = vm.vmalloc(8 * PAGE_SIZE, cpu=1)
    rows.append({"trigger": "allocation failure", "lazy": lazy, "lazy_max_pages": vm.lazy_max_pages(),
                 "scheduled": [], "purges": vm.stats.purges, "helpers": vm.stats.purge_helpers,
                 "pooled": sum(vn.pool_total() for vn in vm.nodes), "reclaims": vm.stats.reclaims,
                 "allocated": got is not None})
    return rows


def guard_demo(seed: int = 0) -> dict:
    """What the guard page catches, and which areas have none (6.9).

    A one-page ``vmalloc`` gets a two-page VA: its trailing guard page is never mapped, so a write
    one byte past the area faults (the model raises ``VmallocError``, the kernel oopses).
    ``vm_map_ram`` areas of their own (more than ``VMAP_MAX_ALLOC`` pages) and ``get_vm_area(...,
    VM_NO_GUARD)`` get exactly their size, so two of them can touch: a write past the first lands in
    the second.

    >>> d = guard_demo()
    >>> d["vmalloc_va_pages"], d["overrun_faults"], d["map_ram_va_pages"] == d["map_ram_pages"], d["overrun_lands_in_next"]
    (2, True, True, True)
    """
    from ..kernel.config import VM_NO_GUARD
    from ..kernel.errors import VmallocError
    vm = Vmalloc(nr_cpus=2, version="6.9", seed=seed, nr_ram_pages=1 << 12)
    addr = _must(vm.vmalloc(PAGE_SIZE, cpu=0), "vmalloc")
    va = _must(vm.find_vmap_area(addr), "find_vmap_area")
    try:
        vm.write(addr + PAGE_SIZE, b"!")
        faults = False
    except VmallocError:
        faults = True
    n = vm.vmap_max_alloc + 1
    first = _must(vm.vm_map_ram(vm.alloc_pages(n), cpu=0), "vm_map_ram")
    second = _must(vm.vm_map_ram(vm.alloc_pages(n), cpu=0), "vm_map_ram")
    vm.write(first + n * PAGE_SIZE, b"!")             # one byte past the first mapping
    no_guard = _must(vm.get_vm_area(3 * PAGE_SIZE, flags=VM_NO_GUARD), "get_vm_area")
    return {"vmalloc_va_pages": va.size // PAGE_SIZE, "overrun_faults": faults,
            "map_ram_pages": n, "map_ram_va_pages": _must(vm.find_vmap_area(first), "find_vmap_area").size // PAGE_SIZE,
            "adjacent": second == first + n * PAGE_SIZE,
            "overrun_lands_in_next": vm.vread(second, 1) == b"!",
            "no_guard_va_pages": _must(vm.find_vmap_area(no_guard.addr), "find_vmap_area").size // PAGE_SIZE}


def pool_price_demo(seed: int = 0) -> dict:
    """The price of pooling address space (6.9): pooled VAs are out of the free tree.

    On a 64-page window, CPU 0 allocates and frees one-page areas until the window is full of
    them; a purge pools them all in node 0. A 16-page request on CPU 1 then finds no room in the
    free tree: ``alloc_vmap_area`` calls ``reclaim_and_purge_vmap_areas``, whose full decay gives
    every pooled VA back, and the retry succeeds. The shrinker (``vmap_node_shrink_scan``) does the
    same full decay under memory pressure; each purge's partial decay does a quarter.

    >>> d = pool_price_demo()
    >>> d["pooled"] > 0, d["largest_free_pages"] < 16, d["retry_succeeded"], d["reclaims"], d["pooled_after"]
    (True, True, True, 1, 0)
    """
    vm = Vmalloc(nr_cpus=2, version="6.9", seed=seed, vmalloc_size=64 * PAGE_SIZE, nr_ram_pages=1 << 12)
    addrs = _fill(vm, 0)
    for a in addrs:
        vm.vfree(a, cpu=0)
    vm.purge(cpu=0)
    pooled = sum(vn.pool_total() for vn in vm.nodes)
    largest = largest_free_pages(vm)
    shrinker_count = vm.shrinker.count()
    got = vm.vmalloc(16 * PAGE_SIZE, cpu=1)
    return {"window_pages": 64, "areas": len(addrs), "pooled": pooled, "pooled_pages": 2 * pooled,
            "largest_free_pages": largest, "shrinker_count": shrinker_count, "retry_succeeded": got is not None,
            "reclaims": vm.stats.reclaims, "pooled_after": sum(vn.pool_total() for vn in vm.nodes)}


# ------------------------------------------------------------------------------- pools and decay
@dataclass(frozen=True)
class PoolFrame:
    """One step of the pools lesson: every node's pool lengths after it, and what happened."""
    step: int
    title: str
    pools: tuple                    # pools[node][i]: VAs of i + 1 pages (guard included) in that pool
    hits: int                       # cumulative pool hits / misses
    misses: int
    lazy_pages: int                 # vmap_lazy_nr after the step, and the threshold
    lazy_max: int
    free_blocks: int
    decays: tuple                   # ((node, pool index, before, removed, full), ...) during the step
    purges: int                     # purges during the step
    events: tuple                   # one line per notable event, for a log


DEFAULT_POOL_SCRIPT = (
    ("alloc", 0, 24, (1,)), ("alloc", 1, 10, (3,)), ("alloc", 2, 6, (1, 2)),
    ("free", 0, 24), ("purge",),
    ("alloc", 0, 16, (1,)),
    ("free", 1, 10), ("free", 0, 8), ("purge",),
    ("alloc", 1, 4, (3,)), ("alloc", 3, 4, (3,)),
    ("free", 2, 6), ("purge",), ("purge",),
    ("shrink",),
    ("alloc", 0, 4, (1,)),
)
"""Fill, free, purge (pools fill), allocate again (pool hits), decay by 25%, the rule for pools
shorter than four, a CPU whose own node has no pool (misses), and the shrinker draining them all.

``("alloc", cpu, count, page_choices)``, ``("free", cpu, count)`` (oldest first), ``("purge",)``,
``("shrink",)``."""


class PoolsDemo:
    """A small 6.9 machine (``nr_cpus`` nodes, pools of 1..``max_va_size_pages`` pages) run by a script.

    ``lazy_max_unit_pages`` shrinks lazy_max_pages so a purge also comes on its own.

    >>> demo = PoolsDemo()
    >>> f = demo.frames[5]
    >>> f.title, f.pools[0][1]
    ('purge (drain work)', 24)
    """

    def __init__(self, nr_cpus: int = 4, max_va_size_pages: int = 8, lazy_max_unit_pages: int = 32,
                 script=DEFAULT_POOL_SCRIPT, seed: int = 0):
        self.vm = Vmalloc(nr_cpus=nr_cpus, version="6.9", seed=seed, max_va_size_pages=max_va_size_pages,
                          lazy_max_unit_pages=lazy_max_unit_pages, nr_ram_pages=1 << 16)
        self.rng = random.Random(seed)
        self.tracer = self.vm.start_trace()
        self.live: dict[int, list[int]] = {cpu: [] for cpu in range(nr_cpus)}
        self.frames: list[PoolFrame] = []
        self.frames.append(self._frame("a fresh machine: every pool empty", 0))
        for op in script:
            self.apply(op)

    def apply(self, op) -> PoolFrame:
        """Run one scripted step and record its frame."""
        mark = len(self.tracer.records)
        vm = self.vm
        if op[0] == "alloc" and len(op) == 4:
            _, cpu, count, choices = op
            for _ in range(count):
                pages = self.rng.choice(choices)
                addr = vm.vmalloc(pages * PAGE_SIZE, cpu=cpu)
                if addr is not None:
                    self.live[cpu].append(addr)
            title = f"CPU {cpu}: {count} × vmalloc of {'/'.join(map(str, choices))} page(s)"
        elif op[0] == "free" and len(op) == 3:
            _, cpu, count = op
            for addr in self.live[cpu][:count]:
                vm.vfree(addr, cpu=cpu)
            del self.live[cpu][:count]
            title = f"CPU {cpu}: vfree of its {count} oldest area(s)"
        elif op == ("purge",):
            vm.purge()
            title = "purge (drain work)"
        elif op == ("shrink",):
            vm.shrinker.scan()
            title = "shrinker: vmap_node_shrink_scan"
        else:
            raise InvalidArgumentError(f"unknown pools step {op!r}")
        frame = self._frame(title, mark)
        self.frames.append(frame)
        return frame

    def _frame(self, title: str, mark: int) -> PoolFrame:
        vm, recs = self.vm, self.tracer.records[mark:]
        decays = tuple((r.node, r.idx, r.before, r.removed, r.full) for r in recs if isinstance(r, Decay))
        purges = sum(1 for r in recs if isinstance(r, PurgeVmapAreaLazy))
        events = []
        for r in recs:                  # one record class per event: isinstance is the event test
            if isinstance(r, Decay) and r.before:
                kind = "full decay" if r.full else "decay"
                events.append(f"{kind}: node {r.node} pool of {r.idx + 1} page(s): {r.before} -> "
                              f"{r.before - r.removed} ({r.removed} to the free tree)")
            elif isinstance(r, PurgeNode) and r.nr_purged:
                events.append(f"purge_vmap_node {r.node}: {r.nr_purged} lazy VA(s), {r.to_pool} to its pools, "
                              f"{r.to_global} to the free tree")
            elif isinstance(r, PurgeVmapAreaLazy):
                events.append(f"purge_vmap_area_lazy: {r.npurged} VA(s) purged, one TLB flush")
        pools = tuple(tuple(len(p) for p in vn.pool) for vn in vm.nodes)
        return PoolFrame(len(self.frames), title, pools, vm.stats.pool_hits,
                         vm.stats.pool_misses, vm.vmap_lazy_nr, vm.lazy_max_pages(), len(vm.free_space), decays,
                         purges, tuple(events))


__all__ = ["LESSON_BASE", "tree_layout", "TreeFrame", "FreeTreeDemo", "DEFAULT_TREE_SCRIPT", "TREE_SCRIPT_128", "Quiz",
           "free_tree_quiz", "lowest_match_cost", "zone_nodes", "busy_by_node", "sharding_workload", "routing_demo",
           "lazy_free_demo", "purge_triggers", "guard_demo", "pool_price_demo", "PoolFrame", "PoolsDemo", "DEFAULT_POOL_SCRIPT"]


@dataclass(frozen=True)
class GenerationsRow:
    """One op of a recorded scenario: what each real kernel answered and what its model answers."""
    index: int
    cpu: int
    call: str
    answers: dict           # series -> (kernel's answer, model's answer)


def recorded_generations(name: str = "short-pool-across-purges") -> tuple[list[str], list[GenerationsRow]]:
    """A shipped scenario on every kernel it was recorded on (vmaplab/data/oracle-records, made by
    ``vmaplab oracle run all --kernel SERIES --record ...``), beside each kernel's own model:
    (the series with a record, one row per op)."""
    from ..oracle.records import load_all
    records = [r for r in load_all() if r.scenario.name == name]
    if not records:
        raise InvalidArgumentError(f"name: no recorded oracle run of {name!r}")
    cmps = {r.series: r.replay() for r in records}
    scn = records[0].scenario
    rows = [GenerationsRow(i, op.cpu, op.describe(), {s: (c.ops[i].kernel, c.ops[i].vmaplab) for s, c in cmps.items()})
            for i, op in enumerate(scn.ops)]
    return list(cmps), rows
