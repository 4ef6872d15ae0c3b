# SPDX-License-Identifier: MIT
"""What one allocator call costs a CPU when nobody else is in the way.

Assumptions, in prose (OSTEP's habit: the model before the code). A call's time
is a fixed per-call cost (bookkeeping outside the locks, slab objects) plus
per-page costs for the page work it does (allocate, zero, map; unmap, free)
plus a small cost per free-tree node it visited (cache-hot, since one CPU
alone keeps the tree in its caches). There is no lock contention, no cache-line
transfer between CPUs and no TLB-flush IPI here: those belong to the
contention simulator, which starts from these same constants.

Every constant cites docs/contention-model.md (§4.2, §6.3):
[D] derived there from published timings, [E] an estimate, [S] a source.

Simplifications: a purge run by the workqueue is charged to nobody; an RCU
grace period's frees are charged to nobody (the RCU kthread does them).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CostModel:
    """Uncontended costs in nanoseconds."""
    vmalloc_fixed_ns: float = 120.0   # [D] §4.2: an uncontended 1-page pair ≈ 0.43 µs (T6)
    vfree_fixed_ns: float = 120.0     # [D] §4.2
    page_alloc_ns: float = 30.0       # [D] §4.2: bulk, pcp-hot
    page_map_ns: float = 10.0         # [D] §4.2
    page_unmap_ns: float = 10.0       # [D] §4.2
    page_free_ns: float = 25.0        # [D] §4.2: free_unref_page
    clear_page_ns: float = 40.0       # [M] §6.3: rep stosq of a page in L1-L3 (benchmarks/clear_page.py)
    init_on_alloc: bool = True        # [D] §4.2: the cover letter's machine zeroed every page
    tree_visit_ns: float = 3.0        # [E] §6.3 t_hit: an L2 hit per visited node
    rcu_queue_ns: float = 20.0        # [E] kvfree_rcu: put a pointer in a per-CPU batch
    cpu_ghz: float = 3.68             # [S] T6: 51.37 G cycles / 13.98 s on the author's machine

    def clears(self, zero: bool) -> bool:
        """Whether a vmalloc's pages are zeroed: __GFP_ZERO asked for, or init_on_alloc."""
        return zero or self.init_on_alloc

    def vmalloc_ns(self, pages: int, zero: bool, visits: int) -> float:
        per_page = self.page_alloc_ns + self.page_map_ns + (self.clear_page_ns if self.clears(zero) else 0)
        return self.vmalloc_fixed_ns + pages * per_page + visits * self.tree_visit_ns

    def vfree_ns(self, pages: int, visits: int) -> float:
        return self.vfree_fixed_ns + pages * (self.page_unmap_ns + self.page_free_ns) + visits * self.tree_visit_ns

    def map_ns(self, pages: int, visits: int) -> float:
        """vm_map_ram(): the caller's pages are only mapped."""
        return self.vmalloc_fixed_ns + pages * self.page_map_ns + visits * self.tree_visit_ns

    def unmap_ns(self, pages: int, visits: int) -> float:
        return self.vfree_fixed_ns + pages * self.page_unmap_ns + visits * self.tree_visit_ns

    def cycles(self, ns: float) -> int:
        return int(ns * self.cpu_ghz)
