# SPDX-License-Identifier: MIT
"""The cache-line model: what a lock holder's reads and writes of tree nodes cost (contention-model.md §6.1).

Mirrors no kernel code: it models the hardware under it. Every tree node (a ``struct vmap_area``)
lives in one cache line, whose state this module keeps in the node's ``line`` slot (the kernel
model never reads it): the CPU that wrote it last (``writer``, -1 for none) and the CPUs holding a
copy (``holders``, a bitmask). A :class:`CacheLineObserver` attached to a tree
(``RBTree.observer``, the one hook the kernel's trees call) classifies each access of one lock
hold:

* a read of a line this CPU holds is a hit; else it is fetched from the CPU that wrote it (or
  from a holder), or, when no cache has it, a cold miss; the reader then holds a copy;
* a write of a line only other caches hold is a read for ownership (one transfer, ``remote``);
  a write of a line this CPU holds too (the search just read it) only invalidates the other copies:
  stores wait in the store buffer and the holder goes on, so these invalidations overlap and the
  section pays the slowest one (``upgrades`` lists the CPUs waited for); a struct no cache has
  seen yet (just allocated by this CPU) costs nothing. A write leaves the writer the only holder.

Invariants: ``holders`` always has the writer's bit after a write. Without a capacity model
nothing is ever evicted, so a line this CPU read and nobody wrote since is a hit however long ago.

Capacity (contention-model.md §6.4, :class:`Caches` and :class:`CapacityObserver`): each core's
L2 and each complex's L3 keep a count of the bytes that went through them (page work, fetched
lines); a line remembers that count when a core or a complex last touched it (``seen``). A copy
is still there while fewer bytes than the cache's size went through since: an LRU cache evicts a
line once that many distinct bytes passed it. So a read is an L2 hit, an L3 hit (the complex's
copy), a transfer from the writer whose copy is still cached, or a miss to memory (``cold``:
never cached, or evicted everywhere). Simplification: bytes streamed are counted, not distinct
bytes, and each cache is a single LRU set (no associativity, no prefetch).
"""
from __future__ import annotations


class Line:
    """One struct's cache line: its last writer (-1: none) and the CPUs holding a copy (bitmask)."""

    __slots__ = ("writer", "holders", "seen", "walked")

    def __init__(self):
        self.writer = -1
        self.holders = 0
        # capacity model: stamps (Caches.stamps), [core] its L2 stream and [~complex] its L3 stream at the last touch
        self.seen = None
        self.walked = None      # the same, kept through other CPUs' writes: when a core last searched to here (§6.5)

    def __repr__(self) -> str:
        return f"Line(writer={self.writer}, holders={self.holders:#x})"


def line_of(node) -> Line:
    """The node's line state, created untouched (no writer, no holder) on first access."""
    line = node.line
    if line is None:
        line = node.line = Line()
    return line


class CacheLineObserver:
    """The accesses of one lock hold by ``cpu``: hits, cold misses, transfers (by source CPU), upgrades."""

    __slots__ = ("cpu", "hits", "cold", "remote", "upgrades", "l3", "private")

    def __init__(self, cpu: int):
        self.cpu = cpu
        self.hits = 0
        self.cold = 0
        self.remote: list[int] = []       # the CPU each fetched line came from
        self.upgrades: list[int] = []     # CPUs whose copies a write to a line held here invalidated
        self.l3 = 0                       # L3 hits: only with finite caches (CapacityObserver, §6.4)
        self.private: list[int] = []      # where each search's own path was: only with finite caches (§6.5)

    def read(self, nodes) -> None:
        """This CPU read ``nodes``: a hit if it holds a copy, else a transfer from the writer, else cold."""
        bit = 1 << self.cpu
        for node in nodes:
            line = node.line
            if line is None:
                line = node.line = Line()
            holders = line.holders
            if holders & bit:
                self.hits += 1
                continue
            if line.writer >= 0:
                self.remote.append(line.writer)
            elif holders:
                self.remote.append((holders & -holders).bit_length() - 1)
            else:
                self.cold += 1
            line.holders = holders | bit

    def write(self, *nodes) -> None:
        """This CPU wrote ``nodes`` (None entries are skipped): other copies are invalidated."""
        for node in nodes:
            if node is not None:
                _own(self, node)


def _own(obs, node) -> Line:
    """``obs.cpu`` writes ``node``: a read for ownership or an upgrade, noted in ``obs``; it becomes the only holder."""
    cpu = obs.cpu
    bit = 1 << cpu
    line = node.line
    if line is None:
        line = node.line = Line()
    holders = line.holders
    if holders and holders != bit:
        writer = line.writer
        if not holders & bit:
            obs.remote.append(writer if writer >= 0 else (holders & -holders).bit_length() - 1)
        else:
            others = holders & ~bit
            obs.upgrades.append(writer if 0 <= writer != cpu else (others & -others).bit_length() - 1)
    line.writer = cpu
    line.holders = bit
    return line


LINE_BYTES = 64

PAGE_BYTES = 4096
STRUCT_PAGE_BYTES = 64     # one struct page per page allocated or freed
PTE_BYTES = 8              # one page-table entry per page mapped or unmapped


def page_work_bytes(kind: str, pages: int, cleared: bool) -> int:
    """Bytes an allocator call's page work moves through the CPU's caches (contention-model.md §6.4).

    vmalloc: each page's struct page, its PTE and, when it is zeroed, the page itself (clear_page
    stores through the caches, a line at a time); vfree: the struct page and the PTE;
    vm_map_ram / vm_unmap_ram: the PTEs.
    """
    if kind == "vmalloc":
        return pages * (STRUCT_PAGE_BYTES + PTE_BYTES + (PAGE_BYTES if cleared else 0))
    if kind == "vfree":
        return pages * (STRUCT_PAGE_BYTES + PTE_BYTES)
    if kind in ("vm_map_ram", "vm_unmap_ram"):
        return pages * PTE_BYTES
    return 0


class Caches:
    """How many bytes went through each core's L2 and each complex's L3 (contention-model.md §6.4).

    The simulator adds a call's page work (:meth:`stream`); a :class:`CapacityObserver` adds the
    lines its reads fetched. Counts are ints, so runs stay exact and deterministic.
    """

    __slots__ = ("core_of", "ccx_of", "l2", "l3", "l2_bytes", "l3_bytes", "first_cpu", "blank")

    def __init__(self, topology):
        self.core_of = topology.core_of
        self.ccx_of = topology.ccx_of
        self.l2 = [0] * (max(self.core_of) + 1)      # per core (shared by its SMT threads)
        self.l3 = [0] * (max(self.ccx_of) + 1)       # per complex
        self.l2_bytes = topology.l2_kib * 1024
        self.l3_bytes = topology.l3_kib * 1024
        # a transfer's source CPU in a complex (only its distance matters)
        self.first_cpu = [self.ccx_of.index(x) if x in self.ccx_of else 0 for x in range(len(self.l3))]
        # a line's stamps: one slot per core, then one per complex from the end, so stamps[core] and
        # stamps[~ccx] index them directly (a list: cheaper than a dict on the hot path); None: never
        self.blank = [None] * (len(self.l2) + len(self.l3))

    def stamps(self, core: int, ccx: int) -> list:
        """Fresh stamps: only ``core``'s L2 and ``ccx``'s L3, at their current stream counts."""
        stamps = self.blank.copy()
        stamps[core] = self.l2[core]
        stamps[~ccx] = self.l3[ccx]
        return stamps

    def level(self, stamps: list, core: int, ccx: int) -> int:
        """Which cache of ``core`` still holds a line with these stamps: 2 (its L2), 3 (its complex's L3), 0 (neither).

        The rule :meth:`CapacityObserver.read` applies inline, line by line, on its hot path.
        """
        t = stamps[core]
        if t is not None and self.l2[core] - t < self.l2_bytes:
            return 2
        t = stamps[~ccx]
        return 3 if t is not None and self.l3[ccx] - t < self.l3_bytes else 0

    def stream(self, cpu: int, nbytes: int) -> None:
        """``cpu`` moved ``nbytes`` through its caches (cleared pages, struct pages, PTEs, fetched lines)."""
        self.l2[self.core_of[cpu]] += nbytes
        self.l3[self.ccx_of[cpu]] += nbytes


class CapacityObserver(CacheLineObserver):
    """:class:`CacheLineObserver` with finite caches: a copy evicted since counts as not held.

    A read is an L2 hit (this CPU holds the line and its core's L2 kept it), a transfer from
    the writer (another CPU wrote it and that copy is still in the writer's L2 or L3; within this
    CPU's complex a copy only the L3 keeps is an L3 hit), an L3 hit (a copy in this complex's L3),
    a transfer from another holder's complex, or a miss to memory (``cold``). Every line not
    found in the L2 adds :data:`LINE_BYTES` to the stream. Writes behave as in the parent and
    leave the writer's core and complex the only ones holding the line.
    """

    __slots__ = ("caches", "setup")

    def __init__(self, cpu: int, caches: Caches, setup=None):
        super().__init__(cpu)
        self.caches = caches
        self.setup = setup            # a busy tree's: the live setup areas (SetupAreas, §6.5); None: not a busy tree

    def read(self, nodes) -> None:
        if self.setup is not None and nodes:
            self._search_end(nodes[-1])
        cpu = self.cpu
        bit = 1 << cpu
        c = self.caches
        core_of, ccx_of, l2, l3 = c.core_of, c.ccx_of, c.l2, c.l3
        core, ccx = core_of[cpu], ccx_of[cpu]
        nccx = ~ccx
        s2, s3 = l2[core], l3[ccx]
        l2_bytes, l3_bytes = c.l2_bytes, c.l3_bytes
        remote = self.remote
        hits = fetched = 0
        # one loop, everything inlined: this is the hot path of a capacity run (§5.4's habit)
        for node in nodes:
            line = node.line
            if line is None:
                line = node.line = Line()
            seen = line.seen
            if seen is None:
                seen = line.seen = c.blank.copy()
            t = seen[core]
            writer = line.writer
            holders = line.holders
            if t is not None and s2 - t < l2_bytes and (holders & bit or not 0 <= writer != cpu):
                hits += 1               # in this core's L2: read here, or by its SMT sibling, since
                if holders & bit:
                    seen[core] = s2
                    seen[nccx] = s3
                    continue
            else:
                fetched += LINE_BYTES
                if 0 <= writer != cpu:
                    # the writer's copy: still in its L2 (a transfer), in its complex's L3 (a transfer
                    # from another complex, an L3 hit in this one), or gone
                    wcore = core_of[writer]
                    t = seen[wcore]
                    if t is not None and l2[wcore] - t < l2_bytes:
                        remote.append(writer)
                    else:
                        wccx = ccx_of[writer]
                        t = seen[~wccx]
                        if t is not None and l3[wccx] - t < l3_bytes:
                            if wccx != ccx:
                                remote.append(writer)
                            else:
                                self.l3 += 1
                        else:
                            self._elsewhere(seen, ccx)
                else:
                    t = seen[nccx]
                    if t is not None and s3 - t < l3_bytes:
                        self.l3 += 1
                    else:
                        self._elsewhere(seen, ccx)
            line.holders = holders | bit
            seen[core] = s2
            seen[nccx] = s3
        self.hits += hits
        if fetched:
            l2[core] = s2 + fetched
            l3[ccx] = s3 + fetched

    def _elsewhere(self, seen: list, ccx: int) -> None:
        """A line not in this complex: a clean copy in another complex's L3 (a transfer), else memory.

        The copy is taken from the lowest-numbered such complex: every machine preset puts all other
        complexes at one distance (topology.py), so which one serves it does not change the price.
        """
        c = self.caches
        l3, l3_bytes = c.l3, c.l3_bytes
        for other in range(len(l3)):
            t = seen[~other]
            if other != ccx and t is not None and l3[other] - t < l3_bytes:
                self.remote.append(c.first_cpu[other])
                return
        self.cold += 1

    def write(self, *nodes) -> None:
        """As the parent's, and the writer's core and complex become the only ones whose caches hold the line."""
        c = self.caches
        core, ccx = c.core_of[self.cpu], c.ccx_of[self.cpu]
        nccx = ~ccx
        s2, s3 = c.l2[core], c.l3[ccx]
        for node in nodes:
            if node is None:
                continue
            line = _own(self, node)
            seen = line.seen = c.blank.copy()
            seen[core] = s2
            seen[nccx] = s3
            walked = line.walked
            if walked is None:
                line.walked = seen.copy()
            else:
                walked[core] = s2
                walked[nccx] = s3

    def _search_end(self, node) -> None:
        """A busy-tree search ended at ``node``: if its key lies among setup areas, note where its path was (§6.5).

        Among setup areas (some below and some above it: ``setup.around``), the real tree's
        levels that the scaled one lacks are setup areas on this key's own path, last read when
        this core last searched here: ``node``'s ``walked`` stamps say whether that is still in its
        L2 (2), its complex's L3 (3), neither (0), or never happened (-1). Then they are stamped.
        """
        if not self.setup.around(node.va_start):
            return
        c = self.caches
        cpu = self.cpu
        core, ccx = c.core_of[cpu], c.ccx_of[cpu]
        s2, s3 = c.l2[core], c.l3[ccx]
        line = node.line
        if line is None:
            line = node.line = Line()
        walked = line.walked
        if walked is None:
            self.private.append(-1)
            line.walked = c.stamps(core, ccx)
            return
        self.private.append(c.level(walked, core, ccx))
        walked[core] = s2
        walked[~ccx] = s3

