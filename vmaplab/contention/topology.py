# SPDX-License-Identifier: MIT
"""Which CPUs share a core or a cache, and what moving a cache line between them costs.

Assumptions: a line moves between SMT siblings through their shared L1/L2, within a
core complex (an AMD CCX, or a whole Intel socket) through its shared L3, and between
complexes through the I/O die or the socket link; the cost depends only on that
distance, three levels (contention-model.md §2.3, §6.1). CPUs are numbered as Linux
numbers them on these machines: the first thread of every core first (cores in
order, socket by socket), then their SMT siblings in the same order, so CPU ``c`` and
``c + cores`` are siblings.

Sources, all the median of a compare-and-exchange ping-pong between two pinned
threads (the nviennot/core-to-core-latency tables, which are comparable with
AnandTech's and Chips and Cheese's bounce tests) [S]; docs/contention-model.md §2.5
has the table with what each preset borrows:

* Threadripper 3970X (Zen 2): the 3960X's 6.5 / 24 / 94 ns (SMT / CCX / cross);
  the 3970X's own cross-CCX mean is 92.5 ns.
* EPYC 7702 (Zen 2, 16 CCXes of 4 cores): the same Zen 2 core and CCX, so 6.5 / 24;
  across CCXes the larger server I/O die, taken as the Zen 3 EPYC 7R13's 107 ns
  (no published 7702 table was found: an estimate [E] within the 94..115 ns that
  Zen 2 Threadripper and the 64-core 7773X span).
* EPYC 7713 (Zen 3, 8 CCXes of 8 cores): the EPYC 7R13 (same Milan die, AWS
  c6a.metal) 9.8 / 23 / 107 ns.
* Two-socket Intel Xeon Platinum 8375C (Ice Lake, 2 x 32 cores, AWS c6i.metal):
  8.1 ns SMT, 51 ns within a socket (one mesh, one L3: the socket is the complex),
  108 ns across sockets.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .errors import ContentionError


@dataclass(frozen=True)
class Topology:
    """``nr_cpus`` CPUs; ``core_of[c]`` and ``ccx_of[c]`` place each CPU."""
    name: str
    nr_cpus: int
    core_of: tuple[int, ...]
    ccx_of: tuple[int, ...]
    t_smt_ns: float = 6.5
    t_ccx_ns: float = 24.0
    t_cross_ns: float = 94.0
    l2_kib: int = 512             # per core, shared by its SMT threads (contention-model.md §6.4)
    l3_kib: int = 16384           # per complex (CCX, or an Intel socket)

    def __post_init__(self):
        if self.nr_cpus < 1 or len(self.core_of) != self.nr_cpus or len(self.ccx_of) != self.nr_cpus:
            raise ContentionError(f"topology {self.name!r}: need one core and one CCX per CPU")

    def xfer_ns(self, a: int, b: int) -> float:
        """One cache-line transfer from CPU ``a``'s cache to CPU ``b``'s (0 for the same CPU)."""
        if a == b:
            return 0.0
        if self.core_of[a] == self.core_of[b]:
            return self.t_smt_ns
        if self.ccx_of[a] == self.ccx_of[b]:
            return self.t_ccx_ns
        return self.t_cross_ns

    def xfer_rows(self) -> tuple[tuple[float, ...], ...]:
        """``rows[b][a]`` = xfer_ns(a, b): one row per receiving CPU, for summing many transfers fast.

        Computed once per topology and shared by every lock and pricer of a run (read only).
        """
        return _xfer_rows(self)

    def spread_order(self) -> list[int]:
        """CPUs in the order an idle machine's scheduler fills them: one per core complex, then
        the next core of each complex, SMT siblings last ([E]: CFS balances running tasks
        across LLC domains and idle cores before it doubles up on a core)."""
        def key(c: int) -> tuple:
            thread = sum(1 for d in range(c) if self.core_of[d] == self.core_of[c])
            cores = sorted({self.core_of[d] for d in range(self.nr_cpus) if self.ccx_of[d] == self.ccx_of[c]})
            return thread, cores.index(self.core_of[c]), self.ccx_of[c], c
        return sorted(range(self.nr_cpus), key=key)

    def sibling(self, c: int) -> int | None:
        """The SMT sibling of CPU ``c``, if it has one."""
        for d in range(self.nr_cpus):
            if d != c and self.core_of[d] == self.core_of[c]:
                return d
        return None


@dataclass(frozen=True)
class Preset:
    """A real machine: ``cores`` cores with 2 SMT threads each, ``complex_cores`` of them per
    core complex (shared L3), and the three transfer latencies with where they come from."""
    name: str
    description: str
    cores: int
    complex_cores: int
    t_smt_ns: float
    t_ccx_ns: float
    t_cross_ns: float
    source: str
    l2_kib: int = 512            # [S] per core (vendor data; contention-model.md §6.4)
    l3_kib: int = 16384          # [S] per core complex

    @property
    def max_cpus(self) -> int:
        return 2 * self.cores

    def __call__(self, nr_cpus: int | None = None) -> Topology:
        """The machine with its first ``nr_cpus`` Linux CPU numbers (one thread per core first)."""
        nr_cpus = self.max_cpus if nr_cpus is None else nr_cpus
        if not 1 <= nr_cpus <= self.max_cpus:
            raise ContentionError(f"the {self.name} machine has 1..{self.max_cpus} CPUs, got {nr_cpus} "
                             "(machine 'generic' takes any count)")
        core = tuple(c % self.cores for c in range(nr_cpus))
        return Topology(self.name, nr_cpus, core, tuple(k // self.complex_cores for k in core),
                        t_smt_ns=self.t_smt_ns, t_ccx_ns=self.t_ccx_ns, t_cross_ns=self.t_cross_ns,
                        l2_kib=self.l2_kib, l3_kib=self.l3_kib)


PRESETS = {p.name: p for p in (
    Preset("threadripper-3970x", "AMD Ryzen Threadripper 3970X (Zen 2): 32 cores, CCXes of 4, 64 CPUs",
           32, 4, 6.5, 24.0, 94.0, "[S] Threadripper 3960X medians; 3970X cross-CCX mean 92.5 ns"),
    Preset("epyc-7702", "AMD EPYC 7702 (Zen 2): 64 cores, CCXes of 4, 128 CPUs",
           64, 4, 6.5, 24.0, 107.0, "[S] Zen 2 SMT and CCX (3960X); [E] cross-CCX from the EPYC 7R13"),
    Preset("epyc-7713", "AMD EPYC 7713 (Zen 3): 64 cores, CCXes of 8, 128 CPUs",
           64, 8, 9.8, 23.0, 107.0, "[S] EPYC 7R13 (Milan, AWS c6a.metal) medians", 512, 32768),
    Preset("xeon-8375c-2s", "two Intel Xeon Platinum 8375C (Ice Lake): 2 x 32 cores, 128 CPUs",
           64, 32, 8.1, 51.0, 108.0, "[S] Xeon Platinum 8375C (AWS c6i.metal) medians, one socket and two",
           1280, 55296),
)}


def threadripper_3970x(nr_cpus: int = 64) -> Topology:
    """AMD Ryzen Threadripper 3970X: 32 cores in 8 CCXes of 4, 2 threads per core (64 CPUs).

    With fewer CPUs, the first ``nr_cpus`` Linux CPU numbers are used (one thread per core first).
    """
    return PRESETS[LETTER_MACHINE](nr_cpus)


def generic(nr_cpus: int, xfer_ns: float = 50.0) -> Topology:
    """A flat machine: one core per CPU, every transfer the same ``xfer_ns``."""
    if nr_cpus < 1:
        raise ContentionError("nr_cpus must be >= 1")
    return Topology("generic", nr_cpus, tuple(range(nr_cpus)), tuple(range(nr_cpus)),
                    t_smt_ns=xfer_ns, t_ccx_ns=xfer_ns, t_cross_ns=xfer_ns)


TOPOLOGIES: dict[str, Callable[[int], Topology]] = {**PRESETS, "generic": generic}   # machine -> its Topology(nr_cpus)
# the cover letter's machine: every run's default, and the machine its tables were measured on
LETTER_MACHINE = "threadripper-3970x"


def machine_help() -> str:
    """One line per machine, for ``--help``."""
    return "; ".join([f"{p.name}: {p.description}" for p in PRESETS.values()]
                     + ["generic: any CPU count, every transfer 50 ns"])


@lru_cache(maxsize=32)
def _xfer_rows(topo: Topology) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(topo.xfer_ns(a, b) for a in range(topo.nr_cpus)) for b in range(topo.nr_cpus))
