# SPDX-License-Identifier: MIT
"""lib/test_vmalloc.c and test_vmalloc.sh as reproducible workloads on the simulated allocator.

Mirrors (kernel-model.md §5, §6): the module of the machine's own generation (``vm.gen.test_vmalloc``:
6.1's ten tests, 6.12's eleven, 7.3's thirteen with its xfail counts and run_test_mask 7), its
parameters and their load-time fixes, the test cases in table order, each worker's shuffled
test order (for i from n-1 down to 1, swap with a j uniform in [0, i): always one cycle), the
per-test pass/fail(/xfail) counts and average time, the ``Summary:`` and ``All test took``
lines; the shell script's presets and its argument checking.

Invariants: a run is a pure function of (machine, params, seed, interleave):
worker ``w`` draws from its own ``random.Random`` derived from (seed, w), so
adding a worker never changes another worker's choices; workers run one
allocator call at a time, interleaved round-robin or in a seeded random order.

Simplifications:
  * worker ``w`` runs on CPU ``w % nr_online_cpus``, or on ``cpus[w]`` when the caller places
    the workers (the kthreads are unbound in the kernel);
  * times come from :class:`vmaplab.workloads.costs.CostModel` for an uncontended CPU
    (cycles = ns × the model's GHz); contention is the simulator's business;
  * ``pcpu_alloc_test`` behaves as on a CONFIG_NEED_PER_CPU_KM kernel (it does
    nothing and passes): the percpu allocator is not modelled, so 7.3's ``nr_pcpu_objects``
    is accepted and changes nothing;
  * a parameter the machine's module does not declare (``use_huge`` on 6.1, ``nr_pcpu_objects``
    before 7.3) is ignored with the kernel's "unknown parameter" line, as insmod does;
  * ``vrealloc`` in place is charged nothing; moved, a vmalloc and a vfree;
  * ``use_huge`` is refused (vmalloc_huge is not modelled);
  * kvfree_rcu grace periods end after every ``rcu_batch`` queued objects (about one
    page of pointers, KVFREE_BULK_MAX_ENTR) and when the run ends;
  * vm_map_ram_test checks for failure (the kernel would dereference NULL).
"""
from __future__ import annotations

import random
from bisect import bisect_left, insort
from dataclasses import dataclass, field, replace

from ..kernel.config import GFP_ATOMIC, GFP_KERNEL, GFP_ZERO, PAGE_SIZE, THREAD_ALIGN, fls
from ..kernel.errors import ConfigError
from ..kernel.generations import TEST_VMALLOC_TESTS_6_12, TestVmallocModule
from .costs import CostModel

INT_MAX = (1 << 31) - 1
USHRT_MAX = 0xFFFF
BOOL_PARAMS = ("sequential_test_order", "use_huge")     # module_param(..., bool): the rest are ints

# 6.12's table (and the 6.8/6.9 runs'); each generation's own is ``vm.gen.test_vmalloc.tests`` (§5.2)
TEST_NAMES = TEST_VMALLOC_TESTS_6_12

# test_vmalloc.sh (§6)
PRESETS = {
    "performance": "sequential_test_order=1 test_repeat_count=3",
    "smoke": "test_loop_count=10000 test_repeat_count=10",
    "stress": "nr_threads={NUM_CPUS} test_repeat_count=20",
}
PRESET_MESSAGES = {
    "performance": ["Run performance tests to evaluate how fast vmalloc allocation is.",
                    "It runs all test cases on one single CPU with sequential order.",
                    "Done.", "Check the kernel message buffer to see the summary."],
    "stress": ["Run stability tests. In order to stress vmalloc subsystem all",
               "available test cases are run by NUM_CPUS workers simultaneously.",
               "It will take time, so be patient.", "Done.", "Check the kernel ring buffer to see the summary."],
    "smoke": ["Run smoke test. Note, this test provides basic coverage.",
              "Please check $0 output how it can be used",
              "for deep performance analysis as well as stress testing.",
              "Done.", "Check the kernel ring buffer to see the summary."],
}


@dataclass(frozen=True)
class TestVmallocParams:
    """The module parameters (§5.1), as given; :meth:`fixed` applies the load-time clamps."""
    __test__ = False                    # not a pytest class
    nr_threads: int = 0
    sequential_test_order: int = 0
    test_repeat_count: int = 1
    test_loop_count: int = 1_000_000
    nr_pages: int = 0
    use_huge: int = 0
    run_test_mask: int = INT_MAX
    nr_pcpu_objects: int = 35000        # 7.3's module only

    def selected_tests(self, nr_tests: int = len(TEST_NAMES)) -> int:
        """How many of the first ``nr_tests`` test cases (6.12's 11 unless told) ``run_test_mask`` selects."""
        return bin(self.run_test_mask & ((1 << nr_tests) - 1)).count("1")

    def loop_iterations(self, scale: int = 1) -> int:
        """Test loop iterations of a whole run (every worker, test and repetition), ``1/scale`` of the loops.

        What a run's length grows with: the CLI says so before a long run and refuses an endless one.
        """
        p = self.fixed()
        return p.nr_threads * self.selected_tests() * p.test_repeat_count * max(1, p.test_loop_count // scale)

    def fixed(self) -> TestVmallocParams:
        """Module init: nr_threads into [1, USHRT_MAX]; repeat and loop counts at least 1."""
        return replace(self, nr_threads=max(1, min(self.nr_threads, USHRT_MAX)),
                       test_repeat_count=max(1, self.test_repeat_count),
                       test_loop_count=max(1, self.test_loop_count))

    @classmethod
    def from_args(cls, args: list[str], num_cpus: int) -> TestVmallocParams:
        """Parse ``key=value`` words as test_vmalloc.sh's manual mode does: positive ints, known keys.

        Raises ConfigError with the script's own message for anything else.
        """
        known = set(cls.__dataclass_fields__)
        values: dict[str, int] = {}
        for arg in args:
            key, _, val = arg.partition("=")
            # ASCII digits only, as the script's [0-9]+ test: str.isdigit() would take "1²" or full-width digits
            if key not in known or not val.isascii() or not val.isdigit() or int(val) <= 0:
                raise ConfigError(f"Error: key or value is not correct: {key} {val}")
            # the module's parameters are C ints and bools: modprobe refuses what does not fit (-EINVAL)
            if key in BOOL_PARAMS and int(val) != 1:
                raise ConfigError(f"{key}={val}: a bool module parameter takes 1 (0 is the default); "
                                  f"modprobe would fail with -EINVAL")
            if int(val) > INT_MAX:
                raise ConfigError(f"{key}={val[:30]}{'...' * (len(val) > 30)} does not fit the module's int "
                                  f"parameter (at most {INT_MAX}); modprobe would fail with -EINVAL")
            values[key] = int(val)
        if values.get("use_huge"):
            raise ConfigError("use_huge=1 needs vmalloc_huge(), which vmaplab does not model")
        return ScriptParams.given(values, known - set(values))

    def for_module(self, module: TestVmallocModule, warn=None) -> TestVmallocParams:
        """The values one generation's module runs with (§5.1), as plain TestVmallocParams.

        Constructed directly, every value counts as given. Parsed from a script line
        (:class:`ScriptParams`), a parameter the line left unset takes that module's default
        (7.3's run_test_mask is 7) while it still holds the class default. A parameter the
        module does not declare has no effect; given a value of its own, it is reported through
        ``warn`` in insmod's words.
        """
        defaults = module.defaults
        unset: frozenset[str] = getattr(self, "unset", frozenset())
        for name in self.__dataclass_fields__:
            if (name not in defaults and name not in unset and warn is not None
                    and getattr(self, name) != getattr(TestVmallocParams, name)):
                warn(f"test_vmalloc: unknown parameter '{name}' ignored")
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update({name: v for name, v in defaults.items()
                       if name in unset and values[name] == getattr(TestVmallocParams, name)})
        return TestVmallocParams(**values)


class ScriptParams(TestVmallocParams):
    """TestVmallocParams as a test_vmalloc.sh line gave them: also which parameters the line left unset.

    A run takes those from the machine's own module (``for_module``), as modprobe leaves them to
    the module. ``unset`` is a slot, not a dataclass field: ``vars()`` and ``replace()`` see exactly
    the module parameters (a replaced copy is plain TestVmallocParams again, every value given).
    """
    __slots__ = ("unset",)

    @classmethod
    def given(cls, values: dict[str, int], unset) -> ScriptParams:
        params = cls(**values)
        object.__setattr__(params, "unset", frozenset(unset))      # frozen: set once, here
        return params


@dataclass
class TestResult:
    passed: int = 0
    failed: int = 0
    xfailed: int = 0              # 7.3: failures of an xfail test (§5.3)
    time_ns: float = 0.0


@dataclass
class Worker:
    """One kthread ``vmalloc_test/<index>``: its CPU, random stream, clock and results."""
    index: int
    cpu: int
    rng: random.Random
    order: list[int]
    clock_ns: float = 0.0
    results: dict[int, TestResult] = field(default_factory=dict)
    start_ns: float = 0.0
    stop_ns: float = 0.0
    caller: str = "test_func [test_vmalloc]"


def shuffled_order(rng: random.Random, n: int = len(TEST_NAMES)) -> list[int]:
    """The module's shuffle: for i from n-1 down to 1 swap element i with j uniform in [0, i)."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)
        order[i], order[j] = order[j], order[i]
    return order


class SetupAreas:
    """The addresses of the live setup areas, sorted: does an address lie among them?

    The contention model asks it of the keys it searches for (contention-model.md §6.5): a key
    with setup areas on both sides has, in the unscaled run, thousands of them around it.
    """

    __slots__ = ("addrs",)

    def __init__(self):
        self.addrs: list[int] = []

    def add(self, addr: int) -> None:
        insort(self.addrs, addr)

    def discard(self, addr) -> None:
        if addr is None:                  # a setup vmalloc that failed (the kernel vfrees NULL)
            return
        i = bisect_left(self.addrs, addr)
        if i < len(self.addrs) and self.addrs[i] == addr:
            del self.addrs[i]

    def __contains__(self, addr) -> bool:
        i = bisect_left(self.addrs, addr)
        return i < len(self.addrs) and self.addrs[i] == addr

    def __len__(self) -> int:
        return len(self.addrs)

    def around(self, addr: int) -> bool:
        """True when setup areas lie below and above ``addr`` (or it is one)."""
        a = self.addrs
        return bool(a) and a[0] <= addr <= a[-1]


class TestVmallocRun:
    """One ``modprobe test_vmalloc ...`` on a simulated machine.

    >>> from vmaplab import Vmalloc
    >>> run = TestVmallocRun(Vmalloc(nr_cpus=2), TestVmallocParams(run_test_mask=1, test_loop_count=10))
    >>> run.run()[0]
    'Summary: fix_size_alloc_test passed: 1 failed: 0 repeat: 1 loops: 10 avg: 3 usec'
    """
    __test__ = False

    def __init__(self, vm, params: TestVmallocParams, seed: int = 0, interleave: str = "round-robin",
                 cost: CostModel | None = None, rcu_batch: int = 510, progress=None, scale: int = 1,
                 on_call=None, on_loop=None, touch: bool = True, cpus: list[int] | None = None):
        if interleave not in ("round-robin", "random"):
            raise ConfigError(f"interleave must be 'round-robin' or 'random', got {interleave!r}")
        if not isinstance(rcu_batch, int) or rcu_batch < 1:
            raise ConfigError(f"rcu_batch must be a positive int, got {rcu_batch!r}")
        if params.use_huge:
            raise ConfigError("use_huge=1 needs vmalloc_huge(), which vmaplab does not model")
        self.vm = vm
        # the machine's own lib/test_vmalloc.c (kernel-model.md §5): its table, defaults and Summary line
        self.module: TestVmallocModule = vm.gen.test_vmalloc
        self.names: tuple[str, ...] = self.module.tests
        self.params = params.for_module(self.module, vm.dmesg.warn).fixed()
        self.seed = seed
        self.interleave = interleave
        self.cost = cost or CostModel()
        self.rcu_batch = rcu_batch
        self.progress = progress
        if not isinstance(scale, int) or scale < 1:
            raise ConfigError(f"scale must be a positive int, got {scale!r}")
        self.scale = scale            # divides the setup sizes (J, 15000); loops are the caller's
        self.on_call = on_call        # on_call(worker, kind, pages, zero) after each allocator call
        self.on_loop = on_loop        # on_loop(worker, sizes): a measured loop allocating `sizes` each turn starts
        self.touch = touch            # store the tests' bytes through the mappings (False: skip, nothing checks them)
        # Setup populations a scaled run shrinks by `scale`: live setup areas and the holes
        # full_fit punched, as simulated and as the unscaled run has them (each simulated area
        # stands for real/simulated of them: J and 15000 do not divide by every scale); the
        # contention model uses them to price trees at their real size.
        self.setup_live = 0
        self.junk_holes = 0
        self.setup_areas = SetupAreas()          # the live setup areas (ptr[] of full_fit, long_busy)
        self.setup_live_real = 0.0
        self.junk_holes_real = 0.0
        self._nr_pages: dict[int, int] = {}      # pages of each live area this run allocated
        self.sched_rng = random.Random(f"test_vmalloc/sched/{seed}")
        p = self.params
        if cpus is not None and (len(cpus) < p.nr_threads or len(set(cpus[:p.nr_threads])) < p.nr_threads
                                 or not all(isinstance(c, int) and 0 <= c < vm.nr_online_cpus for c in cpus)):
            raise ConfigError(f"cpus must give {p.nr_threads} distinct online CPUs (0..{vm.nr_online_cpus - 1}), "
                              f"got {cpus!r}")
        self.workers = []
        for w in range(p.nr_threads):
            rng = random.Random(f"test_vmalloc/{seed}/{w}")
            n = len(self.names)
            order = list(range(n)) if p.sequential_test_order else shuffled_order(rng, n)
            self.workers.append(Worker(w, cpus[w] if cpus else w % vm.nr_online_cpus, rng, order))
        self.lines: list[str] = []

    # -- allocator calls, each charged to the worker's clock ------------------------------
    def _visits(self) -> int:
        return self.vm.free_space.tree.visits

    def _vmalloc(self, w: Worker, size: int, align: int = 1, gfp: int = GFP_KERNEL):
        v0 = self._visits()
        addr = self.vm.vmalloc_node(size, align, cpu=w.cpu, caller=w.caller, gfp=gfp)
        pages = -(-size // PAGE_SIZE) if addr is not None else 0
        if addr is not None:
            self._nr_pages[addr] = pages
        w.clock_ns += self.cost.vmalloc_ns(pages, bool(gfp & GFP_ZERO), self._visits() - v0)
        if self.on_call is not None:
            self.on_call(w, "vmalloc", pages, bool(gfp & GFP_ZERO))
        return addr

    def _vfree(self, w: Worker, addr) -> None:
        if addr is None:
            return
        pages = self._nr_pages.pop(addr, None)             # bookkeeping, not kernel work: untraced
        if pages is None:
            with self.vm.untraced():
                pages = self.vm.find_vm_area(addr, w.cpu).nr_pages
        v0 = self._visits()
        self.vm.vfree(addr, cpu=w.cpu)
        w.clock_ns += self.cost.vfree_ns(pages, self._visits() - v0)
        if self.on_call is not None:
            self.on_call(w, "vfree", pages, False)

    def _touch(self, addr: int, value: int) -> None:
        if self.touch:
            self.vm.write(addr, bytes([value]))

    # -- the tests (§5.2); each yields after every allocator call and returns 0 or -1 --------
    def _alloc_free_loop(self, w, requests, touch: int | None):
        """vmalloc each (size, align, gfp) request, write a byte, vfree; -1 at the first failure."""
        for size, align, gfp in requests:
            ptr = self._vmalloc(w, size, align, gfp)
            yield
            if ptr is None:
                return -1
            if touch is not None:
                self._touch(ptr, touch)
            self._vfree(w, ptr)
            yield
        return 0

    def _free_all(self, w, ptrs):
        for p in ptrs:
            self.setup_areas.discard(p)
            self._vfree(w, p)
            yield

    def _setup_area(self, addr):
        """A setup area was allocated (the contention model asks where they lie: contention-model.md §6.5)."""
        if addr is not None:
            self.setup_areas.add(addr)
        return addr

    def _count_setup(self, live: int, holes: int, weight: float) -> None:
        """Setup areas (and full_fit's holes) come or go; each stands for ``weight`` of the unscaled run's."""
        self.setup_live += live
        self.junk_holes += holes
        self.setup_live_real += live * weight
        self.junk_holes_real += holes * weight

    def _loops(self, w: Worker, *sizes: int):
        """The measured loop's turns; tells ``on_loop`` which sizes each turn allocates."""
        if self.on_loop is not None:
            self.on_loop(w, sizes)
        return range(self.params.test_loop_count)

    def fix_size_alloc_test(self, w):
        size = max(self.params.nr_pages, 1) * PAGE_SIZE
        return (yield from self._alloc_free_loop(w, ((size, 1, GFP_KERNEL) for _ in self._loops(w, size)), 0))

    def full_fit_alloc_test(self, w):
        real_length = fls(self.vm.nr_online_cpus) * ((32 << 20) // PAGE_SIZE)
        junk_length = max(1, real_length // self.scale)
        weight = real_length / junk_length
        ptr_arr, junk_arr = self._vmalloc(w, junk_length * 8), self._vmalloc(w, junk_length * 8)
        yield
        if ptr_arr is None or junk_arr is None:
            self._vfree(w, ptr_arr)
            self._vfree(w, junk_arr)
            return -1
        ptr, junk = [], []
        for _ in range(junk_length):
            ptr.append(self._setup_area(self._vmalloc(w, PAGE_SIZE)))
            junk.append(self._setup_area(self._vmalloc(w, PAGE_SIZE)))
            self._count_setup(2, 0, weight)
            yield
        self._count_setup(-len(junk), len(junk), weight)
        yield from self._free_all(w, junk)
        rv = yield from self._alloc_free_loop(w, ((PAGE_SIZE, 1, GFP_KERNEL) for _ in self._loops(w, PAGE_SIZE)), 1)
        self._count_setup(-len(ptr), -len(junk), weight)
        yield from self._free_all(w, ptr)
        self._vfree(w, ptr_arr)
        self._vfree(w, junk_arr)
        return rv

    def long_busy_list_alloc_test(self, w):
        nr_busy = max(1, 15000 // self.scale)
        weight = 15000 / nr_busy
        ptr_arr = self._vmalloc(w, nr_busy * 8)
        yield
        if ptr_arr is None:
            return -1
        ptr = []
        for _ in range(nr_busy):
            ptr.append(self._setup_area(self._vmalloc(w, PAGE_SIZE)))
            self._count_setup(1, 0, weight)
            yield
        rv = -1
        for _ in self._loops(w, 100 * PAGE_SIZE, PAGE_SIZE):
            ptr_1 = self._vmalloc(w, 100 * PAGE_SIZE)
            yield
            if ptr_1 is None:
                break
            ptr_2 = self._vmalloc(w, PAGE_SIZE)
            yield
            if ptr_2 is None:
                self._vfree(w, ptr_1)
                break
            self._touch(ptr_1, 0)
            self._touch(ptr_2, 1)
            self._vfree(w, ptr_1)
            self._vfree(w, ptr_2)
            yield
        else:
            rv = 0
        self._count_setup(-len(ptr), 0, weight)
        yield from self._free_all(w, ptr)
        self._vfree(w, ptr_arr)
        return rv

    def random_size_alloc_test(self, w):
        # get_random_u32_inclusive(1, 100) pages, drawn as the loop goes
        requests = ((w.rng.randint(1, 100) * PAGE_SIZE, 1, GFP_KERNEL) for _ in self._loops(w))
        return (yield from self._alloc_free_loop(w, requests, 1))

    def fix_align_alloc_test(self, w):
        # no sizes for on_loop: its requests are aligned, a pool seeded at page alignment would not serve them
        requests = ((5 * PAGE_SIZE, THREAD_ALIGN << 1, GFP_KERNEL | GFP_ZERO) for _ in self._loops(w))
        return (yield from self._alloc_free_loop(w, requests, None))

    def random_size_align_alloc_test(self, w):
        def requests():
            for _ in self._loops(w):
                rnd = w.rng.randrange(256)                 # get_random_u8(): size and align from one byte
                yield ((rnd % 10) + 1) * PAGE_SIZE, 1 << (rnd % 23), GFP_KERNEL | GFP_ZERO
        return (yield from self._alloc_free_loop(w, requests(), None))

    def align_shift_alloc_test(self, w):
        requests = ((PAGE_SIZE, 1 << i, GFP_KERNEL | GFP_ZERO) for i in range(64))   # BITS_PER_LONG
        return (yield from self._alloc_free_loop(w, requests, None))

    def pcpu_alloc_test(self, w):
        return 0                                            # CONFIG_NEED_PER_CPU_KM behaviour
        yield                                               # (a generator that does nothing)

    def _kvfree_rcu_test(self, w):
        vm = self.vm
        for _ in self._loops(w, PAGE_SIZE):
            p = self._vmalloc(w, PAGE_SIZE)
            yield
            if p is None:
                return -1
            self._touch(p, ord("a"))
            vm.kvfree_rcu(p, cpu=w.cpu)
            w.clock_ns += self.cost.rcu_queue_ns
            if self.on_call is not None:
                self.on_call(w, "kvfree_rcu", 0, False)
            if vm.rcu_pending >= self.rcu_batch:
                vm.rcu_grace_period(cpu=w.cpu)
            yield
        return 0

    kvfree_rcu_1_arg_vmalloc_test = _kvfree_rcu_test
    kvfree_rcu_2_arg_vmalloc_test = _kvfree_rcu_test

    def vm_map_ram_test(self, w):
        vm = self.vm
        n = max(self.params.nr_pages, 1)
        if vm.pages.nr_free < n:
            return -1
        pages = vm.alloc_pages(n)
        rv = 0
        for _ in range(self.params.test_loop_count):
            v0 = self._visits()
            v = vm.vm_map_ram(pages, cpu=w.cpu)
            w.clock_ns += self.cost.map_ns(n, self._visits() - v0)
            if self.on_call is not None:
                self.on_call(w, "vm_map_ram", n, False)
            yield
            if v is None:
                rv = -1
                break
            self._touch(v, ord("a"))
            v0 = self._visits()
            vm.vm_unmap_ram(v, n, cpu=w.cpu)
            w.clock_ns += self.cost.unmap_ns(n, self._visits() - v0)
            if self.on_call is not None:
                self.on_call(w, "vm_unmap_ram", n, False)
            yield
        vm.free_pages(pages)
        return rv

    def no_block_alloc_test(self, w):
        """no_block_alloc_test (Linux 7.3, kernel-model.md §5.2): __vmalloc(nr_pages pages, GFP_ATOMIC or
        the machine's GFP_NOWAIT, a coin per loop from get_random_u8()), a byte stored, vfree; -1 at
        the first failure (an xfail test: counted as xfailed). Simplifies: preempt_disable() has
        nothing to disable here."""
        size = max(self.params.nr_pages, 1) * PAGE_SIZE
        nowait = self.vm.gen.gfp_nowait
        requests = ((size, 1, GFP_ATOMIC if w.rng.randrange(256) % 2 else nowait) for _ in self._loops(w, size))
        return (yield from self._alloc_free_loop(w, requests, 0))

    def _vrealloc(self, w: Worker, ptr, size: int):
        """vrealloc(ptr, size, GFP_KERNEL), charged as the allocator calls it made: a moved area costs a
        vmalloc and (for a non-NULL ptr) a vfree; in place, nothing."""
        vm = self.vm
        v0 = self._visits()
        new = vm.vrealloc(ptr, size, cpu=w.cpu, caller=w.caller)
        if new is not None and new != ptr:
            old_pages = self._nr_pages.pop(ptr, 0) if ptr is not None else 0
            pages = self._nr_pages[new] = -(-size // PAGE_SIZE)
            w.clock_ns += self.cost.vmalloc_ns(pages, False, self._visits() - v0)
            if self.on_call is not None:
                self.on_call(w, "vmalloc", pages, False)
            if ptr is not None:
                w.clock_ns += self.cost.vfree_ns(old_pages, 0)
                if self.on_call is not None:
                    self.on_call(w, "vfree", old_pages, False)
        elif new is not None:
            with vm.untraced():                        # bookkeeping: a 7.3 shrink may have freed pages
                self._nr_pages[new] = vm.find_vm_area(new, w.cpu).nr_pages
        return new

    def _holds(self, addr: int, value: int) -> bool:
        """The byte at ``addr`` is ``value`` (a load through the mapping; unchecked when not touching)."""
        if not self.touch:
            return True
        with self.vm.untraced():
            return self.vm.vread(addr, 1) == bytes([value])

    def vrealloc_test(self, w):
        """vrealloc_test (Linux 7.3, kernel-model.md §5.2): per loop vrealloc(NULL, 1 page), store 'a',
        grow to 4 pages (moved), shrink to 1 page (7.3 frees 3), to half a page, grow back to 1 page
        in place, the byte checked after each; vfree. Simplifies: the byte is read back through
        vread (untraced), and not at all when the run does not ``touch``."""
        a = ord("a")
        for _ in self._loops(w):
            ptr = self._vrealloc(w, None, PAGE_SIZE)
            yield
            if ptr is None:
                return -1
            self._touch(ptr, a)
            err = -1
            for size in (4 * PAGE_SIZE, PAGE_SIZE, PAGE_SIZE // 2, PAGE_SIZE):
                tmp = self._vrealloc(w, ptr, size)
                yield
                if tmp is None:
                    break
                ptr = tmp
                if not self._holds(ptr, a):
                    break
            else:
                err = 0
            self._vfree(w, ptr)
            yield
            if err:
                return err
        return 0

    # -- the driver (§5.3) ---------------------------------------------------------------------
    def worker_main(self, w: Worker):
        """test_func(): worker ``w``'s tests in its shuffled order, as a generator that yields after every allocator call.

        ``run()`` interleaves these itself; the contention simulator steps each one on its own CPU.
        """
        p = self.params
        w.start_ns = w.clock_ns
        for index in w.order:
            if not (p.run_test_mask >> index) & 1:
                continue
            res = w.results[index] = TestResult()
            name = self.names[index]
            w.caller = f"{name} [test_vmalloc]"     # the symbol; offsets are unknown
            t0 = w.clock_ns
            for _ in range(p.test_repeat_count):
                rv = yield from getattr(self, name)(w)
                if rv == 0:
                    res.passed += 1
                elif name in self.module.xfail:         # 7.3 (§5.3)
                    res.xfailed += 1
                else:
                    res.failed += 1
                if self.progress is not None:
                    self.progress(1)
            res.time_ns = (w.clock_ns - t0) / p.test_repeat_count
        w.stop_ns = w.clock_ns

    def total_steps(self) -> int:
        """Progress units: one per (worker, selected test, repetition)."""
        p = self.params
        selected = p.selected_tests(len(self.names))
        return p.nr_threads * selected * p.test_repeat_count

    def run(self) -> list[str]:
        """Run every worker to completion; return (and log to dmesg) the module's summary lines."""
        active = [self.worker_main(w) for w in self.workers]
        rr = 0
        while active:
            i = rr % len(active) if self.interleave == "round-robin" else self.sched_rng.randrange(len(active))
            try:
                next(active[i])
                rr = i + 1
            except StopIteration:
                active.pop(i)
                rr = i
        if self.vm.rcu_pending:
            self.vm.rcu_grace_period()
        self.lines = self.summary_lines()
        self.vm.dmesg.extend(self.lines)
        return self.lines

    def summary_lines(self, loops: int | None = None) -> list[str]:
        """The module's lines; ``loops`` overrides the printed loop count (a scaled run shows the real one)."""
        p = self.params
        loops = p.test_loop_count if loops is None else loops
        out = []
        xfailed = self.module.counts_xfailed
        for w in self.workers:
            for index in range(len(self.names)):
                if index in w.results:
                    r = w.results[index]
                    out.append(f"Summary: {self.names[index]} passed: {r.passed} failed: {r.failed} "
                               + (f"xfailed: {r.xfailed} " if xfailed else "")
                               + f"repeat: {p.test_repeat_count} loops: {loops} "
                               f"avg: {int(r.time_ns // 1000)} usec")
            out.append(f"All test took worker{w.index}={self.cost.cycles(w.stop_ns - w.start_ns)} cycles")
        return out
