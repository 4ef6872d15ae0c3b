# SPDX-License-Identifier: MIT
"""lib/test_vmalloc.c per kernel generation (kernel-model.md §5): each machine runs its own module.

6.1 has ten tests, 6.12 eleven (vm_map_ram_test), 7.3 thirteen (no_block_alloc_test, vrealloc_test),
with run_test_mask 7 by default, nr_pcpu_objects, xfail counts and an ``xfailed:`` column. The 7.3
tests run on tiny machines whose outcome is worked by hand; ``check()`` runs after each run.
"""
from __future__ import annotations

import random
import re

import pytest
from conftest import tiny

from vmaplab import PAGE_SIZE, VMALLOC_START, Vmalloc
from vmaplab.kernel.generations import GENERATIONS
from vmaplab.workloads.test_vmalloc import (
    TEST_NAMES,
    ScriptParams,
    TestVmallocParams,
    TestVmallocRun,
    shuffled_order,
)

P = PAGE_SIZE
S = VMALLOC_START
SUMMARY_6 = re.compile(r"Summary: (\w+) passed: (\d+) failed: (\d+) repeat: \d+ loops: \d+ avg: \d+ usec$")
SUMMARY_7_3 = re.compile(r"Summary: (\w+) passed: (\d+) failed: (\d+) xfailed: (\d+) repeat: \d+ loops: \d+ "
                         r"avg: \d+ usec$")


def summaries(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.startswith("Summary:")]


# -- the tables ------------------------------------------------------------------------------------
def test_each_generation_has_its_kernels_table():
    t61, t612, t73 = (GENERATIONS[v].test_vmalloc for v in ("6.1", "6.12", "7.3"))
    assert len(t61.tests) == 10 and "vm_map_ram_test" not in t61.tests
    assert t612.tests == t61.tests + ("vm_map_ram_test",) == TEST_NAMES
    assert t73.tests == t612.tests + ("no_block_alloc_test", "vrealloc_test")
    assert GENERATIONS["6.8"].test_vmalloc == GENERATIONS["6.9"].test_vmalloc == t612   # the simulator's runs
    assert "use_huge" not in t61.defaults and t612.defaults["use_huge"] == 0
    assert t61.defaults["run_test_mask"] == t612.defaults["run_test_mask"] == (1 << 31) - 1
    assert t73.defaults["run_test_mask"] == 7 and t73.defaults["nr_pcpu_objects"] == 35000
    assert "nr_pcpu_objects" not in t612.defaults
    assert t73.xfail == ("align_shift_alloc_test", "no_block_alloc_test") and t73.counts_xfailed
    assert not t612.xfail and not t612.counts_xfailed


def test_a_script_line_leaves_unset_parameters_to_the_machines_module():
    p = TestVmallocParams.from_args(["nr_threads=2", "test_loop_count=5"], 2)
    assert isinstance(p, ScriptParams) and "run_test_mask" in p.unset and "nr_threads" not in p.unset
    assert vars(p) == vars(TestVmallocParams(nr_threads=2, test_loop_count=5))   # vars(): fields only
    assert p.for_module(GENERATIONS["7.3"].test_vmalloc).run_test_mask == 7
    assert p.for_module(GENERATIONS["6.12"].test_vmalloc).run_test_mask == (1 << 31) - 1
    # constructed directly, every value is given: all 13 tests on 7.3
    assert TestVmallocParams(nr_threads=2).for_module(GENERATIONS["7.3"].test_vmalloc).run_test_mask == (1 << 31) - 1


def test_a_parameter_the_module_lacks_is_ignored_with_insmods_line():
    vm = Vmalloc(nr_cpus=1, version="6.12")
    TestVmallocRun(vm, TestVmallocParams.from_args(["nr_pcpu_objects=100", "run_test_mask=1"], 1))
    assert list(vm.dmesg) == ["test_vmalloc: unknown parameter 'nr_pcpu_objects' ignored"]
    vm = Vmalloc(nr_cpus=1, version="7.3")
    TestVmallocRun(vm, TestVmallocParams.from_args(["nr_pcpu_objects=100", "run_test_mask=1"], 1))
    assert list(vm.dmesg) == []


@pytest.mark.parametrize("version,n", [("6.1", 10), ("6.12", 11), ("7.3", 13)])
def test_workers_shuffle_their_own_table(version, n):
    vm = Vmalloc(nr_cpus=2, version=version)
    run = TestVmallocRun(vm, TestVmallocParams(nr_threads=2), seed=5)
    for w in run.workers:
        assert w.order == shuffled_order(random.Random(f"test_vmalloc/5/{w.index}"), n)
        assert sorted(w.order) == list(range(n))


# -- Summary lines ------------------------------------------------------------------------------
@pytest.mark.parametrize("version,per_worker,pattern", [("6.1", 10, SUMMARY_6), ("6.12", 11, SUMMARY_6),
                                                         ("7.3", 3, SUMMARY_7_3)])
def test_the_default_script_line_prints_each_modules_lines(version, per_worker, pattern):
    vm = Vmalloc(nr_cpus=2, version=version, nr_ram_pages=1 << 18)
    params = TestVmallocParams.from_args(["nr_threads=2", "test_loop_count=3"], 2)
    lines = TestVmallocRun(vm, params, seed=1).run()
    vm.check()
    assert len(summaries(lines)) == 2 * per_worker and len(lines) == 2 * per_worker + 2
    names = GENERATIONS[version].test_vmalloc.tests
    assert [pattern.match(ln)[1] for ln in lines[:per_worker]] == list(names[:per_worker])   # table order
    assert lines[per_worker].startswith("All test took worker0=")
    for ln in summaries(lines):
        m = pattern.match(ln)
        failed = m[1] == "align_shift_alloc_test"
        assert (m[2], m[3]) == (("0", "1") if failed else ("1", "0")), ln


def test_7_3_counts_align_shift_as_xfailed_and_runs_all_thirteen():
    vm = Vmalloc(nr_cpus=2, version="7.3", nr_ram_pages=1 << 18)
    params = TestVmallocParams.from_args(["nr_threads=2", "test_loop_count=4", "run_test_mask=8191"], 2)
    lines = TestVmallocRun(vm, params, seed=3).run()
    vm.check()
    rows = [SUMMARY_7_3.match(ln) for ln in summaries(lines)]
    assert len(rows) == 26 and all(rows)
    for m in rows:
        expect = ("0", "0", "1") if m[1] == "align_shift_alloc_test" else ("1", "0", "0")
        assert (m[2], m[3], m[4]) == expect, m[0]
    assert sum(len(vn.busy) for vn in vm.nodes) == 0 and vm.nr_vmalloc_pages == 0


# -- the two 7.3 tests on tiny machines -------------------------------------------------------------------
def run_one(vm: Vmalloc, test: str, **params) -> str:
    bit = vm.gen.test_vmalloc.tests.index(test)
    lines = TestVmallocRun(vm, TestVmallocParams(run_test_mask=1 << bit, **params)).run()
    vm.check()
    return lines[0]


def test_vrealloc_test_moves_once_then_stays_in_place():
    # one loop: vrealloc(NULL, P) -> [S, S+2P); 4P moves to [S+2P, S+7P) (2 lazy pages); P frees 3
    # pages in place; P/2 and P stay; vfree: 5 more lazy pages. 7 < lazy_max_pages (8): no purge.
    vm = tiny("7.3", nr_cpus=1, pages=64, trace=True)
    line = run_one(vm, "vrealloc_test", test_loop_count=1)
    assert line.startswith("Summary: vrealloc_test passed: 1 failed: 0 xfailed: 0 ")
    calls = [(r.func, r.addr) for r in vm.trace.of("vmalloc")]
    assert calls == [("vrealloc", S), ("vrealloc", S + 2 * P), ("vrealloc", S + 2 * P), ("vrealloc", S + 2 * P),
                     ("vrealloc", S + 2 * P), ("vfree", S + 2 * P)]
    assert vm.vmap_lazy_nr == 7 and vm.nr_vmalloc_pages == 0 and vm.pages.nr_used == 0


def test_vrealloc_test_fails_when_the_grow_cannot_move():
    vm = tiny("7.3", nr_cpus=1, pages=6)                 # 1+1 pages, then 4+1 do not fit beside them
    line = run_one(vm, "vrealloc_test", test_loop_count=3)
    assert line.startswith("Summary: vrealloc_test passed: 0 failed: 1 xfailed: 0 ")   # not an xfail test
    assert sum(len(vn.busy) for vn in vm.nodes) == 0


def test_no_block_alloc_test_passes_and_a_failure_is_xfailed_without_a_purge():
    vm = tiny("7.3", nr_cpus=1, pages=64)
    assert "passed: 1 failed: 0 xfailed: 0" in run_one(vm, "no_block_alloc_test", test_loop_count=20)
    vm = tiny("7.3", nr_cpus=1, pages=6)
    assert "passed: 0 failed: 0 xfailed: 1" in run_one(vm, "no_block_alloc_test", nr_pages=8, test_loop_count=5)
    assert vm.stats.purges == 0                            # GFP_ATOMIC and GFP_NOWAIT fail fast in 7.3


def test_no_block_alloc_test_draws_one_byte_per_loop():
    # get_random_u8() % 2 picks GFP_ATOMIC (odd) or GFP_NOWAIT: one draw per loop from the worker's stream
    vm = tiny("7.3", nr_cpus=1, pages=64)
    run = TestVmallocRun(vm, TestVmallocParams(run_test_mask=1 << 11, test_loop_count=4, sequential_test_order=1))
    rng = random.Random("test_vmalloc/0/0")
    run.run()
    assert run.workers[0].rng.getstate() == (lambda r: ([r.randrange(256) for _ in range(4)], r.getstate())[1])(rng)
