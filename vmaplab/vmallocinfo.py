"""Read a real ``/proc/vmallocinfo`` and rebuild a simulated machine from it.

Mirrors: the line grammar of ``vmalloc_info_show`` (spec §4.10): every line
vmaplab prints and every line a Linux 6.x kernel prints match :data:`LINE_RE`.

Invariants: :func:`parse_vmallocinfo` either returns one record per line or
raises :class:`VmallocInfoError` naming the first bad line and why, having
built nothing; ``VmallocInfoLine.format()`` re-emits the line byte for byte.

Simplifications: the import places areas but cannot know what a real kernel
knew and did not print: the alignment and owner node of areas read from hashed
(``%pK``) addresses, whether an area has a guard page (assumed unless a
vmalloc area's pages fill it), and which vmap-block pages are in use.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .config import (
    MODULES_END, MODULES_VADDR, PAGE_SIZE, VM_ALLOC, VM_NO_GUARD, VM_UNINITIALIZED, VMALLOC_START,
    VMALLOC_TOTAL, VMAP_RAM, GFP_KERNEL,
)
from .area import VmStruct, encode_vn_id
from .errors import VmallocError
from .walks import CALLER_PATTERN, FLAG_WORDS, format_area_line, format_va_line

FLAG_BITS = {word: bit for bit, word in FLAG_WORDS}
LINE_RE = re.compile(
    r"^0x(?P<start>[0-9a-f]{16})-0x(?P<end>[0-9a-f]{16}) +(?P<size>\d+)"
    r"(?:"
    r" (?P<special>unpurged vm_area|vm_map_ram)"
    r"|"
    rf"(?: (?P<caller>{CALLER_PATTERN}))?"
    r"(?: pages=(?P<pages>\d+))?"
    r"(?: phys=0x(?P<phys>[0-9a-f]{16}))?"
    r"(?P<words>(?: ioremap)?(?: sparse)?(?: vmalloc)?(?: vmap)?(?: user)?(?: dma-coherent)?)"
    r"(?P<vpages> vpages)?"
    r"(?P<numa>(?: N\d+=\d+)*)"
    r")$")


class VmallocInfoError(VmallocError):
    """A line that is not /proc/vmallocinfo; the message has its number and the reason."""


@dataclass(frozen=True)
class VmallocInfoLine:
    """One parsed line. ``kind`` is ``vm`` (an area with a vm_struct), ``vm_map_ram`` or ``unpurged``."""
    lineno: int
    start: int
    end: int
    size: int
    kind: str
    caller: str | None = None
    pages: int = 0
    phys: int = 0
    words: tuple[str, ...] = ()
    vpages: bool = False
    numa: tuple[tuple[int, int], ...] = ()

    @property
    def hashed(self) -> bool:
        """True when the addresses are %pK hashes (or zeros), not real kernel addresses."""
        return self.start < 1 << 32 and self.end < 1 << 32

    @property
    def flags(self) -> int:
        return sum(FLAG_BITS[w] for w in self.words)

    def key(self) -> tuple:
        """Everything but the addresses: what an import must reproduce."""
        return (self.kind, self.size, self.caller, self.pages, self.phys, self.words, self.vpages, self.numa)

    def format(self) -> str:
        """The line as the kernel printed it (byte for byte)."""
        if self.kind != "vm":
            return format_va_line(self.start, self.end, self.size,
                                  "unpurged vm_area" if self.kind == "unpurged" else "vm_map_ram")
        return format_area_line(self.start, self.end, self.size, self.caller, self.pages, self.phys,
                                self.words, self.vpages, self.numa)


@dataclass
class VmallocInfo:
    """The parsed file: its lines, in order."""
    lines: list[VmallocInfoLine] = field(default_factory=list)

    @property
    def hashed(self) -> bool:
        return any(line.hashed for line in self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self):
        return iter(self.lines)

    def counts(self) -> Counter:
        return Counter(line.key() for line in self.lines)


def _parse_line(lineno: int, text: str) -> VmallocInfoLine:
    m = LINE_RE.match(text)
    if m is None:
        raise VmallocInfoError(f"line {lineno}: does not match the vmallocinfo grammar: {text!r}")
    start, end, size = int(m["start"], 16), int(m["end"], 16), int(m["size"])
    if size <= 0 or size % PAGE_SIZE:
        raise VmallocInfoError(f"line {lineno}: size {size} is not a positive multiple of {PAGE_SIZE}: {text!r}")
    numa = tuple((int(a), int(b)) for a, b in re.findall(r"N(\d+)=(\d+)", m["numa"] or ""))
    if [nid for nid, _ in numa] != sorted({nid for nid, _ in numa}) or any(n == 0 for _, n in numa):
        raise VmallocInfoError(f"line {lineno}: N<node>= counts must be non-zero, in ascending node order: {text!r}")
    pages = int(m["pages"] or 0)
    if numa and sum(n for _, n in numa) != pages:
        raise VmallocInfoError(f"line {lineno}: N<node>= counts add up to {sum(n for _, n in numa)}, "
                               f"not pages={pages}: {text!r}")
    line = VmallocInfoLine(
        lineno, start, end, size,
        "unpurged" if m["special"] == "unpurged vm_area" else (m["special"] or "vm"),
        m["caller"], pages, int(m["phys"] or "0", 16), tuple((m["words"] or "").split()),
        bool(m["vpages"]), numa)
    real_start, real_end = start >= 1 << 32, end >= 1 << 32
    if real_start != real_end:
        raise VmallocInfoError(f"line {lineno}: one address is hashed and the other is not: {text!r}")
    if not line.hashed and (end - start != size or start % PAGE_SIZE):
        raise VmallocInfoError(f"line {lineno}: end - start = {end - start} does not match size {size} "
                               f"or the start is not page aligned: {text!r}")
    if pages * PAGE_SIZE > size:
        raise VmallocInfoError(f"line {lineno}: pages={pages} do not fit in {size} bytes: {text!r}")
    return line


def parse_vmallocinfo(text: str) -> VmallocInfo:
    """Parse /proc/vmallocinfo text into typed records; raise VmallocInfoError on the first bad line."""
    if not isinstance(text, str):
        raise VmallocInfoError(f"expected the text of /proc/vmallocinfo, got {type(text).__name__}")
    info = VmallocInfo([_parse_line(i, line) for i, line in enumerate(text.splitlines(), 1)])
    if info.lines and len({line.hashed for line in info.lines}) > 1:
        raise VmallocInfoError("mixed hashed and real addresses: the file is not from one read")
    return info


def _ascending_runs(lines: list[VmallocInfoLine]) -> list[list[VmallocInfoLine]]:
    """Split the unpurged section where addresses go down: each run is one node's lazy list."""
    runs: list[list[VmallocInfoLine]] = []
    for line in lines:
        if not runs or line.start < runs[-1][-1].start:
            runs.append([])
        runs[-1].append(line)
    return runs


def _choose_vmalloc_start(info: VmallocInfo) -> int:
    """VMALLOC_START for real addresses: the default window, or the KASLR base they imply (1 GiB aligned)."""
    outside = [line for line in info if not (MODULES_VADDR <= line.start and line.end <= MODULES_END)]
    if not outside:
        return VMALLOC_START
    lo, hi = min(line.start for line in outside), max(line.end for line in outside)
    if VMALLOC_START <= lo and hi < VMALLOC_START + VMALLOC_TOTAL:
        return VMALLOC_START
    base = lo & ~((1 << 30) - 1)
    if hi >= base + VMALLOC_TOTAL:
        raise VmallocInfoError(f"addresses {lo:#x}..{hi:#x} do not fit one 32 TiB vmalloc window")
    return base


def from_vmallocinfo(text: str, nr_cpus: int, version: str = "6.9", **kwargs):
    """Vmalloc.from_vmallocinfo(): a machine whose areas reproduce the lines of ``text``.

    Real addresses are placed exactly, so ``vmallocinfo()`` reproduces the input
    line for line when ``nr_cpus`` and ``version`` match the machine it came
    from. Hashed addresses get simulated ones (lowest match), and the output then
    matches the input as a multiset of lines without addresses.
    """
    from .allocator import Vmalloc
    info = parse_vmallocinfo(text)
    nids = [nid for line in info for nid, _ in line.numa]
    kwargs.setdefault("numa", bool(nids))
    kwargs.setdefault("nr_mem_nodes", max(nids, default=0) + 1)
    if info.lines and not info.hashed:
        kwargs.setdefault("vmalloc_start", _choose_vmalloc_start(info))
    autorun = kwargs.pop("autorun_work", True)
    vm = Vmalloc(nr_cpus=nr_cpus, version=version, autorun_work=False, **kwargs)
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
            owner = encode_vn_id(node_id, vm.nr_vmap_nodes) if vm._node_layer and not line.hashed else 0
            va = _place(vm, line, owner)
            vm.find_unlink_vmap_area(va.va_start)
            vm.free_vmap_area_noflush(va, 0)
    vm.autorun_work = autorun
    vm.check()
    return vm


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
        vm._ram_maps[va.va_start] = []
        return
    flags = line.flags
    if line.pages and not line.numa and vm.numa:
        flags |= VM_UNINITIALIZED            # 6.9 prints an area being set up without N= counts
    if flags & VM_ALLOC and line.pages * PAGE_SIZE == line.size:
        flags |= VM_NO_GUARD
    va = _place(vm, line, 0)
    area = VmStruct(flags, line.caller)
    vm.setup_vmalloc_vm(area, va, flags, line.caller)
    area.phys_addr = line.phys
    area.vpages = line.vpages
    pages: list[int] = []
    for nid, n in (line.numa or ((0, line.pages),)):
        pages.extend(vm.pages.alloc_pages_bulk(n, nid))
    if len(pages) != line.pages:
        raise VmallocInfoError(f"line {line.lineno}: the simulated machine ran out of RAM")
    area.pages, area.nr_pages = pages, len(pages)
    if flags & VM_ALLOC:
        vm.nr_vmalloc_pages += len(pages)
