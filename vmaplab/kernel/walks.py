# SPDX-License-Identifier: MIT
"""Walks over every node: /proc/vmallocinfo and vread_iter (/proc/kcore), plus writes for them to read.

Mirrors (kernel-model.md §4.9, §4.10): ``vmalloc_info_show``/``show_numa_info``/
``show_purge_info`` (6.9: node by node, busy then unpurged; 6.8: one sorted
busy list then the purge list), ``find_vmap_area_exceed_addr_lock`` (the 6.9-rc3
form: scan every node for the lowest start, then re-validate),
``vread_iter``, ``aligned_vread_iter``, ``vmap_ram_vread_iter``.

Per generation (kernel-model.md §8): 6.1 reads vm_map_ram memory as zeros and prints
``vm_map_ram`` for every busy VA without a vm_struct; 6.12 and 7.3 leave areas still being
set up out of vmallocinfo.

Invariants: vmallocinfo never shows pooled VAs or VAs on a purge list; vread
returns exactly ``count`` bytes in ascending address order, with holes, guard
pages, ioremap areas, areas still VM_UNINITIALIZED and unused parts of vmap
blocks reading as zeros.

Simplifications: addresses print as ``%pK`` does for root with
``kptr_restrict=1`` (the real address, 16 hex digits); no ``copy_to_iter``
faults, so a read never stops short; locks are not traced here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .area import VmapArea, VmStruct
from .config import (
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VM_IOREMAP,
    VM_UNINITIALIZED,
    VMAP_BLOCK,
    VMAP_FLAGS_MASK,
    VMAP_RAM,
)
from .errors import InvalidArgumentError, VmallocError, present
from .lines import format_va_line, format_vm_line
from .state import VmallocState
from .validate import check_int

if TYPE_CHECKING:
    from .vmap_block import VmapBlock

# The most one vread may ask for: /proc/kcore reads through the caller's buffer, which bounds it;
# vmaplab builds the answer in memory, so a larger count is refused rather than attempted.
MAX_VREAD = 1 << 30


class WalksMixin(VmallocState):
    """vmallocinfo(), vread() and write() of :class:`vmaplab.Vmalloc`."""

    # ------------------------------------------------------------------ vmallocinfo
    def show_numa_info(self, vm_struct: VmStruct) -> dict[int, int] | None:
        """show_numa_info(): pages per memory node; None without CONFIG_NUMA or while uninitialised."""
        if not isinstance(vm_struct, VmStruct):
            raise InvalidArgumentError(f"show_numa_info: vm_struct must be a VmStruct (find_vm_area() gives one), "
                                       f"got {vm_struct!r}")
        if not self.numa or vm_struct.flags & VM_UNINITIALIZED:
            return None
        counts: dict[int, int] = {}
        to_nid = self.pages.page_to_nid
        for pfn in vm_struct.pages[:vm_struct.nr_pages]:
            nid = to_nid(pfn)
            counts[nid] = counts.get(nid, 0) + 1
        return counts

    def _busy_line(self, va: VmapArea) -> str | None:
        """One busy VA's line, or None. A VA without a vm_struct prints ``vm_map_ram`` when it is
        flagged VMAP_RAM (6.3 on, ``gen.vm_map_ram_flagged``); 6.1 prints it for every such VA
        (its s_show cannot tell them apart, §8). 6.12 and 7.3 (``gen.info_skips_uninitialized``) leave
        out an area still VM_UNINITIALIZED; 6.1 prints it, without node counts."""
        if va.vm is None:
            return format_va_line(va.va_start, va.va_end, va.va_end - va.va_start, "vm_map_ram") \
                if va.flags & VMAP_RAM or not self.gen.vm_map_ram_flagged else None
        if va.vm.flags & VM_UNINITIALIZED and self.gen.info_skips_uninitialized:
            return None             # 6.12 and 7.3 skip an area still being set up (§8)
        return format_vm_line(va.vm, self.show_numa_info(va.vm))

    def vmallocinfo(self) -> str:
        """The text of /proc/vmallocinfo, in the kernel's order for this version (§4.10).

        6.9: each node's busy list in address order (node 0 first), then each
        node's lazy list as ``unpurged vm_area`` lines. 6.8: the single global
        busy list, then the purge list, which 6.8 prints from the last busy VA's
        ``s_show``: with no busy VA at all, nothing. Pooled VAs are not shown.
        """
        lines = []
        for vn in self.nodes:
            for va in vn.busy:
                line = self._busy_line(va)
                if line is not None:
                    lines.append(line)
        # 6.8 prints the purge list from the s_show of the last busy VA: with none, it prints nothing
        if self.gen.vmap_nodes or any(len(vn.busy) for vn in self.nodes):
            for vn in self.nodes:
                lines.extend(format_va_line(va.va_start, va.va_end, va.va_end - va.va_start, "unpurged vm_area")
                             for va in vn.lazy)
        return "".join(line + "\n" for line in lines)

    # ------------------------------------------------------------------ vread
    def find_vmap_area_exceed_addr_lock(self, addr: int) -> VmapArea | None:
        """find_vmap_area_exceed_addr_lock() called on its own: ``addr`` an address (0..ULONG_MAX)."""
        return self._find_vmap_area_exceed_addr_lock(check_int(addr, "find_vmap_area_exceed_addr_lock: addr",
                                                               0, ULONG_MAX))

    def _find_vmap_area_exceed_addr_lock(self, addr: int) -> VmapArea | None:
        """The busy VA with the lowest start among those ending above ``addr`` (6.9-rc3 form, §4.9)."""
        lowest = None
        for vn in self.nodes:
            va = vn.busy.find_exceed(addr)
            if va is not None and (lowest is None or va.va_start < lowest.va_start):
                lowest = va
        return lowest

    def vread(self, addr: int, count: int) -> bytes:
        """vread_iter(): ``count`` bytes of kernel virtual memory from ``addr``, as /proc/kcore reads it.

        6.1's ``vread`` (``gen.vread_vm_map_ram`` False, §8) skips every VA without a vm_struct, so
        vm_map_ram memory (blocks and large areas alike) reads as zeros there.
        """
        addr = check_int(addr, "vread: addr", 0, ULONG_MAX)
        count = check_int(count, "vread: count", 0, MAX_VREAD)
        count = min(count, ULONG_MAX + 1 - addr)        # the kernel clamps an overflowing range
        out = bytearray(count)                           # holes read as zeros
        end = addr + count
        va = self._find_vmap_area_exceed_addr_lock(addr)
        while va is not None and va.va_start < end:
            self._vread_area(va, addr, end, out)
            va = self._find_vmap_area_exceed_addr_lock(va.va_end)
        return bytes(out)

    def _vread_area(self, va: VmapArea, addr: int, end: int, out: bytearray) -> None:
        """One busy VA's part of a vread (§4.9); 6.1 skips a VA without a vm_struct (§8)."""
        vm = va.vm
        kind = va.flags & VMAP_FLAGS_MASK
        if kind == VMAP_BLOCK:
            self.dmesg.warn_once("vread_block", "WARNING: vread_iter: VMAP_BLOCK without VMAP_RAM")
        if (vm is None and (kind == 0 or not self.gen.vread_vm_map_ram)) or (
                vm is not None and vm.flags & VM_UNINITIALIZED):
            return
        size = vm.get_vm_area_size() if vm is not None else va.va_end - va.va_start
        lo, hi = max(addr, va.va_start), min(end, va.va_start + size)
        if lo >= hi or (vm is not None and vm.flags & VM_IOREMAP):
            return                                        # ioremap is a hole: zeros
        if kind & VMAP_BLOCK:
            vb = self._vb_lookup(va.va_start)
            if vb is not None:
                self._vread_vmap_block(vb, lo, hi, addr, out)
            return
        if kind & VMAP_RAM:
            runs = [(va.va_start, self._ram_maps.get(va.va_start, []))]
        else:
            runs = [(va.va_start, present(vm, "vread: the vm_struct of a plain busy VA").pages)]
        for base, pfns in runs:
            self._copy_pages(base, pfns, lo, hi, addr, out)

    def _vread_vmap_block(self, vb: VmapBlock, lo: int, hi: int, addr: int, out: bytearray) -> None:
        """vmap_ram_vread_iter() on a vmap block, one /proc/kcore page at a time, as 6.x does it (§4.9).

        /proc/kcore calls vread_iter() once per page. For each call the kernel walks the block's used
        ranges from the first: it zero-fills up to a range that starts after the read, but for a range
        that starts at or before it copies from that range's *first* page plus the in-page offset,
        ``(re - rs + 1)`` pages long. So every page at or after the first used range reads as that
        range's first page, whichever page or range was asked for (the oracle's ``vread-vm-map-ram``
        scenario showed it on Linux 6.12). Mirrors that, not what a correct read would give.
        """
        base = vb.va.va_start
        used = sorted((off, off + (1 << order)) for off, (order, _pages) in vb.allocs.items())
        ranges: list[list[int]] = []
        for rs, re in used:                       # the kernel walks used_map: touching runs are one range
            if ranges and ranges[-1][1] == rs:
                ranges[-1][1] = re
            else:
                ranges.append([rs, re])
        mapped = {off + i: pfn for off, (_order, pages) in vb.allocs.items() for i, pfn in enumerate(pages)}
        a = lo
        while a < hi:
            n = min(PAGE_SIZE - (a & (PAGE_SIZE - 1)), hi - a)      # read_kcore_iter's page-sized chunk
            pos, remains = a, n
            for rs, re in ranges:
                if remains == 0:
                    break
                start = base + (rs << PAGE_SHIFT)
                if pos < start:                   # zero-fill up to the range (out is already zero)
                    step = min(start - pos, remains)
                    pos, remains = pos + step, remains - step
                    if remains == 0:
                        break
                offset = pos & (PAGE_SIZE - 1)
                m = min(((re - rs + 1) << PAGE_SHIFT) - offset, remains)
                self._copy_block_bytes(base, mapped, start + offset, m, pos - addr, out)
                pos, remains = pos + m, remains - m
            a += n

    def _copy_block_bytes(self, base: int, mapped: dict[int, int], src: int, n: int, dst: int, out: bytearray) -> None:
        """aligned_vread_iter() inside a block: mapped pages copied, unmapped ones zero."""
        while n > 0:
            off = src & (PAGE_SIZE - 1)
            k = min(PAGE_SIZE - off, n)
            pfn = mapped.get((src - base) >> PAGE_SHIFT)
            if pfn is not None:
                out[dst:dst + k] = self.pages.read(pfn, off, k)
            src, dst, n = src + k, dst + k, n - k

    def _copy_pages(self, base: int, pfns: list[int], lo: int, hi: int, addr: int, out: bytearray) -> None:
        """aligned_vread_iter(): copy mapped pages of [base, +len(pfns) pages) ∩ [lo, hi)."""
        lo, hi = max(lo, base), min(hi, base + (len(pfns) << PAGE_SHIFT))
        read = self.pages.read
        a = lo
        while a < hi:
            idx, off = (a - base) >> PAGE_SHIFT, (a - base) & (PAGE_SIZE - 1)
            n = min(PAGE_SIZE - off, hi - a)
            out[a - addr:a - addr + n] = read(pfns[idx], off, n)
            a += n

    # ------------------------------------------------------------------ writes
    def _mapping_at(self, addr: int) -> tuple[int, list[int]] | None:
        """(base, pfns) of the mapped run holding ``addr``: a vm_struct area, a vm_map_ram area or block.

        A store through a mapping takes no lock in the kernel, so the lookup is untraced.
        """
        va = self._lookup(addr)[1]
        if va is None:
            return None
        if va.vm is not None:
            if va.vm.flags & (VM_IOREMAP | VM_UNINITIALIZED):
                return None
            return va.va_start, va.vm.pages
        if va.flags & VMAP_BLOCK:
            vb = self._vb_lookup(va.va_start)
            for off, (_order, pages) in (vb.allocs.items() if vb else ()):
                base = va.va_start + (off << PAGE_SHIFT)
                if base <= addr < base + (len(pages) << PAGE_SHIFT):
                    return base, pages
            return None
        return va.va_start, self._ram_maps.get(va.va_start, [])

    def write(self, addr: int, data: bytes) -> None:
        """Store ``data`` at ``addr`` through the page mappings (a kernel memcpy into the area).

        Raises VmallocError if any byte falls outside a mapped page (the kernel would oops).
        """
        if not isinstance(addr, int) or not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"write: need an int address and bytes, got {addr!r}, {type(data).__name__}")
        data = bytes(data)
        chunks = []
        a, end = addr, addr + len(data)
        while a < end:                                    # validate everything before writing anything
            m = self._mapping_at(a)
            if m is None:
                raise VmallocError(f"BUG: unable to handle page fault for address: {a:#x} (not mapped)")
            base, pfns = m
            idx, off = (a - base) >> PAGE_SHIFT, (a - base) & (PAGE_SIZE - 1)
            if idx >= len(pfns):
                raise VmallocError(f"BUG: unable to handle page fault for address: {a:#x} (guard page)")
            n = min(PAGE_SIZE - off, end - a)
            chunks.append((pfns[idx], off, data[a - addr:a - addr + n]))
            a += n
        for pfn, off, chunk in chunks:
            self.pages.write(pfn, off, chunk)
