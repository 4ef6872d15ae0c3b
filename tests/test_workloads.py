# SPDX-License-Identifier: MIT
"""lib/test_vmalloc.c workloads (§5) and test_vmalloc.sh argument handling (§6)."""
import random

import pytest

from vmaplab import ConfigError, Vmalloc
from vmaplab.workloads.test_vmalloc import TEST_NAMES, TestVmallocParams, TestVmallocRun, shuffled_order


def test_shuffle_is_a_single_cycle():
    # §5.3: j uniform in [0, i) strictly, so no test stays in place (Sattolo)
    for seed in range(200):
        order = shuffled_order(random.Random(seed))
        assert sorted(order) == list(range(11)) and all(order[i] != i for i in range(11))
        seen, i = set(), 0
        while i not in seen:
            seen.add(i)
            i = order[i]
        assert len(seen) == 11


def test_parameters_are_fixed_at_load():
    p = TestVmallocParams(nr_threads=0, test_repeat_count=0, test_loop_count=-5).fixed()
    assert (p.nr_threads, p.test_repeat_count, p.test_loop_count) == (1, 1, 1)
    assert TestVmallocParams(nr_threads=70000).fixed().nr_threads == 65535
    assert TestVmallocParams().run_test_mask == (1 << 31) - 1


@pytest.mark.parametrize("word", ["nr_threads=0", "bogus=1", "nr_threads=x", "nr_threads", "run_test_mask=-1"])
def test_manual_mode_rejects_like_the_script(word):
    with pytest.raises(ConfigError, match="Error: key or value is not correct"):
        TestVmallocParams.from_args([word], 4)


def test_use_huge_is_refused_clearly():
    with pytest.raises(ConfigError, match="vmalloc_huge"):
        TestVmallocParams.from_args(["use_huge=1"], 4)


@pytest.mark.parametrize("version", ["6.8", "6.9"])
def test_all_eleven_tests_and_align_shift_fails_as_expected(version):
    # §5.2: align_shift_alloc_test fails on x86-64 at 1 << 46; the others pass
    vm = Vmalloc(nr_cpus=2, version=version, nr_ram_pages=1 << 17)
    run = TestVmallocRun(vm, TestVmallocParams(nr_threads=2, test_loop_count=30, test_repeat_count=2), seed=7)
    lines = run.run()
    summary = [ln for ln in lines if ln.startswith("Summary:")]
    assert len(summary) == 22
    for ln in summary:
        name = ln.split()[1]
        expect = "passed: 0 failed: 2" if name == "align_shift_alloc_test" else "passed: 2 failed: 0"
        assert expect in ln, ln
    # table order within each worker, then the cycle line
    assert [ln.split()[1] for ln in lines[:11]] == list(TEST_NAMES)
    assert lines[11].startswith("All test took worker0=") and lines[11].endswith(" cycles")
    assert "vmap allocation for size 8192 failed: use vmalloc=<size> to increase size" in vm.dmesg
    vm.check()
    assert sum(len(vn.busy) for vn in vm.nodes) == 0 and vm.rcu_pending == 0


def test_align_shift_fails_at_bit_46():
    vm = Vmalloc(nr_cpus=1, trace=True)
    run = TestVmallocRun(vm, TestVmallocParams(run_test_mask=64))
    assert "passed: 0 failed: 1" in run.run()[0]
    records = vm.trace.of("alloc_vmap_area")
    ok = {r.align for r in records if not r.failed}
    # 1 << 45 may fail once while lazy areas sit on the aligned spot, then succeeds after the purge;
    # 1 << 46 fails before and after the purge, and the test stops there
    assert ok == {1 << i for i in range(46)}
    assert [r.align for r in records if r.failed][-2:] == [1 << 46, 1 << 46]
    assert records[-1].failed and records[-1].align == 1 << 46


def test_runs_are_reproducible_and_seeds_matter():
    def run(seed, interleave):
        vm = Vmalloc(nr_cpus=4, version="6.9", trace=True)
        TestVmallocRun(vm, TestVmallocParams(nr_threads=3, run_test_mask=8 | 32, test_loop_count=40),
                       seed=seed, interleave=interleave).run()
        return [r.as_dict() for r in vm.trace], list(vm.dmesg)
    assert run(1, "random") == run(1, "random")
    assert run(1, "random") != run(2, "random")
    assert run(1, "round-robin") != run(1, "random")


def test_adding_a_worker_does_not_change_the_others_choices():
    def orders(n):
        vm = Vmalloc(nr_cpus=8)
        return [w.order for w in TestVmallocRun(vm, TestVmallocParams(nr_threads=n), seed=3).workers]
    assert orders(5)[:4] == orders(4)


def test_sequential_order_and_repeat_average():
    vm = Vmalloc(nr_cpus=1)
    run = TestVmallocRun(vm, TestVmallocParams(sequential_test_order=1, run_test_mask=1 | 16,
                                               test_loop_count=50, test_repeat_count=3))
    assert run.workers[0].order == list(range(11))
    lines = run.run()
    assert lines[0].startswith("Summary: fix_size_alloc_test passed: 3 failed: 0 repeat: 3 loops: 50 avg: ")
    assert lines[1].startswith("Summary: fix_align_alloc_test passed: 3 failed: 0 repeat: 3 loops: 50 avg: ")


def test_full_fit_leaves_holes_of_one_page_between_live_areas():
    # §5.2 full_fit: J = fls(online) * 8192 pairs, junk freed -> J isolated 2-page holes after purge
    vm = Vmalloc(nr_cpus=2, version="6.8")
    run = TestVmallocRun(vm, TestVmallocParams(run_test_mask=2, test_loop_count=1))
    gen = run.full_fit_alloc_test(run.workers[0])
    j = 2 * 8192
    for _ in range(1 + j + j):          # arrays, J allocation pairs, J junk frees
        next(gen)
    vm.purge()
    holes = [va for va in vm.free_space if va.size == 2 * 4096]
    assert len(holes) == j - 1           # the last junk hole merged with the free space after it


def test_workers_placed_on_given_cpus_and_bad_placements_refused():
    vm = Vmalloc(nr_cpus=8, version="6.9")
    params = TestVmallocParams(run_test_mask=1, nr_threads=3, test_loop_count=5).fixed()
    run = TestVmallocRun(vm, params, cpus=[0, 4, 1, 5])
    assert [w.cpu for w in run.workers] == [0, 4, 1]
    for bad in ([0, 4], [0, 0, 1], [0, 4, 8], [0, "1", 2]):
        with pytest.raises(ConfigError, match="distinct online CPUs"):
            TestVmallocRun(vm, params, cpus=bad)
    assert [w.cpu for w in TestVmallocRun(vm, params).workers] == [0, 1, 2]
