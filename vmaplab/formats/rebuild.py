# SPDX-License-Identifier: MIT
"""Rebuild a simulated machine from /proc/vmallocinfo text.

Mirrors nothing in the kernel: it is the inverse of ``vmalloc_info_show``
(kernel-model.md §4.10), built only from the kernel model's public calls
(``alloc_vmap_area``, ``setup_vmalloc_vm``, ``find_unlink_vmap_area``,
``free_vmap_area_noflush``, ``register_ram_mapping``).

Invariants: the machine returned passes ``check()``; with real addresses its
``vmallocinfo()`` reproduces the input line for line (same CPU count and
version), with hashed ones the same multiset of lines without addresses.

Simplifications: the import places areas but cannot know what a real kernel
knew and did not print: the alignment and owner node of areas read from hashed
(``%pK``) addresses, whether an area has a guard page (assumed unless a
vmalloc area's pages fill it), and which vmap-block pages are in use.
"""
from __future__ import annotations

from typing import Any

from ..kernel.area import VmStruct, encode_vn_id
from ..kernel.config import (
    GFP_KERNEL,
    MODULES_END,
    MODULES_VADDR,
    PAGE_SIZE,
    VM_ALLOC,
    VM_NO_GUARD,
    VM_UNINITIALIZED,
    VMALLOC_START,
    VMALLOC_TOTAL,
    VMAP_RAM,
)
from ..kernel.errors import ConfigError, InvalidArgumentError
from ..kernel.validate import check_int
from ..kernel.vmalloc import Vmalloc
from .vmallocinfo import VmallocInfo, VmallocInfoError, VmallocInfoLine, parse_vmallocinfo


def _ascending_runs(lines: list[VmallocInfoLine]) -> list[list[VmallocInfoLine]]:
    """Split the unpurged section where addresses go down: each run is one node's lazy list."""
    runs: list[list[VmallocInfoLine]] = []
    for line in lines:
        if not runs or line.start < runs[-1][-1].start:
            runs.append([])
        runs[-1].append(line)
    return runs


KERNEL_HALF = 0xFFFF800000000000     # x86-64 4-level paging: kernel addresses start here


def _check_disjoint(info: VmallocInfo) -> None:
    """Real addresses: no two lines may share an address (a line repeated, or areas overlapping)."""
    lines = sorted(info, key=lambda line: (line.start, line.lineno))
    for a, b in zip(lines, lines[1:]):
        if b.start < a.end:
            if (a.start, a.end) == (b.start, b.end) and "unpurged" in (a.kind, b.kind) and a.kind != b.kind:
                # the kernel walks each node under its own lock: an area freed between the busy walk
                # and the purge-list walk is printed twice (seen on a booting 6.12 guest, docs/oracle.md §4)
                raise VmallocInfoError(f"line {b.lineno}: {b.start:#x}-{b.end:#x} is printed busy and unpurged "
                                       f"(line {a.lineno}): it was freed while the file was being read; "
                                       "read /proc/vmallocinfo again")
            raise VmallocInfoError(f"line {b.lineno}: {b.start:#x}-{b.end:#x} overlaps line {a.lineno} "
                                   f"({a.start:#x}-{a.end:#x}): one read of /proc/vmallocinfo never repeats an area")


def _choose_vmalloc_start(info: VmallocInfo) -> int:
    """VMALLOC_START for real addresses: the default window, or the KASLR base they imply (1 GiB aligned)."""
    outside = [line for line in info if not (MODULES_VADDR <= line.start and line.end <= MODULES_END)]
    if not outside:
        return VMALLOC_START
    lo, hi = min(line.start for line in outside), max(line.end for line in outside)
    if VMALLOC_START <= lo and hi < VMALLOC_START + VMALLOC_TOTAL:
        return VMALLOC_START
    base = lo & ~((1 << 30) - 1)
    if base < KERNEL_HALF:
        raise VmallocInfoError(f"address {lo:#x} is not a kernel address (below {KERNEL_HALF:#x}): "
                               "no vmalloc window can hold it")
    if hi >= base + VMALLOC_TOTAL:
        raise VmallocInfoError(f"addresses {lo:#x}..{hi:#x} do not fit one 32 TiB vmalloc window")
    return base


def from_vmallocinfo(text: str, nr_cpus: int, version: str = "6.9", strict: bool = True, **kwargs: Any) -> Vmalloc:
    """Vmalloc.from_vmallocinfo(): a machine whose areas reproduce the lines of ``text``.

    Real addresses are placed exactly, so ``vmallocinfo()`` reproduces the input
    line for line when ``nr_cpus`` and ``version`` match the machine it came
    from. Hashed addresses get simulated ones (lowest match), and the output then
    matches the input as a multiset of lines without addresses. With ``strict``
    (the default) a machine that would not re-emit the input so is refused with the
    first line that differs; ``strict=False`` returns it anyway (``vmaplab vmallocinfo
    --compare`` reports the differences itself).
    """
    nr_cpus = check_int(nr_cpus, "from_vmallocinfo: nr_cpus", 1, exc=ConfigError, integral=True)
    info = parse_vmallocinfo(text)
    nids = [(nid, line.lineno) for line in info for nid, _ in line.numa]
    kwargs.setdefault("numa", bool(nids))
    if nids:
        top, lineno = max(nids)
        if top + 1 > nr_cpus and "nr_mem_nodes" not in kwargs:
            raise VmallocInfoError(f"line {lineno}: N{top}= names memory node {top}, but a machine with "
                                   f"{nr_cpus} CPUs has at most {nr_cpus} memory nodes: pass the capture's CPU count")
    kwargs.setdefault("nr_mem_nodes", max(nids, default=(0, 0))[0] + 1)
    if info.lines and not info.hashed:
        kwargs.setdefault("vmalloc_start", _choose_vmalloc_start(info))
    if not info.hashed:
        _check_disjoint(info)
    vm = Vmalloc(nr_cpus=nr_cpus, version=version, **kwargs)
    with vm.workqueue_held():                # no drain work runs while the lines are placed
        _import_lines(vm, info)
    vm.check()
    if strict:
        _check_reemission(info, vm, nr_cpus, version)
    return vm


def _import_lines(vm, info: VmallocInfo) -> None:
    """Every line of ``info`` into ``vm``: the busy areas, then the unpurged ones onto their nodes' lazy lists."""
    busy = [line for line in info if line.kind != "unpurged"]
    unpurged = [line for line in info if line.kind == "unpurged"]
    # Real addresses: each ascending run of the unpurged section is one node's lazy list.
    # Hashed ones say nothing about nodes: all go to CPU 0's node.
    lazy = [unpurged] if info.hashed else _ascending_runs(unpurged)
    if len(lazy) > vm.nr_vmap_nodes and not info.hashed:
        raise VmallocInfoError(f"the unpurged section has {len(lazy)} ascending runs (one per node) but "
                               f"the machine has {vm.nr_vmap_nodes} nodes: pass the capture's CPU count")
    for line in busy:
        _import_busy(vm, line)
    for node_id, run in enumerate(lazy):
        for line in run:
            owner = encode_vn_id(node_id, vm.nr_vmap_nodes) if vm.has_pools and not line.hashed else 0
            va = _place(vm, line, owner)
            vm.find_unlink_vmap_area(va.va_start)
            vm.free_vmap_area_noflush(va, 0)


def _check_reemission(info: VmallocInfo, vm, nr_cpus: int, version: str) -> None:
    """The rebuilt machine prints the input: line for line (real addresses) or as a multiset (hashed)."""
    again = parse_vmallocinfo(vm.vmallocinfo())
    if info.hashed:
        extra = info.counts() - again.counts()
        if extra or len(again) != len(info):
            first = next((line for line in info if line.key() in extra), info.lines[-1])
            raise VmallocInfoError(f"line {first.lineno}: the rebuilt machine does not print this line")
        return
    for line, out in zip(info, again):
        if line.format() != out.format():
            raise VmallocInfoError(f"line {line.lineno}: {version} with {nr_cpus} CPUs would print "
                                   f"{out.format()!r} here: the lines are not in the kernel's order")
    if len(again) != len(info):
        raise VmallocInfoError(f"line {len(info)}: the rebuilt machine prints {len(again)} lines, not {len(info)}")


def _place(vm, line: VmallocInfoLine, va_flags: int):
    """A busy VA of exactly the line's size: at its address if real, else by lowest match."""
    if line.hashed:
        start, end = vm.VMALLOC_START, vm.VMALLOC_END
    else:
        start, end = line.start, line.end
    va = vm.alloc_vmap_area(line.size, PAGE_SIZE, start, end, va_flags, GFP_KERNEL, 0)
    if va is None:
        raise VmallocInfoError(f"line {line.lineno}: no room for {line.size} bytes at "
                               f"{line.start:#x} in the simulated machine")
    return va


def _import_busy(vm, line: VmallocInfoLine) -> None:
    if line.kind == "vm_map_ram":
        va = _place(vm, line, VMAP_RAM)
        vm.register_ram_mapping(va.va_start, [])
        return
    flags = line.flags
    if line.pages and not line.numa and vm.numa:
        flags |= VM_UNINITIALIZED            # 6.9 prints an area being set up without N= counts
    if flags & VM_ALLOC and line.pages * PAGE_SIZE == line.size:
        flags |= VM_NO_GUARD
    if flags & VM_ALLOC and line.pages and line.pages not in (line.size // PAGE_SIZE, line.size // PAGE_SIZE - 1):
        raise VmallocInfoError(f"line {line.lineno}: a vmalloc area of {line.size} bytes holds "
                               f"{line.size // PAGE_SIZE - 1} pages (or all {line.size // PAGE_SIZE} without a guard), "
                               f"not pages={line.pages}")
    va = _place(vm, line, 0)
    vm.setup_vmalloc_vm(VmStruct(flags, line.caller), va, flags, line.caller)
    try:
        vm.restore_vm_struct(va.va_start, list(line.numa or ((0, line.pages),)), phys_addr=line.phys,
                             vpages=line.vpages)
    except InvalidArgumentError as e:           # more pages than the machine has: said with the line
        raise VmallocInfoError(f"line {line.lineno}: {e}") from None
