# SPDX-License-Identifier: MIT
"""A simulated page allocator: page frame numbers out, page frame numbers back.

Mirrors: what vmalloc needs of the buddy allocator: ``alloc_pages_bulk``
(batches of at most 100 pages, kernel-model.md §3.10/§4.4), ``__free_page``,
``totalram_pages()``, ``page_to_nid()`` for the vmallocinfo ``N<node>=``
counts, and page contents for vread.

Invariants: a pfn is either free or handed out, never both;
``nr_free + nr_used == nr_ram_pages``; memory node ``k`` owns the contiguous
pfn range ``[k*R/n, (k+1)*R/n)``.

Simplifications: order-0 pages only, no per-CPU lists or watermarks; an
allocation prefers the requested node and falls back to the others in
ascending order; freed pfns are reused last-freed-first (like a hot per-CPU
list). Contents are kept only for pages that were written (``data``), and
dropped on free.
"""
from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat

from .config import PAGE_SIZE
from .errors import InvariantError


class PageAllocator:
    """Hands out pfns 0..nr_ram_pages-1 deterministically, split over ``nr_nodes`` memory nodes."""

    def __init__(self, nr_ram_pages: int, nr_nodes: int = 1):
        self.nr_ram_pages = nr_ram_pages
        self.nr_nodes = nr_nodes
        self._lo = [k * nr_ram_pages // nr_nodes for k in range(nr_nodes + 1)]
        self._next_fresh = self._lo[:-1]          # per node: never-used pfns start here
        self._free: list[list[int]] = [[] for _ in range(nr_nodes)]   # recycled pfns, LIFO
        self._used = bytearray(nr_ram_pages)      # 1 = handed out; a bitmap keeps 10^7 pages cheap
        self._nr_used = 0
        self.data: dict[int, bytearray] = {}

    @property
    def nr_free(self) -> int:
        return self.nr_ram_pages - self._nr_used

    @property
    def nr_used(self) -> int:
        return self._nr_used

    def totalram_pages(self) -> int:
        return self.nr_ram_pages

    def page_to_nid(self, pfn: int) -> int:
        """The memory node of a pfn (page_to_nid)."""
        return pfn * self.nr_nodes // self.nr_ram_pages

    def alloc_pages_bulk(self, nr: int, nid: int = 0) -> list[int]:
        """Up to ``nr`` pages, from node ``nid`` first (fewer when memory runs out)."""
        if len(self._free[nid]) >= nr > 0:     # the common case: recycled pages of the wanted node suffice
            out = self._take_recycled(nid, nr)
            self._mark(out, 1)
            self._nr_used += nr
            return out
        out = []
        order = [nid] + [k for k in range(self.nr_nodes) if k != nid]
        for k in order:
            need = nr - len(out)
            if self._free[k] and need > 0:
                out += self._take_recycled(k, need)
            fresh = min(nr - len(out), self._lo[k + 1] - self._next_fresh[k])
            if fresh > 0:
                lo = self._next_fresh[k]
                out.extend(range(lo, lo + fresh))
                self._used[lo:lo + fresh] = b"\x01" * fresh      # marked here, skipped below
                self._next_fresh[k] += fresh
            if len(out) == nr:
                break
        self._mark(out, 1)                    # recycled ones (fresh ones are already 1)
        self._nr_used += len(out)
        return out

    def _take_recycled(self, node: int, need: int) -> list[int]:
        """Up to ``need`` recycled pfns of ``node``, the most recently freed first (as pops would)."""
        free = self._free[node]
        take = free[-need:]
        del free[-need:]
        take.reverse()
        return take

    def _mark(self, pfns: list[int], value: int) -> None:
        """Set the used byte of ``pfns``: one slice store when they are consecutive (recycled batches are)."""
        used = self._used
        n = len(pfns)
        if n <= 8:                               # the common one-page call: a plain loop is cheapest
            for pfn in pfns:
                used[pfn] = value
            return
        lo = pfns[0]
        if pfns[-1] - lo == n - 1 and pfns == list(range(lo, lo + n)):
            used[lo:lo + n] = (b"\x01" if value else b"\x00") * n
            return
        any(map(used.__setitem__, pfns, repeat(value)))      # a store per pfn, looped in C (each returns None)

    def free_pages(self, pfns: list[int]) -> None:
        """Return pages; a pfn that is not allocated raises InvariantError (a simulator bug)."""
        used = self._used
        if not all(map(used.__getitem__, pfns)):
            bad = next(pfn for pfn in pfns if not used[pfn])
            raise InvariantError(f"BUG: Bad page state: freeing free pfn {bad:#x}")
        self._mark(pfns, 0)
        data = self.data
        if data:
            for pfn in data.keys() & pfns:
                del data[pfn]
        if self.nr_nodes > 1:
            for pfn in reversed(pfns):
                self._free[self.page_to_nid(pfn)].append(pfn)
        else:
            self._free[0].extend(reversed(pfns))
        self._nr_used -= len(pfns)

    def is_allocated(self, pfn: int) -> bool:
        return 0 <= pfn < self.nr_ram_pages and self._used[pfn] == 1

    # -- contents (for vread) ---------------------------------------------------------
    def read(self, pfn: int, offset: int, length: int) -> bytes:
        """Bytes of a page; never-written pages read as zeros."""
        page = self.data.get(pfn)
        return bytes(length) if page is None else bytes(page[offset:offset + length])

    def write(self, pfn: int, offset: int, chunk: bytes) -> None:
        page = self.data.get(pfn)
        if page is None:
            page = self.data[pfn] = bytearray(PAGE_SIZE)
        page[offset:offset + len(chunk)] = chunk

    def clear(self, pfns: Iterable[int]) -> None:
        """Zero pages (__GFP_ZERO / init_on_alloc)."""
        for pfn in pfns:
            self.data.pop(pfn, None)
