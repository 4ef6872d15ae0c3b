# SPDX-License-Identifier: MIT
"""Flat, frozen trace records named after the kernel's tracepoints, plus lock, pool,
decay, purge and shrinker events, so figures, widgets and the simulator can replay a run.

Mirrors: include/trace/events/vmalloc.h (kernel-model.md §4.13): ``alloc_vmap_area``,
``purge_vmap_area_lazy`` and ``free_vmap_area_noflush``, printed by
:func:`format_record` in the kernel's own format.

Invariants: ``seq`` increases by one per record of a Tracer; every record has
``seq``, ``t_ns`` (the attached clock, 0 without one) and ``cpu``.

Tracing is off by default: the allocator keeps ``None`` instead of a Tracer and
pays one ``is not None`` test per emission point.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="type[Record]")


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    t_ns: int
    cpu: int
    event_name: ClassVar[str]           # set by @_event on each kind of record

    @property
    def event(self) -> str:
        return type(self).event_name

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["event"] = self.event
        return d


def _event(name: str) -> Callable[[R], R]:
    def deco(cls: R) -> R:
        cls.event_name = name
        return cls
    return deco


@_event("alloc_vmap_area")
@dataclass(frozen=True, slots=True)
class AllocVmapArea(Record):
    """vmalloc:alloc_vmap_area: after every free-tree attempt and on pool hits."""
    va_start: int
    size: int
    align: int
    vstart: int
    vend: int
    failed: int


@_event("free_vmap_area_noflush")
@dataclass(frozen=True, slots=True)
class FreeVmapAreaNoflush(Record):
    """vmalloc:free_vmap_area_noflush: on every lazy free."""
    va_start: int
    nr_lazy: int
    nr_lazy_max: int


@_event("purge_vmap_area_lazy")
@dataclass(frozen=True, slots=True)
class PurgeVmapAreaLazy(Record):
    """vmalloc:purge_vmap_area_lazy: at the end of each purge."""
    start: int
    end: int
    npurged: int


@_event("lock")
@dataclass(frozen=True, slots=True)
class Lock(Record):
    """A spinlock/mutex taken ("acquire") or dropped ("release"); ``section`` names the work."""
    lock: str
    op: str
    section: str


@_event("pool")
@dataclass(frozen=True, slots=True)
class Pool(Record):
    """node_alloc/node_pool_add_va: ``op`` is hit, empty, rotate, mismatch or add."""
    node: int
    idx: int
    op: str
    va_start: int


@_event("decay")
@dataclass(frozen=True, slots=True)
class Decay(Record):
    """decay_va_pool_node on one pool: length before, how many VAs went to the free tree."""
    node: int
    idx: int
    full: bool
    before: int
    removed: int


@_event("purge_node")
@dataclass(frozen=True, slots=True)
class PurgeNode(Record):
    """purge_vmap_node: a node's purge list processed (``helper``: by a worker on cpu=node id)."""
    node: int
    nr_purged: int
    to_pool: int
    to_global: int
    helper: bool


@_event("tlb_flush")
@dataclass(frozen=True, slots=True)
class TlbFlush(Record):
    """flush_tlb_kernel_range over [start, end)."""
    start: int
    end: int


@_event("shrinker")
@dataclass(frozen=True, slots=True)
class Shrinker(Record):
    """The "vmap-node" shrinker: ``op`` count or scan; ``value`` the count or VAs freed."""
    op: str
    value: int


@_event("vmalloc")
@dataclass(frozen=True, slots=True)
class Vmalloc(Record):
    """An API call completed: ``func`` (vmalloc, vfree, vmap, ...), its address and size (0 on failure)."""
    func: str
    addr: int
    size: int
    caller: str


@_event("vmap_block")
@dataclass(frozen=True, slots=True)
class VmapBlock(Record):
    """The per-CPU kva allocator: ``op`` new, alloc, free, release or purge."""
    op: str
    block_start: int
    addr: int
    order: int


@_event("rcu")
@dataclass(frozen=True, slots=True)
class Rcu(Record):
    """kvfree_rcu queueing (``op`` queue) or a grace period freeing ``count`` objects (``op`` gp)."""
    op: str
    addr: int
    count: int


class Tracer:
    """Collects records in order; ``records`` is a plain list the views may read."""

    def __init__(self, clock: Callable[[], int] | None = None):
        self.records: list[Record] = []
        self._seq = 0
        self.clock = clock            # callable returning t_ns, or None

    def emit(self, cls: type[Record], cpu: int, *args: Any) -> None:
        t = self.clock() if self.clock is not None else 0
        self.records.append(cls(self._seq, t, cpu, *args))
        self._seq += 1

    def clear(self) -> None:
        self.records.clear()

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def tail(self, n: int = 20) -> list[Record]:
        return self.records[-n:]

    def of(self, event: str) -> list[Record]:
        return [r for r in self.records if r.event == event]


def format_record(r: Record) -> str:
    """One line in ftrace style; the three kernel tracepoints use the kernel's format (§4.13)."""
    head = f"cpu={r.cpu} seq={r.seq} t_ns={r.t_ns} {r.event}: "
    if isinstance(r, AllocVmapArea):
        body = (f"va_start: {r.va_start} size={r.size} align={r.align} vstart={r.vstart:#x} "
                f"vend={r.vend:#x} failed={r.failed}")
    elif isinstance(r, PurgeVmapAreaLazy):
        body = f"start={r.start:#x} end={r.end:#x} num_purged={r.npurged}"
    elif isinstance(r, FreeVmapAreaNoflush):
        body = f"va_start={r.va_start:#x} nr_lazy={r.nr_lazy} nr_lazy_max={r.nr_lazy_max}"
    else:
        body = " ".join(f"{f.name}={_fmt(f.name, getattr(r, f.name))}" for f in fields(r)[3:])
    return head + body


_ADDRESS_FIELDS = {"addr", "start", "end", "va_start", "block_start"}


def _fmt(name: str, value: object) -> str:
    if name in _ADDRESS_FIELDS and isinstance(value, int):
        return f"{value:#x}"
    return str(value)
