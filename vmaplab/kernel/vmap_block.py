# SPDX-License-Identifier: MIT
"""The per-CPU kva allocator: vm_map_ram()/vm_unmap_ram() carved from vmap blocks.

Mirrors (kernel-model.md §3.9, §4.11): ``struct vmap_block``, ``struct vmap_block_queue``,
``addr_to_vb_xa``/``addr_to_vb_idx``, ``new_vmap_block``, ``vb_alloc``,
``vb_free``, ``free_vmap_block``, ``purge_fragmented_block[s][_allcpus]``,
``_vm_unmap_aliases``/``vm_unmap_aliases``, ``vm_map_ram``, ``vm_unmap_ram``.

Invariants: for each block ``used pages + free + dirty == VMAP_BBMAP_BITS``
(pages are bump-allocated from the front and never reused); a block with
``free > 0`` is on its CPU's free queue; a block is in the address hash until
it is fully dirty (then its VA goes lazy); the block's VA is a busy VA with
``vm is None`` and flags ``VMAP_RAM|VMAP_BLOCK`` plus its owner code.

6.1 (kernel-model.md §8) purges every block with no live mapping and flushes dirty ranges
only of blocks with free space, again on every ``vm_unmap_aliases``.

Simplifications: no RCU on the queues; blocks remember their CPU (the 6.10
``vb->cpu`` fix) so a purge unlinks from the right queue; ``allocs`` records
each live allocation's order and pages, which the kernel does not keep, so that
a wrong or repeated vm_unmap_ram() is refused instead of corrupting the bitmap.
"""
from __future__ import annotations

from collections.abc import Sequence

from .area import VmapArea
from .config import GFP_KERNEL, PAGE_SHIFT, PAGE_SIZE, ULONG_MAX, VMAP_BLOCK, VMAP_RAM, get_count_order
from .errors import BadFreeError, InvalidArgumentError, present
from .state import VmallocState, check_pfn_list
from .trace import VmapBlock as VmapBlockEvent
from .validate import check_int


class VmapBlock:
    """struct vmap_block: one block-sized VA handed out in power-of-two page runs."""

    __slots__ = ("va", "free", "dirty", "dirty_min", "dirty_max", "used", "cpu", "allocs")

    def __init__(self, va: VmapArea, bits: int, order: int, cpu: int):
        self.va = va
        self.free = bits - (1 << order)
        self.dirty = 0
        self.dirty_min = bits
        self.dirty_max = 0
        self.used = (1 << (1 << order)) - 1       # bitmap of pages in use
        self.cpu = cpu
        self.allocs: dict[int, tuple[int, list[int]]] = {}

    def __repr__(self) -> str:
        return (f"<VmapBlock {self.va.va_start:#x} free={self.free} dirty={self.dirty} "
                f"used={bin(self.used).count('1')}>")


class VmapBlockQueue:
    """struct vmap_block_queue: a CPU's blocks with free space, and its share of the hash."""

    __slots__ = ("free", "vmap_blocks")

    def __init__(self) -> None:
        self.free: list[VmapBlock] = []
        self.vmap_blocks: dict[int, VmapBlock] = {}


class VmapBlockMixin(VmallocState):
    """The vm_map_ram half of :class:`vmaplab.Vmalloc`."""

    def _vb_hash(self, addr: int) -> tuple[VmapBlockQueue, int]:
        """addr_to_vb_xa() and addr_to_vb_idx(): which CPU's xarray, and the key in it (6.9)."""
        bsize = self.vmap_block_size
        xa = self.vmap_block_queue[(addr // bsize) % self.nr_cpus]
        base = self.VMALLOC_START & ~(bsize - 1)
        return xa, (addr - base) // bsize

    def _vb_lookup(self, addr: int) -> VmapBlock | None:
        xa, key = self._vb_hash(addr)
        return xa.vmap_blocks.get(key)

    def _new_vmap_block(self, order: int, cpu: int) -> int | None:
        """new_vmap_block(): a block-aligned VA from the whole window; hand out its first 2**order pages."""
        bsize = self.vmap_block_size
        va = self._alloc_vmap_area(bsize, bsize, self.VMALLOC_START, self.VMALLOC_END,
                                  VMAP_RAM | VMAP_BLOCK, GFP_KERNEL, cpu)
        if va is None:
            return None
        vb = VmapBlock(va, self.vmap_bbmap_bits, order, cpu)
        xa, key = self._vb_hash(va.va_start)
        xa.vmap_blocks[key] = vb
        self.vmap_block_queue[cpu].free.append(vb)
        self.stats.vb_new += 1
        if self._tr is not None:
            self._tr.emit(VmapBlockEvent, cpu, "new", va.va_start, va.va_start, order)
        return va.va_start

    def _vb_alloc(self, size: int, cpu: int) -> int | None:
        """vb_alloc(): bump-allocate 2**order pages from the first block of this CPU with room."""
        order = get_count_order(size >> PAGE_SHIFT)
        need = 1 << order
        q = self.vmap_block_queue[cpu]
        for vb in q.free:
            if vb.free < need:
                continue
            pages_off = self.vmap_bbmap_bits - vb.free
            vb.used |= ((1 << need) - 1) << pages_off
            vb.free -= need
            if vb.free == 0:
                q.free.remove(vb)
            addr = vb.va.va_start + (pages_off << PAGE_SHIFT)
            if self._tr is not None:
                self._tr.emit(VmapBlockEvent, cpu, "alloc", vb.va.va_start, addr, order)
            return addr
        return self._new_vmap_block(order, cpu)

    def _vb_free(self, vb: VmapBlock, addr: int, order: int, cpu: int) -> None:
        """vb_free(): clear the bits, widen the dirty range; a fully dirty block goes lazy."""
        offset = (addr - vb.va.va_start) >> PAGE_SHIFT
        need = 1 << order
        vb.used &= ~(((1 << need) - 1) << offset)
        del vb.allocs[offset]
        vb.dirty_min = min(vb.dirty_min, offset)
        vb.dirty_max = max(vb.dirty_max, offset + need)
        vb.dirty += need
        if self._tr is not None:
            self._tr.emit(VmapBlockEvent, cpu, "free", vb.va.va_start, addr, order)
        if vb.dirty == self.vmap_bbmap_bits:
            self._free_vmap_block(vb, cpu)

    def _free_vmap_block(self, vb: VmapBlock, cpu: int) -> None:
        """free_vmap_block(): out of the hash, out of the busy tree, then a lazy free."""
        xa, key = self._vb_hash(vb.va.va_start)
        del xa.vmap_blocks[key]
        vn = self.addr_to_node(vb.va.va_start)
        self._locked(cpu, vn.busy_lock, "free_vmap_block", vn.busy.erase, vb.va)
        if self._tr is not None:
            self._tr.emit(VmapBlockEvent, cpu, "release", vb.va.va_start, vb.va.va_start, 0)
        self._free_vmap_area_noflush(vb.va, cpu)

    def _purge_fragmented_block(self, vb: VmapBlock, force: bool, purge_list: list[VmapBlock]) -> bool:
        """purge_fragmented_block(): take a block with no live pages (and little free space unless forced).

        The threshold that keeps a block a caller can still use (free space of a quarter of the
        block or more, unless forced) appeared in 6.5 (``gen.block_purge_keeps_usable``, §8); 6.1
        takes every block with no live page that is not already fully dirty.
        """
        bits = self.vmap_bbmap_bits
        if vb.free + vb.dirty != bits or vb.dirty == bits:
            return False
        if not (force or vb.free < bits // 4 or not self.gen.block_purge_keeps_usable):   # VMAP_PURGE_THRESHOLD
            return False
        vb.free = 0
        vb.dirty = bits
        vb.dirty_min, vb.dirty_max = 0, bits
        self.vmap_block_queue[vb.cpu].free.remove(vb)
        purge_list.append(vb)
        return True

    def _purge_fragmented_blocks_allcpus(self, cpu: int) -> None:
        """purge_fragmented_blocks_allcpus(): forced purge of every queue's fragmented blocks."""
        purge_list: list[VmapBlock] = []
        for q in self.vmap_block_queue:
            for vb in list(q.free):
                self._purge_fragmented_block(vb, True, purge_list)
        self._free_purged_blocks(purge_list, cpu)

    def _free_purged_blocks(self, purge_list: list[VmapBlock], cpu: int) -> None:
        for vb in purge_list:
            self.stats.vb_purged += 1
            if self._tr is not None:
                self._tr.emit(VmapBlockEvent, cpu, "purge", vb.va.va_start, vb.va.va_start, 0)
            self._free_vmap_block(vb, cpu)

    def _vm_unmap_aliases(self, start: int, end: int, flush: bool, cpu: int) -> None:
        """_vm_unmap_aliases(): purge fragmented blocks, collect dirty ranges, purge lazily (§4.11, §8).

        From 6.5 (``gen.vb_flush_once``) it walks every block of every CPU under vmap_purge_lock,
        purges a fragmented one (unforced: ``gen.block_purge_keeps_usable``) or else adds its dirty
        range to the flush and forgets it, so a range is flushed once. 6.1 (``_vm_unmap_aliases_6_1``)
        walks only the blocks with free space, keeps their dirty ranges, and then force-purges.
        """
        if not self.gen.vb_flush_once:
            self._vm_unmap_aliases_6_1(start, end, flush, cpu)
            return
        bits = self.vmap_bbmap_bits
        with self._purge_mutex(cpu):
            purge_list: list[VmapBlock] = []
            for q in self.vmap_block_queue:
                for _key, vb in sorted(q.vmap_blocks.items()):
                    if (not self._purge_fragmented_block(vb, False, purge_list)
                            and vb.dirty_max and vb.dirty != bits):
                        s = vb.va.va_start + (vb.dirty_min << PAGE_SHIFT)
                        e = vb.va.va_start + (vb.dirty_max << PAGE_SHIFT)
                        start, end = min(s, start), max(e, end)
                        vb.dirty_min, vb.dirty_max = bits, 0
                        flush = True
            self._free_purged_blocks(purge_list, cpu)
            if not self._purge_vmap_area_lazy(start, end, False, cpu) and flush:
                self._flush_tlb_kernel_range(start, end, cpu)

    def _vm_unmap_aliases_6_1(self, start: int, end: int, flush: bool, cpu: int) -> None:
        """_vm_unmap_aliases() before 6.5 (§8): three differences a trace or vmallocinfo shows.

        1. Only blocks on a CPU's free list (some space left) are walked for dirty ranges, so a
           block handed out to its last page is never flushed here.
        2. A collected dirty range is not reset: every later call flushes it again.
        3. The fragmented blocks are purged afterwards, under vmap_purge_lock, with force
           (purge_fragmented_blocks_allcpus), whatever free space they still have.
        """
        bits = self.vmap_bbmap_bits
        for q in self.vmap_block_queue:
            for vb in q.free:
                if vb.dirty and vb.dirty != bits:
                    start = min(vb.va.va_start + (vb.dirty_min << PAGE_SHIFT), start)
                    end = max(vb.va.va_start + (vb.dirty_max << PAGE_SHIFT), end)
                    flush = True
        with self._purge_mutex(cpu):
            self._purge_fragmented_blocks_allcpus(cpu)
            if not self._purge_vmap_area_lazy(start, end, False, cpu) and flush:
                self._flush_tlb_kernel_range(start, end, cpu)

    def vm_unmap_aliases(self, cpu: int = 0) -> None:
        """vm_unmap_aliases(): flush every lazily unmapped alias now (partial pool decay)."""
        self._check_cpu(cpu)
        self._vm_unmap_aliases(ULONG_MAX, 0, False, cpu)
        self._after_call(cpu)

    # -- the steps above called on their own: arguments checked before anything changes ----------
    def _check_vb(self, vb: object, func: str) -> VmapBlock:
        """A vmap block of this machine, still in its CPU's hash (another machine's block is refused)."""
        if not isinstance(vb, VmapBlock) or self._vb_lookup(vb.va.va_start) is not vb:
            raise InvalidArgumentError(f"{func}: vb must be a live vmap block of this machine, got {vb!r}"[:300])
        return vb

    def new_vmap_block(self, order: int, cpu: int) -> int | None:
        """new_vmap_block() called on its own: ``2**order`` pages at most VMAP_MAX_ALLOC's order, an online CPU.

        The pages it hands out map nothing: no vm_unmap_ram() releases them (as a leaked vm_map_ram).
        """
        check_int(order, "new_vmap_block: order", 0, get_count_order(self.vmap_max_alloc))
        self._check_cpu(cpu)
        return self._new_vmap_block(order, cpu)

    def vb_alloc(self, size: int, cpu: int) -> int | None:
        """vb_alloc() called on its own: ``size`` a page multiple of at most VMAP_MAX_ALLOC pages (as new_vmap_block)."""
        size = check_int(size, "vb_alloc: size", PAGE_SIZE, self.vmap_max_alloc * PAGE_SIZE)
        if size % PAGE_SIZE:
            raise InvalidArgumentError(f"vb_alloc: size {size:#x} is not a multiple of PAGE_SIZE")
        self._check_cpu(cpu)
        return self._vb_alloc(size, cpu)

    def vb_free(self, vb: VmapBlock, addr: int, order: int, cpu: int) -> None:
        """vb_free() called on its own: a live vm_map_ram() run of ``2**order`` pages at ``addr`` in ``vb``;
        its pages are unmapped as vm_unmap_ram() does."""
        self._check_vb(vb, "vb_free")
        addr = check_int(addr, "vb_free: addr", vb.va.va_start, vb.va.va_end - PAGE_SIZE)
        order = check_int(order, "vb_free: order", 0, get_count_order(self.vmap_max_alloc))
        self._check_cpu(cpu)
        live = vb.allocs.get((addr - vb.va.va_start) >> PAGE_SHIFT) if addr % PAGE_SIZE == 0 else None
        if live is None or live[0] != order:
            raise InvalidArgumentError(f"vb_free: no live 2**{order}-page vm_map_ram() run at addr {addr:#x} in {vb!r}")
        self._map_user_pages(live[1], -1)
        self._vb_free(vb, addr, order, cpu)

    def free_vmap_block(self, vb: VmapBlock, cpu: int) -> None:
        """free_vmap_block() called on its own: only a fully dirty block of this machine (no live page)."""
        self._check_vb(vb, "free_vmap_block")
        self._check_cpu(cpu)
        if vb.dirty != self.vmap_bbmap_bits:
            raise InvalidArgumentError(f"free_vmap_block: vb {vb!r} is not fully dirty: its live or free pages "
                                       f"would go with it")
        self._free_vmap_block(vb, cpu)

    def purge_fragmented_block(self, vb: VmapBlock, force: bool, purge_list: list[VmapBlock]) -> bool:
        """purge_fragmented_block() called on its own: a block of this machine, a bool, a list to append to."""
        self._check_vb(vb, "purge_fragmented_block")
        self._check_bool(force, "purge_fragmented_block", "force")
        if not isinstance(purge_list, list):
            raise InvalidArgumentError(f"purge_fragmented_block: purge_list must be a list, got {type(purge_list).__name__}")
        return self._purge_fragmented_block(vb, force, purge_list)

    def purge_fragmented_blocks_allcpus(self, cpu: int) -> None:
        """purge_fragmented_blocks_allcpus() called on its own: an online CPU."""
        self._check_cpu(cpu)
        self._purge_fragmented_blocks_allcpus(cpu)
        self._after_call(cpu)

    def register_ram_mapping(self, va_start: int, pages: list[int]) -> None:
        """register_ram_mapping() called on its own: a bare busy VMAP_RAM VA of this machine starting at
        ``va_start`` (alloc_vmap_area(..., VMAP_RAM, ...)'s) and distinct allocated pages, maybe none."""
        va_start = check_int(va_start, "register_ram_mapping: va_start", 0, ULONG_MAX)
        _vn, va = self._lookup(va_start) if va_start else (None, None)
        if va is None or va.va_start != va_start or va.flags & (VMAP_RAM | VMAP_BLOCK) != VMAP_RAM:
            raise InvalidArgumentError(f"register_ram_mapping: va_start {va_start:#x} does not start a busy VMAP_RAM VA")
        self._check_busy_va(va, "register_ram_mapping", "the VA at va_start")
        pages = check_pfn_list(pages, "register_ram_mapping: pages")
        if pages:
            self._check_pages(pages, "register_ram_mapping")
        self._register_ram_mapping(va_start, pages)

    # -- the API -----------------------------------------------------------------------
    def vm_map_ram(self, pages: Sequence[int], cpu: int = 0) -> int | None:
        """vm_map_ram(): map ``pages`` (pfns) contiguously; None when out of vmap space.

        Up to VMAP_MAX_ALLOC pages come from this CPU's vmap blocks; larger
        requests get a VA of their own (VMAP_RAM, no guard page, pool-eligible).
        """
        self._check_cpu(cpu)
        pages = self._check_pages(pages, "vm_map_ram")
        count = len(pages)
        if count <= self.vmap_max_alloc:
            addr = self._vb_alloc(count << PAGE_SHIFT, cpu)
            if addr is not None:
                vb = present(self._vb_lookup(addr), f"vm_map_ram: the vmap block of {addr:#x}")
                vb.allocs[(addr - vb.va.va_start) >> PAGE_SHIFT] = (get_count_order(count), pages)
                self._map_user_pages(pages, +1)
        else:
            va = self._alloc_vmap_area(count << PAGE_SHIFT, PAGE_SIZE, self.VMALLOC_START,
                                      self.VMALLOC_END, VMAP_RAM, GFP_KERNEL, cpu)
            addr = None if va is None else va.va_start
            if addr is not None:
                self._register_ram_mapping(addr, pages)
        self._api_event(cpu, "vm_map_ram", addr, count << PAGE_SHIFT, "")
        self._after_call(cpu)
        return addr

    def _register_ram_mapping(self, va_start: int, pages: list[int]) -> None:
        """Record that the VMAP_RAM area at ``va_start`` maps ``pages`` (what its page tables would say).

        vm_map_ram() calls it for a request too large for a vmap block; a machine rebuilt from
        /proc/vmallocinfo calls it with no pages (the capture does not list them).
        """
        self._ram_maps[va_start] = list(pages)
        self._map_user_pages(pages, +1)

    def vm_unmap_ram(self, addr: int, count: int, cpu: int = 0) -> None:
        """vm_unmap_ram(): unmap what vm_map_ram(count pages) returned (no TLB flush yet)."""
        self._check_cpu(cpu)
        count = check_int(count, "vm_unmap_ram: count", 1)
        if not isinstance(addr, int) or addr & (PAGE_SIZE - 1) or not self.VMALLOC_START <= addr < self.VMALLOC_END:
            raise BadFreeError(f"vm_unmap_ram: bad address {addr!r}")
        if count <= self.vmap_max_alloc:
            vb = self._vb_lookup(addr)
            live = None if vb is None else vb.allocs.get((addr - vb.va.va_start) >> PAGE_SHIFT)
            if vb is None or live is None or live[0] != get_count_order(count) or len(live[1]) != count:
                raise BadFreeError(f"vm_unmap_ram: no live {count}-page vm_map_ram() mapping at {addr:#x}")
            self._map_user_pages(live[1], -1)
            self._vb_free(vb, addr, live[0], cpu)
        else:
            _vn, va = self._lookup(addr)
            if (va is None or va.va_start != addr or va.vm is not None
                    or va.flags & (VMAP_RAM | VMAP_BLOCK) != VMAP_RAM or va.size != count << PAGE_SHIFT
                    or addr not in self._ram_maps):
                raise BadFreeError(f"vm_unmap_ram: no live {count}-page vm_map_ram() mapping at {addr:#x}")
            self._find_unlink_vmap_area(addr, cpu)
            self._map_user_pages(self._ram_maps.pop(addr), -1)
            self._free_vmap_area_noflush(va, cpu)
        self._api_event(cpu, "vm_unmap_ram", addr, count << PAGE_SHIFT, "")
        self._after_call(cpu)
