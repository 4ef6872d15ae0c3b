# SPDX-License-Identifier: MIT
"""The explainer: run a list of calls on the kernel model and narrate each one from its trace records.

Every fact in a narration is read from a trace record of the call (``pool``, ``alloc_vmap_area``,
``free_vmap_area_noflush``, ``purge_node``, ``decay``, ``purge_vmap_area_lazy``, ``tlb_flush``,
``shrinker``, ``vmap_block``, ``vmalloc``) or from the model's own state and functions (the lazy
tree that holds a freed VA, the free tree's block count, ``classify_va_fit_type`` on the free block
the area was carved from, as the free tree held it before the call). Nothing is recomputed here.

The grammar is :data:`GRAMMAR` (also the CLI's help).

A call that returns an area gets NAME, or the next free implicit name (a, b, c, ...).
``vmap`` and ``vm_map_ram`` map SIZE/4K fresh pages (``alloc_pages``); ``ioremap`` maps a
physical range above 4 GiB; ``drop_caches`` runs the "vmap-node" shrinker (count, then scan).

Simplifications: the fit type is classified against the free tree as it was when the call began;
a search retried after a purge inside the same call may have carved from a block the purge made,
and then the fit type is reported as unknown (None).
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from ..kernel.area import VmapArea
from ..kernel.config import PAGE_SIZE as PAGE
from ..kernel.errors import InvariantError, VmallocError
from ..kernel.freespace import FIT_TYPE_NAMES, classify_va_fit_type
from ..kernel.generations import VERSIONS
from ..kernel.trace import (
    AllocVmapArea,
    Decay,
    FreeVmapAreaNoflush,
    Pool,
    PurgeNode,
    PurgeVmapAreaLazy,
    Rcu,
    Record,
    TlbFlush,
)
from ..kernel.trace import Shrinker as ShrinkerEvent
from ..kernel.trace import Vmalloc as VmallocEvent
from ..kernel.trace import VmapBlock as VmapBlockEvent
from ..kernel.vmalloc import Vmalloc

MAX_OPS = 1000
MAX_FILE_BYTES = 1 << 20
MAX_SIZE = 1 << 40
ALLOCATORS = ("vmalloc", "vmap", "vm_map_ram", "ioremap")
RELEASERS = {"vfree": None, "vunmap": "vmap", "vm_unmap_ram": "vm_map_ram", "iounmap": "ioremap"}
OPS = ALLOCATORS + tuple(RELEASERS) + ("purge", "drop_caches")
IOREMAP_PHYS = 1 << 32
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SIZE = re.compile(r"(0x[0-9a-fA-F]+|[0-9]+)([KMG]?)\Z", re.IGNORECASE)
_CPU = re.compile(r"cpu([0-9]+)\Z")


GRAMMAR = """grammar (one call per line or per ';'; '#' starts a comment):
  line := [NAME =] call
  call := vmalloc SIZE [cpuN] | vfree NAME [cpuN]
        | vmap SIZE [cpuN] | vunmap NAME [cpuN]
        | vm_map_ram SIZE [cpuN] | vm_unmap_ram NAME [cpuN]
        | ioremap SIZE [cpuN] | iounmap NAME [cpuN]
        | purge [cpuN] | drop_caches [cpuN]
  SIZE: bytes, with K, M or G, or hex (vmap, vm_map_ram, ioremap: a multiple of 4K)
  NAME: given with 'NAME =', else the next of a, b, c, ...; cpuN defaults to cpu0
  drop_caches runs the vmap-node shrinker (count, then scan)"""


class ExplainError(VmallocError):
    """An op list the explainer cannot run: the message names the op and its position (1-based)."""


@dataclass(frozen=True)
class Op:
    pos: int            # 1-based position in the list
    text: str
    kind: str
    cpu: int
    name: str | None    # the result's name (allocators) or the area released (releasers)
    size: int = 0


@dataclass
class Step:
    """One call: its op, the records it emitted, the facts read from them, and the narration."""
    op: Op
    records: list[Record]
    facts: dict
    lines: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"pos": self.op.pos, "op": self.op.text, "kind": self.op.kind, "cpu": self.op.cpu,
                "name": self.op.name, "facts": self.facts, "narration": self.lines,
                "events": [r.as_dict() for r in self.records if r.event != "lock"]}


def parse_size(word: str) -> int | None:
    """Bytes of ``4K``/``2M``/``0x1000``/``8192``; None if not a size."""
    m = _SIZE.match(word)
    if not m:
        return None
    n = int(m.group(1), 0)
    return n << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def parse_ops(text: str, nr_cpus: int) -> list[Op]:
    """The calls of ``text`` (:data:`GRAMMAR`); ExplainError naming the first bad one."""
    calls = [c.strip() for line in text.splitlines() for c in line.split("#", 1)[0].split(";")]
    calls = [c for c in calls if c]
    if not calls:
        raise ExplainError("no calls to explain")
    if len(calls) > MAX_OPS:
        raise ExplainError(f"at most {MAX_OPS} calls, got {len(calls)}")
    ops, live, used = [], {}, set()
    implicit = (c for n in range(1, MAX_OPS + 2) for c in
                (string.ascii_lowercase if n == 1 else [f"{x}{n}" for x in string.ascii_lowercase]))
    for pos, call in enumerate(calls, 1):
        def bad(why, pos=pos, call=call):         # bound now: the loop moves on
            return ExplainError(f"op {pos} {call[:60]!r}: {why}")
        name = None
        if "=" in call:
            name, call_ = (s.strip() for s in call.split("=", 1))
            if not _NAME.match(name):
                raise bad(f"bad name {name[:30]!r} (a letter, then letters, digits or _)")
            call = call_
        words = call.split()
        if not words:
            raise bad("no call after '='")
        kind, args = words[0], words[1:]
        if kind not in OPS:
            raise bad(f"unknown op {kind[:30]!r} (one of {', '.join(OPS)})")
        cpu = 0
        if args and args[-1].startswith("cpu"):
            m = _CPU.match(args[-1])
            if not m:
                raise bad(f"bad cpu {args[-1][:30]!r} (cpuN)")
            cpu = int(m.group(1))
            if cpu >= nr_cpus:
                raise bad(f"cpu{cpu} out of range (--cpus {nr_cpus}: cpu0..cpu{nr_cpus - 1})")
            args = args[:-1]
        if kind in ALLOCATORS:
            if len(args) != 1:
                raise bad(f"{kind} takes SIZE [cpuN]")
            size = parse_size(args[0])
            if size is None or not 0 < size <= MAX_SIZE:
                raise bad(f"bad size {args[0][:30]!r} (bytes, K, M or G, at most 1T)")
            if kind != "vmalloc" and size % PAGE:
                raise bad(f"{kind} size must be a multiple of 4K, got {args[0]!r}")
            if name is None:
                name = next(n for n in implicit if n not in used)
            elif name in live:
                raise bad(f"name {name!r} is already a live area")
            used.add(name)
            live[name] = kind
            ops.append(Op(pos, calls[pos - 1], kind, cpu, name, size))
        elif kind in RELEASERS:
            if name is not None:
                raise bad(f"{kind} returns nothing to name")
            if len(args) != 1:
                raise bad(f"{kind} takes NAME [cpuN]")
            target = args[0]
            if target not in live:
                raise bad(f"unknown name {target[:30]!r} (not a live area)")
            want = RELEASERS[kind]
            if want is not None and live[target] != want:
                raise bad(f"{target} came from {live[target]}, not {want}")
            del live[target]
            ops.append(Op(pos, call, kind, cpu, target))
        else:
            if name is not None:
                raise bad(f"{kind} returns nothing to name")
            if args:
                raise bad(f"{kind} takes only [cpuN]")
            ops.append(Op(pos, call, kind, cpu, None))
    return ops


def _hx(n: int) -> str:
    return f"{n:#x}"


def _area_name(op: Op) -> str:
    """The area an allocator's or a release's op names: parse_ops and Explainer.call always give one."""
    if op.name is None:
        raise InvariantError(f"op {op.pos} {op.text[:60]!r}: {op.kind} names no area")
    return op.name


def _lazy_tree(vm: Vmalloc, addr: int) -> tuple[int, str] | None:
    """The node whose lazy tree holds a VA starting at ``addr``, and that tree's name."""
    for vn in vm.nodes:
        if vn.lazy.find(addr) is not None:
            return vn.id, vn.lazy.name
    return None


class Explainer:
    """A machine plus the names of the areas it handed out; ``run(op)`` returns the narrated Step."""

    def __init__(self, version: str = "6.9", nr_cpus: int = 2, seed: int = 0, machine: Vmalloc | None = None):
        # ``machine``: narrate calls on a machine built elsewhere (an exercise's own configuration)
        self.vm = machine if machine is not None else Vmalloc(nr_cpus, version, seed)
        self.tracer = self.vm.start_trace()
        self.areas: dict[str, tuple[int, int]] = {}       # name -> (addr, size)
        self.steps: list[Step] = []

    def call(self, kind: str, cpu: int = 0, size: int = 0, name: str | None = None) -> tuple[int | None, Step]:
        """Run one call given as fields rather than text (an allocator's result is named ``name``, or
        the next of a0, a1, ...; a release names the area): (its result, its narrated Step)."""
        if kind in ALLOCATORS:
            name = name or f"a{len(self.steps)}"
            text = f"{name} = {kind} {size} cpu{cpu}"
        elif kind in RELEASERS:
            if not isinstance(name, str) or not name:
                raise ExplainError(f"call: {kind} needs name=, the name of the area it releases, got {name!r:.40}")
            text = f"{kind} {name} cpu{cpu}"
        else:
            text = f"{kind} cpu{cpu}"
        op = Op(len(self.steps) + 1, text, kind, cpu, name, size)
        step = self.run(op)
        self.steps.append(step)
        return step.facts.get("addr") if kind in ALLOCATORS else None, step

    def name_of(self, addr: int) -> str:
        """The name under which a live area was handed out."""
        return next(n for n, (a, _s) in self.areas.items() if a == addr)

    def _call(self, op: Op):
        vm, c = self.vm, op.cpu
        if op.kind == "vmalloc":
            return vm.vmalloc(op.size, cpu=c)
        if op.kind == "vmap":
            return vm.vmap(vm.alloc_pages(op.size // PAGE), cpu=c)
        if op.kind == "vm_map_ram":
            return vm.vm_map_ram(vm.alloc_pages(op.size // PAGE), cpu=c)
        if op.kind == "ioremap":
            return vm.ioremap(IOREMAP_PHYS, op.size, cpu=c)
        if op.kind == "purge":
            return vm.purge(cpu=c)
        if op.kind == "drop_caches":
            vm.shrinker.count(cpu=c)
            return vm.shrinker.scan(cpu=c)
        addr, size = self.areas.pop(_area_name(op))
        if op.kind == "vm_unmap_ram":
            return vm.vm_unmap_ram(addr, size // PAGE, cpu=c)
        return getattr(vm, op.kind)(addr, cpu=c)

    def run(self, op: Op) -> Step:
        vm = self.vm
        free_before = [(va.va_start, va.va_end) for va in vm.free_space]
        mark = len(self.tracer.records)
        try:
            result = self._call(op)
        except VmallocError as e:
            raise ExplainError(f"op {op.pos} {op.text[:60]!r}: {e}") from None
        recs = [r for r in self.tracer.records[mark:]]
        facts: dict = {"pools_tried": [], "hit": None, "fit_type": None, "node": None, "addr": None}
        lines: list[str] = []
        hits = {r.va_start for r in recs if isinstance(r, Pool) and r.op == "hit"}
        for r in recs:                  # one record class per event: isinstance is the event test
            if isinstance(r, Pool) and r.op != "add":
                facts["pools_tried"].append({"node": r.node, "idx": r.idx, "op": r.op})
                why = {"hit": f"hit: its head VA {_hx(r.va_start)} fits",
                       "empty": "miss: the pool is empty",
                       "rotate": f"miss: head {_hx(r.va_start)} misaligned, rotated to the tail",
                       "mismatch": f"miss: head {_hx(r.va_start)} does not fit the request"}.get(r.op, r.op)
                lines.append(f"  node {r.node} pool[{r.idx}]: {why}")
            elif isinstance(r, Pool):
                lines.append(f"  node {r.node} pool[{r.idx}]: {_hx(r.va_start)} added")
            elif isinstance(r, AllocVmapArea):
                if r.failed:
                    lines.append(f"  free-tree search for {r.size} bytes in [{_hx(r.vstart)}, {_hx(r.vend)}): no fit")
                    facts["hit"] = False if facts["hit"] is None else facts["hit"]
                    continue
                node = vm.addr_to_node_id(r.va_start)
                facts["node"], facts["addr"] = node, r.va_start
                if r.va_start in hits:
                    facts["hit"] = True
                    lines.append(f"  pool hit: [{_hx(r.va_start)}, {_hx(r.va_start + r.size)}) on node {node}")
                    continue
                facts["hit"] = False
                block = next(((s, e) for s, e in free_before if s <= r.va_start and r.va_start + r.size <= e), None)
                fit = None if block is None else FIT_TYPE_NAMES[classify_va_fit_type(VmapArea(*block), r.va_start, r.size)]
                facts["fit_type"], facts["free_block"] = fit, None if block is None else list(block)
                where = "" if block is None else f" from free block [{_hx(block[0])}, {_hx(block[1])})"
                lines.append(f"  free-tree lowest match{where}: {fit or 'fit type unknown'} -> "
                             f"[{_hx(r.va_start)}, {_hx(r.va_start + r.size)}) on node {node}")
            elif isinstance(r, FreeVmapAreaNoflush):
                lazy = _lazy_tree(vm, r.va_start)
                facts["lazy"] = {"va_start": r.va_start, "vmap_lazy_nr": r.nr_lazy, "lazy_max": r.nr_lazy_max,
                                 "node": None if lazy is None else lazy[0], "tree": None if lazy is None else lazy[1]}
                where = "purged since" if lazy is None else f"on {lazy[1]} (node {lazy[0]})"
                lines.append(f"  left lazy: {_hx(r.va_start)} {where}; vmap_lazy_nr={r.nr_lazy} pages "
                             f"(purge above {r.nr_lazy_max})")
            elif isinstance(r, PurgeNode):
                facts.setdefault("purged", []).append({"node": r.node, "nr_purged": r.nr_purged,
                                                       "to_pool": r.to_pool, "to_global": r.to_global})
                lines.append(f"  node {r.node}: {r.nr_purged} lazy VAs purged, {r.to_pool} to its pools, "
                             f"{r.to_global} to the free tree" + (" (helper)" if r.helper else ""))
            elif isinstance(r, Decay):
                facts.setdefault("decayed", []).append({"node": r.node, "idx": r.idx, "before": r.before,
                                                        "removed": r.removed})
                lines.append(f"  node {r.node} pool[{r.idx}] decayed: {r.removed} of {r.before} VAs to the "
                             f"free tree" + (" (full)" if r.full else ""))
            elif isinstance(r, PurgeVmapAreaLazy):
                facts["npurged"] = r.npurged
                lines.append(f"  purge_vmap_area_lazy: [{_hx(r.start)}, {_hx(r.end)}) {r.npurged} VAs")
            elif isinstance(r, TlbFlush):
                lines.append(f"  TLB flush [{_hx(r.start)}, {_hx(r.end)})")
            elif isinstance(r, ShrinkerEvent):
                facts[f"shrinker_{r.op}"] = r.value
                lines.append(f"  shrinker {r.op}: {r.value}")
            elif isinstance(r, VmapBlockEvent):
                facts.setdefault("vmap_block", []).append({"op": r.op, "block_start": r.block_start, "addr": r.addr})
                lines.append(f"  vmap block {r.op}: block {_hx(r.block_start)} addr {_hx(r.addr)} order {r.order}")
            elif isinstance(r, VmallocEvent):
                facts["addr"] = r.addr if op.kind in ALLOCATORS else facts["addr"]
                lines.append(f"  -> {r.func}({_hx(r.addr) if r.addr else 'NULL'}, {r.size} bytes)")
            elif isinstance(r, Rcu):
                lines.append(f"  rcu {r.op}: {r.count}")
        if op.kind in ALLOCATORS:
            if isinstance(result, int):
                self.areas[_area_name(op)] = (result, op.size)
            facts["addr"] = result
        if op.kind in ("purge", "drop_caches"):
            facts["free_blocks"] = [len(free_before), len(vm.free_space)]
            lines.append(f"  free tree: {len(free_before)} -> {len(vm.free_space)} blocks (merges and inserts)")
        facts["vmap_lazy_nr"] = vm.vmap_lazy_nr
        head = f"{op.pos}. {op.text}"
        if op.kind in ALLOCATORS:
            head += f"  => {op.name} = {_hx(result) if result else 'NULL'}"
        return Step(op, recs, facts, [head] + lines)


def explain(text: str, version: str = "6.9", nr_cpus: int = 2, seed: int = 0) -> list[Step]:
    """Parse ``text`` and run every call on a fresh machine; the narrated Steps, in order."""
    if version not in VERSIONS:
        raise ExplainError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
    ops = parse_ops(text, nr_cpus)
    ex = Explainer(version, nr_cpus, seed)
    return [ex.run(op) for op in ops]


def as_json(steps: list[Step], version: str, nr_cpus: int, seed: int) -> dict:
    """The --json document: the machine, then one entry per call."""
    return {"version": version, "cpus": nr_cpus, "seed": seed, "steps": [s.as_dict() for s in steps]}
