# SPDX-License-Identifier: MIT
"""What a critical section costs: the hold time of each recorded section, next to the costs it uses.

Mirrors no kernel code. A section's hold time is ``cs_base_ns`` plus its tree node accesses: with the
cache-line model (``ContentionCosts.cache_model="lines"``, contention-model.md §6.1) each hit costs
``t_hit_ns``, each cold line ``t_mem_ns``, each fetched line the transfer from the CPU it came from,
and the section's invalidations the slowest one once; with the depth model, ``ContentionCosts.tree_ns``
plus the lines the previous holder wrote. A section without a tree (a pool list, a vm_struct link)
costs ``pool_op_ns`` plus those lines. A tree of a scaled run is priced at its real size: the levels
it lacks lie on the path every search shares, so they are hits (§6.1); with finite caches (§6.4)
they cost what the clean lines the search read cost, and a busy-tree search among the setup areas
pays them by where this core left its own path (§6.5: L2, L3 or memory).

Invariants: the price depends only on the section's record, the CPU, the previous holder and what
this pricer saw before (the previous holder's writes per lock), so a run stays deterministic.
"""
from __future__ import annotations

from math import log2

from .costs import ContentionCosts
from .locks import lock_group
from .numeric import plain_sum
from .recorder import CriticalSection

_OWN_SLOT = {2: 7, 3: 8, 0: 9, -1: 10}     # §6.5 class -> its slot in a section's accumulator


class SectionPricer:
    """Hold times for one run's critical sections, and the per-section table the results report."""

    def __init__(self, costs: ContentionCosts, topology, scale: int, vm, run, real_size_locks: set[str]):
        self.costs = costs
        self.topology = topology
        self.xfer_to = topology.xfer_rows()     # xfer_to[cpu][src]: a line's transfer time
        # a line's cost by the cache that held it (cachelines.Caches.level: 2 L2, 3 L3, 0 memory)
        self._level_ns = {2: costs.t_hit_ns, 3: costs.t_l3_ns, 0: costs.t_mem_ns}
        self.scale = scale
        self.vm = vm
        self.run = run                          # the TestVmallocRun: how much setup a scaled run left out
        self.real_size_locks = real_size_locks  # trees as big as the real ones in a scaled run
        self.last_writes: dict[str, float] = {}     # lock -> lines its previous holder wrote, per search
        self.sections: dict[tuple[str, str], list] = {}   # (lock group, section) -> [holds, ns, visits, ...]
        self._acc: dict[tuple[str, str], list] = {}     # (lock, section) -> its group's row of ``sections``

    def hold_ns(self, cpu: int, prev_owner: int | None, cs: CriticalSection, account: bool = True) -> float:
        """A critical section's hold time from what it did (tree accesses and their lines, or a list op).

        Added to the per-(lock group, section) table unless ``account`` is False (:meth:`price`).
        """
        name, section, ops, visits, writes, size, lines = cs
        c = self.costs
        if not (ops or writes):          # list heads and counters the previous holder wrote
            hold = c.cs_base_ns + c.pool_op_ns + self._handover_lines(cpu, prev_owner, name, 0, 0)
        else:
            per_level = c.free_visits_per_level if name == "free_vmap_area_lock" else c.busy_visits_per_level
            real = self.real_size(name, size)
            if lines is None:
                hold = (c.cs_base_ns + c.tree_ns(ops, visits, writes, size, real, per_level)
                        + self._handover_lines(cpu, prev_owner, name, visits, writes / max(ops, 1)))
            else:
                self.last_writes[name] = writes / max(ops, 1)        # for a section without a tree that follows
                hits, cold, remote, upgrades, l3, private = lines
                grow = log2(real + 2) - log2(size + 2) if real > size else 0.0
                extra = ops * per_level * grow if grow else 0.0
                xfer = self.xfer_to[cpu]
                if not c.cache_capacity:
                    # §6.1: the levels a scaled tree lacks lie on the path every search shares: cached
                    hold = (c.cs_base_ns + (hits + extra + writes) * c.t_hit_ns + cold * c.t_mem_ns
                            + plain_sum(map(xfer.__getitem__, remote))
                            + (max(map(xfer.__getitem__, upgrades)) if upgrades else 0.0))
                else:
                    if private and grow:
                        # §6.5: searches among setup areas lack levels of their own key's path
                        extra = (ops - len(private)) * per_level * grow if ops > len(private) else 0.0
                        own = self._own_path_ns(private, c.busy_private_visits_per_level * grow, hits, l3, cold)
                    else:
                        own = 0.0
                    hold = (c.cs_base_ns + (hits + writes) * c.t_hit_ns + l3 * c.t_l3_ns + cold * c.t_mem_ns
                            + self._missing_levels_ns(extra, hits, l3, cold) + own
                            + plain_sum(map(xfer.__getitem__, remote))
                            + (max(map(xfer.__getitem__, upgrades)) if upgrades else 0.0))
        if account:
            acc = self._acc.get((name, section))
            if acc is None:
                acc = self._accumulator(name, section)
            acc[0] += 1
            acc[1] += hold
            acc[2] += visits
            if lines is not None:
                acc[3] += lines.hits
                acc[4] += len(lines.remote)
                acc[5] += lines.cold
                acc[6] += lines.l3
                for where in lines.private:        # §6.5: where each search's own path was
                    acc[_OWN_SLOT[where]] += 1
        return hold

    def _missing_levels_ns(self, extra: float, hits: int, l3: int, cold: int) -> float:
        """The ``extra`` levels a scaled tree lacks, priced like the clean lines this search read (§6.4).

        In the real tree they lie on the same paths, to the same keys, as the levels the scaled tree
        has, so they are reused as often; they are the unscaled setup's areas, which nobody writes,
        so none is a transfer. A search that read no clean line prices them as L2 hits.
        """
        if not extra:
            return 0.0
        c = self.costs
        clean = hits + l3 + cold
        if not clean:
            return extra * c.t_hit_ns
        return extra * (hits * c.t_hit_ns + l3 * c.t_l3_ns + cold * c.t_mem_ns) / clean

    def _own_path_ns(self, private: list[int], levels: float, hits: int, l3: int, cold: int) -> float:
        """§6.5: ``levels`` missing nodes per search on each key's own path, priced by where that path was.

        ``private`` holds, per search, 2 (this core's L2 still has it), 3 (its complex's L3), 0
        (evicted: memory) or -1 (this core never searched there: priced like the clean lines read).
        """
        cost = self._level_ns
        if len(private) == 1:                 # the common case: one search per hold
            w = private[0]
            return levels * cost[w] if w >= 0 else self._missing_levels_ns(levels, hits, l3, cold)
        return plain_sum(levels * cost[w] if w >= 0 else self._missing_levels_ns(levels, hits, l3, cold)
                         for w in private)

    def price(self, cpu: int, prev_owner: int | None, cs: CriticalSection) -> float:
        """The hold time of :meth:`hold_ns`, not added to the table (what-if questions, tests)."""
        return self.hold_ns(cpu, prev_owner, cs, account=False)

    def _accumulator(self, lock: str, section: str) -> list:
        """The table row a (lock, section) adds to: one per lock group, shared by its locks (vn[*])."""
        key = (lock_group(lock), section)
        acc = self.sections.get(key)
        if acc is None:
            # holds, ns, visits, hits, remote, cold, l3, own paths in L2, in L3, in memory, never searched
            acc = self.sections[key] = [0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        self._acc[(lock, section)] = acc
        return acc

    def _handover_lines(self, cpu: int, prev: int | None, name: str, visits: int, written: float) -> float:
        """The lines the previous holder wrote, fetched from its cache (§4.1's d).

        Its per-search average, as far as this section touches that many. With line
        tracking, tree sections count their transfers themselves and ignore this; sections
        without a tree (pool lists, vm_struct links) still pay it.
        """
        extra = 0.0
        if prev is not None and prev != cpu:
            extra = min(self.last_writes.get(name, 0.0), max(visits, 2)) * self.xfer_to[cpu][prev]
        self.last_writes[name] = written if visits or written else 2.0
        return extra

    def real_size(self, lock: str, size: int) -> float:
        """The node count this tree would have in the unscaled run (see ContentionCosts.tree_ns)."""
        missing = self.scale - 1
        if not missing or lock in self.real_size_locks:
            return size
        if lock == "free_vmap_area_lock":
            # full_fit's holes sit in the free tree only once purged there: always without pools,
            # and with pools only the share that decay sent back (the rest circulates via pools).
            st = self.vm.stats
            share = 1.0 if not self.vm.has_pools else (st.decayed / st.pool_adds if st.pool_adds else 0.0)
            return size + (self.run.junk_holes_real - self.run.junk_holes) * share
        # busy trees, address-sharded
        return size + (self.run.setup_live_real - self.run.setup_live) / self.vm.nr_vmap_nodes

    def table(self) -> list[dict]:
        """The per-(lock group, section) table of the results, real-equivalent, longest total hold first."""
        s = self.scale
        return sorted(({"lock": lk, "section": sec, "holds": n * s, "mean_hold_ns": h / n,
                        "hold_s": h * s / 1e9, "nodes_read": v / n, "line_hits": hits / n,
                        "lines_from_other_cpus": remote / n, "cold_lines": cold / n, "l3_hits": l3 / n,
                        "own_path": {"l2": o2 / n, "l3": o3 / n, "memory": o0 / n, "never": on / n}}
                       for (lk, sec), (n, h, v, hits, remote, cold, l3, o2, o3, o0, on) in self.sections.items()),
                      key=lambda d: -d["hold_s"])
