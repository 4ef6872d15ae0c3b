# SPDX-License-Identifier: MIT
"""The contention cost model: what a critical section, a handover and a page cost on a real machine.

Assumptions, in prose. A CPU's time is local work (per call and per page, from
:class:`vmaplab.workloads.costs.CostModel`), critical sections, spinning, and TLB-flush
interrupts. A critical section costs a fixed bookkeeping part plus its tree
node accesses, priced by the state of each node's cache line
(``cache_model="lines"``, contention-model.md §6.1's default): every node
remembers the CPU that last wrote it and the CPUs holding a copy since, so a
read is a hit (``t_hit``) if this CPU has a copy, a transfer from the writer
(``t_x`` by topology distance) if another CPU wrote it, cold (``t_mem``) if no
cache has it. A write to a line only other caches hold costs one transfer; a
write to a line this CPU read in the section only invalidates the other copies:
the store waits in the store buffer, so a section's invalidations overlap and
it pays for the slowest one (§6.1 charges writes nothing). With
``cache_capacity`` (§6.4, the default) caches are finite: a line survives in a
core's L2 and its complex's L3 until that many bytes went through them since
(cleared pages, fetched lines), then it is an L3 hit (``t_l3_ns``) or a miss to
memory (``t_mem_ns``); without it nothing is evicted and what misses is only
what other CPUs wrote. The fallback (``cache_model="depth"``,
§6.1's cheaper rule) charges the top ``k_hot`` levels of each search as hits,
deeper ones as misses, plus the lines the previous holder wrote.

A scaled-down run shrinks the setup populations (full_fit's J pairs and holes,
long_busy's 15000 areas) by ``s``; a tree holding them is priced at its real
size (simulated size plus what the scaled setup left out): each search reads
``*_visits_per_level`` more nodes per doubling (measured on vmaplab's trees),
hits in the line model without capacity (they lie on the path every search
shares), like the clean lines read with it, and, for a search among the setup
areas, by where this core left its own path (§6.5); misses below ``k_hot`` in
the depth model. While an SMT sibling is busy, local work
runs ``f_smt`` times slower (half that much more while the sibling spins, §6.1).
Every lazy free's add to ``vmap_lazy_nr`` fetches that line from its last
writer (``atomic_rmw_ns`` plus the transfer). A purge's TLB flush costs its sender
``ipi_sender_ns`` and every other running CPU ``ipi_receiver_ns``; accounting
each purged VA costs ``purge_va_ns`` outside any lock. A scaled run keeps the
real ``lazy_max_pages``, so its purges are as large, and as frequent per
operation, as the real ones.

Every constant cites docs/contention-model.md: [S] a source,
[D] derived there, [E] an estimate, [M] measured here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from math import log2
from typing import Any

from ..workloads.costs import CostModel
from .errors import ContentionError


@dataclass(frozen=True)
class ContentionCosts:
    """Hardware and kernel constants of the contention model (ns unless named otherwise)."""
    calls: CostModel = field(default_factory=CostModel)   # per call and per page, §4.2
    t_hit_ns: float = 3.0          # [E] §6.3: L2 hit at 3.7 GHz
    t_mem_ns: float = 90.0         # [E] §6.3: DRAM / remote miss for a pointer chase (sweep 70-120)
    k_hot: int = 12                # [D] §4.1: 512 KiB L2 / ~128 B per node ~ 4096 nodes ~ 12 levels
    cs_base_ns: float = 20.0       # [E] §6.3 h_extra: fixed work inside any critical section
    pool_op_ns: float = 10.0       # [E] a pool list head and its len: two lines, usually hot
    c_lock_ns: float = 15.0        # [E] §2.3: uncontended lock+unlock, line local
    c_set_ns: float = 10.0         # [E] §6.3: set_locked after a contended handover
    f_smt: float = 1.6             # [E] §4.2: local work with the SMT sibling busy (sweep 1.3-2.0)
    # the same for clear_page; None: f_smt, as §5.2 says of all local work (clear_page_ns is measured
    # on a core alone, §6.3, so the sibling's slowdown applies once; 1.0 is a sensitivity variant)
    f_smt_clear: float | None = None
    atomic_rmw_ns: float = 5.0     # [E] one locked RMW once its line is here: vmap_lazy_nr on every lazy free,
    #                                §4.2's "t_x per free" (the transfer from the last writer comes from the topology)
    ipi_sender_ns: float = 10_000.0    # [E] §4.2: flush_tlb_kernel_range, sender waits for all
    ipi_receiver_ns: float = 1_500.0   # [E] §4.2: each receiving CPU
    # [M] nodes read per search per doubling of the tree, measured on vmaplab's own trees in the
    # test's address patterns (benchmarks/tree_visits.py; tests/test_contention_foundations.py checks them):
    # busy trees fill at their right end (the loop's areas above the live ones), where a red-black
    # tree's path is about 2 log2 n; the free tree's lowest-fit descent reads about one node a level
    busy_visits_per_level: float = 2.0
    free_visits_per_level: float = 0.95
    # the same for a search whose key lies among the setup areas (contention-model.md §6.5): a balanced
    # tree's interior, one node a level (benchmarks/tree_visits.py, "interior")
    busy_private_visits_per_level: float = 1.0
    # how tree nodes are priced (contention-model.md §6.1): "lines" keeps each node's line state
    # (last writer, CPUs with a copy) and charges hits, transfers by topology and cold misses;
    # "depth" is §6.1's fallback (the top k_hot levels hit, deeper ones miss, plus d lines the
    # previous holder wrote)
    cache_model: str = "lines"
    t_cross_ns: float | None = None    # [S] §2.3 cross-CCX transfer; None keeps the machine's own (94 ns on
    #                                    the 3970X preset); set it to sweep t_x (75-120)
    # finite caches (contention-model.md §6.4): a line a core touched stays in its L2 (the machine's
    # l2_kib, shared by the SMT pair) until that many bytes went through it, then in its complex's L3
    # (l3_kib) likewise; the levels a scaled tree lacks are priced like the clean lines its search read.
    # False: §6.1's model, where nothing is evicted and those levels are hits
    cache_capacity: bool = True
    t_l3_ns: float = 11.0          # [S] §6.4: Zen 2 L3 load-to-use, about 40 cycles at 3.7 GHz
    purge_va_ns: float = 184.0     # [E] per VA a purge accounts: the VA, freed long ago on another CPU (t_mem 90)
    #                                plus the vmap_lazy_nr atomic on a line all CPUs write (a cross-CCX transfer,
    #                                94 ns, §2.3); purge_vmap_node's own work (6.8: __purge_vmap_area_lazy's)

    def __post_init__(self):
        if self.cache_model not in ("lines", "depth"):
            raise ContentionError(f"cache_model must be 'lines' or 'depth', got {self.cache_model!r}")

    def with_(self, **changes) -> ContentionCosts:
        """A copy with some constants changed (the sensitivity sweeps use this)."""
        return replace(self, **changes)

    def value(self, name: str):
        """The constant ``name``, a field of this class or of its per-call ``CostModel``."""
        if name != "calls" and name in {f.name for f in fields(self)}:
            return getattr(self, name)
        if name in {f.name for f in fields(self.calls)}:
            return getattr(self.calls, name)
        raise ContentionError(f"unknown cost {name!r}")

    def with_overrides(self, pairs: list[str]) -> ContentionCosts:
        """A copy with ``NAME=VALUE`` constants changed (the CLI's ``--cost``).

        NAME is a field of this class or of :class:`vmaplab.workloads.costs.CostModel` (per call and per
        page, e.g. ``clear_page_ns``); VALUE a number (``none`` for an optional one, a word for
        ``cache_model``). Raises ValueError, naming the known fields, and changes nothing.
        """
        mine = {f.name: f for f in fields(self) if f.name != "calls"}
        calls = {f.name: f for f in fields(self.calls)}
        own: dict[str, Any] = {}
        per_call: dict[str, Any] = {}
        for pair in pairs:
            name, eq, text = pair.partition("=")
            name, text = name.strip(), text.strip()
            if not eq or not name or not text:
                raise ContentionError(f"--cost wants NAME=VALUE, got {pair!r}")
            if name not in mine and name not in calls:
                raise ContentionError(f"unknown cost {name!r}; known: {', '.join(sorted({**mine, **calls}))}")
            default = (mine.get(name) or calls[name]).default
            (own if name in mine else per_call)[name] = _parse_cost(name, text, default)
        costs = replace(self, calls=replace(self.calls, **per_call)) if per_call else self
        return replace(costs, **own)

    def tree_ns(self, ops: int, visits: int, writes: int, tree_size: int, real_size: float,
                per_level: float = 1.0) -> float:
        """Time for ``ops`` searches visiting ``visits`` nodes of a tree that has ``tree_size`` nodes
        here and ``real_size`` in the unscaled run: each search reads ``per_level`` more nodes per
        doubling of the tree (``busy_visits_per_level``, ``free_visits_per_level``)."""
        if ops <= 0:
            return writes * self.t_hit_ns
        per_op = visits / ops
        if real_size > tree_size:
            per_op += per_level * (log2(real_size + 2) - log2(tree_size + 2))
        cold = max(0.0, per_op - self.k_hot)
        return ops * ((per_op - cold) * self.t_hit_ns + cold * self.t_mem_ns) + writes * self.t_hit_ns


MAX_COST = 1e9        # one second per event (or a factor of 10^9): past any meaning, short of overflow


def _parse_cost(name: str, text: str, default) -> object:
    """One ``--cost`` value, typed after the field's default."""
    if isinstance(default, str):
        return text
    if text.lower() == "none" and default is None:
        return None
    if isinstance(default, bool):
        if text.lower() not in ("0", "1", "true", "false"):
            raise ContentionError(f"{name} is true or false, got {text!r}")
        return text.lower() in ("1", "true")
    try:
        if not text.isascii():              # float() takes "١٠" or "１０" as 10: a command line should not
            raise ContentionError(text)
        value = float(text)
    except ValueError:
        raise ContentionError(f"{name} wants a number, got {text!r}") from None
    if not 0 <= value <= MAX_COST:           # NaN fails both; a huge value would overflow sums to inf/NaN
        raise ContentionError(f"{name} must be a number in 0..{MAX_COST:g}, got {text!r}")
    return int(value) if isinstance(default, int) and value.is_integer() else value


def visits_per_level(tree: str, small: int = 2000, large: int = 16000, turns: int = 200) -> float:
    """Measure how many more nodes a search reads per doubling of a tree, on vmaplab's own trees.

    ``tree`` is ``"busy"`` (long_busy's pattern: ``n`` live 1-page areas, then 100-page and
    1-page areas allocated and freed above them), ``"interior"`` (searches for keys spread among
    ``n`` live areas of a 6.9 node's busy tree, §6.5) or ``"free"`` (full_fit's: ``n`` one-page holes
    between live areas, then 1-page areas allocated and freed). Runs one CPU of 6.8 at two
    sizes and returns the growth of visits per search over the growth of log2 of the tree.
    Keep ``turns`` well under ``small``: each turn fills one of the free tree's holes.
    """
    from ..kernel.vmalloc import Vmalloc

    def per_search(n: int) -> tuple[float, float]:
        sizes: tuple[int, ...]
        vm = Vmalloc(nr_cpus=1, version="6.8", seed=0, nr_ram_pages=1 << 22)
        page = 4096
        if tree == "busy":
            for _ in range(n):
                vm.vmalloc(page, cpu=0)
            t, sizes = vm.nodes[0].busy, (100 * page, page)
        elif tree == "interior":
            # 6.9's per-node busy trees (contention-model.md §6.5): n one-page areas of one CPU,
            # spread over the nodes by address; searches for areas inside them, spread evenly
            vm = Vmalloc(nr_cpus=4, version="6.9", seed=0, nr_ram_pages=1 << 22)
            areas = [_allocated(vm.vmalloc(page, cpu=0)) for _ in range(4 * n)]
            t = vm.nodes[0].busy
            keys = [a for a in areas if vm.addr_to_node_id(a) == 0]
            ops, visits = t.ops, t.visits
            for i in range(turns):
                t.find(keys[(i * 7919) % len(keys)])
            return (t.visits - visits) / (t.ops - ops), log2(len(t) + 2)
        elif tree == "free":
            junk = []
            for _ in range(n):
                vm.vmalloc(page, cpu=0)
                junk.append(_allocated(vm.vmalloc(page, cpu=0)))
            for addr in junk:
                vm.vfree(addr, cpu=0)
            vm.purge(cpu=0)
            t, sizes = vm.free_space.tree, (page,)
        else:
            raise ContentionError(f"tree must be 'busy', 'interior' or 'free', got {tree!r}")
        ops, visits = t.ops, t.visits
        for _ in range(turns):
            got = [_allocated(vm.vmalloc(size, cpu=0)) for size in sizes]
            for addr in got:
                vm.vfree(addr, cpu=0)
        return (t.visits - visits) / (t.ops - ops), log2(len(t) + 2)

    (v0, l0), (v1, l1) = per_search(small), per_search(large)
    return (v1 - v0) / (l1 - l0)


def _allocated(addr: int | None) -> int:
    """A measurement's own vmalloc succeeded (its machine is sized for it); else a ContentionError."""
    if addr is None:
        raise ContentionError("a tree-visits measurement ran out of vmalloc space (its machine is too small)")
    return addr
