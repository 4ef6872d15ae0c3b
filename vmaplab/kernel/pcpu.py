# SPDX-License-Identifier: MIT
"""The percpu allocator's way in: congruent areas carved top-down from the free space.

Mirrors (kernel-model.md §4.12): ``pcpu_get_vm_areas``, ``pcpu_free_vm_areas``,
``pvm_find_va_enclose_addr`` and ``pvm_determine_end_from_reverse``.

Invariants: the areas of one call sit at ``base + offsets[i]`` for a single
``base`` aligned to ``align``, as high as possible below VMALLOC_END; each is a
busy VA with a vm_struct whose flags are VM_ALLOC alone (no VM_NO_GUARD, so the
kernel's size arithmetic counts a guard page it does not have), whose caller is
``pcpu_get_vm_areas`` and
whose ``nr_pages`` is 0; none has an owner node, so they never reach a pool.

Simplifications: no KASAN shadow; the per-area VA and vm_struct objects never
fail to allocate, so the "recovery" path exists only for a clip that fails
(which would be a simulator bug and raises InvariantError).
"""
from __future__ import annotations

from collections.abc import Sequence

from .area import VmapArea, VmStruct
from .config import PAGE_SIZE, VM_ALLOC, is_power_of_2
from .errors import InvalidArgumentError, InvariantError
from .freespace import NOTHING_FIT, va_clip
from .nodes import VmapNode
from .state import VmallocState
from .validate import check_int, is_c_int

PCPU_CALLER = "pcpu_get_vm_areas+0x0/0x1050"


def _as_list(values: object, what: str) -> list[object]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, range)):
        raise InvalidArgumentError(f"pcpu_get_vm_areas: {what} must be a list of ints, got {values!r}")
    return list(values)


class PcpuMixin(VmallocState):
    """pcpu_get_vm_areas() of :class:`vmaplab.Vmalloc`."""

    def _pvm_find_va_enclose_addr(self, addr: int) -> VmapArea | None:
        """The free VA containing ``addr``, or the closest one below it (pvm_find_va_enclose_addr)."""
        node, best = self.free_space.tree.root, None
        while node is not None:
            if addr < node.va_start:
                node = node.left
            else:
                best = node
                if addr < node.va_end:
                    break
                node = node.right
        return best

    def _pvm_determine_end_from_reverse(self, va: VmapArea | None, align: int) -> tuple[VmapArea | None, int]:
        """Walk free VAs downwards from ``va``; the highest aligned end one of them can offer (or 0)."""
        vmalloc_end = self.VMALLOC_END & ~(align - 1)
        while va is not None:
            addr = min(va.va_end & ~(align - 1), vmalloc_end)
            if va.va_start < addr:
                return va, addr
            va = va.prev
        return None, 0

    def _pcpu_find_base(self, offsets: list[int], sizes: list[int], align: int) -> int | None:
        """The top-down search for one base where every area fits (the kernel's scan loop)."""
        nr = len(offsets)
        last = max(range(nr), key=lambda i: offsets[i] + sizes[i])
        last_end = offsets[last] + sizes[last]
        area = term = last
        start, end = offsets[area], offsets[area] + sizes[area]
        va, top = self._pvm_determine_end_from_reverse(
            self._pvm_find_va_enclose_addr(self.VMALLOC_END & ~(align - 1)), align)
        base = top - end
        while True:
            if base + last_end < self.VMALLOC_START + last_end or va is None:
                return None                                    # ran below the window: overflow
            if base + end > va.va_end:                        # too wide for this block: move down
                va, top = self._pvm_determine_end_from_reverse(va, align)
                base, term = top - end, area
                continue
            if base + start < va.va_start:                    # does not fit: try the block below
                va, top = self._pvm_determine_end_from_reverse(va.prev, align)
                base, term = top - end, area
                continue
            area = (area + nr - 1) % nr                       # fits: on to the previous area
            if area == term:
                return base
            start, end = offsets[area], offsets[area] + sizes[area]
            va = self._pvm_find_va_enclose_addr(base + end)

    def pcpu_get_vm_areas(self, offsets: Sequence[int], sizes: Sequence[int], align: int = PAGE_SIZE,
                          cpu: int = 0) -> list[VmStruct] | None:
        """pcpu_get_vm_areas(): congruent VM_ALLOC areas for one percpu chunk, or None (§4.12).

        ``offsets`` and ``sizes`` are multiples of ``align``, a power of two of at
        least a page, and the areas must not overlap. On overflow the
        allocator runs one reclaim_and_purge_vmap_areas() and retries once. 6.1 inserts and binds
        every area in one hold of vmap_area_lock; from 6.8 as modelled (``gen.pcpu_insert_per_area``,
        kernel-model.md §8) each area takes its node's busy lock once.
        """
        self._check_cpu(cpu)
        offsets = [check_int(x, f"pcpu_get_vm_areas: offsets[{i}]", 0) for i, x in enumerate(_as_list(offsets, "offsets"))]
        sizes = [check_int(x, f"pcpu_get_vm_areas: sizes[{i}]", 1) for i, x in enumerate(_as_list(sizes, "sizes"))]
        if (not offsets or len(offsets) != len(sizes) or not is_c_int(align)
                or not is_power_of_2(align) or align < PAGE_SIZE):
            raise InvalidArgumentError("pcpu_get_vm_areas: need as many offsets as sizes and a power-of-two align >= PAGE_SIZE")
        spans = sorted(zip(offsets, sizes))
        if (any(not isinstance(x, int) or x < 0 or x % align for x in offsets + sizes) or 0 in sizes
                or any(a + s > b for (a, s), (b, _) in zip(spans, spans[1:]))
                or spans[-1][0] + spans[-1][1] > self.VMALLOC_END - self.VMALLOC_START):
            raise InvalidArgumentError("pcpu_get_vm_areas: offsets and sizes must be multiples of align "
                                       "(the kernel BUGs otherwise), positive, non-overlapping and fit the window")
        for attempt in (0, 1):
            base = self._locked(cpu, self.free_space.lock_name, "pcpu_get_vm_areas",
                                self._pcpu_find_base, offsets, sizes, align)
            if base is not None:
                break
            if attempt == 0:
                self.reclaim_and_purge_vmap_areas(cpu)
        else:                                  # the kernel prints nothing here
            self._after_call(cpu)
            return None
        areas = []
        for off, size in zip(offsets, sizes):
            start = base + off
            va = self._pvm_find_va_enclose_addr(start)
            if va is None or va_clip(self.free_space.tree, va, start, size, self._ne_fit_spare[cpu]) == NOTHING_FIT:
                raise InvariantError(f"pcpu_get_vm_areas: cannot clip {start:#x}+{size:#x} from the free space")
            areas.append(start)
        vms: list[VmStruct] = []
        if self.gen.pcpu_insert_per_area:
            for start, size in zip(areas, sizes):
                va = VmapArea(start, start + size, 0)
                vn = self.addr_to_node(start)
                self._locked(cpu, vn.busy_lock, "insert_vmap_area", vn.busy.insert, va)
                # VM_ALLOC alone, as the kernel sets it: its guard-page arithmetic then takes the last
                # page of each area for a guard (get_vm_area_size() is a page short, vread skips it)
                vm = VmStruct(VM_ALLOC, PCPU_CALLER)
                self._setup_vmalloc_vm(vm, va, VM_ALLOC, PCPU_CALLER)
                vms.append(vm)
        else:       # 6.1 (§8): every area inserted and bound in one hold of vmap_area_lock
            vn = self.nodes[0]
            self._locked(cpu, vn.busy_lock, "insert_vmap_area", self._pcpu_insert_all, vn, areas, sizes, vms)
        self._api_event(cpu, "pcpu_get_vm_areas", base, sum(sizes), PCPU_CALLER)
        self._after_call(cpu)
        return vms

    def _pcpu_insert_all(self, vn: VmapNode, areas: list[int], sizes: list[int], vms: list[VmStruct]) -> None:
        """6.1's insert loop, under vmap_area_lock held once: each area inserted, then bound."""
        for start, size in zip(areas, sizes):
            va = VmapArea(start, start + size, 0)
            vn.busy.insert(va)
            vm = VmStruct(VM_ALLOC, PCPU_CALLER)
            self._setup_vmalloc_vm(vm, va, VM_ALLOC, PCPU_CALLER)
            vms.append(vm)

    def pcpu_free_vm_areas(self, vms: Sequence[VmStruct], cpu: int = 0) -> None:
        """pcpu_free_vm_areas(): free_vm_area() on each area of a chunk.

        Every area is checked before the first is freed, so a bad one changes nothing.
        """
        self._check_cpu(cpu)
        if isinstance(vms, (str, bytes)) or not isinstance(vms, (list, tuple)):
            raise InvalidArgumentError(f"pcpu_free_vm_areas: vms must be a list of VmStructs, got {vms!r}")
        seen: set[int] = set()
        for i, vm in enumerate(vms):
            self._check_vm_area(vm, "pcpu_free_vm_areas", f"vms[{i}]", cpu)
            if id(vm) in seen:
                raise InvalidArgumentError(f"pcpu_free_vm_areas: vms[{i}] {vm!r} is listed twice")
            seen.add(id(vm))
        for vm in vms:
            self.free_vm_area(vm, cpu)
