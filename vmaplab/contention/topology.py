"""Which CPUs share a core or a cache, and what moving a cache line between them costs.

Assumptions: a line moves between SMT siblings through their shared L1/L2, within a
CCX through its shared L3, and between CCXes through the I/O die; the cost depends
only on that distance (contention-model.md §2.3, §6.1). CPUs are numbered as Linux
does on the 3970X: CPU ``c`` and ``c + 32`` are SMT siblings; four cores make a CCX.

Sources for the preset: nviennot/core-to-core-latency on Zen 2 Threadripper
(3960X median 6.5 / 24 / 94 ns; 3970X cross-CCX mean 92.5 ns) [S].
"""
from __future__ import annotations

from dataclasses import dataclass


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

    def __post_init__(self):
        if self.nr_cpus < 1 or len(self.core_of) != self.nr_cpus or len(self.ccx_of) != self.nr_cpus:
            raise ValueError(f"topology {self.name!r}: need one core and one CCX per CPU")

    def xfer_ns(self, a: int, b: int) -> float:
        """One cache-line transfer from CPU ``a``'s cache to CPU ``b``'s (0 for the same CPU)."""
        if a == b:
            return 0.0
        if self.core_of[a] == self.core_of[b]:
            return self.t_smt_ns
        if self.ccx_of[a] == self.ccx_of[b]:
            return self.t_ccx_ns
        return self.t_cross_ns

    def xfer_rows(self) -> list[list[float]]:
        """``rows[b][a]`` = xfer_ns(a, b): one row per receiving CPU, for summing many transfers fast."""
        return [[self.xfer_ns(a, b) for a in range(self.nr_cpus)] for b in range(self.nr_cpus)]

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


def threadripper_3970x(nr_cpus: int = 64) -> Topology:
    """AMD Ryzen Threadripper 3970X: 32 cores in 8 CCXes of 4, 2 threads per core (64 CPUs).

    With fewer CPUs, the first ``nr_cpus`` Linux CPU numbers are used (one thread per core first).
    """
    if not 1 <= nr_cpus <= 64:
        raise ValueError(f"the threadripper-3970x machine has 1..64 CPUs, got {nr_cpus} (machine 'generic' takes any count)")
    core = tuple(c % 32 for c in range(nr_cpus))
    return Topology("threadripper-3970x", nr_cpus, core, tuple(k // 4 for k in core))


def generic(nr_cpus: int, xfer_ns: float = 50.0) -> Topology:
    """A flat machine: one core per CPU, every transfer the same ``xfer_ns``."""
    if nr_cpus < 1:
        raise ValueError("nr_cpus must be >= 1")
    return Topology("generic", nr_cpus, tuple(range(nr_cpus)), tuple(range(nr_cpus)),
                    t_smt_ns=xfer_ns, t_ccx_ns=xfer_ns, t_cross_ns=xfer_ns)


TOPOLOGIES = {"threadripper-3970x": threadripper_3970x, "generic": generic}
