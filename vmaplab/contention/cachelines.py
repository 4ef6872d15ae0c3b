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

Invariants: ``holders`` always has the writer's bit after a write; nothing is ever evicted (no
capacity model), so a line this CPU read and nobody wrote since is a hit however long ago.
"""
from __future__ import annotations


class Line:
    """One struct's cache line: its last writer (-1: none) and the CPUs holding a copy (bitmask)."""

    __slots__ = ("writer", "holders")

    def __init__(self):
        self.writer = -1
        self.holders = 0

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

    __slots__ = ("cpu", "hits", "cold", "remote", "upgrades")

    def __init__(self, cpu: int):
        self.cpu = cpu
        self.hits = 0
        self.cold = 0
        self.remote: list[int] = []       # the CPU each fetched line came from
        self.upgrades: list[int] = []     # CPUs whose copies a write to a line held here invalidated

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
        cpu = self.cpu
        bit = 1 << cpu
        for node in nodes:
            if node is None:
                continue
            line = node.line
            if line is None:
                line = node.line = Line()
            holders = line.holders
            if holders and holders != bit:
                writer = line.writer
                if not holders & bit:
                    self.remote.append(writer if writer >= 0 else (holders & -holders).bit_length() - 1)
                else:
                    others = holders & ~bit
                    self.upgrades.append(writer if 0 <= writer != cpu else (others & -others).bit_length() - 1)
            line.writer = cpu
            line.holders = bit
