# SPDX-License-Identifier: MIT
"""The full invariant checker and the text rendering of the address space it prints.

Mirrors: the kernel's debug checks (``DEBUG_AUGMENT_PROPAGATE_CHECK``,
``DEBUG_AUGMENT_LOWEST_MATCH_CHECK``) and the invariants stated across spec
§2-§4; the habit of intervaltree's ``verify()``: rebuild every redundant
index from scratch and compare.

Invariants checked (O(n) over all areas):
  1. every tree is a valid red-black tree whose list matches it, and the free
     tree's ``subtree_max_size`` values are exact;
  2. free VAs never touch (merge-on-free happened);
  3. free ∪ busy ∪ lazy ∪ pooled tile ``[1, ULONG_MAX)`` exactly once, and no
     purge list is left non-empty between calls;
  4. placement: busy VAs in ``addr_to_node(va_start)``, lazy VAs in their owner
     node (or their address node), pooled VAs in their owner node's pool of their
     exact size; pool ``len`` equals its list length;
  5. ``vmap_lazy_nr`` equals the lazy pages; ``nr_vmalloc_pages`` the pages of
     vmalloc areas;
  6. vm_structs agree with their VAs; every page a live area owns is allocated
     and owned once; the page allocator's count is not negative; each page
     alloc_pages() handed out is counted in exactly as many mappings as hold it;
  7. vmap blocks: ``used + free + dirty == VMAP_BBMAP_BITS``, queued iff free,
     hashed iff their VA is busy;
  8. the tree's lowest match agrees with the linear scan (sampled queries).
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from .config import PAGE_SHIFT, PAGE_SIZE, ULONG_MAX, VM_ALLOC, VMAP_BLOCK, VMAP_RAM
from .errors import InvariantError, present
from .freespace import find_vmap_lowest_linear_match, find_vmap_lowest_match, is_within_this_va
from .trace import format_record

if TYPE_CHECKING:
    from .area import VmapArea
    from .vmalloc import Vmalloc

MAX_PROBLEMS = 20



class Report(Protocol):
    """How a check reports a problem: its text, and an address the map is drawn around."""

    def __call__(self, msg: str, addr: int | None = None) -> None: ...


def _segments(vm: Vmalloc) -> Iterator[tuple[int, int, str]]:
    """(start, end, label) for every VA in any container, unsorted."""
    for va in vm.free_space.tree:
        yield va.va_start, va.va_end, "free"
    for vn in vm.nodes:
        for va in vn.busy:
            yield va.va_start, va.va_end, f"busy  vn{vn.id} {_describe(va)}"
        for va in vn.lazy:
            yield va.va_start, va.va_end, f"lazy  vn{vn.id}"
        for idx, pool in enumerate(vn.pool):
            for va in pool.va_list:
                yield va.va_start, va.va_end, f"pool  vn{vn.id}[{idx}]"
        for va in vn.purge_list:
            yield va.va_start, va.va_end, f"purge vn{vn.id}"
    for va in vm._in_flight.values():        # handed out by a kernel step called on its own
        yield va.va_start, va.va_end, "in flight"


def _describe(va: VmapArea) -> str:
    if va.vm is not None:
        return "|".join(va.vm.flag_names()) + (f" {va.vm.caller}" if va.vm.caller else "")
    if va.flags & VMAP_BLOCK:
        return "vmap_block"
    if va.flags & VMAP_RAM:
        return "vm_map_ram"
    return "no vm"


def render_address_map(vm: Vmalloc, around: int | None = None, limit: int = 40) -> str:
    """The address space as text, one VA per line, in address order.

    With ``around``, shows the ``limit`` lines nearest that address; free
    blocks print their size in pages so the picture stays readable.
    """
    segs = sorted(_segments(vm))
    if around is not None and len(segs) > limit:
        i = next((k for k, s in enumerate(segs) if s[1] > around), len(segs) - 1)
        lo = max(0, i - limit // 2)
        segs = segs[lo:lo + limit]
    elif len(segs) > limit:
        segs = segs[:limit // 2] + [(0, 0, "...")] + segs[-limit // 2:]
    lines = []
    for start, end, label in segs:
        if label == "...":
            lines.append("    ...")
            continue
        mark = "->" if around is not None and start <= around < end else "  "
        lines.append(f"{mark} {start:#018x}-{end:#018x} {(end - start) >> PAGE_SHIFT:>12} pages  {label}")
    return "\n".join(lines)


def check_vmalloc(vm: Vmalloc, samples: int = 16) -> None:
    """Run every check; raise InvariantError listing the problems, the map and the last trace."""
    problems: list[str] = []
    where: list[int] = []

    def bad(msg: str, addr: int | None = None) -> None:
        problems.append(msg)
        if addr is not None:
            where.append(addr)

    _check_trees(vm, bad)
    if len(problems) < MAX_PROBLEMS:
        _check_tiling(vm, bad)
        _check_placement(vm, bad)
        _check_accounting(vm, bad)
        _check_blocks(vm, bad)
        _check_oracle(vm, bad, samples)
    if problems:
        text = "\n".join(f"  - {p}" for p in problems[:MAX_PROBLEMS])
        amap = render_address_map(vm, around=where[0] if where else None)
        tail = ""
        if vm.trace is not None and len(vm.trace):
            tail = "\nlast trace records:\n" + "\n".join("  " + format_record(r) for r in vm.trace.tail(10))
        raise InvariantError(f"{vm!r}: {len(problems)} invariant(s) broken:\n{text}\n"
                             f"address map:\n{amap}{tail}")


def _check_trees(vm: Vmalloc, bad: Report) -> None:
    for p in vm.free_space.tree.check():
        bad(p)
    prev = None
    for va in vm.free_space.tree:
        if prev is not None and prev.va_end == va.va_start:
            bad(f"free VAs {prev!r} and {va!r} touch: merge-on-free missed them", va.va_start)
        prev = va
    for vn in vm.nodes:
        for tree in (vn.busy, vn.lazy):
            for p in tree.check():
                bad(p)


def _check_tiling(vm: Vmalloc, bad: Report) -> None:
    segs = sorted((s, e) for s, e, _ in _segments(vm))
    expect = 1
    for s, e in segs:
        if s != expect:
            kind = "overlap" if s < expect else "hole (leaked space)"
            bad(f"{kind} at {min(s, expect):#x}: expected the next VA at {expect:#x}, found {s:#x}-{e:#x}", s)
            break
        expect = e
    else:
        if expect != ULONG_MAX:
            bad(f"space after {expect:#x} is in no container (leaked)", expect)
    for vn in vm.nodes:
        if vn.purge_list:
            bad(f"node {vn.id} has {len(vn.purge_list)} VAs left on its purge list between calls")


def _check_placement(vm: Vmalloc, bad: Report) -> None:
    for vn in vm.nodes:
        for va in vn.busy:
            if vm.addr_to_node_id(va.va_start) != vn.id:
                bad(f"busy {va!r} is in node {vn.id}, addr_to_node_id says {vm.addr_to_node_id(va.va_start)}",
                    va.va_start)
        for va in vn.lazy:
            owner = vm.owner_node_id(va)
            home = owner if owner is not None else vm.addr_to_node_id(va.va_start)
            if home != vn.id:
                bad(f"lazy {va!r} is in node {vn.id}, belongs to node {home}", va.va_start)
        for idx, pool in enumerate(vn.pool):
            if pool.len != len(pool.va_list):
                bad(f"node {vn.id} pool[{idx}].len is {pool.len} but it lists {len(pool.va_list)} VAs")
            for va in pool.va_list:
                if (va.va_end - va.va_start) != (idx + 1) * PAGE_SIZE:
                    bad(f"{va!r} of {va.size >> PAGE_SHIFT} pages sits in pool[{idx}] of node {vn.id}", va.va_start)
                if vm.owner_node_id(va) != vn.id:
                    bad(f"pooled {va!r} in node {vn.id} is owned by {vm.owner_node_id(va)}", va.va_start)
        if not vm._node_layer and any(pool.va_list for pool in vn.pool):
            bad(f"node {vn.id} has pooled VAs although this design has no pools")
    if not vm._node_layer:
        for vn in vm.nodes:
            for va in vn.busy:
                if va.flags >> 8:
                    bad(f"{va!r} carries an owner id on a machine without a node layer", va.va_start)


def _check_accounting(vm: Vmalloc, bad: Report) -> None:
    lazy_pages = sum((va.va_end - va.va_start) >> PAGE_SHIFT for vn in vm.nodes for va in vn.lazy)
    if lazy_pages != vm.vmap_lazy_nr:
        bad(f"vmap_lazy_nr is {vm.vmap_lazy_nr} but the lazy trees hold {lazy_pages} pages")
    owned: set[int] = set()
    vmalloc_pages = 0
    for vn in vm.nodes:
        for va in vn.busy:
            vms = va.vm
            if vms is None:
                continue
            if vms.addr != va.va_start or vms.size != va.va_end - va.va_start:
                bad(f"{vms!r} disagrees with its {va!r}", va.va_start)
            if vms.flags & VM_ALLOC:
                vmalloc_pages += vms.nr_pages
                # (pcpu chunks and imported areas are VM_ALLOC with no pages at all; a 7.3 vrealloc
                # shrink leaves fewer pages than the area spans, kernel-model.md §8)
                full = vms.get_vm_area_size() >> PAGE_SHIFT
                if vms.nr_pages and (vms.nr_pages > full if vm.gen.vrealloc_frees_tail else vms.nr_pages != full):
                    bad(f"vmalloc area {vms!r} has {vms.nr_pages} pages for "
                        f"{vms.get_vm_area_size() >> PAGE_SHIFT} mapped", va.va_start)
            for pfn in vms.pages[:vms.nr_pages]:
                if pfn in owned or not vm.pages.is_allocated(pfn):
                    bad(f"page {pfn:#x} of {vms!r} is free or owned twice", va.va_start)
                    break
                owned.add(pfn)
    if vmalloc_pages != vm.nr_vmalloc_pages:
        bad(f"nr_vmalloc_pages is {vm.nr_vmalloc_pages}, vmalloc areas hold {vmalloc_pages}")
    if vm.pages.nr_used < len(owned) or vm.pages.nr_used < 0:
        bad(f"page allocator reports {vm.pages.nr_used} used pages, areas own {len(owned)}")
    mapped = vm.mapped_pfn_counts()
    for pfn, n in vm._user_pages.items():
        if n != mapped.get(pfn, 0) or not vm.pages.is_allocated(pfn):
            bad(f"page {pfn:#x} from alloc_pages() is counted in {n} mappings, maps hold it "
                f"{mapped.get(pfn, 0)} times (allocated: {vm.pages.is_allocated(pfn)})")
            break


def _check_blocks(vm: Vmalloc, bad: Report) -> None:
    bits = vm.vmap_bbmap_bits
    hashed = set()
    for cpu, q in enumerate(vm.vmap_block_queue):
        for vb in q.free:
            if vb.free <= 0 or vb.cpu != cpu:
                bad(f"{vb!r} is queued on CPU {cpu} with free={vb.free}, cpu={vb.cpu}", vb.va.va_start)
        for key, vb in q.vmap_blocks.items():
            hashed.add(vb.va.va_start)
            xa, k = vm._vb_hash(vb.va.va_start)
            if xa is not q or k != key:
                bad(f"{vb!r} is hashed under the wrong xarray/key", vb.va.va_start)
            used = bin(vb.used).count("1")
            if used + vb.free + vb.dirty != bits:
                bad(f"{vb!r}: used {used} + free {vb.free} + dirty {vb.dirty} != {bits}", vb.va.va_start)
            if (vb.free > 0) != (vb in vm.vmap_block_queue[vb.cpu].free):
                bad(f"{vb!r} queued state does not match free={vb.free}", vb.va.va_start)
            if vm.find_vmap_area(vb.va.va_start) is not vb.va:
                bad(f"{vb!r}: its VA is not busy", vb.va.va_start)
            if vb.va.flags & (VMAP_RAM | VMAP_BLOCK) != VMAP_RAM | VMAP_BLOCK or vb.va.vm is not None:
                bad(f"{vb!r}: its VA flags {vb.va.flags:#x} are not VMAP_RAM|VMAP_BLOCK", vb.va.va_start)
    for vn in vm.nodes:
        for va in vn.busy:
            if va.flags & VMAP_BLOCK and va.va_start not in hashed:
                bad(f"busy block VA {va!r} is in no block hash", va.va_start)


def _check_oracle(vm: Vmalloc, bad: Report, samples: int) -> None:
    """DEBUG_AUGMENT_LOWEST_MATCH_CHECK on sampled (size, align, vstart) queries.

    Without the padding allowance the tree must return exactly the linear
    scan's block; with it, a fitting block no higher than the lowest block that
    is at least ``size + align - 1`` long and starts at or after ``vstart``.
    """
    tree = vm.free_space.tree
    if not tree:
        return
    rng = random.Random(len(tree) * 1_000_003 + vm.vmap_lazy_nr)
    largest = present(tree.root, "the free tree's root").subtree_max_size
    window = vm.VMALLOC_END - vm.VMALLOC_START
    visits, ops = tree.visits, tree.ops
    for _ in range(samples):
        size = PAGE_SIZE * rng.randint(1, max(1, min(largest, window) // PAGE_SIZE // 4 or 1))
        align = 1 << rng.randint(0, 22)
        vstart = vm.VMALLOC_START + rng.randrange(0, window, PAGE_SIZE)
        got = find_vmap_lowest_match(tree, size, 1, vstart, False)
        want = find_vmap_lowest_linear_match(tree, size, 1, vstart)
        if got is not want:
            bad(f"lowest match for size {size:#x} from {vstart:#x}: tree {got!r}, linear {want!r}", vstart)
        got = find_vmap_lowest_match(tree, size, align, vstart, True)
        need = size + align - 1
        bound = next((va for va in tree if va.va_start >= vstart and va.size >= need), None)
        if got is not None and not is_within_this_va(got, size, align, vstart):
            bad(f"adjusted lowest match {got!r} does not fit size {size:#x} align {align:#x}", got.va_start)
        if bound is not None and (got is None or got.va_start > bound.va_start):
            bad(f"adjusted lowest match for size {size:#x} align {align:#x} from {vstart:#x} "
                f"returned {got!r}, but {bound!r} fits", bound.va_start)
    tree.visits, tree.ops = visits, ops   # checking is not work the contention model should price
