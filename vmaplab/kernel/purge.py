# SPDX-License-Identifier: MIT
"""Lazy free, purge, pool decay and reclaim: how freed VAs find their way back.

Mirrors (kernel-model.md §3.6-§3.8, §4.5, §4.7, §4.14): ``free_vmap_area_noflush``,
``drain_vmap_area_work``, ``__purge_vmap_area_lazy``, ``purge_vmap_node``,
``node_pool_add_va``, ``decay_va_pool_node``, ``reclaim_list_global``,
``reclaim_and_purge_vmap_areas``, ``free_vmap_area`` and the purge notifier
chain.

Invariants: ``vmap_lazy_nr`` equals the pages of every VA in a lazy tree or on
a purge list; after a purge no lazy VA of the purged nodes remains; all pools
are decayed before any VA of the same purge is pooled, so a freshly purged VA
survives at least until the next purge.

6.8 differs only where the kernel did: lazy VAs merge in one global purge
tree, nothing is pooled, and the drain work loops until ``vmap_lazy_nr`` is
back under ``lazy_max_pages()``. 7.3 keeps pools shorter than 4 through a partial decay
(kernel-model.md §8).

Simplifications: the workqueue is a list the allocator runs at the end of the
API call that scheduled it (or on demand, see ``autorun_work``); purge helpers
run one after another, each recorded with the CPU it would have run on; the TLB
flush is one counted event, not IPIs; no KASAN shadow release.
"""
from __future__ import annotations

from collections.abc import Callable

from .area import VmapArea, decode_vn_id
from .config import PAGE_SHIFT, ULONG_MAX
from .errors import InvalidArgumentError
from .freespace import merge_or_add_vmap_area
from .nodes import VmapNode
from .rbtree import RBTree
from .state import Notifier, VmallocState, Work
from .trace import Decay, FreeVmapAreaNoflush, PurgeNode, PurgeVmapAreaLazy, TlbFlush
from .validate import check_int, is_c_int

WORK_ITEMS = ("drain_vmap_area_work",)     # what schedule_work() queues and run_workqueue() runs


class PurgeMixin(VmallocState):
    """The lazy-free half of :class:`vmaplab.Vmalloc` (kept apart for readability)."""

    # -- lazy free --------------------------------------------------------------------
    def _free_vmap_area_noflush(self, va: VmapArea, cpu: int) -> None:
        """free_vmap_area_noflush(): account the pages, park the VA in a lazy tree (§4.5).

        6.9 inserts into the owner node's lazy tree without merging; 6.8 merges
        into the single global purge tree. Schedules the drain work when
        ``vmap_lazy_nr`` passes ``lazy_max_pages()``.
        """
        lazy_max = self.lazy_max_pages()
        self.vmap_lazy_nr += (va.va_end - va.va_start) >> PAGE_SHIFT
        nr_lazy = self.vmap_lazy_nr
        vn_id = decode_vn_id(va.flags, self.nr_vmap_nodes)
        vn = self.nodes[vn_id] if vn_id < self.nr_vmap_nodes else self.addr_to_node(va.va_start)
        self._locked(cpu, vn.lazy_lock, "free_vmap_area_noflush", self._lazy_insert, vn, va)
        if self._tr is not None:
            self._tr.emit(FreeVmapAreaNoflush, cpu, va.va_start, nr_lazy, lazy_max)
        if nr_lazy > lazy_max:
            self._schedule_work("drain_vmap_area_work", cpu)

    def _lazy_insert(self, vn: VmapNode, va: VmapArea) -> None:
        """Into the lazy tree (under its lock): 6.8 merges with touching neighbours, 6.9 does not."""
        if self._merge_lazy:
            merge_or_add_vmap_area(vn.lazy, va, self.dmesg.warn)
        else:
            vn.lazy.insert(va)

    def _free_vmap_area(self, va: VmapArea, cpu: int) -> None:
        """free_vmap_area(): unlink from the busy tree and return to the free tree at once (§4.5)."""
        vn = self.addr_to_node(va.va_start)
        self._locked(cpu, vn.busy_lock, "free_vmap_area", vn.busy.erase, va)
        self._locked(cpu, self.free_space.lock_name, "free_vmap_area", self.free_space.free, va)

    # -- the workqueue ------------------------------------------------------------------
    def _work_func(self, name: str) -> Callable[[int], None]:
        """The function of each work item of WORK_ITEMS (a work_struct's ``func``): the step itself, not
        its public name, which validates."""
        funcs: dict[str, Callable[[int], None]] = {"drain_vmap_area_work": self._drain_vmap_area_work}
        return funcs[name]

    def _schedule_work(self, name: str, cpu: int) -> None:
        """schedule_work(): queue a work item once (a pending item is not queued twice)."""
        if all(w.name != name for w in self._work):
            self._work.append(Work(name, self._work_func(name), cpu))

    @property
    def pending_work(self) -> list[str]:
        return [w.name for w in self._work]

    def run_workqueue(self) -> int:
        """Run every pending work item (the system workqueue getting CPU time). Returns how many ran."""
        ran = 0
        while self._work:
            work = self._work.pop(0)
            work.func(work.cpu)
            ran += 1
        return ran

    def _drain_vmap_area_work(self, cpu: int) -> None:
        """drain_vmap_area_work(): one purge with partial decay (6.9); loop while over the threshold (6.8)."""
        self.stats.drain_runs += 1
        while True:
            with self._purge_mutex(cpu):
                self._purge_vmap_area_lazy(ULONG_MAX, 0, False, cpu)
            if self.gen.vmap_nodes or self.vmap_lazy_nr <= self.lazy_max_pages():
                break

    def purge(self, cpu: int = 0, full: bool = False) -> bool:
        """Run a lazy purge now, under vmap_purge_lock. ``full`` drains every pool as reclaim does.

        Returns True if any VA was purged. (Mirrors the drain work's single purge.)
        """
        self._check_cpu(cpu)
        self._check_bool(full, "purge", "full")
        with self._purge_mutex(cpu):
            purged = self._purge_vmap_area_lazy(ULONG_MAX, 0, full, cpu)
        self._after_call(cpu)
        return purged

    def reclaim_and_purge_vmap_areas(self, cpu: int) -> None:
        """reclaim_and_purge_vmap_areas(): fragmented blocks first, then a full-decay purge (§4.7)."""
        self._check_cpu(cpu)
        self.stats.reclaims += 1
        with self._purge_mutex(cpu):
            self._purge_fragmented_blocks_allcpus(cpu)
            self._purge_vmap_area_lazy(ULONG_MAX, 0, True, cpu)

    # -- the purge core --------------------------------------------------------------------
    def _purge_vmap_area_lazy(self, start: int, end: int, full_pool_decay: bool, cpu: int) -> bool:
        """Mirrors __purge_vmap_area_lazy(): decay pools, detach lazy lists, one TLB flush, purge nodes (§4.7)."""
        self.stats.purges += 1
        marked: list[VmapNode] = []
        for vn in self.nodes:
            vn.purge_list = []
            vn.skip_populate = full_pool_decay
            if self._node_layer:
                self._decay_va_pool_node(vn, full_pool_decay, cpu)
            if not vn.lazy:
                continue
            vn.purge_list = self._locked(cpu, vn.lazy_lock, "purge_detach", vn.lazy.detach_all)
            start = min(start, vn.purge_list[0].va_start)
            end = max(end, vn.purge_list[-1].va_end)
            marked.append(vn)
        nr_purged = 0
        if marked:
            self._flush_tlb_kernel_range(start, end, cpu)
            helpers = max(1, min(self.vmap_lazy_nr // self.lazy_max_pages(), len(marked))) - 1
            for vn in marked:
                helper = helpers > 0
                if helper:
                    helpers -= 1
                    self.stats.purge_helpers += 1
                # A helper runs on CPU ``vn.id`` if that CPU is online, else anywhere.
                on = vn.id if helper and vn.id < self.nr_online_cpus else cpu
                self._purge_vmap_node(vn, helper, on)
                nr_purged += vn.nr_purged
        if self._tr is not None:
            self._tr.emit(PurgeVmapAreaLazy, cpu, start & ULONG_MAX, end, nr_purged)
        return nr_purged > 0

    def _purge_vmap_node(self, vn: VmapNode, helper: bool, cpu: int) -> None:
        """purge_vmap_node(): account each purged VA, pool it at its owner node or send it home (§4.7)."""
        vn.nr_purged = 0
        to_global: list[VmapArea] = []
        to_pool = 0
        populate = self._node_layer and not vn.skip_populate
        nr_nodes = self.nr_vmap_nodes
        for va in vn.purge_list:
            self.vmap_lazy_nr -= (va.va_end - va.va_start) >> PAGE_SHIFT
            vn.nr_purged += 1
            if populate and decode_vn_id(va.flags, nr_nodes) < nr_nodes and self._node_pool_add_va(vn, va, cpu):
                to_pool += 1
                continue
            to_global.append(va)
        vn.purge_list = []
        if self.gen.vmap_nodes:
            # purge_vmap_node() pushes each area it does not pool at the head of its local list
            # (list_add), so reclaim_list_global() merges them highest address first (6.12, 7.3):
            # the order shapes the free tree, which the oracle compares node for node (kernel-model.md §4.7)
            to_global.reverse()
        self._reclaim_list_global(to_global, cpu)
        if self._tr is not None:
            self._tr.emit(PurgeNode, cpu, vn.id, vn.nr_purged, to_pool, len(to_global), helper)

    def _reclaim_list_global(self, lst: list[VmapArea], cpu: int) -> None:
        """reclaim_list_global(): merge a list of VAs into the free tree under one lock hold."""
        if not lst:
            return
        fs = self.free_space
        self._locked(cpu, fs.lock_name, "reclaim_list_global", fs.free_all, lst)

    def _flush_tlb_kernel_range(self, start: int, end: int, cpu: int) -> None:
        """flush_tlb_kernel_range(): counted; the contention model prices the IPIs."""
        self.stats.tlb_flushes += 1
        if self._tr is not None:
            self._tr.emit(TlbFlush, cpu, start, end)

    # -- pools ------------------------------------------------------------------------------
    def _node_pool_add_va(self, vn: VmapNode, va: VmapArea, cpu: int) -> bool:
        """node_pool_add_va(): push at the HEAD of the exact-size pool; no length cap in 6.9."""
        idx = (va.va_end - va.va_start - 1) >> PAGE_SHIFT        # pool_index()
        if idx >= self.max_va_size_pages:
            return False
        pool = vn.pool[idx]
        pool.va_list.appendleft(va)
        pool.len += 1
        self.stats.pool_adds += 1
        if self._tr is not None:
            self._pool_event(cpu, vn.id, idx, "add", va.va_start, vn.pool_lock)
        return True

    def _decay_va_pool_node(self, vn: VmapNode, full_decay: bool, cpu: int) -> None:
        """decay_va_pool_node() (§3.8, §8): a full decay empties every pool; a partial one drops the
        ⌊L/4⌋ newest VAs of a pool of L, and for L <= 3 the rule depends on the generation.

        6.9 and 6.12 (``gen.decay_wraps_short_pools``): the countdown starts at ``len >> 2`` and is
        decremented after each VA is taken; for a pool of 1-3 VAs it starts at 0, the first decrement
        wraps to 2**64-1 and never reaches 0 again, so the whole pool goes. 7.3 computes the count
        first and takes exactly that many (``if (!n_decay--) break`` before each VA), so a pool of
        1-3 VAs loses none and stays as it was.
        """
        decay_root = RBTree("decay_root")
        tr = self._tr
        wraps = self.gen.decay_wraps_short_pools
        for idx, pool in enumerate(vn.pool):
            if not pool.va_list:
                continue
            tmp = pool.va_list
            pool.va_list = type(tmp)()
            before = pool.len
            if full_decay:
                pool.len = 0
            n_decay = pool.len >> 2
            removed = 0
            if full_decay or n_decay or wraps:
                while tmp:
                    va = tmp.popleft()
                    merge_or_add_vmap_area(decay_root, va, self.dmesg.warn)
                    removed += 1
                    if not full_decay:
                        pool.len -= 1
                        n_decay = (n_decay - 1) & ULONG_MAX
                        if n_decay == 0:
                            break
            if not full_decay and tmp:
                pool.va_list = tmp
            self.stats.decayed += removed
            if tr is not None:
                tr.emit(Decay, cpu, vn.id, idx, full_decay, before, removed)
        self._reclaim_list_global(decay_root.detach_all(), cpu)

    # -- the steps above called on their own: arguments checked before anything changes ----------
    def free_vmap_area_noflush(self, va: VmapArea, cpu: int) -> None:
        """free_vmap_area_noflush() called on its own: ``va`` must be in flight (find_unlink_vmap_area's)."""
        self._check_cpu(cpu)
        del self._in_flight[self._check_in_flight(va, "free_vmap_area_noflush").va_start]
        self._free_vmap_area_noflush(va, cpu)
        self._after_call(cpu)

    def free_vmap_area(self, va: VmapArea, cpu: int) -> None:
        """free_vmap_area() called on its own: a bare busy VA of this machine (alloc_vmap_area's) back to the free tree."""
        self._check_cpu(cpu)
        self._check_busy_va(va, "free_vmap_area")
        self._free_vmap_area(va, cpu)

    def schedule_work(self, name: str, cpu: int) -> None:
        """schedule_work() called on its own: ``name`` one of the work items (WORK_ITEMS)."""
        if not isinstance(name, str) or name not in WORK_ITEMS:
            raise InvalidArgumentError(f"schedule_work: name must be one of {WORK_ITEMS}, got {name!r}"[:300])
        self._check_cpu(cpu)
        self._schedule_work(name, cpu)

    def drain_vmap_area_work(self, cpu: int) -> None:
        """drain_vmap_area_work() called on its own (not from inside a purge: the mutex is not recursive)."""
        self._check_cpu(cpu)
        if self._purge_depth:
            raise InvalidArgumentError("drain_vmap_area_work: vmap_purge_lock is held (called from inside a purge)")
        self._drain_vmap_area_work(cpu)

    def purge_vmap_node(self, vn: VmapNode, helper: bool, cpu: int) -> None:
        """purge_vmap_node() called on its own: ``vn`` one of this machine's nodes (its purge list is empty
        between purges, so only the trace record and ``vn.nr_purged`` change)."""
        self._check_node(vn, "purge_vmap_node")
        self._check_bool(helper, "purge_vmap_node", "helper")
        self._check_cpu(cpu)
        self._purge_vmap_node(vn, helper, cpu)

    def reclaim_list_global(self, lst: list[VmapArea], cpu: int) -> None:
        """reclaim_list_global() called on its own: every VA of ``lst`` in flight, each once."""
        self._check_cpu(cpu)
        if isinstance(lst, (str, bytes)) or not isinstance(lst, (list, tuple)):
            raise InvalidArgumentError(f"reclaim_list_global: lst must be a list of VAs in flight, got {type(lst).__name__}")
        for i, va in enumerate(lst):
            self._check_in_flight(va, "reclaim_list_global", f"lst[{i}]")
        if len({id(va) for va in lst}) != len(lst):
            raise InvalidArgumentError("reclaim_list_global: lst lists the same VA twice")
        for va in lst:
            del self._in_flight[va.va_start]
        self._reclaim_list_global(list(lst), cpu)

    def flush_tlb_kernel_range(self, start: int, end: int, cpu: int) -> None:
        """flush_tlb_kernel_range() called on its own: ``start <= end`` addresses, an online CPU."""
        self._check_cpu(cpu)
        start = check_int(start, "flush_tlb_kernel_range: start", 0, ULONG_MAX)
        end = check_int(end, "flush_tlb_kernel_range: end", start, ULONG_MAX)
        self._flush_tlb_kernel_range(start, end, cpu)

    def node_pool_add_va(self, vn: VmapNode, va: VmapArea, cpu: int) -> bool:
        """node_pool_add_va() called on its own: ``va`` in flight and owned by ``vn``, a node of this machine
        with pools. False (and ``va`` stays in flight) for a size no pool keeps."""
        self._check_node(vn, "node_pool_add_va")
        self._check_in_flight(va, "node_pool_add_va")
        self._check_cpu(cpu)
        if not self._node_layer:
            raise InvalidArgumentError("node_pool_add_va: this machine has no pools (6.8, one node, or pools=False)")
        if self.owner_node_id(va) != vn.id:
            raise InvalidArgumentError(f"node_pool_add_va: va {va!r} is owned by node {self.owner_node_id(va)}, "
                                       f"not vn {vn.id} (a pool keeps its own node's VAs)")
        added = self._node_pool_add_va(vn, va, cpu)
        if added:
            del self._in_flight[va.va_start]
        return added

    def decay_va_pool_node(self, vn: VmapNode, full_decay: bool, cpu: int) -> None:
        """decay_va_pool_node() called on its own: ``vn`` one of this machine's nodes, ``full_decay`` a bool."""
        self._check_node(vn, "decay_va_pool_node")
        self._check_bool(full_decay, "decay_va_pool_node", "full_decay")
        self._check_cpu(cpu)
        self._decay_va_pool_node(vn, full_decay, cpu)

    # -- the purge notifier chain (§4.2) ------------------------------------------------
    def register_vmap_purge_notifier(self, fn: Notifier) -> None:
        """register_vmap_purge_notifier(): ``fn(vm, cpu) -> pages freed`` runs when vmap space is exhausted."""
        if not callable(fn):
            raise InvalidArgumentError(f"register_vmap_purge_notifier: fn must be callable, got {fn!r}")
        if fn in self._purge_notifiers:
            raise InvalidArgumentError(f"register_vmap_purge_notifier: {fn!r} is registered already")
        self._purge_notifiers.append(fn)

    def unregister_vmap_purge_notifier(self, fn: Notifier) -> None:
        """unregister_vmap_purge_notifier(): remove ``fn`` from the chain."""
        if fn not in self._purge_notifiers:
            raise InvalidArgumentError(f"unregister_vmap_purge_notifier: {fn!r} is not registered")
        self._purge_notifiers.remove(fn)

    def _call_purge_notifiers(self, cpu: int) -> int:
        """blocking_notifier_call_chain(&vmap_notify_list): the pages the notifiers say they freed.

        A notifier that allocates runs inside this chain: the chain is not entered again then
        (0 freed), so an allocating notifier cannot recurse without bound. A notifier must
        return a page count (an int >= 0, or None for 0); anything else is a BadNotifierError.
        """
        if self._notifier_depth:
            return 0
        freed = 0
        self._notifier_depth += 1
        try:
            for fn in list(self._purge_notifiers):
                got = fn(self, cpu)
                if got is None:
                    got = 0
                if not is_c_int(got) or got < 0:
                    raise InvalidArgumentError(f"purge notifier {fn!r} returned {got!r}, not a page count >= 0")
                freed += got
        finally:
            self._notifier_depth -= 1
        self.stats.notifier_calls += 1
        return freed
