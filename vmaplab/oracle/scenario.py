# SPDX-License-Identifier: MIT
"""Oracle scenarios: one JSON file, run by the real kernel (through the probe) and by vmaplab.

A scenario (docs/oracle.md §3) is ``{"name": ..., "smp": N, "ops": [...]}``; each op names its
CPU and, when it allocates, the name (``"as"``) later ops free it by (``"ref"``). This module
validates a scenario (a :class:`ScenarioError` names the op and the field), turns it into the
probe's line protocol, replays it on a :class:`vmaplab.Vmalloc` rebuilt from the guest's own
/proc/vmallocinfo read right before the ops, and compares the two op by op and line by line.

When the probe's answer carries the guest's free tree (its ``BEGIN-FREE-BEFORE`` section: every
free block in pre-order with its colour, docs/oracle.md §2.2), the rebuilt machine's free tree is
given that shape (``FreeSpace.adopt_shape``) before the first op, so aligned searches take the
kernel's path (§4); an answer without it (a record made before the probe read the tree) replays
on the rebuilt shape, as before. The ``AFTER`` tree is compared with the model's final one.

Invariants: validation happens before anything runs; the model replay uses only public calls of
the kernel model; a result is an address (``0x...``), ``NULL`` for a failed allocation, or
``ok`` for a call that returns nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import NamedTuple

from ..formats.userfile import is_stem, read_user_file
from ..formats.vmallocinfo import parse_vmallocinfo
from ..kernel.config import PAGE_SIZE
from ..kernel.freespace import FreeBlock
from ..kernel.generations import ORACLE_SERIES
from ..kernel.rbtree import TreeShapeError
from ..kernel.validate import check_int
from ..kernel.vmalloc import Vmalloc
from .errors import GuestError, ScenarioError

MAX_SMP = 64
MAX_OPS = 4096
MAX_SIZE = 1 << 34
MAX_PAGES = 1024            # the probe's limit per vmap / vm_map_ram

# op name -> (required fields besides "op"/"cpu", allocates?)
OPS = {
    "vmalloc": (("size",), True),
    "vrealloc": (("ref", "size"), True),
    "vmalloc_node": (("size", "align"), True),
    "vmap": (("pages",), True),
    "vm_map_ram": (("pages",), True),
    "ioremap": (("phys", "size"), True),
    "vfree": (("ref",), False),
    "vunmap": (("ref",), False),
    "iounmap": (("ref",), False),
    "vm_unmap_ram": (("ref",), False),
    "fill": (("ref", "value"), False),
    "vread": (("ref", "offset", "count"), False),
    "vm_unmap_aliases": ((), False),
    "drop_caches": ((), False),
}
# optional fields besides "op", "cpu", "as"
OPTIONAL = {"vmalloc": ("gfp",)}
GFP_NAMES = ("GFP_KERNEL", "GFP_NOWAIT")    # a vmalloc op's "gfp": vmalloc(size) or __vmalloc(size, GFP_NOWAIT)
# vrealloc consumes its "ref" (the name is gone, moved or not) and names the result with its "as"
FREES = {"vfree": ("vmalloc", "vmalloc_node", "vrealloc"), "vrealloc": ("vmalloc", "vmalloc_node", "vrealloc"),
         "vunmap": ("vmap",), "iounmap": ("ioremap",),
         "vm_unmap_ram": ("vm_map_ram",)}
# ops that use a live allocation without freeing it: write a pattern into it, read it via /proc/kcore
USES = {"fill": ("vmalloc", "vmalloc_node", "vrealloc", "vmap", "vm_map_ram"),
        "vread": ("vmalloc", "vmalloc_node", "vrealloc", "vmap", "vm_map_ram", "ioremap")}
MAX_VREAD = 64 << 10        # the probe's limit per vread op


@dataclass(frozen=True)
class Op:
    index: int
    op: str
    cpu: int
    size: int = 0
    align: int = 1
    pages: int = 0
    phys: int = 0
    ref: int = -1           # index of the op whose allocation this one frees or uses
    name: str = ""          # the op's "as"
    value: int = 0          # fill: page i gets the byte (value + i) & 0xff
    offset: int = 0         # vread: from the allocation's address + offset
    count: int = 0          # vread: bytes
    gfp: str = ""           # vmalloc: "GFP_NOWAIT", or "" for vmalloc(size) (GFP_KERNEL)

    def describe(self) -> str:
        args = {"vmalloc": f"{self.size}" + (f", {self.gfp}" if self.gfp else ""),
                "vrealloc": f"#{self.ref}, {self.size}", "vmalloc_node": f"{self.size}, align={self.align:#x}",
                "vmap": f"{self.pages} pages", "vm_map_ram": f"{self.pages} pages",
                "ioremap": f"{self.phys:#x}, {self.size}", "fill": f"#{self.ref}, {self.value:#x}",
                "vread": f"#{self.ref}+{self.offset:#x}, {self.count}"}.get(self.op, "")
        target = f" {self.name}" if self.name else ""
        return f"{self.op}({args}){target}" if self.ref < 0 or args else f"{self.op}(#{self.ref})"


@dataclass(frozen=True)
class Scenario:
    name: str
    smp: int
    ops: tuple[Op, ...]
    description: str = ""
    path: str = ""
    kernels: tuple[str, ...] = ORACLE_SERIES    # the kernel series it applies to ("kernels" in the file)
    doc: dict | None = field(default=None, compare=False, repr=False)   # the document, smp as run

    def applies_to(self, series: str) -> bool:
        """True for a series in ``kernels``; a user's own build ("") takes every scenario."""
        return not series or series in self.kernels


def _kernels(doc: dict, name: str) -> tuple[str, ...]:
    """The optional "kernels" list: a scenario that only makes sense on some generations."""
    if "kernels" not in doc:
        return ORACLE_SERIES
    v = doc["kernels"]
    if (not isinstance(v, list) or not v or not all(isinstance(k, str) for k in v)
            or set(v) - set(ORACLE_SERIES) or len(set(v)) != len(v)):
        raise ScenarioError(f"{name}: 'kernels' must be a non-empty list of distinct kernel series from "
                            f"{', '.join(ORACLE_SERIES)}, got {v!r:.80}")
    return tuple(k for k in ORACLE_SERIES if k in v)


def _field_int(raw: dict, key: str, where: str, low: int, high: int) -> int:
    return check_int(raw.get(key), f"{where}: {key!r}", low, high, exc=ScenarioError)


def parse_scenario(doc, path: str = "", smp: int | None = None) -> Scenario:
    """Validate a scenario document (already JSON-decoded); ``smp`` overrides its own."""
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path or 'scenario'}: the document must be a JSON object")
    unknown = set(doc) - {"name", "smp", "ops", "description", "kernels"}
    if unknown:
        raise ScenarioError(f"{path or 'scenario'}: unknown key(s) {sorted(unknown)}")
    name = doc.get("name")
    if not is_stem(name):          # it names files under last-run/: a name, not a path
        raise ScenarioError(f"{path or 'scenario'}: 'name' must be a file-name stem (letters, digits, '.', '_', "
                            f"'-', starting with a letter or digit, at most 100 characters), got {name!r:.60}")
    desc = doc.get("description", "")
    if not isinstance(desc, str):
        raise ScenarioError(f"{name}: 'description' must be a string, got {type(desc).__name__}")
    kernels = _kernels(doc, name)
    if smp is None:
        smp = _field_int(doc, "smp", name, 1, MAX_SMP)
    elif not 1 <= smp <= MAX_SMP:
        raise ScenarioError(f"{name}: --smp {smp} is not in 1..{MAX_SMP}")
    raw_ops = doc.get("ops")
    if not isinstance(raw_ops, list) or not raw_ops or len(raw_ops) > MAX_OPS:
        raise ScenarioError(f"{name}: 'ops' must be a list of 1..{MAX_OPS} ops")
    names: dict[str, int] = {}
    freed: set[int] = set()
    ops: list[Op] = []
    for i, raw in enumerate(raw_ops):
        where = f"{name}: op {i}"
        if not isinstance(raw, dict) or not isinstance(raw.get("op"), str) or raw["op"] not in OPS:
            raise ScenarioError(f"{where}: 'op' must be one of {sorted(OPS)}, got {raw!r:.80}")
        kind = raw["op"]
        fields, allocates = OPS[kind]
        allowed = {"op", "cpu", "as", *fields, *OPTIONAL.get(kind, ())}
        extra = set(raw) - allowed
        if extra:
            raise ScenarioError(f"{where}: {kind} takes {sorted(allowed)}, not {sorted(extra)}")
        cpu = _field_int(raw, "cpu", where, 0, smp - 1) if "cpu" in raw else 0
        kw = {}
        if "size" in fields:
            kw["size"] = _field_int(raw, "size", where, 1, MAX_SIZE)
        if "align" in fields:
            kw["align"] = _field_int(raw, "align", where, 1, 1 << 40)
            if kw["align"] & (kw["align"] - 1):
                raise ScenarioError(f"{where}: 'align' = {kw['align']} is not a power of two (-EINVAL)")
        if "pages" in fields:
            kw["pages"] = _field_int(raw, "pages", where, 1, MAX_PAGES)
        if "phys" in fields:
            kw["phys"] = _field_int(raw, "phys", where, 0, (1 << 52) - 1)
        if "value" in fields:
            kw["value"] = _field_int(raw, "value", where, 0, 255)
        if "offset" in fields:
            kw["offset"] = _field_int(raw, "offset", where, 0, MAX_SIZE)
        if "count" in fields:
            kw["count"] = _field_int(raw, "count", where, 1, MAX_VREAD)
        gfp = ""
        if "gfp" in raw:
            if raw["gfp"] not in GFP_NAMES:
                raise ScenarioError(f"{where}: 'gfp' must be one of {', '.join(GFP_NAMES)}, got {raw['gfp']!r:.60}")
            gfp = "" if raw["gfp"] == "GFP_KERNEL" else raw["gfp"]
        if "ref" in fields:
            ref = raw.get("ref")
            if not isinstance(ref, str) or ref not in names:
                raise ScenarioError(f"{where}: 'ref' {ref!r} names no earlier allocation")
            target = names[ref]
            allowed_kinds = FREES.get(kind) or USES[kind]
            if ops[target].op not in allowed_kinds:
                verb = "reallocate" if kind == "vrealloc" else "free" if kind in FREES else "use"
                raise ScenarioError(f"{where}: {kind} cannot {verb} "
                                    f"{ref!r} (a {ops[target].op})")
            if target in freed:
                raise ScenarioError(f"{where}: {ref!r} is already freed")
            if kind in FREES:
                freed.add(target)
            kw["ref"] = target
        label = raw.get("as", "")
        if "as" in raw:
            if not allocates or not isinstance(label, str) or not label:
                raise ScenarioError(f"{where}: 'as' names the allocation of an allocating op (a non-empty "
                                    f"string), got {label!r:.60}")
            if label in names:
                raise ScenarioError(f"{where}: 'as' {label!r} is already taken by op {names[label]}")
            names[label] = i
        ops.append(Op(i, kind, cpu, name=label, gfp=gfp, **kw))
    return Scenario(name, smp, tuple(ops), desc, path, kernels, {**doc, "smp": smp})


MAX_SCENARIO_BYTES = 1 << 20        # 4096 ops of a hundred bytes each fit twice over
MAX_NESTING = 8                     # a scenario needs 3: the document, its ops list, an op


def load_scenario(path: str | Path, smp: int | None = None) -> Scenario:
    """Read a scenario file through the one reader for user files (a regular UTF-8 file of at most
    1 MiB, nested at most 8 deep), decode its JSON and check it whole (:func:`parse_scenario`)."""
    text = read_user_file(path, kind="scenario", max_bytes=MAX_SCENARIO_BYTES, exc=ScenarioError,
                          max_nesting=MAX_NESTING)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
    except (ValueError, RecursionError) as e:       # an integer of more than 4,300 digits
        raise ScenarioError(f"{path}: not JSON vmaplab reads ({str(e)[:80]})") from None
    try:
        return parse_scenario(doc, str(path), smp)
    except ScenarioError as e:                      # name the file, as every error about a user's file does
        if str(e).startswith(str(path)):
            raise
        raise ScenarioError(f"{path}: {e}") from None


def shipped_scenarios() -> list[Path]:
    """The scenarios in the package (vmaplab/oracle/scenarios/*.json), in name order."""
    return sorted((Path(__file__).parent / "scenarios").glob("*.json"))


# -- the probe's side -------------------------------------------------------------------
def probe_script(scn: Scenario) -> str:
    """The probe's line protocol: ``OP CPU A B`` (docs/oracle.md §2)."""
    lines = []
    for op in scn.ops:
        a, b, c = {"vmalloc": (op.size, GFP_NAMES.index(op.gfp or "GFP_KERNEL"), 0), "vrealloc": (op.ref, op.size, 0),
                   "vmalloc_node": (op.size, op.align, 0), "vmap": (op.pages, 0, 0),
                   "vm_map_ram": (op.pages, 0, 0), "ioremap": (op.phys, op.size, 0),
                   "fill": (op.ref, op.value, 0), "vread": (op.ref, op.offset, op.count)}.get(op.op, (op.ref, 0, 0))
        lines.append(f"{op.op} {op.cpu} {a:#x} {b:#x}" + (f" {c:#x}" if c else ""))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class KernelRun:
    before: str             # /proc/vmallocinfo right before the first op
    after: str              # and right after the last
    results: tuple[str, ...]
    dmesg: str
    # the free tree at each snapshot, in pre-order (docs/oracle.md §2.2); None: the answer has none
    free_before: tuple[FreeBlock, ...] | None = None
    free_after: tuple[FreeBlock, ...] | None = None


def parse_free_tree(text: str, tag: str, name: str) -> tuple[FreeBlock, ...] | None:
    """The probe's ``BEGIN-FREE-tag`` section: ``F va_start va_end r|b subtree_max_size`` per block, in
    pre-order; None when the answer has no such section (an older probe, or no kallsyms addresses)."""
    b, e = f"BEGIN-FREE-{tag}\n", f"END-FREE-{tag}\n"
    if b not in text:
        return None
    body = text.split(b, 1)[1]
    if e not in body:
        raise GuestError(f"{name}: the probe's free tree {tag} is cut short (no END-FREE-{tag})")
    blocks = []
    for n, line in enumerate(body.split(e, 1)[0].splitlines()):
        words = line.split()
        try:
            if len(words) != 5 or words[0] != "F" or words[3] not in ("r", "b"):
                raise ValueError
            blocks.append(FreeBlock(int(words[1], 16), int(words[2], 16), words[3] == "r", int(words[4], 16)))
        except ValueError:
            raise GuestError(f"{name}: line {n + 1} of the probe's free tree {tag} is not "
                             f"'F va_start va_end r|b subtree_max_size': {line!r:.80}") from None
    return tuple(blocks)


def parse_probe_output(text: str, scn: Scenario, dmesg: str = "") -> KernelRun:
    def section(tag):
        b, e = f"BEGIN-{tag}\n", f"END-{tag}\n"
        if b not in text or e not in text:
            raise GuestError(f"{scn.name}: the probe's output has no {tag} snapshot")
        return text.split(b, 1)[1].split(e, 1)[0]
    results = []
    reads = {int(line.split()[1]): " ".join(line.split()[2:]) for line in text.splitlines()
             if line.startswith("V ")}
    for line in text.splitlines():
        if line.startswith("R "):
            _, idx, name, value, *bad = line.split()
            if bad:
                raise GuestError(f"{scn.name}: op {idx} named a CPU the guest does not have")
            op = scn.ops[int(idx)]
            results.append(reads.get(int(idx), "failed") if op.op == "vread" else _kernel_result(op, int(value, 16)))
    if len(results) != len(scn.ops):
        raise GuestError(f"{scn.name}: the probe reported {len(results)} of {len(scn.ops)} ops")
    return KernelRun(section("BEFORE"), section("AFTER"), tuple(results), dmesg,
                     parse_free_tree(text, "BEFORE", scn.name), parse_free_tree(text, "AFTER", scn.name))


def _kernel_result(op: Op, value: int) -> str:
    if OPS[op.op][1]:
        return f"{value:#x}" if value else "NULL"
    return "ok" if value else "failed"


# -- vmaplab's side ----------------------------------------------------------------------
SHAPE_KERNEL = "kernel"         # the model's free tree took the guest's shape
SHAPE_REBUILT = "rebuilt"       # the answer has no free tree: the shape from_vmallocinfo built


def rebuild(scn: Scenario, before: str, version: str = "6.9",
            free_tree: tuple[FreeBlock, ...] | None = None) -> tuple[Vmalloc, str]:
    """The machine the scenario starts on: rebuilt from the ``before`` snapshot and, when the guest's free
    tree is given, with that tree's shape (docs/oracle.md §4). The second value says which shape:
    ``"kernel"``, ``"rebuilt"`` (none given) or ``"refused: why"`` (the tree does not describe the
    snapshot's free space, e.g. the guest changed between the two reads; the rebuilt shape is kept)."""
    vm = Vmalloc.from_vmallocinfo(before, nr_cpus=scn.smp, version=version)
    if free_tree is None:
        return vm, SHAPE_REBUILT
    try:
        vm.free_space.adopt_shape(free_tree)
    except TreeShapeError as e:
        return vm, f"refused: {e}"
    return vm, SHAPE_KERNEL


def run_ops(scn: Scenario, vm: Vmalloc) -> tuple[str, ...]:
    """Each op of the scenario on ``vm``, in order: one result per op (the probe's vocabulary)."""
    addrs: dict[int, tuple[int, int]] = {}
    return tuple(_model_op(vm, op, addrs) for op in scn.ops)


def replay(scn: Scenario, before: str, version: str = "6.9",
           free_tree: tuple[FreeBlock, ...] | None = None) -> tuple[tuple[str, ...], Vmalloc]:
    """Run the scenario on a machine rebuilt from the kernel's ``before`` snapshot (and free tree, if given)."""
    vm, _shape = rebuild(scn, before, version, free_tree)
    return run_ops(scn, vm), vm


def compare_free_trees(kernel: tuple[FreeBlock, ...] | None, model: list[FreeBlock]) -> str:
    """The kernel's free tree after the ops against the model's: "same", "" (the answer has none), or the
    first pre-order position where they differ (range, colour or cached size)."""
    if kernel is None:
        return ""
    for i, (k, m) in enumerate(zip_longest(kernel, model)):
        if k != m:
            return f"pre-order node {i}: kernel {k!r}, vmaplab {m!r}"
    return "same"


def run_length(data: bytes) -> str:
    """Bytes as the probe prints a vread: ``41*4096 42*16`` (hex byte, run length)."""
    out, i = [], 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        out.append(f"{data[i]:02x}*{j - i}")
        i = j
    return " ".join(out)


def _model_op(vm: Vmalloc, op: Op, addrs: dict) -> str:
    c = op.cpu
    if op.op in ("fill", "vread"):
        addr, pages = addrs.get(op.ref, (0, 0))
        if not addr:
            return "failed"
        if op.op == "vread":
            return run_length(vm.vread(addr + op.offset, op.count))
        for i in range(pages):
            vm.write(addr + i * PAGE_SIZE, bytes([(op.value + i) & 0xFF]) * PAGE_SIZE)
        return "ok"
    if op.op == "vrealloc":
        addr, _pages = addrs.get(op.ref, (0, 0))
        if not addr:
            return "NULL"           # the probe's vrealloc has nothing to reallocate either
        new = vm.vrealloc(addr, op.size, cpu=c, caller=f"oracle_op_{op.index}")
        if not new:
            return "NULL"           # the old allocation stays (nameless: the scenario's name moved on)
        del addrs[op.ref]
        addrs[op.index] = (new, -(-op.size // PAGE_SIZE))
        return f"{new:#x}"
    if op.op in ("vfree", "vunmap", "iounmap", "vm_unmap_ram"):
        addr, count = addrs.get(op.ref, (0, 0))
        if not addr:
            return "failed"          # the kernel's probe has nothing to free either
        if op.op == "vm_unmap_ram":
            vm.vm_unmap_ram(addr, count, cpu=c)
        else:
            getattr(vm, op.op)(addr, cpu=c)
        return "ok"
    if op.op == "vm_unmap_aliases":
        vm.vm_unmap_aliases(cpu=c)
        return "ok"
    if op.op == "drop_caches":
        vm.shrinker.scan(cpu=c)
        return "ok"
    caller = f"oracle_op_{op.index}"
    if op.op == "vmalloc" and op.gfp == "GFP_NOWAIT":
        # __vmalloc(size, GFP_NOWAIT) is __vmalloc_node(size, 1, gfp, NUMA_NO_NODE, caller); the kernel's own
        # GFP_NOWAIT (7.3's carries __GFP_NOWARN, kernel-model.md §8)
        gfp = vm.gen.gfp_nowait
        addr = vm.vmalloc_node(op.size, align=1, cpu=c, caller=caller, gfp=gfp)
    elif op.op == "vmalloc":
        addr = vm.vmalloc(op.size, cpu=c, caller=caller)
    elif op.op == "vmalloc_node":
        addr = vm.vmalloc_node(op.size, align=op.align, cpu=c, caller=caller)
    elif op.op == "ioremap":
        addr = vm.ioremap(op.phys, op.size, cpu=c, caller=caller)
    else:
        pages = vm.alloc_pages(op.pages)
        addr = vm.vm_map_ram(pages, cpu=c) if op.op == "vm_map_ram" else vm.vmap(pages, cpu=c, caller=caller)
    if addr:
        pages = op.pages if op.op in ("vmap", "vm_map_ram") else -(-op.size // PAGE_SIZE)
        addrs[op.index] = (addr, pages)
    return f"{addr:#x}" if addr else "NULL"


# -- the comparison ----------------------------------------------------------------------
@dataclass(frozen=True)
class OpComparison:
    index: int
    op: str
    cpu: int
    call: str
    kernel: str
    vmaplab: str

    @property
    def match(self) -> bool:
        return self.kernel == self.vmaplab


def _line_key(line) -> tuple:
    """A vmallocinfo line without its caller (the probe's and the model's callers differ)."""
    return (line.start, line.end, line.size, line.kind, line.pages, line.phys, line.words, line.vpages,
            line.numa)


@dataclass(frozen=True)
class InfoComparison:
    kernel_lines: int
    vmaplab_lines: int
    matched: int                    # lines equal at the same position, callers aside
    first_difference: str           # "" when they agree
    lines: tuple = ()               # LineComparison per position, the longer text's length

    @property
    def match(self) -> bool:
        return not self.first_difference


class LineComparison(NamedTuple):
    """One position of the two /proc/vmallocinfo texts ("" past the end of the shorter one)."""
    kernel: str
    vmaplab: str
    match: bool                     # equal callers aside


def compare_vmallocinfo(kernel_text: str, model_text: str) -> InfoComparison:
    k, m = list(parse_vmallocinfo(kernel_text)), list(parse_vmallocinfo(model_text))
    lines = tuple(LineComparison(a.format() if a else "", b.format() if b else "",
                                 a is not None and b is not None and _line_key(a) == _line_key(b))
                  for a, b in zip_longest(k, m))
    first = next((f"line {i + 1}: kernel {c.kernel!r} / vmaplab {c.vmaplab!r}"
                  for i, c in enumerate(lines[:min(len(k), len(m))]) if not c.match), "")
    if not first and len(k) != len(m):
        first = f"kernel has {len(k)} lines, vmaplab {len(m)}"
    return InfoComparison(len(k), len(m), sum(c.match for c in lines), first, lines)


@dataclass(frozen=True)
class Comparison:
    scenario: Scenario
    kernel_release: str
    version: str
    ops: tuple[OpComparison, ...]
    final: InfoComparison
    free_tree: str = SHAPE_REBUILT  # the starting shape: "kernel", "rebuilt" or "refused: why" (rebuild)
    free_tree_after: str = ""       # the final trees: "same", "" (no kernel tree), or the first difference

    @property
    def matched(self) -> int:
        return sum(o.match for o in self.ops)

    def to_json(self) -> dict:
        return {"scenario": self.scenario.name, "kernel": self.kernel_release, "model": self.version,
                "smp": self.scenario.smp, "matched": self.matched, "total": len(self.ops),
                "ops": [{"index": o.index, "op": o.op, "cpu": o.cpu, "call": o.call, "kernel": o.kernel,
                         "vmaplab": o.vmaplab, "match": o.match} for o in self.ops],
                "vmallocinfo": {"kernel_lines": self.final.kernel_lines,
                                "vmaplab_lines": self.final.vmaplab_lines,
                                "matched_lines": self.final.matched, "match": self.final.match,
                                "first_difference": self.final.first_difference,
                                "lines": [{"kernel": c.kernel, "vmaplab": c.vmaplab, "match": c.match}
                                          for c in self.final.lines]},
                "free_tree": {"before": self.free_tree, "after": self.free_tree_after}}


def compare(scn: Scenario, run: KernelRun, release: str, version: str = "6.9") -> Comparison:
    """The model (``version``) against the kernel's answer, starting from its snapshot and free tree."""
    vm, shape = rebuild(scn, run.before, version, run.free_before)
    results = run_ops(scn, vm)
    ops = tuple(OpComparison(op.index, op.op, op.cpu, op.describe(), k, v)
                for op, k, v in zip(scn.ops, run.results, results))
    return Comparison(scn, release, version, ops, compare_vmallocinfo(run.after, vm.vmallocinfo()), shape,
                      compare_free_trees(run.free_after, vm.free_space.shape()))
