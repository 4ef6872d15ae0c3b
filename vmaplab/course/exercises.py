# SPDX-License-Identifier: MIT
"""Seeded exercises, made, checked and explained by the real allocator and simulator.

The OSTEP pattern: a seed makes a problem; the learner answers; :meth:`Exercise.check` says right or
wrong and why; :attr:`Exercise.solution` is there for whoever asks for it. Every answer is computed
by running the kernel model (or the contention simulator) on the problem's own machine, never
typed in; the explanation quotes what the model did (which tree or pool the area came from, what
the purge decayed, who held the lock).

Kinds (``KINDS``): ``next-address`` (which address does this vmalloc return; notebooks 0 and 1),
``zone-node`` (which node's busy tree records an address; notebook 2), ``routing`` (which nodes'
busy tree, lazy tree and pool get an area; notebook 2), ``pool-node`` (which node's
pool receives a freed area at the purge; notebook 3), ``decay`` (how many areas a pool keeps after
the next purge; notebook 3), ``spinning-lock`` (which lock a CPU spins on at a time of a simulated
run; notebook 4), ``vread-zeros`` (how many bytes of a vread across areas and holes are not zero;
notebook 5), ``sweep-runs`` (how many runs an experiment spec makes; notebook 6). A teacher's own
list of calls makes a ``trace`` problem (:func:`from_ops`, ``vmaplab exercises --from FILE``).

Invariants: the same (kind, seed) gives the same exercise, text and answer; a check never changes
the exercise. Standard library only (the course's widgets wrap it, ``vmaplab exercises`` prints a
problem set with its answer key).
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..kernel.config import PAGE_SIZE
from ..kernel.errors import InvariantError, VmallocError
from ..kernel.generations import LETTER_VERSIONS, generation
from ..kernel.locks import LockId
from ..kernel.validate import check_int, is_integer, short_int
from ..kernel.vmalloc import Vmalloc
from .explain import Explainer


class ExerciseError(VmallocError):
    """An unknown kind or a bad seed; the message names the argument."""


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str


@dataclass(frozen=True)
class Exercise:
    """One problem: ``question`` to show, ``answer`` (the canonical text of the right answer),
    ``explanation`` of why, and ``accepted`` (normalised forms a learner may type)."""
    kind: str
    seed: int
    question: str
    answer: str
    explanation: str
    accepted: frozenset
    steps: tuple[str, ...] = ()     # every call of the problem narrated from the trace (vmaplab explain)

    @property
    def solution(self) -> str:
        """The answer and why, then (for the kinds made of allocator calls) each call as the model ran it."""
        text = f"{self.answer}. {self.explanation}"
        if self.steps:
            text += "\n\nThe calls, as the model ran them:\n" + "\n".join(self.steps)
        return text

    def check(self, response: str | int) -> Verdict:
        """Right or wrong, with the explanation either way (a wrong answer also says what it was).

        ``response`` is the text a learner typed, or an int; anything else is an ExerciseError.
        """
        if not isinstance(response, str) and not is_integer(response):
            raise ExerciseError(f"response must be the answer as text (or an int), got {type(response).__name__}")
        text = response if isinstance(response, str) else str(response.__index__())
        if len(text) > MAX_ANSWER:               # no answer is this long: wrong, and not echoed whole
            return Verdict(False, f"Not {text[:40]!r}... ({len(text)} characters). Think again, or reveal "
                                  f"the solution.")
        got = _normalise(text)
        if not got:
            return Verdict(False, "No answer yet: type one and check again.")
        if got in self.accepted or got == _normalise(self.answer):     # the solution's words, typed back
            return Verdict(True, f"Right: {self.answer}. {self.explanation}")
        return Verdict(False, f"Not {text.strip()!r}. Think again, or reveal the solution.")


MAX_ANSWER = 200        # characters: the longest right answer is a few dozen


def _normalise(text: str) -> str:
    """Lower case; spaces dropped, except between two numbers, where they separate like a comma
    (``"1 2"`` is not ``12``); every number in hex or decimal becomes its decimal digits (``"05"`` is 5)."""
    t = re.sub(r"0x[0-9a-f]+|[0-9]+", lambda m: str(int(m.group(), 16 if m.group()[:2] == "0x" else 10)),
               str(text).lower().strip())
    return "".join(re.sub(r"(?<=[0-9])\s*[,\s]\s*(?=[0-9])", ",", t).split())


def _numbers(*values: int) -> frozenset:
    return frozenset(str(v) for v in values)


# -- next-address ----------------------------------------------------------------------------------
def _small_machine(seed: int, version: str = "6.9", nr_cpus: int = 2) -> Vmalloc:
    # a 256-page window whose pools keep areas of up to 8 pages: addresses stay readable as page numbers
    return Vmalloc(nr_cpus=nr_cpus, version=version, seed=seed, vmalloc_size=256 * PAGE_SIZE,
                   max_va_size_pages=8, lazy_max_unit_pages=8, nr_ram_pages=4096)


def _page(vm: Vmalloc, addr: int) -> int:
    return (addr - vm.VMALLOC_START) // PAGE_SIZE


def _not_null(addr: int | None, what: str) -> int:
    """The address ``what`` returned: every exercise's machine has room for its areas, so NULL is vmaplab's bug."""
    if addr is None:
        raise InvariantError(f"{what} returned NULL on an exercise's machine with room for it")
    return addr


def _vmalloc(ex: Explainer, cpu: int, size: int, name: str | None = None) -> int:
    """A narrated vmalloc whose address the problem goes on to use."""
    addr, _step = ex.call("vmalloc", cpu, size, name)
    return _not_null(addr, f"vmalloc({size}) on CPU {cpu}")


def next_address(seed: int) -> Exercise:
    """A few vmallocs and vfrees on a 2-CPU 6.9 machine (maybe a purge); which page does the next return?"""
    r = random.Random(f"next-address/{seed}")
    ex = Explainer(machine=_small_machine(seed))     # every call narrated for the solution
    vm = ex.vm
    lines: list[str] = []
    live: list[tuple[int, int, int]] = []
    for _ in range(r.randint(4, 7)):
        pages, cpu = r.randint(1, 4), r.randrange(2)
        addr = _vmalloc(ex, cpu, pages * PAGE_SIZE)
        live.append((addr, pages, cpu))
        lines.append(f"vmalloc({pages} page{'s' * (pages > 1)}) on CPU {cpu} -> page {_page(vm, addr)}")
    freed = r.sample(live, r.randint(1, 2))
    for addr, _pages, _cpu in freed:
        cpu = r.randrange(2)
        ex.call("vfree", cpu, name=ex.name_of(addr))
        lines.append(f"vfree(page {_page(vm, addr)}) on CPU {cpu}")
    purged = r.random() < 0.6
    if purged:
        ex.call("purge", 0)
        lines.append("purge (the lazy areas are flushed: into their node's pools, or back to the free tree)")
    # half the time, ask for the size of a freed area on some CPU: a pool hit, or a near miss
    _addr, pages, cpu = r.choice(freed) if r.random() < 0.5 else (None, r.randint(1, 4), r.randrange(2))
    cpu = cpu if r.random() < 0.7 else 1 - cpu
    hits = vm.stats.pool_hits
    addr = _vmalloc(ex, cpu, pages * PAGE_SIZE)
    page = _page(vm, addr)
    if vm.stats.pool_hits > hits:
        why = (f"the request is {pages} page{'s' * (pages > 1)} plus the guard page, and CPU {cpu}'s node "
               f"{cpu % vm.nr_vmap_nodes} had a recycled area of "
               f"that size in its pool: 6.9 takes it before it searches the free tree")
    else:
        why = (f"no pool of CPU {cpu}'s node held a {pages + 1}-page area (with its guard page), so the free "
               f"tree gave the lowest free block that fits {pages + 1} pages"
               + ("" if purged else "; freed areas still wait in the lazy trees until a purge, so they are "
                  "not free yet"))
    question = ("A 6.9 machine with 2 CPUs and a 256-page vmalloc space (pages numbered from its start). "
                "These calls ran:\n  " + "\n  ".join(lines)
                + f"\nAt which page does vmalloc({pages} page{'s' * (pages > 1)}) on CPU {cpu} start?")
    return Exercise("next-address", seed, question, f"page {page} (address {addr:#x})",
                    f"Because {why}.", _numbers(page, addr) | {f"page{page}"}, _narration(ex))


def _narration(ex: Explainer, aside: Sequence[tuple[int, str]] = ()) -> tuple[str, ...]:
    """Every narrated call's lines, with the calls made around the explainer (``aside``: (how many steps had
    run, one line)) in their places."""
    out: list[str] = []
    for i, step in enumerate(ex.steps):
        out += [text for at, text in aside if at == i]
        out += step.lines
    return tuple(out + [text for at, text in aside if at >= len(ex.steps)])


# -- pool-node ---------------------------------------------------------------------------------------
def pool_node(seed: int) -> Exercise:
    """An area allocated on one CPU and freed on another: into which node's pool does the purge put it?"""
    r = random.Random(f"pool-node/{seed}")
    nr_cpus = r.choice((4, 8))
    ex = Explainer(machine=Vmalloc(nr_cpus=nr_cpus, version="6.9", seed=seed))
    vm = ex.vm
    pages = r.randint(1, 8)
    a, b = r.sample(range(nr_cpus), 2)
    for _ in range(r.randint(0, 12)):           # others' areas first, so the address lands in some zone
        size = r.randint(1, 16) * PAGE_SIZE
        ex.call("vmalloc", r.randrange(nr_cpus), size)
    addr = _vmalloc(ex, a, pages * PAGE_SIZE, name="x")
    zone_node = vm.addr_to_node_id(addr)
    ex.call("vfree", b, name="x")
    ex.call("purge", r.randrange(nr_cpus))
    found = [vn.id for vn in vm.nodes if any(va.va_start == addr for pool in vn.pool for va in pool.va_list)]
    if len(found) != 1:
        raise ExerciseError(f"seed {seed}: the area did not land in exactly one pool ({found})")
    node = found[0]
    question = (f"A 6.9 machine with {nr_cpus} CPUs ({vm.nr_vmap_nodes} vmap nodes). CPU {a} allocates "
                f"{pages} page{'s' * (pages > 1)} at {addr:#x} (its zone belongs to node {zone_node}); CPU {b} "
                f"frees it; then a purge runs. Into which node's pool does the area go?")
    return Exercise("pool-node", seed, question, f"node {node}",
                    f"CPU {a} allocated it, so 6.9 recorded CPU {a}'s node ({a} % {vm.nr_vmap_nodes} = {node}) in "
                    f"the area as its owner; the lazy free parks it in that node's lazy tree and the purge puts "
                    f"it into that node's pool, whichever CPU "
                    f"freed it and whichever node owns its address zone ({zone_node}: that one only holds it "
                    f"in its busy tree).", _numbers(node) | {f"node{node}"}, _narration(ex))


# -- decay ---------------------------------------------------------------------------------------------
def decay(seed: int) -> Exercise:
    """A pool holding m areas; how many does it keep after the next purge?"""
    r = random.Random(f"decay/{seed}")
    ex = Explainer(machine=Vmalloc(nr_cpus=2, version="6.9", seed=seed))
    vm = ex.vm
    pages, m = r.randint(1, 4), r.choice((1, 2, 3, 4, 5, 7, 8, 10, 12, 13, 16, 20))
    names = [f"a{i}" for i in range(m)]
    for name in names:
        ex.call("vmalloc", 0, pages * PAGE_SIZE, name=name)
    for name in names:
        ex.call("vfree", 0, name=name)
    ex.call("purge", 0)
    node = vm.nodes[0]
    pool = node.pool[pages]            # pool[k] keeps areas of k + 1 pages: k pages and the guard
    before = len(pool.va_list)
    ex.call("purge", 0)                 # nothing lazy: this purge only decays the pools
    after = len(pool.va_list)
    if before == 0:
        raise ExerciseError(f"seed {seed}: the pool was empty before the purge")
    rule = (f"a purge decays every pool by a quarter, rounded down: {before} >> 2 = {before >> 2} areas go "
            f"back to the free tree, {after} stay" if before >= 4 else
            f"a quarter of {before} rounds down to 0, and 6.9's countdown then wraps around and never stops "
            f"early: a pool of 1-3 areas is emptied completely (6.9 to 6.12; 7.3's decay leaves such pools alone)")
    question = (f"On a 6.9 machine, node 0's pool of {pages + 1}-page areas ({pages} page{'s' * (pages > 1)} "
                f"and the guard) holds {before} recycled areas and nothing is waiting in the lazy trees. A "
                f"purge runs. How many areas does that pool keep?")
    return Exercise("decay", seed, question, f"{after}", f"Because {rule}.", _numbers(after), _narration(ex))


# -- spinning-lock -----------------------------------------------------------------------------------
def spinning_lock(seed: int) -> Exercise:
    """A short simulated run of 8 CPUs: at time t, CPU c is spinning; on which lock, held by whom?"""
    from ..contention.sim import ContentionSim
    r = random.Random(f"spinning-lock/{seed}")
    window = (20_000.0, 60_000.0)
    # 6.9 spins far less: when its run has no spin long enough to ask about, the question is 6.8's
    for version in r.sample(LETTER_VERSIONS, 2):
        sim = ContentionSim(version, nr_threads=8, nr_cpus=8, machine="generic", scale=200_000, seed=seed,
                            params={"run_test_mask": 7}, timeline_window_ns=window)
        res = sim.run()
        spins = [rec for rec in res.timeline if rec[3] == "spin" and rec[2] - rec[1] > 20]
        if spins:
            break
    else:
        raise ExerciseError(f"seed {seed}: nobody spun in the window")
    lock = r.choice(sorted({rec[5] for rec in spins}))        # every lock spun on is as likely an answer
    cpu, t0, t1, _state, section, lock = r.choice([rec for rec in spins if rec[5] == lock])
    t = round((t0 + t1) / 2)
    holders = [rec for rec in res.timeline if rec[3] == "cs" and rec[5] == lock and rec[1] <= t < rec[2]]
    holder = f"CPU {holders[0][0]} held it, in {holders[0][4]}" if holders else "its holder was handing it over"
    question = (f"A simulated Linux {version} machine, 8 CPUs running test_vmalloc's run_test_mask=7 (the cover "
                f"letter's three tests: fixed-size, full-fit and long-busy-list vmalloc/vfree loops). At t = {t / 1000:.3f} µs of simulated time CPU {cpu} is spinning in "
                f"native_queued_spin_lock_slowpath, on its way into {section}. On which lock? (For a per-node "
                f"lock, its kind is enough: busy.lock, lazy.lock or pool_lock.)")
    short = LockId.parse(lock).family         # vn[3].busy.lock -> busy.lock
    return Exercise("spinning-lock", seed, question, lock,
                    f"{section} takes {lock}; at that moment {holder}. In "
                    + ("6.8 every allocation and free goes through the same global locks."
                       if not generation(version).vmap_nodes else "6.9 most of the traffic is spread over per-node locks "
                                                "(vn[i].busy.lock), but a pool miss still needs the global "
                                                "free_vmap_area_lock."),
                    frozenset({_normalise(lock), _normalise(short)}))


# -- zone-node ---------------------------------------------------------------------------------------
def zone_node(seed: int) -> Exercise:
    """An address on a machine with N nodes and Z-page zones: which node's busy tree records it?"""
    r = random.Random(f"zone-node/{seed}")
    nr_cpus, zone_pages = r.choice((4, 6, 8, 12, 16, 200)), r.choice((16, 16, 16, 8, 32))
    vm = Vmalloc(nr_cpus=nr_cpus, version="6.9", seed=seed, vmap_zone_size_pages=zone_pages)
    offset = r.randrange(4096) * PAGE_SIZE
    addr = vm.VMALLOC_START + offset
    node = vm.addr_to_node_id(addr)
    first = vm.addr_to_node_id(vm.VMALLOC_START)
    whatif = ("" if zone_pages == 16 else
              " (a vmaplab what-if: the kernel's zone is always 16 pages; only the arithmetic changes)")
    question = (f"A 6.9 machine with {nr_cpus} possible CPUs ({vm.nr_vmap_nodes} vmap nodes) and zones of "
                f"{zone_pages} pages ({zone_pages * 4} KiB){whatif}. The zone at VMALLOC_START ({vm.VMALLOC_START:#x}) "
                f"belongs to node {first}. An area starts at {addr:#x}, VMALLOC_START + {offset // PAGE_SIZE} "
                f"pages. Which node's busy tree records it?")
    cap = " (possible CPUs, capped at 128 on a 64-bit kernel)" if nr_cpus > 128 else ""
    return Exercise("zone-node", seed, question, f"node {node}",
                    f"addr_to_node_id divides the address by the zone size and takes the rest modulo the "
                    f"node count{cap}. Counted from VMALLOC_START: {offset // PAGE_SIZE} pages // {zone_pages} "
                    f"= {offset // PAGE_SIZE // zone_pages} zones further, and ({first} + "
                    f"{offset // PAGE_SIZE // zone_pages}) % {vm.nr_vmap_nodes} = {node}. Zones go round the "
                    f"nodes in turn, whatever CPU allocated the area.", _numbers(node) | {f"node{node}"})


# -- routing ---------------------------------------------------------------------------------------
def routing(seed: int) -> Exercise:
    """An area allocated on CPU a and freed on CPU b: which nodes' busy tree, lazy tree and pool get it?"""
    r = random.Random(f"routing/{seed}")
    nr_cpus = r.choice((4, 6, 8))
    ex = Explainer(machine=Vmalloc(nr_cpus=nr_cpus, version="6.9", seed=seed))     # every call narrated
    vm = ex.vm
    a, b = r.sample(range(nr_cpus), 2)
    for _ in range(r.randint(0, 12)):            # others' areas first, so the address lands in some zone
        size = r.randint(1, 16) * PAGE_SIZE
        ex.call("vmalloc", r.randrange(nr_cpus), size)
    pages = r.randint(1, 8)
    whole = r.random() < 0.75                    # else a request limited to part of the window: no owner
    aside: list[tuple[int, str]] = []            # the calls the explainer has no words for, said plainly
    if whole:
        addr = _vmalloc(ex, a, pages * PAGE_SIZE, name="x")
        call = f"vmalloc({pages} page{'s' * (pages > 1)})"
    else:
        lo = vm.VMALLOC_START + (1 << 30)
        got = vm.get_vm_area(pages * PAGE_SIZE, cpu=a, start=lo, end=lo + (1 << 30))
        if got is None:
            raise InvariantError(f"seed {seed}: get_vm_area of {pages} pages found no room in a free GiB")
        area = got
        addr = area.addr
        call = (f"get_vm_area({pages} page{'s' * (pages > 1)}) limited to [VMALLOC_START + 1 GiB, "
                f"VMALLOC_START + 2 GiB)")
        aside.append((len(ex.steps), f"(called directly) x = {call} cpu{a}  => x = {addr:#x} in node "
                                     f"{vm.addr_to_node_id(addr)}'s busy tree, no owner recorded (the request did "
                                     f"not span the whole window)"))
    busy = [vn.id for vn in vm.nodes if vn.busy.find(addr) is not None]
    if whole:
        ex.call("vfree", b, name="x")
    else:
        vm.free_vm_area(area, cpu=b)
    lazy = [vn.id for vn in vm.nodes if any(va.va_start == addr for va in vn.lazy)]
    if not whole:
        aside.append((len(ex.steps), f"(called directly) free_vm_area x cpu{b}  => left lazy on node "
                                     f"{lazy[0] if lazy else '?'}'s lazy tree"))
    ex.call("purge", b)
    pooled = [vn.id for vn in vm.nodes if any(va.va_start == addr for pool in vn.pool for va in pool.va_list)]
    if len(busy) != 1 or len(lazy) != 1 or len(pooled) > 1:
        raise ExerciseError(f"seed {seed}: the area was not in exactly one busy and one lazy tree")
    pool = str(pooled[0]) if pooled else "none"
    answer = f"{busy[0]},{lazy[0]},{pool}"
    zone = (addr - vm.VMALLOC_START) // vm.vmap_zone_size
    first = vm.addr_to_node_id(vm.VMALLOC_START)
    owner = (f"the request spanned the whole vmalloc window, so node_alloc recorded CPU {a}'s node "
             f"({a} % {vm.nr_vmap_nodes} = {a % vm.nr_vmap_nodes}) as its owner: the lazy tree of the owner "
             f"node takes it whichever CPU frees it, and at the purge it goes into that node's pool"
             if whole else
             "the request was limited to part of the window, so node_alloc recorded no owner: the lazy "
             "free falls back to the node of the address, and the purge returns the area to the free tree "
             "(only areas with an owner are pooled)")
    question = (f"A 6.9 machine with {nr_cpus} CPUs ({vm.nr_vmap_nodes} vmap nodes, zones of 16 pages; the zone at "
                f"VMALLOC_START belongs to node {first}). CPU {a} calls {call} and gets {addr:#x}, "
                f"VMALLOC_START + {(addr - vm.VMALLOC_START) // PAGE_SIZE} pages. CPU {b} frees it, then a purge "
                f"runs. Which node's busy tree held it, which node's lazy tree took it, and which node's pool "
                f"holds it after the purge? Answer as three numbers, e.g. 3,1,1 (write none for no pool).")
    return Exercise("routing", seed, question, answer,
                    f"The busy tree is chosen by the address: zone {zone} from VMALLOC_START, ({first} + {zone}) "
                    f"% {vm.nr_vmap_nodes} = node {busy[0]}. The lazy tree and the pool are chosen by the owner: "
                    f"{owner}. (Which CPU freed it does not matter; only the next allocation's own CPU decides "
                    f"which pool it looks in.)", frozenset({_normalise(answer), _normalise(answer.replace(",", " "))}),
                    _narration(ex, aside))


# -- vread-zeros ---------------------------------------------------------------------------------------
def vread_zeros(seed: int) -> Exercise:
    """Two areas with bytes written in them and a gap: how many bytes of a vread across them are not zero?"""
    r = random.Random(f"vread-zeros/{seed}")
    ex = Explainer(machine=Vmalloc(nr_cpus=1, version="6.9", seed=seed))     # the calls narrated
    vm = ex.vm
    pages = [r.randint(1, 2) for _ in range(3)]
    addrs = [_vmalloc(ex, 0, p * PAGE_SIZE, name=label) for p, label in zip(pages, "ABC")]
    ex.call("vfree", 0, name="B")                 # a lazily freed area between the two: unmapped
    lines: list[str] = []
    aside: list[tuple[int, str]] = []             # the stores and the read, which the explainer has no words for
    for a, p, label in ((addrs[0], pages[0], "A"), (addrs[2], pages[2], "C")):
        at, n = r.randrange(p * PAGE_SIZE - 64), r.randint(8, 64)
        vm.write(a + at, bytes([0x41 + len(lines)]) * n)
        aside.append((len(ex.steps), f"(called directly) write {n} bytes of {0x41 + len(lines):#04x} at {label} + {at} "
                                     f"= {a + at:#x}: stored in the pages of area {label}"))
        lines.append(f"{n} bytes of {0x41 + len(lines):#04x} written at {a:#x} + {at}")
    start = addrs[0] + r.randrange(0, 64)
    count = addrs[2] + pages[2] * PAGE_SIZE - start + r.randrange(0, PAGE_SIZE)
    data = vm.vread(start, count)
    nonzero = sum(b != 0 for b in data)
    aside.append((len(ex.steps), f"(called directly) vread({start:#x}, {count})  => walks the busy areas from "
                                 f"{start:#x}: copies the mapped pages of A and C, and zeros for their guard pages, "
                                 f"for B (freed: no longer a busy area) and past C; {nonzero} non-zero bytes"))
    question = (f"On a 6.9 machine: area A of {pages[0]} page(s) at {addrs[0]:#x}, area B of {pages[1]} page(s) at "
                f"{addrs[1]:#x} (vfreed, waiting for a purge), area C of {pages[2]} page(s) at {addrs[2]:#x}; each "
                f"is followed by its guard page. " + "; ".join(lines).replace(f"{addrs[0]:#x}", "A", 1)
                .replace(f"{addrs[2]:#x}", "C", 1)
                + f". vread({start:#x}, {count}) reads across all of them: how many of the {count} bytes are not zero?")
    return Exercise("vread-zeros", seed, question, f"{nonzero}",
                    f"vread copies only what is mapped in a live area: the written bytes inside A and C "
                    f"({nonzero} of them fall inside the range); guard pages, the freed area B and anything "
                    f"past the areas read as zeros, as the kernel fills holes.", _numbers(nonzero),
                    _narration(ex, aside))


# -- sweep-runs --------------------------------------------------------------------------------------
def sweep_runs(seed: int) -> Exercise:
    """A spec with one or two grid tables (which may share points) and maybe a sample: how many runs?"""
    from ..contention.experiments import parse_experiment
    r = random.Random(f"sweep-runs/{seed}")
    choices = {"version": list(LETTER_VERSIONS), "nr_threads": [1, 2, 4, 8, 16, 32], "seed": [0, 1, 2, 3],
               "policy": ["fifo", "tas"], "scale": [1000, 2000, 4000]}

    def table():
        keys = r.sample(sorted(choices), r.randint(1, 3))
        return {k: sorted(r.sample(choices[k], r.randint(1, len(choices[k]) if k != "nr_threads" else 3)),
                          key=str) for k in keys}
    grids = [table() for _ in range(r.choice((1, 2, 2)))]
    if len(grids) == 2 and r.random() < 0.6:          # make the tables share a point now and then
        shared = r.choice(sorted(grids[0]))
        grids[1][shared] = list(grids[0][shared])
    sample = r.choice((0, 0, 4, 8))
    doc = {"name": "exercise", "base": {"nr_cpus": 64}, "grid": grids if len(grids) > 1 else grids[0]}
    if sample:
        doc["sample"] = {"n": sample, "seed": 1, "ranges": {"cost.t_mem_ns": [70, 120]}}
    runs = parse_experiment(doc).runs()

    def show(g):
        return ", ".join(f"{k} = {v}" for k, v in g.items())
    text = "\n".join(f"  [[grid]]  {show(g)}" for g in grids) if len(grids) > 1 else f"  [grid]  {show(grids[0])}"
    products = [1] * len(grids)
    for i, g in enumerate(grids):
        for v in g.values():
            products[i] *= len(v)
    union = len({tuple(sorted((k, str(v)) for k, v in p.items() if k not in ("sample", "cost.t_mem_ns")))
                 for p in runs})
    why = (f"each grid table is the product of its lists ({' and '.join(map(str, products))} points)"
           + (f"; the union counts a point both tables make once (the same point: the same parameters named "
              f"with the same values), so {union} distinct points" if len(grids) > 1 else "")
           + (f"; every point runs with each of the {sample} samples: {union} x {sample} = {len(runs)}" if sample
              else ""))
    question = ("An experiment spec:\n" + text
                + (f"\n  [sample]  n = {sample} (a seeded draw of cost.t_mem_ns)" if sample else "")
                + "\nHow many runs does `vmaplab sweep` make of it?")
    return Exercise("sweep-runs", seed, question, f"{len(runs)}", f"Because {why}.", _numbers(len(runs)))


# -- trace: a teacher's own list of calls ---------------------------------------------------------------
def from_ops(text: str, version: str = "6.9", nr_cpus: int = 2, seed: int = 0, ask: str | None = None) -> Exercise:
    """A problem made of a teacher's own calls (the explainer's grammar, ``vmaplab explain --help``):
    "which address does NAME get?", NAME the last allocating call unless ``ask`` names another. The
    answer and the explanation (every call narrated from the model's trace, vmaplab.course.explain)
    are computed by running the calls; the exercise's kind is ``trace`` and its seed the machine's."""
    from .explain import ALLOCATORS, ExplainError, explain
    seed = _check_seed(seed)
    try:
        steps = explain(text, version, nr_cpus, seed)
    except ExplainError as e:
        raise ExerciseError(str(e)) from None
    allocs = [st for st in steps if st.op.kind in ALLOCATORS]
    if not allocs:
        raise ExerciseError("ops: the list has no allocating call (vmalloc, vmap, vm_map_ram, ioremap) to ask about")
    if ask is None:
        target = allocs[-1]
    else:
        named = [st for st in allocs if st.op.name == ask]
        if not named:
            raise ExerciseError(f"ask: no allocating call is named {ask!r:.40}; named: "
                                + ", ".join(sorted({st.op.name for st in allocs if st.op.name is not None}))[:200])
        target = named[-1]
    addr = target.facts["addr"]
    calls = "\n".join(f"  {st.op.pos}. {st.op.text}" for st in steps)
    question = (f"On a {version} machine with {nr_cpus} CPUs (seed {seed}), these calls run in order:\n{calls}\n"
                f"Which address does call {target.op.pos} give {target.op.name}? (NULL if it fails)")
    answer = f"{addr:#x}" if addr else "NULL"
    narration = "\n".join(line for st in steps for line in st.lines)
    accepted = _numbers(addr) if addr else frozenset({"null", "0", "none", "fails"})
    return Exercise("trace", seed, question, answer, "The calls, as the model ran them:\n" + narration, accepted)


KINDS: dict[str, Callable[[int], Exercise]] = {"next-address": next_address, "zone-node": zone_node,
                                               "pool-node": pool_node, "decay": decay, "routing": routing,
                                               "spinning-lock": spinning_lock, "vread-zeros": vread_zeros,
                                               "sweep-runs": sweep_runs}


def make(kind: str, seed: int) -> Exercise:
    """The exercise of ``kind`` made from ``seed`` (ExerciseError naming a bad argument)."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise ExerciseError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}"[:300])
    return KINDS[kind](_check_seed(seed))


def _check_seed(seed) -> int:
    """A seed as the CLI takes it: an integer (numpy.int64 too) in 0..2**64-1."""
    seed = check_int(seed, "seed", exc=ExerciseError, integral=True)
    if not 0 <= seed <= MAX_SEED:
        raise ExerciseError(f"seed must be an integer >= 0, got {short_int(seed)}" if seed < 0 else
                            f"seed must be an integer <= 2**64-1, got {short_int(seed)}")
    return seed


MAX_SEED = (1 << 64) - 1


def problem_set(seed: int, count: int = 2, kinds: tuple[str, ...] = tuple(KINDS)) -> list[Exercise]:
    """``count`` exercises of each kind, seeds drawn from ``seed`` (a teacher's sheet)."""
    seed = _check_seed(seed)
    count = check_int(count, "count", 1, 1000, exc=ExerciseError, integral=True)
    if isinstance(kinds, (str, bytes)) or not isinstance(kinds, (list, tuple)):
        raise ExerciseError(f"kinds must be a tuple of kinds, got {type(kinds).__name__}")
    for kind in kinds:
        if not isinstance(kind, str) or kind not in KINDS:
            raise ExerciseError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}"[:300])
    r = random.Random(f"problem-set/{seed}")
    return [make(kind, r.randrange(1 << 30)) for kind in kinds for _ in range(count)]
