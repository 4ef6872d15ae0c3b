"""A simulated page allocator: page frame numbers out, page frame numbers back.

Mirrors: what vmalloc needs of the buddy allocator: ``alloc_pages_bulk``
(batches of at most 100 pages, spec §3.10/§4.4), ``__free_page``,
``totalram_pages()``, and page contents for vread.

Invariants: a pfn is either free or handed out, never both;
``nr_free + nr_used == nr_ram_pages``.

Simplifications: one zone, no orders above 0, no per-CPU lists or watermarks;
freed pfns are reused last-freed-first (like a hot per-CPU list). Contents are
kept only for pages that were written (``data``), and dropped on free.
"""
from __future__ import annotations


class PageAllocator:
    """Hands out pfns 0..nr_ram_pages-1 deterministically."""

    def __init__(self, nr_ram_pages: int):
        self.nr_ram_pages = nr_ram_pages
        self._next_fresh = 0          # never-used pfns start here
        self._free: list[int] = []    # recycled pfns, LIFO
        self._used = bytearray(nr_ram_pages)   # 1 = handed out; a bitmap keeps 10^7 pages cheap
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

    def alloc_pages_bulk(self, nr: int) -> list[int]:
        """Up to ``nr`` pages (fewer when memory runs out)."""
        out: list[int] = []
        free = self._free
        while free and len(out) < nr:
            out.append(free.pop())
        fresh = min(nr - len(out), self.nr_ram_pages - self._next_fresh)
        if fresh > 0:
            out.extend(range(self._next_fresh, self._next_fresh + fresh))
            self._next_fresh += fresh
        used = self._used
        for pfn in out:
            used[pfn] = 1
        self._nr_used += len(out)
        return out

    def free_pages(self, pfns: list[int]) -> None:
        """Return pages; a pfn that is not allocated raises ValueError (a simulator bug)."""
        used = self._used
        for pfn in pfns:
            if not used[pfn]:
                raise ValueError(f"BUG: Bad page state: freeing free pfn {pfn:#x}")
        data = self.data
        for pfn in pfns:
            used[pfn] = 0
            if data:
                data.pop(pfn, None)
        self._nr_used -= len(pfns)
        self._free.extend(reversed(pfns))

    def is_allocated(self, pfn: int) -> bool:
        return 0 <= pfn < self.nr_ram_pages and self._used[pfn] == 1
