# SPDX-License-Identifier: MIT
"""The state every section of one machine's vmalloc shares, declared in one place, and its mechanics.

Mirrors: the file-scope state of mm/vmalloc.c (6.9): ``vmap_nodes``/``nr_vmap_nodes``/
``vmap_zone_size``, ``free_vmap_area_root`` (here :class:`FreeSpace`), ``vmap_lazy_nr``,
``vmap_purge_list``'s work, ``vmap_block_queue``, the purge notifier chain; and the small helpers
every section uses: ``addr_to_node_id``/``addr_to_node``/``id_to_node`` (kernel-model.md §3.4),
the pool index (§3.5), ``lazy_max_pages`` (§3.6), the probing busy-tree lookup of
``find_vmap_area`` (§4.6), and argument validation.

The kernel's sections are classes in their own files, each a subclass of :class:`VmallocState`
so that a reader (and a type checker) sees every attribute they touch declared here:
``vmalloc.py`` (allocation, vm_struct areas, frees: the :class:`Vmalloc` facade),
``purge.py`` (lazy free, purge, pools, decay, notifiers), ``vmap_block.py`` (the per-CPU kva
allocator), ``walks.py`` (/proc/vmallocinfo, vread), ``pcpu.py`` (pcpu_get_vm_areas). A
section calls another only through the methods declared under ``TYPE_CHECKING`` below.

Invariants: the attributes below are set once by ``Vmalloc.__init__`` and then only mutated;
``check()`` (check.py) walks them all.

Simplifications: no locking here; lock events are emitted for the tracer (``_locked``) and the
simulator prices them.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from .area import VmapArea, VmStruct, decode_vn_id
from .config import (
    MODULES_END,
    MODULES_VADDR,
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VM_ALL_FLAGS,
    VMAP_BLOCK,
    is_power_of_2,
    lazy_max_pages_for,
)
from .dmesg import KernelLog
from .errors import ConfigError, InvalidArgumentError, VmallocError, present
from .freespace import FreeSpace
from .generations import Generation
from .lines import CALLER_RE
from .locks import LockId
from .nodes import VmapNode
from .pages import PageAllocator
from .trace import Lock, Pool, Tracer
from .trace import Vmalloc as VmallocEvent
from .validate import check_bool, check_int, is_c_int
from .validate import shown as _short

PURGE_LOCK = LockId("vmap_purge_lock").name      # the mutex around every purge (§2.7)

if TYPE_CHECKING:
    from .shrinker import VmapNodeShrinker
    from .trace import Record
    from .vmap_block import VmapBlock, VmapBlockQueue

T = TypeVar("T")


def check_pfn_list(pages: object, what: str) -> list[int]:
    """A list or tuple of page frame numbers as ints; a string, a bool or a float is refused."""
    if isinstance(pages, (str, bytes)) or not isinstance(pages, (list, tuple, range)):
        raise InvalidArgumentError(f"{what} must be a list of page frame numbers, got {type(pages).__name__}")
    return [check_int(p, f"{what}[{i}]", 0) for i, p in enumerate(pages)]


# a vmap purge notifier: fn(vm, cpu) -> the pages it freed (an int >= 0, or None for 0)
Notifier = Callable[[Any, int], object]


class Work(NamedTuple):
    """A queued work item (struct work_struct on the system workqueue): its kernel name, its function
    (called with the CPU), and the CPU that queued it."""
    name: str
    func: Callable[[int], None]
    cpu: int


class EventSink(Protocol):
    """What ``Vmalloc.attach_tracer`` takes: a Tracer, or any recorder of the same events."""

    def emit(self, cls: type[Record], cpu: int, *args: Any) -> None: ...


@lru_cache(maxsize=1024)
def _caller_ok(caller: str) -> bool:
    """CALLER_RE's verdict, remembered: workloads pass the same few callers millions of times."""
    return CALLER_RE.match(caller) is not None



@dataclass(slots=True, repr=False, eq=False)
class Stats:
    """Counters a report or a figure reads; all start at 0 and only grow."""

    pool_hits: int = 0
    pool_misses: int = 0
    pool_rotations: int = 0
    pool_adds: int = 0
    decayed: int = 0
    purges: int = 0
    drain_runs: int = 0
    reclaims: int = 0
    purge_helpers: int = 0
    tlb_flushes: int = 0
    notifier_calls: int = 0
    alloc_failures: int = 0
    ne_splits_nowait: int = 0
    shrinker_scans: int = 0
    vb_new: int = 0
    vb_purged: int = 0
    rcu_grace_periods: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return "Stats(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items() if v) + ")"




class VmallocState:
    """The shared state of one simulated machine's vmalloc (set by ``Vmalloc.__init__``)."""

    # -- configuration (fixed at boot) --
    version: str                        # the generation's name (generations.VERSIONS)
    gen: Generation                     # its switches: ask these, never the name
    seed: int
    rng: random.Random                  # for workloads that take their randomness from the machine
    nr_cpus: int                        # possible CPUs
    _nr_online_cpus: int                # online CPUs (hotplug): lazy_max_pages() follows them
    numa: bool
    nr_mem_nodes: int
    VMALLOC_START: int                  # the KASLR vmalloc_base, when not the default
    VMALLOC_END: int
    nr_vmap_nodes: int
    vmap_zone_size: int                 # bytes; 1 without the node layer (every address in node 0)
    max_va_size_pages: int              # pools per node (0 without pools)
    lazy_max_unit_pages: int
    vmap_bbmap_bits: int
    vmap_max_alloc: int
    vmap_block_size: int
    _node_layer: bool                   # pools and owner ids: 6.9 with more than one node (has_pools)
    _merge_lazy: bool                   # 6.8: freed areas merge in one global purge tree
    # -- switches a user may flip --
    debug: bool                         # a full check() after every public call
    autorun_work: bool                  # run queued drain work at the end of each public call
    clock: Callable[[], int] | None     # gives t_ns for dmesg and trace records
    # -- the allocator's state --
    nodes: list[VmapNode]               # vmap_nodes[]: busy, lazy, pools
    free_space: FreeSpace               # free_vmap_area_root + free_vmap_area_list
    pages: PageAllocator
    vmap_lazy_nr: int                   # pages freed lazily and not yet purged
    nr_vmalloc_pages: int
    vmap_block_queue: list[VmapBlockQueue]
    shrinker: VmapNodeShrinker
    _ne_fit_preload: list[VmapArea | None]   # per-CPU preloaded spare for an NE-fit split
    _ne_fit_spare: list[Callable[[], VmapArea]]  # per CPU: its preload, else a GFP_NOWAIT VmapArea
    _work: list[Work]                   # queued work items, oldest first
    _purge_notifiers: list[Notifier]
    _purge_depth: int                   # vmap_purge_lock held (re-entry is a BUG)
    _rcu_pending: list[tuple[int, int]]
    _rcu_addrs: set[int]
    _ram_maps: dict[int, list[int]]     # vm_map_ram() areas outside vmap blocks: start -> pfns
    _page_arrays: dict[int, int]        # a large vmalloc's page-array area -> the area it serves
    _user_pages: dict[int, int]         # pages alloc_pages() handed out -> their live vmap/vm_map_ram mappings
    _notifier_depth: int                # purge notifiers running (one may allocate: no re-entry)
    _in_flight: dict[int, VmapArea]     # VAs a kernel step called on its own handed out and none took back
    # -- what others read --
    stats: Stats
    dmesg: KernelLog
    _tr: EventSink | None               # the attached event sink (attach_tracer)

    if TYPE_CHECKING:       # what one section calls in another (defined in the file named)
        def _alloc_vmap_area(self, size: int, align: int, vstart: int, vend: int, va_flags: int,
                            gfp: int, cpu: int) -> VmapArea | None: ...                        # vmalloc.py
        def _find_unlink_vmap_area(self, addr: int, cpu: int = 0) -> VmapArea | None: ...       # vmalloc.py
        @staticmethod
        def _setup_vmalloc_vm(vm: VmStruct, va: VmapArea, flags: int, caller: str | None) -> None: ...  # vmalloc.py
        def free_vm_area(self, area: VmStruct, cpu: int = 0) -> None: ...                      # vmalloc.py
        def _check_vm_area(self, area: object, func: str, what: str, cpu: int) -> VmapArea: ...        # vmalloc.py
        def check(self) -> None: ...                                                          # vmalloc.py
        def _free_vmap_area_noflush(self, va: VmapArea, cpu: int) -> None: ...                  # purge.py
        def run_workqueue(self) -> int: ...                                                    # purge.py
        def reclaim_and_purge_vmap_areas(self, cpu: int) -> None: ...                          # purge.py
        def _flush_tlb_kernel_range(self, start: int, end: int, cpu: int) -> None: ...          # purge.py
        def _decay_va_pool_node(self, vn: VmapNode, full_decay: bool, cpu: int) -> None: ...              # purge.py
        def _purge_vmap_area_lazy(self, start: int, end: int, full_pool_decay: bool, cpu: int) -> bool: ...
        def _call_purge_notifiers(self, cpu: int) -> int: ...                                  # purge.py
        def _purge_fragmented_blocks_allcpus(self, cpu: int) -> None: ...                       # vmap_block.py
        def _vm_unmap_aliases(self, start: int, end: int, flush: bool, cpu: int) -> None: ...  # vmap_block.py
        def _vb_lookup(self, addr: int) -> VmapBlock | None: ...                               # vmap_block.py
        def _vb_hash(self, addr: int) -> tuple[VmapBlockQueue, int]: ...                       # vmap_block.py
        def _map_user_pages(self, pages: Iterable[int], delta: int) -> None: ...                              # vmalloc.py

    @property
    def nr_online_cpus(self) -> int:
        return self._nr_online_cpus

    @nr_online_cpus.setter
    def nr_online_cpus(self, n: int) -> None:
        """CPU hotplug: changes lazy_max_pages(), never the node count (possible CPUs)."""
        if not isinstance(n, int) or not 1 <= n <= self.nr_cpus:
            raise ConfigError(f"nr_online_cpus must be in 1..{self.nr_cpus}, got {n!r}")
        self._nr_online_cpus = n

    def lazy_max_pages(self) -> int:
        """lazy_max_pages() = fls(num_online_cpus()) * 32 MiB of pages (§3.6)."""
        return lazy_max_pages_for(self._nr_online_cpus) * self.lazy_max_unit_pages // ((32 << 20) // PAGE_SIZE)

    def addr_to_node_id(self, addr: int) -> int:
        """addr_to_node_id() = (addr / vmap_zone_size) % nr_vmap_nodes (§3.4)."""
        if type(addr) is not int or not 0 <= addr <= ULONG_MAX:     # the hot path: one type test
            addr = check_int(addr, "addr_to_node_id: addr", 0, ULONG_MAX)
        return (addr // self.vmap_zone_size) % self.nr_vmap_nodes

    def addr_to_node(self, addr: int) -> VmapNode:
        """addr_to_node(): the node whose busy tree holds an area starting at ``addr`` (§3.4)."""
        return self.nodes[self.addr_to_node_id(addr)]

    def cpu_to_node(self, cpu: int) -> int:
        """The memory (NUMA) node of a CPU: CPUs are split evenly, in order, over the nodes."""
        if type(cpu) is not int or not 0 <= cpu < self.nr_cpus:
            cpu = check_int(cpu, "cpu_to_node: cpu (a possible CPU)", 0, self.nr_cpus - 1)
        return cpu * self.nr_mem_nodes // self.nr_cpus

    def id_to_node(self, node_id: int) -> VmapNode:
        """id_to_node(): ``&vmap_nodes[id % nr_vmap_nodes]``."""
        node_id = check_int(node_id, "id_to_node: node_id", 0, ULONG_MAX)
        return self.nodes[node_id % self.nr_vmap_nodes]

    def owner_node_id(self, va: VmapArea) -> int | None:
        """The node a VA returns to when freed (decode_vn_id), or None for no owner."""
        if not isinstance(va, VmapArea):
            raise InvalidArgumentError(f"owner_node_id: va must be a VmapArea, got {_short(va)}")
        i = decode_vn_id(va.flags, self.nr_vmap_nodes)
        return i if i < self.nr_vmap_nodes else None

    def pool_index(self, size: int) -> int:
        """(size - 1) / PAGE_SIZE: the pool of a VA of ``size`` bytes, guard included (§3.5)."""
        return (check_int(size, "pool_index: size", 1, ULONG_MAX) - 1) >> PAGE_SHIFT

    def busy_areas(self) -> list[VmapArea]:
        """Every busy VA in ascending address order (merges the nodes' busy lists)."""
        return sorted((va for vn in self.nodes for va in vn.busy), key=lambda v: v.va_start)

    @property
    def has_pools(self) -> bool:
        """True when allocations and purges go through the per-node pools (6.9 with several nodes).

        False for 6.8, for a single-node 6.9 machine, and for the ``pools=False`` what-if.
        """
        return self._node_layer

    def attach_tracer(self, sink: EventSink | None) -> EventSink | None:
        """Send every event to ``sink`` (anything with ``emit(cls, cpu, *args)``), or stop with None.

        Returns the sink attached before. ``start_trace()`` attaches a recording :class:`Tracer`;
        the contention simulator attaches its section recorder. ``vm.trace`` is the attached
        sink when it is a Tracer, else None. Anything else (no callable ``emit``) is refused.
        """
        if sink is not None and not callable(getattr(sink, "emit", None)):
            raise InvalidArgumentError(f"attach_tracer: sink must have an emit(cls, cpu, *args) method "
                                       f"(a Tracer or a recorder) or be None, got {sink!r}")
        previous, self._tr = self._tr, sink
        return previous

    @contextmanager
    def untraced(self) -> Iterator[None]:
        """A block whose calls emit no event (bookkeeping that is not kernel work); the sink comes back after."""
        previous = self.attach_tracer(None)
        try:
            yield
        finally:
            self._tr = previous

    def start_trace(self) -> Tracer:
        """Turn tracing on (a fresh Tracer); ``vm.trace`` then holds the records."""
        self._tr = Tracer(clock=lambda: self.clock() if self.clock else 0)
        return self._tr

    def stop_trace(self) -> None:
        self._tr = None

    @property
    def trace(self) -> Tracer | None:
        """The recording Tracer attached by ``start_trace()`` (or ``trace=True``), else None."""
        return self._tr if isinstance(self._tr, Tracer) else None

    # ------------------------------------------------------------------ trace helpers
    def _lock(self, cpu: int, lock: str, op: str, section: str) -> None:
        tr = self._tr
        if tr is not None:              # the callers test first; without a sink nothing is recorded
            tr.emit(Lock, cpu, lock, op, section)

    def _locked(self, cpu: int, lock: str, section: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` as one critical section of ``lock`` (traced when tracing)."""
        tr = self._tr
        if tr is None:
            return fn(*args)
        tr.emit(Lock, cpu, lock, "acquire", section)
        try:
            return fn(*args)
        finally:
            tr.emit(Lock, cpu, lock, "release", section)      # to the sink that saw the acquire

    @contextmanager
    def _purge_mutex(self, cpu: int) -> Iterator[None]:
        """vmap_purge_lock: a mutex around every purge (re-entry would be a deadlock in C)."""
        if self._purge_depth:
            raise VmallocError("BUG: vmap_purge_lock taken recursively")
        self._purge_depth += 1
        if self._tr is not None:
            self._lock(cpu, PURGE_LOCK, "acquire", "purge")
        try:
            yield
        finally:
            self._purge_depth -= 1
            if self._tr is not None:
                self._lock(cpu, PURGE_LOCK, "release", "purge")

    def _pool_event(self, cpu: int, node_id: int, idx: int, op: str, va_start: int, lock: str) -> None:
        tr = self._tr
        if tr is not None:              # the callers test first; without a sink nothing is recorded
            tr.emit(Lock, cpu, lock, "acquire", f"pool_{op}")
            tr.emit(Pool, cpu, node_id, idx, op, va_start)
            tr.emit(Lock, cpu, lock, "release", f"pool_{op}")

    def _api_event(self, cpu: int, func: str, addr: int | None, size: int, caller: str | None) -> None:
        if self._tr is not None:
            self._tr.emit(VmallocEvent, cpu, func, addr or 0, size if addr else 0, caller or "")

    def _after_call(self, cpu: int) -> None:
        """End of a public call: let the workqueue run, then the debug-mode full check."""
        if self.autorun_work and self._work and not self._purge_depth:
            self.run_workqueue()
        if self.debug:
            self.check()

    # ------------------------------------------------------------------ validation
    def _check_cpu(self, cpu: object) -> None:
        if not is_c_int(cpu) or not 0 <= cpu < self._nr_online_cpus:
            raise InvalidArgumentError(f"cpu must be an online CPU id in 0..{self._nr_online_cpus - 1}, got {cpu!r}")

    def _check_window(self, start: int, end: int) -> None:
        for name, v in (("start", start), ("end", end)):
            if not is_c_int(v):
                raise InvalidArgumentError(f"{name} must be an int address, got {v!r}")
        if start >= end:
            raise InvalidArgumentError(f"window start {start:#x} >= end {end:#x}")
        in_vmalloc = self.VMALLOC_START <= start and end <= self.VMALLOC_END
        in_modules = MODULES_VADDR <= start and end <= MODULES_END
        if not (in_vmalloc or in_modules):
            raise InvalidArgumentError(
                f"window start={start:#x} end={end:#x} is outside VMALLOC_START..VMALLOC_END "
                f"({self.VMALLOC_START:#x}-{self.VMALLOC_END:#x}) and MODULES_VADDR..MODULES_END")

    @staticmethod
    def _check_size(size: int, what: str = "size") -> None:
        if not is_c_int(size):
            raise InvalidArgumentError(f"{what} must be an int number of bytes, got {size!r}")
        if size <= 0:
            raise InvalidArgumentError(f"{what} {size} is not positive (the kernel refuses size 0)")
        if size > ULONG_MAX - 2 * PAGE_SIZE:
            raise InvalidArgumentError(f"{what} {size:#x} is not representable once page aligned with a guard page")

    @staticmethod
    def _check_align(align: object) -> None:
        if not is_c_int(align) or not is_power_of_2(align) or align > 1 << 63:
            raise InvalidArgumentError(f"align {align!r} is not a power of two (-EINVAL)")

    @staticmethod
    def _check_caller(caller: object) -> None:
        if caller is not None and (not isinstance(caller, str) or not _caller_ok(caller)):
            raise InvalidArgumentError(
                f"caller {caller!r} must be a symbol as %pS prints it (e.g. 'kernel_clone+0xb8/0x400', "
                f"optionally followed by ' [module]'), with no vmallocinfo keyword")

    @staticmethod
    def _check_flags(flags: int, allowed: int = VM_ALL_FLAGS, what: str = "flags") -> None:
        if not is_c_int(flags) or flags < 0 or flags & ~allowed:
            raise InvalidArgumentError(f"{what}: unknown or refused VM_* flags {flags!r}")

    # -- the kernel steps called on their own (kernel-model.md: every public method validates) --
    def _check_node(self, vn: object, func: str, what: str = "vn") -> VmapNode:
        """One of this machine's vmap nodes (another machine's node is refused)."""
        if not isinstance(vn, VmapNode) or not 0 <= vn.id < self.nr_vmap_nodes or self.nodes[vn.id] is not vn:
            raise InvalidArgumentError(f"{func}: {what} must be one of this machine's vm.nodes, got {_short(vn)}")
        return vn

    @staticmethod
    def _check_bool(value: object, func: str, what: str) -> bool:
        return check_bool(value, f"{func}: {what}")

    def _check_in_flight(self, va: object, func: str, what: str = "va") -> VmapArea:
        """A VA in flight on this machine: handed out by a step called on its own and not yet taken back."""
        if not isinstance(va, VmapArea) or self._in_flight.get(va.va_start) is not va:
            raise InvalidArgumentError(
                f"{func}: {what} must be a VA in flight on this machine (one that find_unlink_vmap_area, node_alloc, "
                f"node_pool_del_va or carve_vmap_area handed out, not yet given back), got {_short(va)}")
        return va

    def _check_busy_va(self, va: object, func: str, what: str = "va", bare: bool = True) -> VmapNode:
        """A busy VA of this machine, its node; with ``bare`` one that nothing else holds: no vm_struct,
        no vmap block, no vm_map_ram pages (those have their own release calls)."""
        if not isinstance(va, VmapArea):
            raise InvalidArgumentError(f"{func}: {what} must be a busy VmapArea of this machine, got {_short(va)}")
        vn, found = self._lookup(va.va_start) if 0 < va.va_start <= ULONG_MAX else (None, None)
        if found is not va:
            raise InvalidArgumentError(f"{func}: {what} {va!r} is not a busy VA of this machine")
        if bare and (va.vm is not None or va.flags & VMAP_BLOCK or va.va_start in self._ram_maps):
            raise InvalidArgumentError(f"{func}: {what} {va!r} belongs to a vm_struct, a vmap block or a "
                                       f"vm_map_ram mapping: release it with their own call")
        return present(vn, "the node of a busy VA")

    def _check_request(self, func: str, size: object, align: object, vstart: object, vend: object,
                       cpu: object) -> None:
        """alloc_vmap_area()'s arguments: a page-multiple size, a power-of-two align, a valid window, an online CPU."""
        self._check_cpu(cpu)
        size = check_int(size, f"{func}: size", PAGE_SIZE, ULONG_MAX)
        if size % PAGE_SIZE:
            raise InvalidArgumentError(f"{func}: size {size:#x} is not a multiple of PAGE_SIZE (-EINVAL)")
        self._check_align(align)
        vstart = check_int(vstart, f"{func}: vstart", 0, ULONG_MAX)
        vend = check_int(vend, f"{func}: vend", 0, ULONG_MAX)
        try:
            self._check_window(vstart, vend)
        except InvalidArgumentError as e:
            raise InvalidArgumentError(f"{func}: vstart/vend: {e}") from None

    def _check_pages(self, pages: object, func: str) -> list[int]:
        """A list of distinct allocated page frame numbers (ints, not bools or strings), or InvalidArgumentError."""
        pages = check_pfn_list(pages, f"{func}: pages")
        if not pages:
            raise InvalidArgumentError(f"{func}: count 0 (no pages)")
        bad = [p for p in pages if not self.pages.is_allocated(p)]
        if bad:
            raise InvalidArgumentError(f"{func}: page frame {bad[0]:#x} is not an allocated page")
        if len(set(pages)) != len(pages):
            raise InvalidArgumentError(f"{func}: the same page frame is listed twice")
        return pages

    # ------------------------------------------------------------------ lookups
    def _lookup(self, addr: int, cpu: int = 0, section: str | None = None,
                unlink: bool = False) -> tuple[VmapNode | None, VmapArea | None]:
        """Probe nodes from addr_to_node_id(addr) on: (node, busy VA containing addr) or (None, None).

        With a ``section`` each probe is a traced critical section of that node's
        busy lock and ``unlink`` removes the VA found within the same hold; without
        one it is the simulator's own validation, which the kernel does not do.
        6.9 and 6.12 probe the next nodes upwards; 7.3 (``gen.lookup_probes_down``,
        kernel-model.md §8) downwards, where the node of a VA that started in an
        earlier zone is: k zones back is k probes, not ``nr_vmap_nodes - k``.
        """
        n = self.nr_vmap_nodes
        step = n - 1 if self.gen.lookup_probes_down else 1
        i = start = self.addr_to_node_id(addr)
        while True:
            vn = self.nodes[i]
            if section is None:
                va = vn.busy.find(addr)
            else:
                va = self._locked(cpu, vn.busy_lock, section, self._probe, vn, addr, unlink)
            if va is not None:
                return vn, va
            i = (i + step) % n
            if i == start:
                return None, None


    @staticmethod
    def _probe(vn: VmapNode, addr: int, unlink: bool) -> VmapArea | None:
        """One node's busy tree: the VA containing ``addr``, unlinked in the same hold if asked."""
        va = vn.busy.find(addr)
        if unlink and va is not None:
            vn.busy.erase(va)
        return va
