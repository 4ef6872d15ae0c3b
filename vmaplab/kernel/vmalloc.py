# SPDX-License-Identifier: MIT
"""The public facade: one simulated machine's vmalloc, in one of the modelled kernel generations.

Mirrors (kernel-model.md §3-§4): ``vmalloc_init``/``vmap_init_nodes``, ``node_alloc`` and
``node_pool_del_va``, ``alloc_vmap_area``, ``__get_vm_area_node``,
``setup_vmalloc_vm``, ``__vmalloc_node_range``/``__vmalloc_area_node``,
``vmalloc``/``vzalloc``/``vmalloc_user``/``__vmalloc_node``, ``vfree``,
``vmap``/``vunmap``, ``ioremap``/``iounmap``, ``remove_vm_area``,
``free_unmap_vmap_area``, ``find_vmap_area``/``find_unlink_vmap_area``,
``kvfree_rcu`` (with an explicit grace period).

Invariants (``check()`` walks them all, see check.py): free ∪ busy ∪ lazy ∪
pooled VAs tile ``[1, ULONG_MAX)``; busy VAs live in the node of their start
address; lazy VAs in their owner's node; ``vmap_lazy_nr`` is the lazy pages;
every page handed out belongs to exactly one live area.

All generations share every mechanism; they differ in a few switches set in
``__init__``: ``_node_layer`` (pools and owner ids: 6.9 with more than one
node), ``_merge_lazy`` (6.8's merged purge tree) and the lock names, and in the
generation record's switches (``self.gen``, kernel-model.md §8) the code asks
where 6.1, 6.12 or 7.3 behave differently.

Simplifications: no page tables (``VmStruct.pages`` stands in), no KASAN,
kmemleak or huge mappings (``vmalloc_huge`` is refused); interrupt context does
not exist, so ``vfree_atomic`` is not modelled; slab allocations of VA objects
never fail; the clock is whatever the caller attaches (``vm.clock``).
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from .area import VmapArea, VmStruct, encode_vn_id
from .config import (
    BULK_ALLOC_BATCH,
    CONFIG_NR_CPUS_DEFAULT,
    GFP_DIRECT_RECLAIM,
    GFP_KERNEL,
    GFP_NOWARN,
    GFP_ZERO,
    IOREMAP_MAX_ORDER,
    MAX_VA_SIZE_PAGES,
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    SHMLBA,
    ULONG_MAX,
    VM_ALL_FLAGS,
    VM_ALLOC,
    VM_ALLOW_HUGE_VMAP,
    VM_FLUSH_RESET_PERMS,
    VM_IOREMAP,
    VM_MAP,
    VM_MAP_PUT_PAGES,
    VM_NO_GUARD,
    VM_SPARSE,
    VM_UNINITIALIZED,
    VM_USERMAP,
    VMALLOC_START,
    VMALLOC_TOTAL,
    VMAP_BBMAP_BITS_MAX,
    VMAP_MAX_ALLOC,
    VMAP_RAM,
    VMAP_ZONE_SIZE_PAGES,
    get_count_order,
    gfp_has_io_fs,
    is_power_of_2,
    nr_vmap_nodes_for,
    page_align,
    vmap_bbmap_bits_for,
)
from .dmesg import KernelLog
from .errors import (
    BadFreeError,
    ConfigError,
    InvalidArgumentError,
    InvariantError,
    VmallocError,
    WrongFreeFunctionError,
    present,
)
from .freespace import FreeSpace
from .generations import DEFAULT, VERSIONS, Generation, generation  # noqa: F401 (VERSIONS: public)
from .nodes import VmapNode
from .pages import PageAllocator
from .pcpu import PcpuMixin
from .purge import PurgeMixin
from .shrinker import VmapNodeShrinker
from .state import Notifier, Stats, VmallocState, Work, check_pfn_list
from .trace import AllocVmapArea, Pool, Rcu, Tracer
from .validate import check_int, is_c_int
from .vmap_block import VmapBlockMixin, VmapBlockQueue
from .walks import WalksMixin

# VM_* flags __vmalloc_node_range refuses: they belong to other kinds of area
VMALLOC_REFUSED_FLAGS = VM_IOREMAP | VM_MAP | VM_MAP_PUT_PAGES | VM_SPARSE
# The kernel retries for as long as a notifier reports freed pages; one that reports pages and frees
# none would hang it. vmaplab gives the chain this many rounds, then fails as when none frees.
MAX_NOTIFIER_ROUNDS = 8
MAX_POOLS_PER_NODE = 1 << 12        # a what-if may grow the pools; beyond this a machine takes minutes to build
MAX_RAM_PAGES = 1 << 28             # 1 TiB: the page bitmap is one byte a page
DEFAULT_RAM_PAGES = (64 << 30) // PAGE_SIZE     # a 64 GiB machine


class Vmalloc(PurgeMixin, VmapBlockMixin, WalksMixin, PcpuMixin, VmallocState):
    """A simulated machine's vmalloc allocator.

    >>> vm = Vmalloc(nr_cpus=4, version="6.9")
    >>> addr = vm.vmalloc(PAGE_SIZE, cpu=1)
    >>> hex(addr), vm.find_vmap_area(addr).size
    ('0xffffc90000000000', 8192)
    >>> vm.vfree(addr, cpu=1); vm.check()
    """

    def __init__(self, nr_cpus: int = 1, version: str | Generation = DEFAULT, seed: int = 0, *,
                 nr_online_cpus: int | None = None,
                 vmalloc_size: int | None = None,
                 vmalloc_start: int = VMALLOC_START,
                 vmap_zone_size_pages: int = VMAP_ZONE_SIZE_PAGES,
                 max_va_size_pages: int = MAX_VA_SIZE_PAGES,
                 lazy_max_unit_pages: int = (32 << 20) // PAGE_SIZE,
                 nr_ram_pages: int = DEFAULT_RAM_PAGES,
                 nr_mem_nodes: int = 1,
                 numa: bool = True,
                 config_nr_cpus: int = CONFIG_NR_CPUS_DEFAULT,
                 vmap_bbmap_bits: int | None = None,
                 vmap_max_alloc: int = VMAP_MAX_ALLOC,
                 early_areas: Iterable[tuple[int, int]] = (),
                 trace: bool = False,
                 debug: bool = False,
                 autorun_work: bool = True,
                 pools: bool = True,
                 nr_vmap_nodes: int | None = None) -> None:
        # every integer setting as an int (numpy.int64(4) is a fine CPU count), validated before anything is set
        (nr_cpus, nr_online_cpus, vmalloc_size, vmap_zone_size_pages, max_va_size_pages, lazy_max_unit_pages,
         nr_ram_pages, config_nr_cpus, vmap_bbmap_bits, vmap_max_alloc) = self._validate_config(
            nr_cpus, version, nr_online_cpus, vmalloc_size, vmap_zone_size_pages, max_va_size_pages,
            lazy_max_unit_pages, nr_ram_pages, config_nr_cpus, vmap_bbmap_bits, vmap_max_alloc)
        nr_mem_nodes = check_int(nr_mem_nodes, "nr_mem_nodes (in 1..min(nr_cpus, nr_ram_pages))", 1,
                                 min(nr_cpus, nr_ram_pages, 1024), exc=ConfigError, integral=True)
        if nr_mem_nodes > 1 and not numa:
            raise ConfigError("several memory nodes need numa=True (CONFIG_NUMA)")
        self.numa = numa
        self.nr_mem_nodes = nr_mem_nodes
        self.gen = gen = generation(version)
        self.version = gen.name
        self.seed = check_int(seed, "seed", exc=ConfigError, integral=True)   # numpy.int64(3) is a fine seed
        self.rng = random.Random(self.seed)     # for workloads that take their randomness from the machine
        self.nr_cpus = nr_cpus
        self._nr_online_cpus = nr_cpus if nr_online_cpus is None else nr_online_cpus
        window = vmalloc_size if vmalloc_size else VMALLOC_TOTAL + 1
        vmalloc_start = check_int(vmalloc_start, "vmalloc_start", 1, exc=ConfigError, integral=True)
        if vmalloc_start % PAGE_SIZE or vmalloc_start + window - 1 > ULONG_MAX:
            raise ConfigError(f"vmalloc_start {vmalloc_start:#x} must be page aligned with the window below 2**64")
        self.VMALLOC_START = vmalloc_start        # the KASLR vmalloc_base, when not the default
        self.VMALLOC_END = vmalloc_start + window - 1
        self.max_va_size_pages = max_va_size_pages
        self.lazy_max_unit_pages = lazy_max_unit_pages
        self.debug = debug
        self.autorun_work = autorun_work
        self.clock = None
        self.dmesg = KernelLog(clock=lambda: self.clock() if self.clock else 0)
        self.stats = Stats()
        self._tr: Tracer | None = None
        if trace:
            self.start_trace()
        # §3.3 vmap_init_nodes(): possible CPUs, capped at 128; one node means no node layer.
        if nr_vmap_nodes is not None:
            if not gen.vmap_nodes:
                raise ConfigError(f"nr_vmap_nodes (a 6.9 what-if) needs a vmap-nodes version, not {gen.name}")
            nr_vmap_nodes = check_int(nr_vmap_nodes, "nr_vmap_nodes (a 6.9 what-if, in 1..min(nr_cpus, 128))",
                                      1, min(nr_cpus, 128), exc=ConfigError, integral=True)
        if gen.vmap_nodes:
            # the what-if override stays within what the purge code relies on: nodes <= possible CPUs
            self.nr_vmap_nodes = nr_vmap_nodes or nr_vmap_nodes_for(nr_cpus)
            self.vmap_zone_size = vmap_zone_size_pages * PAGE_SIZE if self.nr_vmap_nodes > 1 else 1
        else:
            self.nr_vmap_nodes, self.vmap_zone_size = 1, 1
        # pools=False is a what-if (6.9 nodes without the pool fast path), not a kernel configuration
        self._node_layer = gen.vmap_nodes and self.nr_vmap_nodes > 1 and bool(pools)
        self._merge_lazy = gen.merges_lazy
        self.nodes = [VmapNode(i, max_va_size_pages if self._node_layer else 0, gen.vmap_nodes)
                      for i in range(self.nr_vmap_nodes)]
        self.pages = PageAllocator(nr_ram_pages, nr_mem_nodes)
        early = self._check_early_areas(early_areas)
        self.free_space = FreeSpace(early, warn=self.dmesg.warn)
        for s, e in early:
            # vmap_init(): each vmlist entry becomes a busy VA bound to its own vm_struct, VM_ALLOC
            # and no caller as the percpu first chunk registers it (§4.1), so it is printed and found
            va = VmapArea(s, e)
            self._setup_vmalloc_vm(VmStruct(VM_ALLOC, None), va, VM_ALLOC, None)
            self.addr_to_node(s).busy.insert(va)
        self._ne_fit_preload: list[VmapArea | None] = [None] * nr_cpus
        # each CPU's source of an NE split's second object, made once: _carve runs millions of times
        self._ne_fit_spare = [partial(self._take_ne_fit_preload, c) for c in range(nr_cpus)]
        self.vmap_lazy_nr = 0
        self.nr_vmalloc_pages = 0
        self._work: list[Work] = []
        self._purge_notifiers: list[Notifier] = []
        self._rcu_pending: list[tuple[int, int]] = []
        self._rcu_addrs: set[int] = set()
        self._ram_maps: dict[int, list[int]] = {}
        self._page_arrays: dict[int, int] = {}
        self._user_pages: dict[int, int] = {}
        self._purge_depth = 0
        self._notifier_depth = 0
        self._in_flight: dict[int, VmapArea] = {}
        # §3.9 per-CPU kva allocator sizing.
        self.vmap_bbmap_bits = vmap_bbmap_bits or vmap_bbmap_bits_for(config_nr_cpus)
        self.vmap_max_alloc = vmap_max_alloc
        self.vmap_block_size = self.vmap_bbmap_bits * PAGE_SIZE
        self.vmap_block_queue = [VmapBlockQueue() for _ in range(nr_cpus)]
        self.shrinker = VmapNodeShrinker(self)

    def _check_early_areas(self, early_areas: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """vmlist's early areas: page-aligned, non-overlapping [start, end) ranges inside the vmalloc window."""
        try:
            ranges = [(s, e) for s, e in early_areas]
        except (TypeError, ValueError):
            raise ConfigError("early_areas must be (start, end) pairs") from None
        out = []
        for i, (s, e) in enumerate(ranges):
            s = check_int(s, f"early_areas[{i}] start", exc=ConfigError)
            e = check_int(e, f"early_areas[{i}] end", exc=ConfigError)
            if s % PAGE_SIZE or e % PAGE_SIZE or not self.VMALLOC_START <= s < e <= self.VMALLOC_END:
                raise ConfigError(f"early_areas[{i}] {s:#x}-{e:#x} must be page aligned, non-empty and inside "
                                  f"the vmalloc window {self.VMALLOC_START:#x}-{self.VMALLOC_END:#x}")
            out.append((s, e))
        for (s0, e0), (s1, e1) in zip(sorted(out), sorted(out)[1:]):
            if s1 < e0:
                raise ConfigError(f"early_areas {s0:#x}-{e0:#x} and {s1:#x}-{e1:#x} overlap")
        return out

    @staticmethod
    def _validate_config(nr_cpus: int, version: str | Generation, nr_online: int | None, vmalloc_size: int | None,
                         zone_pages: int, max_va_pages: int, lazy_unit: int, nr_ram_pages: int, config_nr_cpus: int,
                         bbmap_bits: int | None, max_alloc: int
                         ) -> tuple[int, int | None, int | None, int, int, int, int, int, int | None, int]:
        """The integer settings as ints, in the order given; a ConfigError naming the first bad one."""
        def positive_int(name: str, v: object, low: int = 1) -> int:
            return check_int(v, name, low, exc=ConfigError, integral=True)
        generation(version)
        nr_cpus = positive_int("nr_cpus", nr_cpus)
        if nr_online is not None:
            nr_online = positive_int("nr_online_cpus", nr_online)
            if nr_online > nr_cpus:
                raise ConfigError(f"nr_online_cpus={nr_online} exceeds nr_cpus={nr_cpus} (possible CPUs)")
        if vmalloc_size is not None:
            # three pages at least: a one-page area and its guard page, below the exclusive end
            vmalloc_size = positive_int("vmalloc_size", vmalloc_size, 3 * PAGE_SIZE)
            if vmalloc_size % PAGE_SIZE or vmalloc_size > VMALLOC_TOTAL + 1:
                raise ConfigError(f"vmalloc_size must be a page multiple <= 32 TiB, got {vmalloc_size:#x}")
        zone_pages = positive_int("vmap_zone_size_pages", zone_pages)
        max_va_pages = positive_int("max_va_size_pages", max_va_pages)
        if max_va_pages > MAX_POOLS_PER_NODE:
            raise ConfigError(f"max_va_size_pages must be <= {MAX_POOLS_PER_NODE} (pools per node; the kernel has "
                              f"{MAX_VA_SIZE_PAGES}), got {max_va_pages}")
        lazy_unit = positive_int("lazy_max_unit_pages", lazy_unit)
        nr_ram_pages = positive_int("nr_ram_pages", nr_ram_pages)
        if nr_ram_pages > MAX_RAM_PAGES:
            raise ConfigError(f"nr_ram_pages must be <= {MAX_RAM_PAGES} (1 TiB of simulated RAM), got {nr_ram_pages}")
        config_nr_cpus = positive_int("config_nr_cpus", config_nr_cpus)
        if config_nr_cpus < nr_cpus:
            raise ConfigError(f"config_nr_cpus (CONFIG_NR_CPUS={config_nr_cpus}) < nr_cpus={nr_cpus}")
        max_alloc = positive_int("vmap_max_alloc", max_alloc)
        if bbmap_bits is not None:
            bbmap_bits = positive_int("vmap_bbmap_bits", bbmap_bits, 2)
            if not is_power_of_2(bbmap_bits) or bbmap_bits > VMAP_BBMAP_BITS_MAX:
                raise ConfigError(f"vmap_bbmap_bits must be a power of two <= 1024, got {bbmap_bits}")
        bits = bbmap_bits or vmap_bbmap_bits_for(config_nr_cpus)
        if 2 * max_alloc > bits:
            raise ConfigError(f"vmap_max_alloc={max_alloc} needs vmap_bbmap_bits >= {2 * max_alloc} "
                              f"(VMAP_BBMAP_BITS_MIN = 2 * VMAP_MAX_ALLOC), got {bits}")
        return (nr_cpus, nr_online, vmalloc_size, zone_pages, max_va_pages, lazy_unit, nr_ram_pages,
                config_nr_cpus, bbmap_bits, max_alloc)

    # ------------------------------------------------------------------ introspection
    def __repr__(self) -> str:
        busy = sum(len(vn.busy) for vn in self.nodes)
        lazy = sum(len(vn.lazy) for vn in self.nodes)
        pooled = sum(vn.pool_total() for vn in self.nodes)
        return (f"<Vmalloc {self.version} cpus={self.nr_cpus} nodes={self.nr_vmap_nodes} "
                f"busy={busy} lazy={lazy} pooled={pooled} free={len(self.free_space)}>")

    # ------------------------------------------------------------------ alloc_vmap_area
    def _take_ne_fit_preload(self, cpu: int) -> VmapArea:
        """The NE split's second object: ``cpu``'s preloaded spare, else a GFP_NOWAIT allocation."""
        spare = self._ne_fit_preload[cpu]
        if spare is not None:
            self._ne_fit_preload[cpu] = None
            return spare
        return self._ne_fit_nowait()

    def _ne_fit_nowait(self) -> VmapArea:
        """An NE split's second object without a preload: the GFP_NOWAIT allocation (counted)."""
        self.stats.ne_splits_nowait += 1
        return VmapArea()

    def _carve(self, size: int, align: int, vstart: int, vend: int, cpu: int) -> int | None:
        """__alloc_vmap_area() under free_vmap_area_lock, with ``cpu``'s preload as the NE split's spare."""
        return self.free_space.alloc(size, align, vstart, vend, self._ne_fit_spare[cpu])

    def _node_pool_del_va(self, vn: VmapNode, size: int, align: int, vstart: int, vend: int,
                         cpu: int) -> VmapArea | None:
        """node_pool_del_va(): look only at the head of the exact-size pool (§4.2).

        A misaligned head is rotated to the tail and the request goes to the slow path.
        """
        idx = (size - 1) >> PAGE_SHIFT        # pool_index()
        if idx >= self.max_va_size_pages or not vn.pool[idx].va_list:
            self.stats.pool_misses += 1
            if self._tr is not None:
                self._tr.emit(Pool, cpu, vn.id, min(idx, self.max_va_size_pages), "empty", 0)
            return None
        pool = vn.pool[idx]
        va = pool.va_list[0]
        if va.va_start & (align - 1) == 0:
            if va.va_end - va.va_start != size or va.va_start < vstart or va.va_end > vend:
                self.dmesg.warn_once("node_pool_del_va", "WARNING: node_pool_del_va: pooled VA does not fit the request")
                self.stats.pool_misses += 1
                if self._tr is not None:
                    self._pool_event(cpu, vn.id, idx, "mismatch", va.va_start, vn.pool_lock)
                return None
            pool.va_list.popleft()
            pool.len -= 1
            self.stats.pool_hits += 1
            if self._tr is not None:
                self._pool_event(cpu, vn.id, idx, "hit", va.va_start, vn.pool_lock)
            return va
        pool.va_list.rotate(-1)          # head to tail
        self.stats.pool_rotations += 1
        self.stats.pool_misses += 1
        if self._tr is not None:
            self._pool_event(cpu, vn.id, idx, "rotate", va.va_start, vn.pool_lock)
        return None

    def _node_alloc(self, size: int, align: int, vstart: int, vend: int,
                    cpu: int) -> tuple[VmapArea | None, int | None, int]:
        """node_alloc(): (pooled VA or None, its address or None, owner code) (§4.2).

        Only whole-window requests on a multi-node 6.9 machine use pools; the
        owner code is recorded for them whatever the size, even on a miss.
        """
        if not self._node_layer or vstart != self.VMALLOC_START or vend != self.VMALLOC_END:
            return None, None, 0
        node_id = cpu % self.nr_vmap_nodes
        va = self._node_pool_del_va(self.nodes[node_id], size, align, vstart, vend, cpu)
        return va, (va.va_start if va is not None else None), encode_vn_id(node_id, self.nr_vmap_nodes)

    def _alloc_vmap_area(self, size: int, align: int, vstart: int, vend: int, va_flags: int,
                        gfp: int, cpu: int, vm: VmStruct | None = None) -> VmapArea | None:
        """alloc_vmap_area(): a busy VA of ``size`` bytes in [vstart, vend), or None (§4.2, §8).

        Pool fast path first; then the free tree under free_vmap_area_lock; on
        overflow one full-decay purge and retry, then the purge notifier chain,
        then the rate-limited warning. Raises InvalidArgumentError (-EINVAL)
        for a size that is 0 or not page aligned, or a non-power-of-two align.

        Per generation (§8): from 6.10 (``gen.vm_bound_before_insert``: 6.12, 7.3) a ``vm`` whose
        flags and caller the caller set is bound to the VA before the busy insert, so the VA enters
        its tree with its vm_struct in one hold; before, ``vm`` is None and the caller binds it in a
        second hold. The overflow warning names the window from 6.10 (``gen.warn_names_range``),
        "use vmalloc=<size>" before. In 7.3 (``gen.nowait_fails_fast``) a request whose gfp
        cannot block (no __GFP_DIRECT_RECLAIM) fails on overflow at once: no purge, no notifier,
        no warning.
        """
        if size <= 0 or size & (PAGE_SIZE - 1) or not is_power_of_2(align):
            raise InvalidArgumentError(f"alloc_vmap_area: -EINVAL (size {size:#x}, align {align:#x})")
        va, addr, owner = self._node_alloc(size, align, vstart, vend, cpu)
        if va is None:
            va = VmapArea()
        tr = self._tr
        purged = False
        notifier_rounds = 0
        while True:
            if addr is None:
                if self._ne_fit_preload[cpu] is None:
                    self._ne_fit_preload[cpu] = VmapArea()     # preloaded before taking the lock
                addr = self._locked(cpu, FreeSpace.lock_name, "alloc_vmap_area", self._carve,
                                    size, align, vstart, vend, cpu)
            if tr is not None:
                # a failure traces vend; 7.3 traces the negated errno instead (§8, gen.alloc_trace_errno)
                failed_as = -self.free_space.last_errno & ULONG_MAX if self.gen.alloc_trace_errno else vend
                tr.emit(AllocVmapArea, cpu, failed_as if addr is None else addr, size, align, vstart, vend,
                        int(addr is None))
            if addr is not None:
                break
            if self.gen.nowait_fails_fast and not gfp & GFP_DIRECT_RECLAIM:
                self.stats.alloc_failures += 1          # 7.3: out_free_va, silently
                return None
            if not purged:
                self.reclaim_and_purge_vmap_areas(cpu)
                purged = True
                continue
            if notifier_rounds < MAX_NOTIFIER_ROUNDS and self._call_purge_notifiers(cpu) > 0:
                notifier_rounds += 1
                purged = False
                continue
            self.stats.alloc_failures += 1
            if not gfp & GFP_NOWARN:
                if self.gen.warn_names_range:
                    self.dmesg.ratelimited(f"vmalloc_node_range for size {size} failed: "
                                           f"Address range restricted to {vstart:#x} - {vend:#x}")
                else:
                    self.dmesg.ratelimited(
                        f"vmap allocation for size {size} failed: use vmalloc=<size> to increase size")
            return None
        va.va_start, va.va_end = addr, addr + size
        va.vm = None
        va.flags = va_flags | owner
        if vm is not None:          # 6.10+: bound before the insert, outside any lock
            self._setup_vmalloc_vm(vm, va, vm.flags, vm.caller)
        vn = self.addr_to_node(addr)
        self._locked(cpu, vn.busy_lock, "insert_vmap_area", vn.busy.insert, va)
        if addr & (align - 1) or addr < vstart or va.va_end > vend:
            raise InvariantError(f"BUG: alloc_vmap_area returned {va!r} for align {align:#x} "
                                 f"window {vstart:#x}-{vend:#x}")
        return va

    # -- the steps above called on their own: validated, and what they hand out is tracked --
    def node_pool_del_va(self, vn: VmapNode, size: int, align: int, vstart: int, vend: int,
                         cpu: int) -> VmapArea | None:
        """node_pool_del_va() called on its own: arguments checked first; a VA it takes is in flight.

        A VA in flight belongs to no tree or pool until ``node_pool_add_va``, ``free_vmap_area_noflush``
        or ``reclaim_list_global`` takes it back; ``check()`` counts it meanwhile.
        """
        self._check_node(vn, "node_pool_del_va")
        self._check_request("node_pool_del_va", size, align, vstart, vend, cpu)
        return self._hand_out(self._node_pool_del_va(vn, size, align, vstart, vend, cpu))

    def node_alloc(self, size: int, align: int, vstart: int, vend: int,
                   cpu: int) -> tuple[VmapArea | None, int | None, int]:
        """node_alloc() called on its own: arguments checked first; a pooled VA it returns is in flight."""
        self._check_request("node_alloc", size, align, vstart, vend, cpu)
        va, addr, owner = self._node_alloc(size, align, vstart, vend, cpu)
        return self._hand_out(va), addr, owner

    def alloc_vmap_area(self, size: int, align: int, vstart: int, vend: int, va_flags: int,
                        gfp: int, cpu: int) -> VmapArea | None:
        """alloc_vmap_area() called on its own: arguments checked first; the busy VA has no vm_struct.

        ``va_flags`` is 0 or VMAP_RAM (a vmap block's VA is new_vmap_block's); ``setup_vmalloc_vm``
        can bind a vm_struct to the VA, ``free_vmap_area`` give it back.
        """
        self._check_request("alloc_vmap_area", size, align, vstart, vend, cpu)
        self._check_va_flags(va_flags, "alloc_vmap_area", VMAP_RAM)
        self._check_flags(gfp, ULONG_MAX, "alloc_vmap_area: gfp")
        return self._alloc_vmap_area(size, align, vstart, vend, va_flags, gfp, cpu)

    def carve_vmap_area(self, size: int, align: int, vstart: int, vend: int, va_flags: int = 0) -> VmapArea | None:
        """__alloc_vmap_area(): the free tree's lowest match alone (no pool, no purge, no busy tree); in flight.

        Mirrors the carve of kernel-model.md §4.3. Called without a CPU, it has no preload: an NE split's
        second object is a GFP_NOWAIT allocation (``stats.ne_splits_nowait``).

        What ``purge_vmap_node`` later pools comes from here in a real run; the contention model's warm
        start carves with it. None when nothing fits. ``va_flags`` may carry an owner (``encode_vn_id``).
        """
        self._check_request("carve_vmap_area", size, align, vstart, vend, 0)
        self._check_va_flags(va_flags, "carve_vmap_area", 0)
        addr = self.free_space.alloc(size, align, vstart, vend, self._ne_fit_nowait)     # no CPU, so no preload
        return None if addr is None else self._hand_out(VmapArea(addr, addr + size, va_flags))

    def _check_va_flags(self, va_flags: object, func: str, allowed: int) -> None:
        """``allowed`` VMAP_* bits (a vmap block's are new_vmap_block's) and maybe an owner id of this machine."""
        if type(va_flags) is not int or va_flags < 0 or va_flags & 0xff & ~allowed or (
                va_flags >> 8 and not (self._node_layer and (va_flags >> 8) <= self.nr_vmap_nodes)):
            raise InvalidArgumentError(f"{func}: va_flags must be {allowed:#x} or 0, with maybe an owner id of this "
                                       f"machine (encode_vn_id), got {va_flags!r}"[:300])

    def _hand_out(self, va: VmapArea | None) -> VmapArea | None:
        """Record a VA a step called on its own takes out of every tree and pool (check() counts it)."""
        if va is not None:
            self._in_flight[va.va_start] = va
        return va

    # ------------------------------------------------------------------ vm_struct areas
    def __get_vm_area_node(self, size: int, align: int, flags: int, start: int, end: int,
                           gfp: int, caller: str | None, cpu: int) -> VmStruct | None:
        """__get_vm_area_node(): a VA (plus guard page) bound to a new vm_struct (§4.4).

        6.1 to 6.9: alloc_vmap_area inserts the bare VA, then setup_vmalloc_vm binds the vm_struct
        in a second hold of the same busy lock. From 6.10 (``gen.vm_bound_before_insert``, §8) the
        vm_struct goes into alloc_vmap_area and is bound before the one insert.
        """
        requested_size = size
        size = page_align(size)
        if flags & VM_IOREMAP:
            align = 1 << max(PAGE_SHIFT, min(get_count_order(size), IOREMAP_MAX_ORDER))
        area = VmStruct(flags, caller)
        area.requested_size = requested_size         # 6.12, 7.3: what vrealloc compares with (§8)
        if not flags & VM_NO_GUARD:
            size += PAGE_SIZE
        if self.gen.vm_bound_before_insert:
            va = self._alloc_vmap_area(size, align, start, end, 0, gfp, cpu, area)
            return None if va is None else area
        va = self._alloc_vmap_area(size, align, start, end, 0, gfp, cpu)
        if va is None:
            return None
        vn = self.addr_to_node(va.va_start)
        self._locked(cpu, vn.busy_lock, "setup_vmalloc_vm", self._bind_vm, vn, area, va, flags, caller)
        return area

    def _bind_vm(self, vn: VmapNode, vm: VmStruct, va: VmapArea, flags: int, caller: str | None) -> None:
        """setup_vmalloc_vm() under ``vn``'s busy lock (6.8: vmap_area_lock; 6.9: vn->busy.lock).

        It writes the new vm_struct and one field of the VA (``va->vm``), no other tree node: the
        busy tree's observer, if any, is told of that one write (kernel-model.md §4.4).
        """
        self._setup_vmalloc_vm(vm, va, flags, caller)
        vn.busy.note_write(va)

    def setup_vmalloc_vm(self, vm: VmStruct, va: VmapArea, flags: int, caller: str | None) -> None:
        """setup_vmalloc_vm() called on its own: a new vm_struct onto a bare busy VA of this machine."""
        if not isinstance(vm, VmStruct) or vm.addr or vm.size:           # setup sets both: this one is used
            raise InvalidArgumentError(f"setup_vmalloc_vm: vm must be a new VmStruct (not bound to an area), got {vm!r}"[:300])
        self._check_busy_va(va, "setup_vmalloc_vm")
        self._check_flags(flags, VM_ALL_FLAGS, "setup_vmalloc_vm: flags")
        self._check_caller(caller)
        self._setup_vmalloc_vm(vm, va, flags, caller)

    def restore_vm_struct(self, addr: int, pages_by_node: Iterable[tuple[int, int]] = (), *, phys_addr: int = 0,
                          vpages: bool = False) -> VmStruct:
        """Give the vm_struct area starting at ``addr``, just bound by ``setup_vmalloc_vm`` and still without
        pages, what a /proc/vmallocinfo line says it has: ``pages_by_node`` as (memory node, count) pairs
        (``N0=3 N1=2``; a count of pages from node 0 for a line without them), ``phys_addr`` (``phys=``)
        and ``vpages``. Returns the vm_struct.

        The one way a machine rebuilt from text (``vmaplab.formats.rebuild``) writes an area's pages, so
        that only the kernel model writes its state. Mirrors the page half of ``__vmalloc_area_node``
        (6.9): ``vm_area_alloc_pages`` takes each node's pages in bulk, and a VM_ALLOC area adds them to
        ``nr_vmalloc_pages``. Simplified: the pages come from the node named, as the capture says,
        not from the caller's node (kernel-model.md §4.10 prints them back).

        Refused (an InvalidArgumentError, nothing changed): an address that does not start a live
        vm_struct area, an area that has pages already, a node or count out of range, more pages than
        the area holds, more than the machine has free.
        """
        addr = check_int(addr, "restore_vm_struct: addr", 0, ULONG_MAX)
        _vn, va = self._lookup(addr)
        if va is None or va.va_start != addr or va.vm is None:
            raise InvalidArgumentError(f"restore_vm_struct: {addr:#x} does not start a live vm_struct area")
        area = va.vm
        if area.nr_pages or area.pages:
            raise InvalidArgumentError(f"restore_vm_struct: the area at {addr:#x} has its pages already")
        if isinstance(pages_by_node, (str, bytes)) or not isinstance(pages_by_node, (list, tuple)):
            raise InvalidArgumentError("restore_vm_struct: pages_by_node must be a list of (node, count) pairs")
        wanted = []
        for i, pair in enumerate(pages_by_node):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise InvalidArgumentError(f"restore_vm_struct: pages_by_node[{i}] must be a (node, count) pair")
            wanted.append((check_int(pair[0], f"restore_vm_struct: pages_by_node[{i}] node", 0, self.pages.nr_nodes - 1),
                           check_int(pair[1], f"restore_vm_struct: pages_by_node[{i}] count", 0)))
        total = sum(n for _, n in wanted)
        if total > area.size // PAGE_SIZE:
            raise InvalidArgumentError(f"restore_vm_struct: {total} pages do not fit the {area.size:#x}-byte area at {addr:#x}")
        if total > self.pages.nr_free:
            raise InvalidArgumentError(f"restore_vm_struct: the simulated machine ran out of RAM ({total} pages asked, "
                                       f"{self.pages.nr_free} free)")
        phys_addr = check_int(phys_addr, "restore_vm_struct: phys_addr", 0, ULONG_MAX)
        vpages = self._check_bool(vpages, "restore_vm_struct", "vpages")
        pages: list[int] = []
        for nid, n in wanted:
            pages.extend(self.pages.alloc_pages_bulk(n, nid))
        area.pages, area.nr_pages = pages, len(pages)
        area.phys_addr, area.vpages = phys_addr, vpages
        if area.flags & VM_ALLOC:
            self.nr_vmalloc_pages += len(pages)
        return area

    @contextmanager
    def workqueue_held(self) -> Iterator[Vmalloc]:
        """No work item runs inside the block (``autorun_work`` off), as while a machine is rebuilt; the
        setting is restored at its end, and what was queued stays queued (``run_workqueue`` runs it)."""
        before, self.autorun_work = self.autorun_work, False
        try:
            yield self
        finally:
            self.autorun_work = before

    @staticmethod
    def _setup_vmalloc_vm(vm: VmStruct, va: VmapArea, flags: int, caller: str | None) -> None:
        """setup_vmalloc_vm(): bind the vm_struct to the VA (under the busy lock).

        A vm_struct __get_vm_area_node made keeps the size its caller asked for; one bound here
        alone (vmlist, pcpu chunks) gets the VA's whole size as 6.12's setup_vmalloc_vm gives it.
        """
        vm.flags = flags
        vm.addr = va.va_start
        vm.size = va.va_end - va.va_start
        if vm.requested_size is None:
            vm.requested_size = vm.size
        vm.caller = caller
        va.vm = vm

    def get_vm_area(self, size: int, flags: int = VM_MAP, cpu: int = 0, caller: str | None = None,
                    start: int | None = None, end: int | None = None) -> VmStruct | None:
        """get_vm_area_caller() / __get_vm_area_caller(): reserve a range with a vm_struct, map nothing."""
        self._check_cpu(cpu)
        self._check_size(size)
        self._check_flags(flags)
        self._check_caller(caller)
        start = self.VMALLOC_START if start is None else start
        end = self.VMALLOC_END if end is None else end
        self._check_window(start, end)
        area = self.__get_vm_area_node(size, 1, flags, start, end, GFP_KERNEL, caller, cpu)
        self._api_event(cpu, "get_vm_area", area.addr if area else None, size, caller)
        self._after_call(cpu)
        return area

    def free_vm_area(self, area: VmStruct, cpu: int = 0) -> None:
        """free_vm_area(): remove_vm_area() + free the vm_struct (pages stay with the caller)."""
        self._check_cpu(cpu)
        va = self._check_vm_area(area, "free_vm_area", "area", cpu)
        self._remove_vm_area(va.va_start, cpu)
        self._after_call(cpu)

    def _check_vm_area(self, area: object, func: str, what: str, cpu: int) -> VmapArea:
        """What free_vm_area() may release: the live vm_struct of a busy VA, not a vmalloc() area with pages."""
        if not isinstance(area, VmStruct):
            raise BadFreeError(f"{func}: {what} must be the VmStruct get_vm_area() returned, got {area!r}")
        va, vm = self._live_area(area.addr, func, cpu)
        if vm is not area:
            raise BadFreeError(f"{func}: {what} {area!r} is not the vm_struct of {va!r}")
        if vm.flags & VM_ALLOC and vm.nr_pages:
            raise WrongFreeFunctionError(f"{func}() of a vmalloc() area would leak its pages: use vfree()")
        return va

    def vmalloc_node_range(self, size: int, align: int, start: int, end: int, flags: int = VM_ALLOC,
                           cpu: int = 0, caller: str | None = None, gfp: int = GFP_KERNEL) -> int | None:
        """__vmalloc_node_range(): allocate, back with pages and map; None on exhaustion (§4.4).

        ``flags`` are extra VM_* flags (VM_ALLOC and VM_UNINITIALIZED are always
        added). Warnings go to ``dmesg`` in the kernel's words.
        """
        self._check_cpu(cpu)
        self._check_size(size)
        self._check_align(align)
        self._check_window(start, end)
        self._check_flags(flags, VM_ALL_FLAGS & ~VMALLOC_REFUSED_FLAGS, "vmalloc_node_range: flags")
        self._check_flags(gfp, ULONG_MAX, "gfp")
        self._check_caller(caller)
        if flags & VM_ALLOW_HUGE_VMAP:
            raise InvalidArgumentError("VM_ALLOW_HUGE_VMAP (vmalloc_huge) is not modelled: vmaplab maps base pages only")
        addr = self._vmalloc_node_range(size, align, start, end, gfp, flags, cpu, caller)
        self._api_event(cpu, "vmalloc", addr, size, caller)
        self._after_call(cpu)
        return addr

    def _vmalloc_node_range(self, size: int, align: int, start: int, end: int, gfp: int, flags: int, cpu: int,
                            caller: str | None) -> int | None:
        """__vmalloc_node_range() after validation; its failure warnings in each kernel's words (§8:
        7.3 names the align, ``gen.warn_names_align``)."""
        real_size = size
        warn = not gfp & GFP_NOWARN
        # the caller's size, not yet page-aligned, is what the kernel compares with totalram_pages()
        if real_size >> PAGE_SHIFT > self.pages.totalram_pages():
            if warn:
                self.dmesg.ratelimited(f"vmalloc error: size {real_size}, exceeds total pages", "warn_alloc")
            return None
        area = self.__get_vm_area_node(real_size, align, VM_ALLOC | VM_UNINITIALIZED | flags,
                                       start, end, gfp, caller, cpu)
        if area is None:
            if warn:        # 7.3 names the align too (§8, gen.warn_names_align)
                what = f"align {align:#x}, " if self.gen.warn_names_align else ""
                self.dmesg.ratelimited(f"vmalloc error: size {real_size}, {what}vm_struct allocation failed",
                                       "warn_alloc")
            return None
        if not self.__vmalloc_area_node(area, gfp, cpu):
            return None
        area.flags &= ~VM_UNINITIALIZED      # after the write barrier: the area is now visible
        return area.addr

    def __vmalloc_area_node(self, area: VmStruct, gfp: int, cpu: int) -> bool:
        """__vmalloc_area_node(): the page array (nested vmalloc past one page), bulk pages, mapping.

        A page shortage is reported in each kernel's words (§8): 6.1 names the page order
        (``gen.warn_pages_names_order``), 7.3 the size asked for (``gen.warn_names_align``).
        """
        nr_small_pages = area.get_vm_area_size() >> PAGE_SHIFT
        array_size = nr_small_pages * 8                 # sizeof(struct page *)
        warn = not gfp & GFP_NOWARN
        if array_size > PAGE_SIZE:
            nested = self._vmalloc_node_range(array_size, 1, self.VMALLOC_START, self.VMALLOC_END,
                                              gfp | GFP_ZERO, 0, cpu, area.caller)
            if nested is None:
                if warn:
                    self.dmesg.ratelimited(f"vmalloc error: size {nr_small_pages * PAGE_SIZE}, "
                                           f"failed to allocated page array size {array_size}", "warn_alloc")
                self._remove_vm_area(area.addr, cpu)
                return False
            area.pages_array_addr = nested
            self._page_arrays[nested] = area.addr
            area.vpages = True
        pages: list[int] = []
        nid = self.cpu_to_node(cpu)            # NUMA_NO_NODE: the CPU's local node first
        while len(pages) < nr_small_pages:
            got = self.pages.alloc_pages_bulk(min(BULK_ALLOC_BATCH, nr_small_pages - len(pages)), nid)
            if not got:
                break
            pages.extend(got)
        area.pages = pages
        area.nr_pages = len(pages)
        self.nr_vmalloc_pages += len(pages)
        if gfp & GFP_ZERO:
            self.pages.clear(pages)
        if len(pages) != nr_small_pages:
            if warn:        # §8: 6.1 names the page order; 7.3 the size asked for, not the pages obtained
                asked = (nr_small_pages if self.gen.warn_names_align else len(pages)) * PAGE_SIZE
                order = "page order 0, " if self.gen.warn_pages_names_order else ""
                self.dmesg.ratelimited(f"vmalloc error: size {asked}, {order}failed to allocate pages", "warn_alloc")
            self._vfree_area(area.addr, cpu)
            return False
        return True

    def vmalloc(self, size: int, cpu: int = 0, caller: str | None = None, gfp: int = GFP_KERNEL) -> int | None:
        """vmalloc() (``gfp`` GFP_KERNEL) or __vmalloc(size, gfp): ``size`` bytes anywhere in the vmalloc
        window; None on exhaustion.

        A gfp that cannot block (GFP_NOWAIT, GFP_ATOMIC: no __GFP_DIRECT_RECLAIM) fails fast on
        overflow in 7.3 (``gen.nowait_fails_fast``, kernel-model.md §8); 7.3's GFP_NOWAIT also
        carries __GFP_NOWARN (``gen.gfp_nowait``). O(log n) plus the pages.

        >>> vm = Vmalloc(nr_cpus=1, version="7.3", vmalloc_size=4 * PAGE_SIZE)
        >>> vm.vmalloc(8 * PAGE_SIZE, gfp=vm.gen.gfp_nowait) is None, vm.stats.purges, list(vm.dmesg)
        (True, 0, [])
        """
        return self.vmalloc_node_range(size, 1, self.VMALLOC_START, self.VMALLOC_END, 0, cpu, caller, gfp)

    def vzalloc(self, size: int, cpu: int = 0, caller: str | None = None) -> int | None:
        """vzalloc(): vmalloc() with zeroed pages (__GFP_ZERO)."""
        return self.vmalloc_node_range(size, 1, self.VMALLOC_START, self.VMALLOC_END, 0, cpu, caller,
                                       GFP_KERNEL | GFP_ZERO)

    def vmalloc_user(self, size: int, cpu: int = 0, caller: str | None = None) -> int | None:
        """vmalloc_user(): SHMLBA-aligned, zeroed, VM_USERMAP."""
        return self.vmalloc_node_range(size, SHMLBA, self.VMALLOC_START, self.VMALLOC_END, VM_USERMAP,
                                       cpu, caller, GFP_KERNEL | GFP_ZERO)

    def vmalloc_node(self, size: int, align: int = 1, cpu: int = 0, caller: str | None = None,
                     gfp: int = GFP_KERNEL) -> int | None:
        """__vmalloc_node(size, align, gfp, node, caller): what lib/test_vmalloc.c calls."""
        return self.vmalloc_node_range(size, align, self.VMALLOC_START, self.VMALLOC_END, 0, cpu, caller, gfp)

    # ------------------------------------------------------------------ vrealloc
    def vrealloc(self, addr: int | None, size: int, cpu: int = 0, caller: str | None = None,
                 gfp: int = GFP_KERNEL) -> int | None:
        """vrealloc(p, size, gfp): resize a vmalloc() area, in place when it can; the new address or None.

        Mirrors ``vrealloc_noprof`` (Linux 6.12) and ``vrealloc_node_align_noprof`` (7.3, called with
        align 1 and no node), kernel-model.md §8 (``gen.has_vrealloc``, §8.1 for what is left out):

        * ``size`` 0: vfree(addr) (addr None does nothing), None;
        * ``addr`` None: vmalloc(size, gfp);
        * an address no live vm_struct area holds: the kernel WARNs and returns NULL, so a line in
          ``dmesg`` and None; likewise an area whose requested size exceeds its usable size (a
          vmlist or pcpu area, bound by setup_vmalloc_vm alone);
        * ``size`` <= the requested size: in place; the bytes in [size, old) are zeroed (Debian
          builds with init_on_alloc on); 7.3 (``gen.vrealloc_frees_tail``) also unmaps and frees the
          whole pages past ``size`` (not for VM_USERMAP or VM_FLUSH_RESET_PERMS areas, nor a gfp
          without __GFP_IO|__GFP_FS), setting nr_pages under the node's busy lock;
        * ``size`` within the area (6.12: its usable size; 7.3: its nr_pages): in place;
        * else moved: a new vmalloc(size, gfp), the old requested bytes copied, the old area freed
          lazily. The new area's caller is vrealloc_noprof itself in 6.12 (it calls __vmalloc), the
          caller of vrealloc in 7.3 (``gen.vrealloc_names_caller``).

        Simplifications: the requested size is kept, but the model has no KASAN to poison with it;
        7.3's alignment and __GFP_THISNODE checks do not arise (align 1, no node). An interior
        pointer, or an area vmalloc() did not make (vmap, ioremap, get_vm_area), is a caller's bug
        the kernel does not check: refused here (BadFreeError, WrongFreeFunctionError) with nothing
        changed, as is a generation without vrealloc (InvalidArgumentError naming the version).

        >>> vm = Vmalloc(nr_cpus=1, version="6.12")
        >>> p = vm.vmalloc(100)
        >>> vm.vrealloc(p, PAGE_SIZE) == p, vm.find_vm_area(p).requested_size
        (True, 4096)
        """
        if not self.gen.has_vrealloc:
            raise InvalidArgumentError(f"vrealloc: version={self.version!r} has no vrealloc() (it is read in Linux "
                                       "6.12 and 7.3, kernel-model.md §8)")
        self._check_cpu(cpu)
        if addr is not None and (not is_c_int(addr) or not 0 <= addr <= ULONG_MAX):
            raise InvalidArgumentError(f"vrealloc: addr must be an int address or None, got {addr!r}"[:300])
        if not is_c_int(size) or size < 0:
            raise InvalidArgumentError(f"vrealloc: size must be an int >= 0, got {size!r}"[:300])
        if size:
            self._check_size(size, "vrealloc: size")
        self._check_flags(gfp, ULONG_MAX, "vrealloc: gfp")
        self._check_caller(caller)
        if not size:
            self.vfree(addr, cpu)
            return None
        # 6.12's vrealloc_noprof calls __vmalloc, which names its own caller: vrealloc_noprof
        new_caller = caller if self.gen.vrealloc_names_caller else "vrealloc_noprof"
        if not addr:                                      # vrealloc(NULL, size) is vmalloc(size)
            new = self._vmalloc_node_range(size, 1, self.VMALLOC_START, self.VMALLOC_END, gfp, 0, cpu, new_caller)
            self._api_event(cpu, "vrealloc", new, size, caller)
            self._after_call(cpu)
            return new
        _vn, va = self._lookup(addr)                              # validation first, untraced
        if va is not None and va.vm is not None:
            self._check_vrealloc_area(va, addr)
        vn, va = self._lookup(addr, cpu, "find_vmap_area")          # find_vm_area(p)
        vm = None if va is None else va.vm
        if vm is None:
            self.dmesg.warn(f"WARNING: vrealloc: Trying to vrealloc() nonexistent vm area ({addr:#x})")
            self._after_call(cpu)
            return None
        alloced_size = vm.get_vm_area_size()
        old_size = present(vm.requested_size, "vrealloc: the bound vm_struct's requested_size")
        if alloced_size < old_size:
            self.dmesg.warn(f"WARNING: vrealloc: vrealloc() has mismatched area vs requested sizes ({addr:#x})")
            self._after_call(cpu)
            return None
        new = addr
        if size <= old_size:
            self._zero_area_bytes(vm, size, old_size)     # want_init_on_alloc(): Debian's init_on_alloc=1
            new_nr_pages = page_align(size) >> PAGE_SHIFT
            if (self.gen.vrealloc_frees_tail and new_nr_pages < vm.nr_pages
                    and not vm.flags & (VM_FLUSH_RESET_PERMS | VM_USERMAP) and gfp_has_io_fs(gfp)):
                self._vrealloc_free_tail(present(vn, "vrealloc: the area's node"), vm, new_nr_pages, cpu)
            vm.requested_size = size
        elif size <= (vm.nr_pages << PAGE_SHIFT if self.gen.vrealloc_frees_tail else alloced_size):
            vm.requested_size = size                      # the pages are there (and zero past the old size)
        else:
            new = self._vmalloc_node_range(size, 1, self.VMALLOC_START, self.VMALLOC_END, gfp, 0, cpu, new_caller)
            if new is not None:
                new_vm = present(self._lookup(new)[1], "vrealloc: the new area").vm
                self._copy_area_bytes(vm, present(new_vm, "vrealloc: the new area's vm_struct"), min(size, old_size))
                self._vfree_area(addr, cpu)
        self._api_event(cpu, "vrealloc", new, size, caller)
        self._after_call(cpu)
        return new

    def _check_vrealloc_area(self, va: VmapArea, addr: int) -> None:
        """What the model refuses before vrealloc changes anything: an interior pointer, an area
        vmalloc() did not make, one still being set up, queued for kvfree_rcu, or a page array."""
        vm = present(va.vm, "vrealloc: the area's vm_struct")
        if addr != va.va_start:
            raise BadFreeError(f"vrealloc: addr {addr:#x} is inside {va!r} but not its start")
        if not vm.flags & VM_ALLOC:
            raise WrongFreeFunctionError(f"vrealloc() of {addr:#x} ({'|'.join(vm.flag_names())}): "
                                         "not a vmalloc() area")
        if vm.flags & VM_UNINITIALIZED:
            raise BadFreeError(f"vrealloc() of {addr:#x}: the area is still being set up")
        if addr in self._rcu_addrs:
            raise BadFreeError(f"vrealloc() of {addr:#x}: already queued by kvfree_rcu() (use after free)")
        if addr in self._page_arrays:
            raise BadFreeError(f"vrealloc() of {addr:#x}: it is the page array of the vmalloc area at "
                               f"{self._page_arrays[addr]:#x}")

    def _vrealloc_free_tail(self, vn: VmapNode, vm: VmStruct, new_nr_pages: int, cpu: int) -> None:
        """7.3's vrealloc shrink (§8, ``gen.vrealloc_frees_tail``): nr_pages set under the node's busy
        lock (vmallocinfo reads it there), then the tail unmapped and its pages freed (vm_area_free_pages)."""
        old_nr_pages = vm.nr_pages

        def set_nr_pages() -> None:
            vm.nr_pages = new_nr_pages
        self._locked(cpu, vn.busy_lock, "vrealloc", set_nr_pages)
        self.pages.free_pages(vm.pages[new_nr_pages:old_nr_pages])
        self.nr_vmalloc_pages -= old_nr_pages - new_nr_pages
        del vm.pages[new_nr_pages:]                       # vunmap_range(): the tail is no longer mapped

    def _zero_area_bytes(self, vm: VmStruct, start: int, end: int) -> None:
        """memset(p + start, 0, end - start) through the area's pages (only pages holding data change)."""
        data = self.pages.data
        for i in range(start >> PAGE_SHIFT, min(-(-end // PAGE_SIZE), len(vm.pages))):
            page = data.get(vm.pages[i])
            if page is not None:
                lo = max(start - (i << PAGE_SHIFT), 0)
                hi = min(end - (i << PAGE_SHIFT), PAGE_SIZE)
                page[lo:hi] = bytes(hi - lo)

    def _copy_area_bytes(self, src: VmStruct, dst: VmStruct, nbytes: int) -> None:
        """memcpy(dst, src, nbytes) page by page; never-written source pages stay zero in the fresh copy."""
        data = self.pages.data
        for i in range(min(-(-nbytes // PAGE_SIZE), len(src.pages), len(dst.pages))):
            page = data.get(src.pages[i])
            if page is not None:
                self.pages.write(dst.pages[i], 0, bytes(page[:min(PAGE_SIZE, nbytes - (i << PAGE_SHIFT))]))

    # ------------------------------------------------------------------ vmap, ioremap
    def vmap(self, pages: Sequence[int], flags: int = VM_MAP, cpu: int = 0, caller: str | None = None) -> int | None:
        """vmap(): map existing pages (pfns) contiguously; None when out of space (§4.4).

        With VM_MAP_PUT_PAGES the area owns the pages and vfree() releases them.
        """
        self._check_cpu(cpu)
        self._check_flags(flags)
        if flags & (VM_FLUSH_RESET_PERMS | VM_SPARSE | VM_ALLOC | VM_IOREMAP | VM_UNINITIALIZED):
            raise InvalidArgumentError("vmap(): flags may not hold VM_FLUSH_RESET_PERMS, VM_SPARSE, VM_ALLOC, "
                                       "VM_IOREMAP or VM_UNINITIALIZED (those areas are made by vmalloc/ioremap)")
        pages = self._check_pages(pages, "vmap")
        self._check_caller(caller)
        if flags & VM_NO_GUARD:
            self.dmesg.warn_once("vmap_no_guard", "WARNING: vmap: VM_NO_GUARD is not allowed, cleared")
            flags &= ~VM_NO_GUARD
        addr = None
        if len(pages) <= self.pages.totalram_pages():
            area = self.__get_vm_area_node(len(pages) << PAGE_SHIFT, 1, flags, self.VMALLOC_START,
                                           self.VMALLOC_END, GFP_KERNEL, caller, cpu)
            if area is not None:
                area.pages = pages
                if flags & VM_MAP_PUT_PAGES:
                    area.nr_pages = len(pages)
                    for pfn in pages:            # the area owns them now: vfree() releases them
                        self._user_pages.pop(pfn, None)
                else:
                    self._map_user_pages(pages, +1)
                addr = area.addr
        self._api_event(cpu, "vmap", addr, len(pages) << PAGE_SHIFT, caller)
        self._after_call(cpu)
        return addr

    def ioremap(self, phys_addr: int, size: int, cpu: int = 0, caller: str | None = None) -> int | None:
        """ioremap(): reserve a VM_IOREMAP area for a physical range; returns the address + offset."""
        self._check_cpu(cpu)
        self._check_size(size)
        if not is_c_int(phys_addr) or phys_addr < 0 or phys_addr + size - 1 > ULONG_MAX:
            raise InvalidArgumentError(f"ioremap: bad physical range {phys_addr!r} + {size:#x}")
        self._check_caller(caller)
        offset = phys_addr & ~PAGE_MASK
        base = phys_addr & PAGE_MASK
        span = page_align(phys_addr + size) - base
        area = self.__get_vm_area_node(span, 1, VM_IOREMAP, self.VMALLOC_START, self.VMALLOC_END,
                                       GFP_KERNEL, caller, cpu)
        addr = None
        if area is not None:
            area.phys_addr = base
            addr = area.addr + offset
        self._api_event(cpu, "ioremap", addr, span, caller)
        self._after_call(cpu)
        return addr

    # ------------------------------------------------------------------ lookups
    def find_vmap_area(self, addr: int, cpu: int = 0) -> VmapArea | None:
        """find_vmap_area(): the busy VA containing ``addr``, probing nodes upwards (§4.6)."""
        self._check_cpu(cpu)
        addr = check_int(addr, "find_vmap_area: addr", 0, ULONG_MAX)
        return self._lookup(addr, cpu, "find_vmap_area")[1]

    def find_vm_area(self, addr: int, cpu: int = 0) -> VmStruct | None:
        """find_vm_area(): the vm_struct of the area containing ``addr``, or None."""
        va = self.find_vmap_area(addr, cpu)
        return None if va is None else va.vm

    def find_unlink_vmap_area(self, addr: int, cpu: int = 0) -> VmapArea | None:
        """find_unlink_vmap_area() called on its own: the bare busy VA holding ``addr`` leaves its tree, in flight.

        An area with a vm_struct, a vmap block or vm_map_ram pages is refused: its own release call
        (vfree, vunmap, iounmap, free_vm_area, vm_unmap_ram) unlinks it.
        """
        self._check_cpu(cpu)
        addr = check_int(addr, "find_unlink_vmap_area: addr", 0, ULONG_MAX)
        _vn, va = self._lookup(addr)
        if va is None:
            return None
        self._check_busy_va(va, "find_unlink_vmap_area", f"the area at addr {addr:#x}")
        return self._hand_out(self._find_unlink_vmap_area(addr, cpu))

    def _find_unlink_vmap_area(self, addr: int, cpu: int = 0) -> VmapArea | None:
        """find_unlink_vmap_area(): find as above and remove from its busy tree in one lock hold.

        6.1 (``gen.vfree_unlinks_once`` False, §8) has no such function: its callers look the VA up
        (``find_vmap_area``) and free_vmap_area_noflush unlinks it in a second hold (``unlink_va``).
        """
        if self.gen.vfree_unlinks_once:
            return self._lookup(addr, cpu, "find_unlink_vmap_area", unlink=True)[1]
        vn, va = self._lookup(addr, cpu, "find_vmap_area")
        if vn is not None and va is not None:
            self._locked(cpu, vn.busy_lock, "unlink_va", vn.busy.erase, va)
        return va

    def vmalloc_dump_obj(self, addr: int, cpu: int = 0) -> str | None:
        """vmalloc_dump_obj(): one printk line about the area holding ``addr``, or None (§4.6).

        Looks only in the busy tree of addr_to_node(addr) (a trylock in the
        kernel, no probing), so an address inside a VA that started in another
        zone's node is not found.
        """
        self._check_cpu(cpu)
        addr = check_int(addr, "vmalloc_dump_obj: addr", 0, ULONG_MAX) & PAGE_MASK
        vn = self.addr_to_node(addr)
        va = self._locked(cpu, vn.busy_lock, "vmalloc_dump_obj", vn.busy.find, addr)
        if va is None or va.vm is None:
            return None
        vm = va.vm
        return f" {vm.nr_pages}-page vmalloc region starting at {vm.addr:#x} allocated at {vm.caller}"

    # ------------------------------------------------------------------ frees
    def _live_area(self, addr: object, func: str, cpu: int) -> tuple[VmapArea, VmStruct]:
        """Validate that ``addr`` starts a live vm_struct area; (va, its vm_struct) or a BadFreeError."""
        if not is_c_int(addr):
            raise BadFreeError(f"{func}: address must be an int, got {addr!r}")
        if addr & ~PAGE_MASK:
            raise BadFreeError(f"Trying to vfree() bad address ({addr:#x}): not page aligned")
        _vn, va = self._lookup(addr, cpu) if 0 < addr <= ULONG_MAX else (None, None)
        if va is None or va.va_start != addr:
            raise BadFreeError(f"Trying to {func}() nonexistent vm area ({addr:#x}): "
                               + ("never allocated, or already freed" if va is None else
                                  f"inside {va!r} but not its start"))
        vm = va.vm
        if vm is None:
            kind = "a vm_map_ram() mapping: use vm_unmap_ram()" if va.flags & VMAP_RAM else "an area with no vm_struct"
            raise WrongFreeFunctionError(f"{func}() of {addr:#x}: it is {kind}")
        if addr in self._rcu_addrs:
            raise BadFreeError(f"{func}() of {addr:#x}: already queued by kvfree_rcu() (double free)")
        if addr in self._page_arrays:
            raise BadFreeError(f"{func}() of {addr:#x}: it is the page array of the vmalloc area at "
                               f"{self._page_arrays[addr]:#x}, freed with that area")
        return va, vm

    def _remove_vm_area(self, addr: int, cpu: int) -> VmStruct:
        """remove_vm_area() + free_unmap_vmap_area(): unlink, unmap without a TLB flush, lazy free.

        6.1 (``gen.vfree_unlinks_once`` False, §8): remove_vm_area looks the VA up and clears its
        ``vm`` in one hold of vmap_area_lock, and free_vmap_area_noflush takes it again to unlink
        the VA: two holds where later kernels take one (find_unlink_vmap_area).
        """
        if self.gen.vfree_unlinks_once:
            va = present(self._find_unlink_vmap_area(addr, cpu), f"remove_vm_area: the VA at {addr:#x}")
            vm = present(va.vm, f"remove_vm_area: the vm_struct at {addr:#x}")
            va.vm = None
        else:
            vn = self.addr_to_node(addr)
            va, vm = self._locked(cpu, vn.busy_lock, "remove_vm_area", self._take_vm, vn, addr)
            self._locked(cpu, vn.busy_lock, "unlink_va", vn.busy.erase, va)
        if not vm.flags & VM_ALLOC:                   # vmap() areas: their pages are no longer mapped here
            self._map_user_pages(vm.pages, -1)
        self._free_vmap_area_noflush(va, cpu)
        return vm

    @staticmethod
    def _take_vm(vn: VmapNode, addr: int) -> tuple[VmapArea, VmStruct]:
        """6.1's remove_vm_area under vmap_area_lock: find the busy VA at ``addr`` and clear its ``vm``
        (one write to a tree node, which the busy tree's observer is told of)."""
        va = present(vn.busy.find(addr), f"remove_vm_area: the VA at {addr:#x}")
        vm, va.vm = present(va.vm, f"remove_vm_area: the vm_struct at {addr:#x}"), None
        vn.busy.note_write(va)
        return va, vm

    def _vfree_area(self, addr: int, cpu: int) -> None:
        """vfree() proper, after validation: release the VA lazily, then pages and page array.

        6.1's __vunmap first finds the area (find_vm_area: one more hold of vmap_area_lock, §8),
        so a 6.1 vfree takes vmap_area_lock three times.
        """
        if not self.gen.vfree_unlinks_once:
            self._lookup(addr, cpu, "find_vmap_area")
        vm = self._remove_vm_area(addr, cpu)
        if vm.flags & VM_FLUSH_RESET_PERMS:
            # vm_reset_perms(): flush the direct map and this range now.
            self._vm_unmap_aliases(vm.addr, vm.addr + vm.size, True, cpu)
        if vm.nr_pages:
            self.pages.free_pages(vm.pages[:vm.nr_pages])
            if vm.flags & VM_ALLOC:
                self.nr_vmalloc_pages -= vm.nr_pages
        if vm.pages_array_addr is not None:
            del self._page_arrays[vm.pages_array_addr]
            self._vfree_area(vm.pages_array_addr, cpu)       # kvfree(vm->pages)
        vm.pages = []
        vm.nr_pages = 0

    def vfree(self, addr: int | None, cpu: int = 0) -> None:
        """vfree(): free a vmalloc() area (or a vmap(VM_MAP_PUT_PAGES) one). vfree(None) does nothing.

        Raises BadFreeError for an address that is not a live area's start
        (double free, never allocated, interior pointer) and
        WrongFreeFunctionError for vmap/ioremap/vm_map_ram areas; nothing changes then.
        """
        self._check_cpu(cpu)
        if addr is None or (type(addr) is int and addr == 0):      # vfree(NULL); False is not NULL
            return
        va, vm = self._live_area(addr, "vfree", cpu)
        if not (vm.flags & VM_ALLOC or vm.flags & VM_MAP_PUT_PAGES):
            use = "iounmap()" if vm.flags & VM_IOREMAP else "vunmap() or free_vm_area()"
            raise WrongFreeFunctionError(f"vfree() of {addr:#x} ({'|'.join(vm.flag_names())}): use {use}")
        if vm.flags & VM_UNINITIALIZED:
            raise BadFreeError(f"vfree() of {addr:#x}: the area is still being set up")
        caller = vm.caller
        self._vfree_area(addr, cpu)
        self._api_event(cpu, "vfree", addr, va.va_end - va.va_start, caller)
        self._after_call(cpu)

    def vunmap(self, addr: int, cpu: int = 0) -> None:
        """vunmap(): release a vmap() area; the pages stay with the caller.

        6.1's vunmap goes through __vunmap, which looks the area up first (§8, ``gen.vfree_unlinks_once``).
        """
        self._check_cpu(cpu)
        va, vm = self._live_area(addr, "vunmap", cpu)
        if vm.flags & (VM_ALLOC | VM_IOREMAP):
            use = "vfree()" if vm.flags & VM_ALLOC else "iounmap()"
            raise WrongFreeFunctionError(f"vunmap() of {addr:#x} ({'|'.join(vm.flag_names())}): use {use}")
        caller = vm.caller
        if not self.gen.vfree_unlinks_once:         # 6.1's __vunmap looks first (§8)
            self._lookup(addr, cpu, "find_vmap_area")
        self._remove_vm_area(va.va_start, cpu)
        self._api_event(cpu, "vunmap", addr, va.va_end - va.va_start, caller)
        self._after_call(cpu)

    def iounmap(self, addr: int, cpu: int = 0) -> None:
        """iounmap(): release an ioremap() area (the page offset of ``addr`` is ignored)."""
        self._check_cpu(cpu)
        if not isinstance(addr, int):
            raise BadFreeError(f"iounmap: address must be an int, got {addr!r}")
        va, vm = self._live_area(addr & PAGE_MASK, "iounmap", cpu)
        if not vm.flags & VM_IOREMAP:
            raise WrongFreeFunctionError(f"iounmap: bad address {addr:#x} (not an ioremap() area)")
        caller = vm.caller
        self._remove_vm_area(va.va_start, cpu)
        self._api_event(cpu, "iounmap", addr & PAGE_MASK, va.va_end - va.va_start, caller)
        self._after_call(cpu)

    # ------------------------------------------------------------------ RCU-deferred free
    def kvfree_rcu(self, addr: int, cpu: int = 0) -> None:
        """kvfree_rcu(p) / kvfree_rcu_mightsleep(p): vfree() after the next grace period."""
        self._check_cpu(cpu)
        va, vm = self._live_area(addr, "kvfree_rcu", cpu)
        if not vm.flags & VM_ALLOC:
            raise WrongFreeFunctionError(f"kvfree_rcu() of {addr:#x}: not a vmalloc() area")
        self._rcu_pending.append((addr, cpu))
        self._rcu_addrs.add(addr)
        if self._tr is not None:
            self._tr.emit(Rcu, cpu, "queue", addr, len(self._rcu_pending))

    @property
    def rcu_pending(self) -> int:
        return len(self._rcu_pending)

    def rcu_grace_period(self, cpu: int = 0) -> int:
        """End an RCU grace period: vfree() every object queued by kvfree_rcu(), in order. Returns the count."""
        self._check_cpu(cpu)
        pending, self._rcu_pending = self._rcu_pending, []
        self._rcu_addrs.clear()
        self.stats.rcu_grace_periods += 1
        if self._tr is not None:
            self._tr.emit(Rcu, cpu, "gp", 0, len(pending))
        for addr, on in pending:
            self._vfree_area(addr, on)
        self._after_call(cpu)
        return len(pending)

    rcu_barrier = rcu_grace_period

    # ------------------------------------------------------------------ pages
    def alloc_pages(self, nr: int) -> list[int]:
        """Bulk-allocate ``nr`` pages for vmap()/vm_map_ram() callers; raises if RAM is short."""
        nr = check_int(nr, "alloc_pages: nr", 1)
        if nr > self.pages.nr_free:
            raise VmallocError(f"alloc_pages: only {self.pages.nr_free} pages free, {nr} requested")
        pages = self.pages.alloc_pages_bulk(nr, 0)
        self._user_pages.update(dict.fromkeys(pages, 0))
        return pages

    def free_pages(self, pfns: Iterable[int]) -> None:
        """Give pages from alloc_pages() back; refuses pages still mapped by vmap/vm_map_ram. O(pages freed)."""
        pfns = check_pfn_list(pfns, "free_pages: pfns")
        user = self._user_pages
        for i, pfn in enumerate(pfns):
            if pfn not in user:
                raise InvalidArgumentError(f"free_pages: pfns[{i}] = {pfn:#x} is not a page alloc_pages() handed out "
                                           "(free already, or the kernel's own)")
            if user[pfn]:
                raise InvalidArgumentError(f"free_pages: pfns[{i}] = {pfn:#x} is still mapped ({user[pfn]} mapping(s))")
        if len(set(pfns)) != len(pfns):
            raise InvalidArgumentError("free_pages: the same page frame is listed twice")
        for pfn in pfns:
            del user[pfn]
        self.pages.free_pages(pfns)

    def _map_user_pages(self, pages: Iterable[int], delta: int) -> None:
        """Count the live mappings of alloc_pages() pages (+1 when mapped, -1 when unmapped)."""
        user = self._user_pages
        for pfn in pages:
            if pfn in user:
                user[pfn] += delta

    def mapped_pfn_counts(self) -> dict[int, int]:
        """Every mapped page frame and how many live mappings hold it (vm_structs, vm_map_ram), recomputed. O(n).

        check() compares it with the running count free_pages() consults.
        """
        out: dict[int, int] = {}

        def add(pages: Iterable[int]) -> None:
            for pfn in pages:
                out[pfn] = out.get(pfn, 0) + 1
        for vn in self.nodes:
            for va in vn.busy:
                if va.vm is not None:
                    add(va.vm.pages)
        for pages in self._ram_maps.values():
            add(pages)
        for q in self.vmap_block_queue:
            for vb in q.vmap_blocks.values():
                for _order, pages in vb.allocs.values():
                    add(pages)
        return out

    @classmethod
    def from_vmallocinfo(cls, text: str, nr_cpus: int, version: str = DEFAULT, **kwargs: Any) -> Vmalloc:
        """A machine rebuilt from /proc/vmallocinfo text: ``vmaplab.formats.from_vmallocinfo``.

        The kernel package's one upward reference, kept for the public API: the import is
        made when called, so importing the kernel model never loads the formats package.
        """
        from ..formats.rebuild import from_vmallocinfo
        return from_vmallocinfo(text, nr_cpus, version, **kwargs)

    # ------------------------------------------------------------------ checking
    def check(self) -> None:
        """Walk every invariant (O(n)); raise InvariantError with an address map on failure."""
        from .check import check_vmalloc
        check_vmalloc(self)
