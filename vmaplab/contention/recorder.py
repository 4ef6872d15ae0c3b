# SPDX-License-Identifier: MIT
"""What the simulator records while an allocator call runs: critical sections and the events between them.

Mirrors no kernel code: it is an event sink (``Vmalloc.attach_tracer``) that turns the kernel
model's lock events into :class:`CriticalSection` records, each with the tree searches, node
visits and node writes it performed (the tree's counters, read at acquire and release) and, with
the cache-line model on, how its node accesses fell (:class:`LineTally`, from a
:class:`~vmaplab.contention.cachelines.CacheLineObserver` attached to the tree for that hold).

Besides sections it records the atomic update of ``vmap_lazy_nr`` a lazy free performs before it
takes the lazy lock (kernel-model.md §4.5), TLB-flush IPIs, and the VAs a purge handled per node.

Invariants: records are immutable named tuples, in the order the kernel model emitted their
events; every acquire of a lock is closed by its release before the call returns.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..kernel.trace import AllocVmapArea, FreeVmapAreaNoflush, Lock, Pool, PurgeNode, TlbFlush, Vmalloc
from .cachelines import CacheLineObserver, CapacityObserver

if TYPE_CHECKING:
    from ..workloads.test_vmalloc import SetupAreas

# NamedTuple construction without the generated __new__'s Python frame (one record per lock hold)
_tuple_new = tuple.__new__


class LineTally(NamedTuple):
    """How a hold's node accesses fell: hits, cold misses, fetched lines (by source CPU), upgrades, L3 hits.

    Without the capacity model (contention-model.md §6.4) ``hits`` are every held line and ``l3`` is 0.
    """
    hits: int
    cold: int
    remote: list[int]
    upgrades: list[int]
    l3: int
    private: list[int]          # §6.5: per busy-tree search among setup areas, where its key's path was (2/3/0/-1)


class CriticalSection(NamedTuple):
    """One lock hold: which lock, which kernel function's section, and what it did to the tree."""
    lock: str
    section: str
    ops: int                    # tree searches started
    visits: int                 # nodes read while searching
    writes: int                 # nodes written (links, colour, subtree_max_size)
    size: int                   # the tree's size at release
    lines: LineTally | None     # None: no tree, or the cache-line model is off


class AtomicUpdate(NamedTuple):
    """A locked read-modify-write of a shared counter's line (``vmap_lazy_nr``)."""
    counter: str


class FlushIpi(NamedTuple):
    """flush_tlb_kernel_range(): IPIs to every running CPU."""


class PurgedVas(NamedTuple):
    """A purge handled ``nr`` VAs of node ``node`` (local work the simulator prices)."""
    nr: int
    node: int


class SectionRecorder:
    """The event sink of a contention run: lock acquire/release pairs become :class:`CriticalSection` s."""

    def __init__(self, vm, track_lines: bool = False, caches=None):
        self.items: list[NamedTuple] = []
        self._open: dict[str, tuple] = {}
        self._ignored = frozenset((Vmalloc, Pool, AllocVmapArea))      # the common events it has no use for
        self.track_lines = track_lines        # the holder's tree accesses classified by cache-line state
        self.caches = caches                  # cachelines.Caches: finite caches (§6.4), or None
        self.setup_areas: SetupAreas | None = None    # the workload's live setup areas (§6.5), set by the simulator
        self.busy_locks = frozenset(vn.busy_lock for vn in vm.nodes)
        self.trees = {"free_vmap_area_lock": vm.free_space.tree}
        self.real_size = set()          # trees that are as big as the real ones in a scaled run
        for vn in vm.nodes:
            self.trees[vn.busy_lock] = vn.busy
            self.trees[vn.lazy_lock] = vn.lazy
            self.real_size.add(vn.lazy_lock)     # lazy_max_pages is not scaled

    def emit(self, cls, cpu: int, *args) -> None:
        if cls is Lock:                 # most events: a lock taken or dropped (one function: the hot path)
            lock, op, section = args
            if lock == "vmap_purge_lock":        # a mutex, never contended in the model (sim.py's module doc)
                return
            tree = self.trees.get(lock)
            if op == "acquire":
                # note the tree's counters (and watch its lines) to diff them at the release
                if tree is None:
                    self._open[lock] = (section, None, 0, 0, 0)
                    return
                self._open[lock] = (section, tree, tree.ops, tree.visits, tree.writes)
                if self.track_lines:
                    tree.observer = CacheLineObserver(cpu) if self.caches is None else CapacityObserver(
                        cpu, self.caches, self.setup_areas if lock in self.busy_locks else None)
                return
            section, tree, o0, v0, w0 = self._open.pop(lock)
            if tree is None:
                self.items.append(_tuple_new(CriticalSection, (lock, section, 0, 0, 0, 0, None)))
                return
            obs = tree.observer
            lines = None
            if obs is not None:
                lines = _tuple_new(LineTally, (obs.hits, obs.cold, obs.remote, obs.upgrades, obs.l3, obs.private))
                tree.observer = None
            self.items.append(_tuple_new(CriticalSection, (lock, section, tree.ops - o0, tree.visits - v0,
                                                           tree.writes - w0, tree.count, lines)))
        elif cls in self._ignored:      # API calls, pool and tree-search records: nothing to price
            return
        elif cls is FreeVmapAreaNoflush:
            # kernel-model.md §4.5: free_vmap_area_noflush adds to vmap_lazy_nr before it takes the
            # lazy lock, and fires this tracepoint after releasing it: the atomic goes before that section
            items = self.items
            last = items[-1] if items else None
            at = len(items) - 1 if type(last) is CriticalSection and last.section == "free_vmap_area_noflush" \
                else len(items)
            items.insert(at, AtomicUpdate("vmap_lazy_nr"))
        elif cls is TlbFlush:
            self.items.append(FlushIpi())
        elif cls is PurgeNode and args[1]:
            self.items.append(PurgedVas(args[1], args[0]))
