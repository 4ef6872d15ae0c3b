# SPDX-License-Identifier: MIT
"""The "vmap-node" shrinker: gives pooled VAs back to the global free space under memory pressure.

Mirrors (kernel-model.md §4.8): ``vmap_node_shrink_count`` and ``vmap_node_shrink_scan``
of 6.9, registered with flags 0 (neither NUMA- nor memcg-aware).

Invariants: ``count()`` is the sum of every pool's ``len``; after ``scan()``
every pool of every node is empty.

Simplifications: 6.9 takes no ``vmap_purge_lock`` here (a 2026 fix added it);
the race that allowed is not reachable in a sequential run, so it is only
documented. Only the 6.9 design has the shrinker; on 6.8 it counts nothing.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

from .config import SHRINK_EMPTY, SHRINK_STOP, ULONG_MAX
from .trace import Shrinker as ShrinkerEvent
from .validate import check_int

if TYPE_CHECKING:
    from .vmalloc import Vmalloc


class VmapNodeShrinker:
    """``vm.shrinker``: ``count()`` and ``scan(nr_to_scan)`` as the shrinker core calls them."""

    name = "vmap-node"
    flags = 0

    def __init__(self, vm: Vmalloc) -> None:
        self._vm = vm

    def count(self, cpu: int = 0) -> int:
        """vmap_node_shrink_count(): pooled VAs over all nodes, or SHRINK_EMPTY when none."""
        vm = self._vm
        vm._check_cpu(cpu)
        total = sum(vn.pool_total() for vn in vm.nodes)
        if vm._tr is not None:
            vm._tr.emit(ShrinkerEvent, cpu, "count", total)
        return total if total else SHRINK_EMPTY

    def scan(self, nr_to_scan: int = 128, cpu: int = 0) -> int:
        """vmap_node_shrink_scan(): fully decay every node's pools; always SHRINK_STOP.

        ``nr_to_scan`` is ignored, as in the kernel. 6.12 and 7.3 decay under vmap_purge_lock
        (``gen.shrinker_takes_purge_lock``, kernel-model.md §8), so a scan waits for a purge; the
        6.9 model decays without it.
        """
        vm = self._vm
        vm._check_cpu(cpu)
        check_int(nr_to_scan, "shrinker.scan: nr_to_scan", 0, ULONG_MAX)
        before = vm.stats.decayed
        vm.stats.shrinker_scans += 1
        if vm._node_layer:
            with vm._purge_mutex(cpu) if vm.gen.shrinker_takes_purge_lock else nullcontext():
                for vn in vm.nodes:
                    vm._decay_va_pool_node(vn, True, cpu)
        if vm._tr is not None:
            vm._tr.emit(ShrinkerEvent, cpu, "scan", vm.stats.decayed - before)
        vm._after_call(cpu)
        return SHRINK_STOP

    def __repr__(self) -> str:
        return f"<Shrinker {self.name!r}>"
