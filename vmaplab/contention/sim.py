# SPDX-License-Identifier: MIT
"""N simulated CPUs running lib/test_vmalloc.c workers on the real allocator, contending on spinlocks.

How a run works. Each worker is the generator of :mod:`vmaplab.workloads`; one
step of it performs real allocator calls on a real :class:`vmaplab.Vmalloc`.
While it does, the recorder attached as the allocator's event sink
(``recorder.py``) turns its lock events into critical sections, each with the
tree searches, node visits and node writes it really performed. The step's
calls are then replayed in simulated time on the worker's CPU as a script of
named steps (:class:`Run`, the recorder's records, :class:`Request`, ...): local work
(per call, per page), lock requests (FIFO qspinlock or TAS, held for a time
``pricing.py`` computes from those counts), TLB-flush interrupts. When the
script ends, the next step runs. Scaled 6.9 runs start each loop warm
(``warm.py``).

Invariants: the heap engine orders events by (time, sequence), every random
choice comes from seeded streams, so the same arguments give the same result;
a lock is granted in request order (FIFO) and only one CPU holds it.

Simplifications:
  * an allocator call takes effect when its CPU starts it, and its critical
    sections are then replayed; with FIFO locks processed in request order the
    order of tree updates is the order of lock grants, except between locks;
  * tree nodes are priced by their cache lines (``ContentionCosts.cache_model``):
    each node keeps its last writer and the CPUs holding a copy; with
    ``cache_capacity`` (contention-model.md §6.4) a copy lasts until a cache-full
    of bytes (cleared pages, fetched lines) went through its core's L2 or its
    complex's L3; a call's page bytes are counted when the call is recorded;
  * the purge runs inside the call that crossed the threshold, on that CPU (the
    kernel's drain work runs on the queueing CPU's workqueue and steals its
    time), so ``vmap_lazy_nr`` never runs ahead of the purges and no drain is
    ever late; ``vmap_purge_lock`` (a mutex) is not contended. The per-VA
    accounting of a purge (``purge_va_ns``) is charged where the kernel's purge
    helpers would run it, each node's on that node's CPU (6.9), or spread over
    the running CPUs in a scaled 6.8 run (``charge_purge_work``);
  * a scaled run (``scale`` s) does 1/s of the loops and of the setup
    allocations (J, 15000), prices trees at their real size, keeps the real
    lazy_max_pages (so purges and pools behave per operation as in the real
    run), and counts every simulated nanosecond s times. A real loop lasts
    hundreds of purge intervals, a scaled one a few, so the pools' transient at
    the start of each loop would weigh s times more: in 6.9 each loop starts
    warm instead (``warm.py``: pools seeded, untimed, to the
    steady state computed from the turns per interval the run itself measures).
    What a scaled run cannot keep: full_fit's holes run out within the first
    purge interval (J/s holes against a batch of ~28k freed areas), so its loop
    then allocates from contiguous space where the real one keeps filling holes;
  * page allocation has no zone lock (no per-CPU page lists); IPIs are a fixed
    cost per receiver;
  * every lazy free adds to ``vmap_lazy_nr`` before it takes the lazy lock: one
    transfer of that line from its last writer, not queued (``SharedLine``: the
    after profile rules out a line served one transfer at a time);
  * with fewer workers than CPUs, workers are pinned where an idle machine's
    scheduler would put them (``placement="spread"``: one per core complex first,
    SMT siblings last) and never migrate; ``"packed"`` uses CPUs 0..n-1;
  * local work runs ``f_smt`` slower while the SMT sibling runs, half that much
    more while the sibling waits for a lock (§6.1); clear_page may have its own
    factor (``f_smt_clear``);
  * ``drain="kworker"`` (experimental) instead runs the drain work when no purge
    is in flight, on the CPU that queued it and ahead of that CPU's worker, so
    purges are serialised and ``vmap_lazy_nr`` can run ahead (helpers appear);
    the helpers' locked work still runs on the draining CPU.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import NamedTuple

from ..kernel.vmalloc import Vmalloc
from ..workloads.test_vmalloc import TestVmallocParams, TestVmallocRun, Worker
from .cachelines import Caches, page_work_bytes
from .costs import ContentionCosts
from .engine import Engine
from .errors import ContentionError
from .locks import FifoLock, SharedLine, TasLock
from .numeric import plain_sum
from .pricing import SectionPricer
from .profile import Profile, call_path
from .recorder import AtomicUpdate, CriticalSection, FlushIpi, PurgedVas, SectionRecorder
from .settings import check_setting, default
from .topology import TOPOLOGIES
from .warm import WarmStart

# Events are partials, not lambdas: calling one runs its target without a wrapper frame.


class Run(NamedTuple):
    """Script step: local work of ``ns`` on the CPU, charged to ``who`` = (test, function).

    ``path`` is its perf call path and ``clear`` says whether it is clear_page work (its own
    SMT factor): both follow from ``who`` and are computed once per kind of step (``_call_runs``).
    """
    who: tuple[str, str]
    ns: float
    path: tuple[str, ...]
    clear: bool


class Request(NamedTuple):
    """Script step: take ``cs.lock``, hold it for the priced section, release it, charged to ``who``.

    For a section outside any call of the step (the kworker drain's); a call's own sections are
    in the script as the recorder's :class:`CriticalSection` records, charged to their call.
    """
    cs: CriticalSection
    who: tuple[str, str]


class Atomic(NamedTuple):
    """Script step: a locked RMW of a shared counter's line, charged to ``who``."""
    counter: str
    who: tuple[str, str]


class DrainDone(NamedTuple):
    """Script step: the kworker drain that ran for ``worker`` has ended."""
    worker: object


@dataclass(slots=True, eq=False)
class CpuState:
    """One simulated CPU's state (``ContentionSim.cpus[cpu]``), mutated as the run goes.

    ``sibling``: its SMT sibling's CPU number, or None (``Topology.sibling``).
    ``active``: it runs a worker that has not finished yet.
    ``state``: (verb, what) for a viewer (``snapshot``): ("idle", ""), ("spin", lock), ("run", function),
    ("done", "").
    ``who``: (test, function) of the call its most recent Run began: the records that follow are charged to it.
    ``busy_ns``: the CPU time of its worker so far (real-equivalent: simulated × scale).
    ``spin_until``: when its current wait for a lock ends (its SMT sibling then runs as if half busy).
    ``ipi_debt``: TLB-flush IPI work it owes, paid at its next local work (``_flush``).
    ``purge_debt``: purge_vmap_node work it owes, paid at its next local work (``charge_purge_work``).
    ``purge_wait``: the longest purge helper on an idle CPU it waits for, paid the same way.
    """
    sibling: int | None
    active: bool = False
    state: tuple[str, str] = ("idle", "")
    who: tuple[str, str] = ("", "")
    busy_ns: float = 0.0
    spin_until: float = 0.0
    ipi_debt: float = 0.0
    purge_debt: float = 0.0
    purge_wait: float = 0.0


@dataclass
class SimResult:
    """What one simulated run produced."""
    version: str
    nr_threads: int
    scale: int
    wall_ns: float                      # real-equivalent (simulated × scale)
    busy_ns: float                      # CPU time of all workers (real-equivalent)
    spin_ns: float
    profile: list[dict]
    locks: list[dict]
    summary: list[str]
    allocator: dict
    timeline: list[tuple] = field(default_factory=list)
    sections: list[dict] = field(default_factory=list)     # per (lock, section): holds and their cache lines
    overlapping_purges: int = 0        # purges that started while another was still running (see the module doc)
    atomics: list[dict] = field(default_factory=list)      # shared counters' lines (vmap_lazy_nr): RMWs, waits

    @property
    def wall_s(self) -> float:
        return self.wall_ns / 1e9

    @property
    def slowpath_self_pct(self) -> float:
        return 100.0 * self.spin_ns / self.busy_ns if self.busy_ns else 0.0

    def as_dict(self) -> dict:
        return {"version": self.version, "nr_threads": self.nr_threads, "scale": self.scale,
                "wall_s": self.wall_s, "slowpath_self_pct": self.slowpath_self_pct,
                "profile": self.profile, "locks": self.locks, "summary": self.summary,
                "allocator": self.allocator, "sections": self.sections,
                "overlapping_purges": self.overlapping_purges, "atomics": self.atomics}


class ContentionSim:
    """One ``test_vmalloc.sh`` run on N simulated CPUs.

    >>> sim = ContentionSim("6.9", nr_threads=2, nr_cpus=2, machine="generic", scale=1000,
    ...                     params={"run_test_mask": 1, "test_loop_count": 20000})
    >>> res = sim.run()
    >>> res.summary[0].startswith("Summary: fix_size_alloc_test passed: 1 failed: 0")
    True
    """

    def __init__(self, version: str = default("version"), nr_threads: int = default("nr_threads"),
                 nr_cpus: int | None = default("nr_cpus"), machine: str = default("machine"),
                 scale: int = default("scale"), seed: int = default("seed"), policy: str = default("policy"),
                 costs: ContentionCosts | None = None, params: dict | None = None, pools: bool = default("pools"),
                 nr_vmap_nodes: int | None = default("nr_vmap_nodes"),
                 vmap_zone_size_pages: int = default("vmap_zone_size_pages"),
                 max_va_size_pages: int = default("max_va_size_pages"),
                 timeline_window_ns: tuple[float, float] | None = None, progress=None,
                 warm_start: bool = default("warm_start"), drain: str = default("drain"),
                 placement: str = default("placement")):
        # every setting checked and converted by its RunSpec field (settings.py), a ContentionError naming it
        (version, nr_threads, nr_cpus, machine, scale, seed, policy, pools, nr_vmap_nodes, vmap_zone_size_pages,
         max_va_size_pages, warm_start, drain, placement) = (
            check_setting(name, value) for name, value in (
                ("version", version), ("nr_threads", nr_threads), ("nr_cpus", nr_cpus), ("machine", machine),
                ("scale", scale), ("seed", seed), ("policy", policy), ("pools", pools),
                ("nr_vmap_nodes", nr_vmap_nodes), ("vmap_zone_size_pages", vmap_zone_size_pages),
                ("max_va_size_pages", max_va_size_pages), ("warm_start", warm_start), ("drain", drain),
                ("placement", placement)))
        nr_cpus = nr_cpus or nr_threads
        if not 1 <= nr_threads <= nr_cpus:
            raise ContentionError(f"need 1 <= nr_threads ({nr_threads}) <= nr_cpus ({nr_cpus})")
        self.version, self.scale, self.policy, self.seed = version, scale, policy, seed
        self.costs = costs or ContentionCosts()
        self.topology = TOPOLOGIES[machine](nr_cpus)
        if self.costs.t_cross_ns is not None:
            self.topology = replace(self.topology, t_cross_ns=self.costs.t_cross_ns)
        given = dict(params or {})
        given.setdefault("run_test_mask", 7)
        given["nr_threads"] = nr_threads
        loops = given.get("test_loop_count", 1_000_000)
        given["test_loop_count"] = max(1, loops // scale)
        self.params = TestVmallocParams(**given).fixed()
        self.real_loops = loops
        self.vm = Vmalloc(nr_cpus=nr_cpus, version=version, seed=seed, pools=pools, nr_vmap_nodes=nr_vmap_nodes,
                          vmap_zone_size_pages=vmap_zone_size_pages, max_va_size_pages=max_va_size_pages,
                          nr_ram_pages=max(1 << 20, 64 * nr_threads * (1 << 14)),
                          autorun_work=drain != "kworker")      # kworker: the simulator runs the drain work
        lines = self.costs.cache_model == "lines"
        # finite caches (contention-model.md §6.4): page work and fetched lines stream through them
        self.caches = Caches(self.topology) if lines and self.costs.cache_capacity else None
        self.rec = SectionRecorder(self.vm, track_lines=lines, caches=self.caches)
        self.vm.attach_tracer(self.rec)
        # a scaled 6.9 run starts each measured loop with the pools the real run's long phase has
        self.warm_start = bool(warm_start) and scale > 1 and self.vm.has_pools
        # "kworker" (experimental): the drain work runs when the previous purge has ended, on the CPU
        # that queued it, ahead of that CPU's worker; "inline": inside the call that queued it
        self.drain = drain
        self._drain_running = False
        # fewer workers than CPUs: where the scheduler would run them (Topology.spread_order), not on
        # CPUs 0..n-1 (on the 3970X that packs 2 workers into one core complex)
        cpus = self.topology.spread_order() if placement == "spread" and nr_threads < nr_cpus else None
        self.run_ = TestVmallocRun(self.vm, self.params, seed=seed, cost=self.costs.calls, scale=scale,
                                   on_call=self._on_call, on_loop=self._on_loop if self.warm_start else None,
                                   touch=False,       # the tests' byte stores cost nothing in the model: skip them
                                   cpus=cpus)
        if self.caches is not None:
            self.rec.setup_areas = self.run_.setup_areas
        self.pricer = SectionPricer(self.costs, self.topology, scale, self.vm, self.run_, self.rec.real_size)
        self.engine = Engine()
        self.locks: dict[str, FifoLock | TasLock] = {}    # FifoLocks with policy "fifo", else TasLocks
        self.atomics: dict[str, SharedLine] = {}  # shared counters' lines (vmap_lazy_nr), see _atomic
        self.cpus = [CpuState(self.topology.sibling(c)) for c in range(nr_cpus)]   # per CPU, by number
        self.profile = Profile()
        self.spin_ns = 0.0
        self._purging: set = set()                # purges in flight: CPUs whose step runs one, or "kworker"
        self.overlapping_purges = 0               # purges started while another one was still running
        calls = self.costs.calls
        self._f_smt_clear = self.costs.f_smt if self.costs.f_smt_clear is None else self.costs.f_smt_clear
        self._fixed_ns = {"vmalloc": calls.vmalloc_fixed_ns, "vm_map_ram": calls.vmalloc_fixed_ns,
                          "kvfree_rcu": calls.rcu_queue_ns}        # any other call: vfree_fixed_ns
        self.window = timeline_window_ns
        self.timeline: list[tuple] = []
        self.progress = progress
        self._calls: list[tuple] = []
        self._runs: dict[tuple, tuple] = {}        # (test, call, pages, zero) -> its Runs (_call_runs)
        self._cs_paths: dict[tuple, tuple] = {}    # (who, section) -> call paths: spin, fast, cs
        self._gens: dict[int, Iterator[object]] = {}    # per CPU with a worker: its worker_main generator
        self._workers: dict[int, Worker] = {}
        # the warm start of a scaled 6.9 run (warm.py), or None
        self.warm = WarmStart(self.vm, self._workers) if self.warm_start else None
        self._started = False
        self._done = 0

    def _on_loop(self, w, sizes: tuple) -> None:
        if self.warm is not None:
            self.warm.on_loop(w, sizes)

    # -- recording the calls of one step ---------------------------------------------------------
    def _on_call(self, w, kind: str, pages: int, zero: bool) -> None:
        self._calls.append((kind, pages, zero, len(self.rec.items)))
        if self.caches is not None and pages:
            self.caches.stream(w.cpu, page_work_bytes(kind, pages, self.costs.calls.clears(zero)))
        if self.warm is not None:
            self.warm.on_call(w, kind, pages)


    def _lock(self, name: str) -> FifoLock | TasLock:
        lock = self.locks.get(name)
        if lock is None:
            c = self.costs
            if self.policy == "fifo":
                lock = FifoLock(name, self.engine, self.topology, c.c_lock_ns, c.c_set_ns)
            else:
                lock = TasLock(name, self.engine, self.topology, self.seed, c.c_lock_ns, c.c_set_ns)
            self.locks[name] = lock
        return lock

    def _script(self, w) -> list:
        """Turn the step's calls and recorded sections into run/lock/flush items, in order.

        Each call is its fixed cost (a Run), the records its kernel work left, as they are, then
        its page work (Runs). A record's (test, call) is its call's, the Run just before it
        (``_run_local`` keeps it in the CPU's ``CpuState.who``): no wrapper per record.
        """
        test = w.caller.split(" ", 1)[0]
        items = self.rec.items
        script: list = []
        start = 0
        for kind, pages, zero, end in self._calls:
            key = (test, kind, pages, zero)
            runs = self._runs.get(key)
            if runs is None:
                runs = self._runs[key] = self._call_runs(*key)
            script.append(runs[0])
            script += items[start:end]
            script += runs[1]
            start = end
        for item in items[start:]:          # sections after the last call (none expected)
            script.append(self._item(item, test, "vfree"))
        return script

    def _call_runs(self, test: str, kind: str, pages: int, zero: bool) -> tuple[Run, tuple[Run, ...]]:
        """The local work of one allocator call: its fixed cost (before its sections) and its page work (after)."""
        c = self.costs.calls

        def run(call: str, ns: float) -> Run:
            who = (test, call)
            return Run(who, ns, call_path("run", who, None, self.version), call == "pages.clear")
        tail: list[Run] = []
        if kind == "vmalloc" and pages:
            tail.append(run("pages.alloc", pages * c.page_alloc_ns))
            if c.clears(zero):
                tail.append(run("pages.clear", pages * c.clear_page_ns))
            tail.append(run("pages.map", pages * c.page_map_ns))
        elif kind == "vfree" and pages:
            tail.append(run("pages.unmap", pages * c.page_unmap_ns))
            tail.append(run("pages.free", pages * c.page_free_ns))
        elif kind == "vm_map_ram":
            tail.append(run("pages.map", pages * c.page_map_ns))
        elif kind == "vm_unmap_ram":
            tail.append(run("pages.unmap", pages * c.page_unmap_ns))
        return run(kind, self._fixed_ns.get(kind, c.vfree_fixed_ns)), tuple(tail)

    def _item(self, item, test: str, kind: str):
        """A record outside any call of the step as a script step: sections and atomics learn who they are charged to."""
        t = type(item)
        if t is CriticalSection:
            return Request(item, (test, kind))
        if t is AtomicUpdate:
            return Atomic(item.counter, (test, kind))
        return item

    # -- the CPU processes -------------------------------------------------------------------------
    def _advance(self, cpu: int) -> None:
        """CPU ``cpu`` is ready for its worker's next step."""
        self.rec.items = []
        self._calls = []
        self._purging.discard(cpu)              # its previous step, a purge or not, is over
        # the worker's clock is the simulated one (real-equivalent), so its Summary times are too
        w = self._workers[cpu]
        w.clock_ns = self._real_ns(self.engine.now_ns)
        purges = self.vm.stats.purges
        try:
            next(self._gens[cpu])
            if self.vm.stats.purges != purges:
                self._purge_starts(cpu)
        except StopIteration:
            st = self.cpus[cpu]
            st.active = False
            st.state = ("done", "")
            self._done += 1
            if self.progress is not None:
                self.progress(1)
            return
        script = self._script(w)
        if self.drain == "kworker" and self.vm.pending_work and not self._drain_running:
            script = self._drain_script(w) + script
        self._run_script(cpu, script, 0)

    def _purge_starts(self, who) -> None:
        """A purge starts now (run by CPU ``who``'s step, or by the kworker): count it if another is in flight.

        The kernel serialises purges (vmap_purge_lock); the inline drain does not, so its
        purges may overlap in simulated time; the kworker drain waits for the previous one.
        """
        self.overlapping_purges += bool(self._purging)
        self._purging.add(who)

    def _drain_script(self, w) -> list[tuple]:
        """The pending drain work, run now in the allocator, as a script for the CPU that queued it.

        Experimental (``drain="kworker"``): one purge at a time, as vmap_purge_lock and the
        workqueue's non-reentrancy make it; work queued meanwhile runs when it ends, on the same
        CPU, and finds the ``vmap_lazy_nr`` that built up, so purges grow and helpers appear.
        """
        self._drain_running = True
        start = len(self.rec.items)
        purges = self.vm.stats.purges
        self.vm.run_workqueue()
        if self.vm.stats.purges != purges:
            self._purge_starts("kworker")
        items = self.rec.items[start:]
        del self.rec.items[start:]
        test = w.caller.split()[0]
        return [self._item(item, test, "vfree") for item in items] + [DrainDone(w)]

    def _record(self, cpu: int, t0: float, t1: float, state: str, label: str, lock: str = "") -> None:
        if self.window is not None and t1 > self.window[0] and t0 < self.window[1]:
            self.timeline.append((cpu, t0, t1, state, label, lock))

    def _run_script(self, cpu: int, script: list, i: int) -> None:
        n = len(script)
        while i < n:
            item = script[i]
            kind = type(item)
            if kind is CriticalSection:             # the most common step: a recorded section of this call
                self._request(cpu, item, self.cpus[cpu].who, script, i)
                return
            if kind is Run:
                # consecutive local work (e.g. a call's page work) is one event: same CPU, no lock between
                j = i + 1
                while j < n and type(script[j]) is Run:
                    j += 1
                self._run_local(cpu, script, i, j)
                return
            if kind is FlushIpi:
                self._flush(cpu)
                i += 1
                continue
            if kind is DrainDone:
                self._drain_running = False
                self._purging.discard("kworker")
                if self.vm.pending_work:
                    script[i + 1:i + 1] = self._drain_script(item.worker)
                    n = len(script)
                i += 1
                continue
            if kind is AtomicUpdate:
                self._atomic(cpu, item.counter, self.cpus[cpu].who, script, i)
                return
            if kind is PurgedVas:
                self.charge_purge_work(cpu, item.nr * self.costs.purge_va_ns, item.node)
                i += 1
                continue
            if kind is Request:                     # a drain's section, or one after the step's last call
                self._request(cpu, item.cs, item.who, script, i)
                return
            if kind is Atomic:
                self._atomic(cpu, item.counter, item.who, script, i)
                return
            raise TypeError(f"unknown script step {item!r}")
        self._advance(cpu)

    def _run_local(self, cpu: int, script: list, i: int, j: int) -> None:
        """Run items ``i..j-1`` (local work), then the debts this CPU owes (IPIs, purge helpers); resume at ``j``."""
        eng = self.engine
        now = t = eng.now_ns
        wgt = self.scale
        version = self.version
        f, f_clear = self.smt_factors(cpu)
        add = self.profile.add
        pns = self.profile.ns              # Profile.add inlined for the common item
        window = self.window
        for k in range(i, j):
            who, ns, path, clear = script[k]
            ns *= f_clear if clear else f
            if ns:
                pns[path] += ns * wgt
            if window is not None:
                self._record(cpu, t, t + ns, "run", who[1])
            t += ns
        st = self.cpus[cpu]
        who = st.who = script[j - 1].who     # the call the records that follow belong to
        debt = st.ipi_debt
        purge = st.purge_debt + st.purge_wait
        st.ipi_debt = st.purge_debt = st.purge_wait = 0.0
        if debt:
            add(call_path("ipi", who, None, version), debt * wgt)
            if window is not None:
                self._record(cpu, t, t + debt, "ipi", "flush_tlb_func")
        if purge:
            add(call_path("run", (who[0], "purge_vmap_node"), None, version), purge * wgt)
            if window is not None:
                self._record(cpu, t + debt, t + debt + purge, "run", "purge_vmap_node")
            debt += purge
        st.busy_ns += (t - now + debt) * wgt
        st.state = ("run", who[1])          # formatted by snapshot()
        eng.schedule(t + debt, partial(self._run_script, cpu, script, j))

    def smt_factors(self, cpu: int) -> tuple[float, float]:
        """How much slower ``cpu``'s local work runs now: (any work, clear_page), from its SMT sibling.

        1.0 with no sibling or an idle one; ``f_smt`` (``f_smt_clear`` for clear_page) while the
        sibling runs; halfway there while the sibling spins (contention-model.md §6.1: half busy).
        """
        cpus = self.cpus
        sib = cpus[cpu].sibling
        if sib is None:
            return 1.0, 1.0
        other = cpus[sib]
        if not other.active:
            return 1.0, 1.0
        if self.engine.now_ns < other.spin_until:
            return 1.0 + (self.costs.f_smt - 1.0) / 2, 1.0 + (self._f_smt_clear - 1.0) / 2
        return self.costs.f_smt, self._f_smt_clear

    def charge_purge_work(self, cpu: int, ns: float, node: int) -> None:
        """Who does a purged node's accounting (``purge_va_ns`` per VA), paid at that CPU's next step.

        A scaling device more than a kernel mechanism: a scaled run has few purges, and each
        would land on one worker, where the real run's many purges spread over all CPUs. 6.9:
        the CPU of the node's id, where a purge helper would run it (the node's VAs are those
        its own CPU freed; the kernel uses helpers only when ``vmap_lazy_nr`` reaches twice
        ``lazy_max_pages``, which ``drain="kworker"`` finds rare: the CLI's ``purges`` line counts
        the helpers); a CPU without a worker runs it alongside, and the purging CPU waits for the
        longest such one (flush_work). 6.8 has one global list and no helpers: the draining CPU
        does it all, but in a scaled run it is spread evenly over the running CPUs.
        """
        cpus = self.cpus
        if self.vm.has_pools:
            target = cpus[node % len(cpus)]
            if target.active:
                target.purge_debt += ns
            else:
                # an idle CPU runs that helper in parallel; the purging CPU waits for the longest
                st = cpus[cpu]
                st.purge_wait = max(st.purge_wait, ns)
            return
        running = [c for c in cpus if c.active] if self.scale > 1 else []
        if not running:
            cpus[cpu].purge_debt += ns
            return
        share = ns / len(running)
        for c in running:
            c.purge_debt += share

    def _flush(self, cpu: int) -> None:
        c = self.costs
        receiver_ns = c.ipi_receiver_ns
        for other, st in enumerate(self.cpus):
            if st.active and other != cpu:
                st.ipi_debt += receiver_ns
        self.cpus[cpu].ipi_debt += c.ipi_sender_ns

    def _real_ns(self, t_ns: float) -> float:
        """Real-equivalent time of simulated time ``t_ns``."""
        return t_ns * self.scale

    def _atomic(self, cpu: int, name: str, who: tuple[str, str], script, i) -> None:
        """A locked RMW on a line every CPU writes (``vmap_lazy_nr``): the CPU stalls for the line (SharedLine).

        The stall is the caller's self time (free_vmap_area_noflush), not the spinlock slow path,
        and no SMT factor applies (it waits on the fabric, not on the core).
        """
        line = self.atomics.get(name)
        if line is None:
            line = self.atomics[name] = SharedLine(name, self.topology, self.costs.atomic_rmw_ns)
        ns = line.rmw(cpu)
        now = self.engine.now_ns
        self.profile.add(call_path("atomic", who, name, self.version), ns * self.scale)
        if self.window is not None:
            self._record(cpu, now, now + ns, "run", f"atomic {name}")
        st = self.cpus[cpu]
        st.busy_ns += ns * self.scale
        st.state = ("run", f"atomic {name}")
        self.engine.schedule(now + ns, partial(self._run_script, cpu, script, i + 1))

    def _request(self, cpu: int, cs: CriticalSection, who: tuple[str, str], script, i) -> None:
        name = cs.lock
        lock = self.locks.get(name) or self._lock(name)
        hold = self.pricer.hold_ns(cpu, lock.last_owner, cs)
        st = self.cpus[cpu]
        st.state = ("spin", name)
        if isinstance(lock, FifoLock):         # policy "fifo"
            # the grant is known now (FIFO): one event, at the release
            queued = lock.free_at > self.engine.now_ns
            t_req, grant, release, contended = lock.acquire(cpu, hold)
            self.engine.schedule(release, partial(self._released, cpu, script, i, cs, who, t_req, grant, release,
                                                  contended))
            if queued:
                st.spin_until = lock.free_at - hold
        else:
            lock.request(cpu, hold, partial(self._released, cpu, script, i, cs, who))

    def _released(self, cpu: int, script, i: int, cs: CriticalSection, who: tuple[str, str], t_req: float,
                  grant: float, release: float, contended: bool) -> None:
        """CPU ``cpu`` released the lock of ``cs``: charge its wait and hold, go on with the script."""
        wgt = self.scale
        section = cs.section
        paths = self._cs_paths.get((who, section))
        if paths is None:
            paths = self._cs_paths[(who, section)] = tuple(
                call_path(kind, who, section, self.version) for kind in ("spin", "fast", "cs"))
        pns = self.profile.ns               # Profile.add inlined: nothing is added for 0 ns
        waited = (grant - t_req) * wgt
        if contended:
            self.spin_ns += waited
        if waited:
            pns[paths[0] if contended else paths[1]] += waited
        held = (release - grant) * wgt
        if held:
            pns[paths[2]] += held
        if self.window is not None:
            if contended:
                self._record(cpu, t_req, grant, "spin", section, cs.lock)
            self._record(cpu, grant, release, "cs", section, cs.lock)
        self.cpus[cpu].busy_ns += (release - t_req) * wgt
        self._run_script(cpu, script, i + 1)

    # -- driving ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Create the workers and put each CPU's first step on the event heap (all start together)."""
        if self._started:
            return
        self._started = True
        for w, gen in zip(self.run_.workers, (self.run_.worker_main(w) for w in self.run_.workers)):
            self._gens[w.cpu] = gen
            self._workers[w.cpu] = w
            self.cpus[w.cpu].active = True
        for cpu in sorted(self._gens):
            self.engine.schedule(0.0, partial(self._advance, cpu))

    def step(self) -> bool:
        """Run one event (for step-by-step viewing); False when the run is over."""
        self.start()
        return self.engine.step()

    def snapshot(self) -> dict:
        """The state a viewer draws: time, each CPU's state, each lock's owner and counters."""
        return {"t_ns": self.engine.now_ns, "cpus": [f"{st.state[0]} {st.state[1]}".strip() for st in self.cpus],
                "locks": {n: {"last_owner": lk.last_owner, "acquisitions": lk.stats.acquisitions,
                              "contended": lk.stats.contended} for n, lk in self.locks.items()}}

    def run(self, until_ns: float | None = None) -> SimResult:
        """Run to the end (or to ``until_ns`` of simulated time) and return the results so far."""
        self.start()
        self.engine.run(until_ns)
        return self.result()

    def result(self) -> SimResult:
        s = self.scale
        busy = plain_sum([st.busy_ns for st in self.cpus])
        locks = sorted((lk.stats.as_dict() for lk in self.locks.values()), key=lambda d: -d["spin_ns"])
        atomics = [line.as_dict() for _name, line in sorted(self.atomics.items())]
        for d in locks:
            for k in ("spin_ns", "hold_ns", "fast_ns"):
                d[k] *= s
        for d in atomics:
            d["rmws"] *= s
            d["transfers"] *= s
            d["stall_ns"] *= s
        stats = self.vm.stats.as_dict()
        sections = self.pricer.table()
        return SimResult(self.version, self.params.nr_threads, s, self._real_ns(self.engine.now_ns), busy,
                         self.spin_ns, self.profile.table(), locks, self.run_.summary_lines(self.real_loops),
                         stats, self.timeline, sections, self.overlapping_purges, atomics)

