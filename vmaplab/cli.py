# SPDX-License-Identifier: MIT
"""The ``vmaplab`` command line: one ``main(argv=None) -> int``.

Every run echoes its arguments first (OSTEP style), so a pasted output can be
reproduced exactly. Subcommands:

* ``demo``: the worked example of the series on both designs: allocate, free,
  purge, and watch a 6.9 area come back from its CPU's pool;
* ``test-vmalloc``: ``test_vmalloc.sh`` against the simulated allocator
  (presets ``performance``, ``stress``, ``smoke`` or ``key=value`` module
  parameters), printing the module's Summary lines and an allocator report;
* ``vmallocinfo``: /proc/vmallocinfo of a seeded scenario, or of a real file
  re-emitted by a machine rebuilt from it (``--from /proc/vmallocinfo``);
* ``vread``: a hexdump of what /proc/kcore would read at an address;
* ``simulate``: N CPUs contending on the allocator's spinlocks (``--compare-profile``: its
  profile against the cover letter's two perf tables, symbol by symbol);
* ``oracle``: Linux 6.12 under QEMU as the referee (vmaplab/oracle/cli.py).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import asdict, replace

from . import speedups
from .contention.compare import (
    LETTER_WORKLOAD,
    compare_profile,
    comparison_as_dict,
    format_comparison,
    format_time_budget,
    is_letter_workload,
    time_budget,
)
from .contention.published import published
from .contention.settings import MAX_SCALE, MAX_SEED, SETTINGS, help_of
from .contention.topology import machine_help
from .formats.vmallocinfo import parse_vmallocinfo
from .kernel.check import render_address_map
from .kernel.config import PAGE_SIZE
from .kernel.errors import ConfigError, ExternalError, InvariantError, VmallocError, VmaplabError
from .kernel.generations import AFTER, BEFORE, DEFAULT, LETTER_VERSIONS, VERSIONS, generation
from .kernel.validate import int_arg
from .kernel.vmalloc import Vmalloc
from .kernel.walks import MAX_VREAD
from .oracle.errors import EXIT_UNAVAILABLE, GuestError, OracleUnavailable
from .workloads.scenarios import SCENARIOS, build_scenario
from .workloads.test_vmalloc import PRESET_MESSAGES, PRESETS, TestVmallocParams, TestVmallocRun


def _echo(argv: list[str], stream=None) -> None:
    """OSTEP's habit: every run first echoes its arguments, so a pasted output can be reproduced.

    In ``--json`` mode the echo goes to stderr, so stdout holds exactly one JSON document.
    """
    print("ARG " + " ".join(argv) if argv else "ARG (defaults)", file=stream or sys.stdout)


def cmd_demo(args) -> int:
    """The series in one screen: zones, lazy free, purge, pool reuse by the same CPU's node."""
    size = 15 * PAGE_SIZE            # 16 pages with the guard page: exactly one 64 KiB zone
    for version in args.version:
        vm = Vmalloc(nr_cpus=args.cpus, version=version, seed=args.seed)
        print(f"== Linux {version}: {args.cpus} CPUs, nr_vmap_nodes={vm.nr_vmap_nodes}, "
              f"vmap_zone_size={vm.vmap_zone_size:#x}, lazy_max_pages={vm.lazy_max_pages()}")
        addrs = []
        for i in range(2 * args.cpus):
            cpu = i % args.cpus
            a = vm.vmalloc(size, cpu=cpu, caller=f"demo+{i:#x}/0x100")
            if a is None:           # 2 areas of 16 pages per CPU in a 64 GiB machine's window
                raise InvariantError(f"demo: vmalloc({size}) on cpu {cpu} failed")
            addrs.append(a)
            print(f"  vmalloc({size}) on cpu {cpu}: {a:#x}, busy tree of node {vm.addr_to_node_id(a)}")
        cpu = 1 % args.cpus
        other = (cpu + 1) % args.cpus
        victim = addrs[0]
        vm.vfree(victim, cpu=cpu)
        owner = vm.nodes[cpu % vm.nr_vmap_nodes] if vm.gen.vmap_nodes else vm.nodes[0]
        print(f"  vfree({victim:#x}) on cpu {cpu}: vmap_lazy_nr={vm.vmap_lazy_nr} pages, "
              f"lazy tree of node {owner.id}")
        vm.purge(cpu=cpu)
        pooled = {vn.id: vn.pool_total() for vn in vm.nodes if vn.pool_total()}
        print(f"  purge: vmap_lazy_nr={vm.vmap_lazy_nr}, pooled VAs per node: {pooled or 'none (6.8 has no pools)'}")
        for who in (other, cpu):
            hits = vm.stats.pool_hits
            a = vm.vmalloc(size, cpu=who, caller="demo")
            if a is None:
                raise InvariantError(f"demo: vmalloc({size}) on cpu {who} failed")
            how = "its node's pool" if vm.stats.pool_hits > hits else "the free tree (lowest match)"
            print(f"  vmalloc({size}) on cpu {who}: {a:#x} from {how}")
        vm.check()
        print("  address map (check() passed):")
        print("\n".join("   " + line for line in render_address_map(vm, limit=14).splitlines()))
    return 0


USAGE = """Usage: test_vmalloc.sh [ performance ] | [ stress ] | [ smoke ] | [ manual ]

performance: sequential_test_order=1 test_repeat_count=3 (all tests on one CPU, in order)
stress:      nr_threads=NUM_CPUS test_repeat_count=20
smoke:       test_loop_count=10000 test_repeat_count=10
manual:      key=value module parameters, each value an integer > 0:
             nr_threads sequential_test_order test_repeat_count test_loop_count nr_pages
             run_test_mask (1 fix_size 2 full_fit 4 long_busy_list 8 random_size 16 fix_align
             32 random_size_align 64 align_shift 128 pcpu 256 kvfree_rcu_1_arg
             512 kvfree_rcu_2_arg 1024 vm_map_ram)

Examples:
  vmaplab test-vmalloc run_test_mask=7 nr_threads=64
  vmaplab test-vmalloc nr_threads=4 run_test_mask=1 test_repeat_count=5
  vmaplab test-vmalloc sequential_test_order=1 run_test_mask=23"""


class Progress:
    """A progress bar on a terminal: tqdm when installed, else a plain percentage line; none with --quiet."""

    def __init__(self, total: int, desc: str, quiet: bool):
        self.bar = None
        self.total, self.done, self.desc = max(total, 1), 0, desc
        self.active = not quiet and sys.stderr.isatty()
        if self.active:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=desc, unit="test", leave=False)
            except ImportError:
                self._plain()

    def _plain(self) -> None:
        sys.stderr.write(f"\r{self.desc}: {100 * self.done // self.total:3d}% ({self.done}/{self.total} test runs)")
        sys.stderr.flush()

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.active:
            self._plain()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.active:
            sys.stderr.write("\r\033[K")


def allocator_report(vm: Vmalloc) -> list[str]:
    """The short report printed after a run: pools, purges, decay, trees."""
    s = vm.stats
    lookups = s.pool_hits + s.pool_misses
    lines = [f"allocator {vm.version}: {vm.nr_cpus} CPUs, {vm.nr_vmap_nodes} vmap node(s), "
             f"lazy_max_pages={vm.lazy_max_pages()}",
             f"  pool hits {s.pool_hits} misses {s.pool_misses}"
             + (f" (hit rate {100 * s.pool_hits / lookups:.1f}%)" if lookups else "")
             + f", rotations {s.pool_rotations}, VAs pooled at purge {s.pool_adds}, decayed {s.decayed}",
             f"  purges {s.purges} (drain work {s.drain_runs}, overflow reclaims {s.reclaims}, "
             f"helpers {s.purge_helpers}), TLB flushes {s.tlb_flushes}, failed allocations {s.alloc_failures}",
             f"  vmap blocks created {s.vb_new}, fragmented blocks purged {s.vb_purged}, "
             f"RCU grace periods {s.rcu_grace_periods}",
             f"  free tree {len(vm.free_space)} blocks; vmap_lazy_nr {vm.vmap_lazy_nr} pages"]
    busy = [len(vn.busy) for vn in vm.nodes]
    lazy = [len(vn.lazy) for vn in vm.nodes]
    lines.append(f"  busy VAs per node: {_spread(busy)}; lazy VAs per node: {_spread(lazy)}")
    return lines


def _spread(values: list[int]) -> str:
    if len(values) <= 8:
        return " ".join(map(str, values))
    return f"min {min(values)} max {max(values)} total {sum(values)} over {len(values)}"


def cmd_test_vmalloc(args) -> int:
    words = args.params
    if not words:
        print(USAGE)
        return 0
    if words[0] in PRESETS:
        if len(words) > 1:
            print(f"vmaplab: error: a preset takes no more arguments: {' '.join(words[1:])}"[:300], file=sys.stderr)
            return 2
        preset = words[0]
        messages = PRESET_MESSAGES[preset]
        words = PRESETS[preset].format(NUM_CPUS=args.cpus).split()
        head, tail = messages[:-2], messages[-2:]
    else:
        head, tail = [f"Run the test with following parameters: {' '.join(words)}"], \
            ["Done.", "Check the kernel ring buffer to see the summary."]
    try:
        params = TestVmallocParams.from_args(words, args.cpus)
    except ConfigError as e:
        print(f"vmaplab: error: {e}", file=sys.stderr)      # the script's own message, one line
        return 2
    if not _run_length_ok(params.loop_iterations(), "lower test_loop_count, test_repeat_count or nr_threads",
                          "vmaplab"):
        return 2
    for version in args.version:
        vm = Vmalloc(nr_cpus=args.cpus, version=version, seed=args.seed)
        run = TestVmallocRun(vm, params, seed=args.seed, interleave=args.interleave)
        print(f"== Linux {version} ({args.cpus} CPUs, seed {args.seed}, {args.interleave} interleaving)")
        print("\n".join(head), flush=True)
        bar = Progress(run.total_steps(), f"test_vmalloc on {version}", args.quiet)
        run.progress = bar
        run.run()
        bar.close()
        print("\n".join(tail))
        print("-- kernel ring buffer --")
        print("\n".join(vm.dmesg))
        print("-- allocator report (times: uncontended estimate, vmaplab.workloads.costs) --")
        print("\n".join(allocator_report(vm)))
    return 0


MAX_CAPTURE_BYTES = 64 << 20      # a /proc/vmallocinfo of a large machine is a few MB


def _read_text(path: str) -> str:
    """``--from``: the one reader for user files (a regular file of at most 64 MiB, UTF-8; a FIFO is refused, not
    waited on); a permission error says why /proc/vmallocinfo needs root."""
    from .formats.userfile import read_user_file, read_user_stream
    try:
        if path == "-":          # a pipe: ssh host cat /proc/vmallocinfo | vmaplab vmallocinfo --from -
            return read_user_stream(sys.stdin.buffer, "standard input", kind="/proc/vmallocinfo",
                                    max_bytes=MAX_CAPTURE_BYTES, exc=ConfigError)
        return read_user_file(path, kind="/proc/vmallocinfo", max_bytes=MAX_CAPTURE_BYTES, exc=ConfigError)
    except ConfigError as e:
        if "Permission denied" in str(e):
            raise ConfigError(f"cannot read {path}: permission denied (/proc/vmallocinfo is mode 0400: "
                              f"run as root; with kptr_restrict=1 root also sees real addresses)") from None
        raise


def cmd_vmallocinfo(args) -> int:
    if args.from_file is None:
        vm = build_scenario(args.workload, args.version[0], args.seed, args.cpus)
        sys.stdout.write(vm.vmallocinfo())
        return 0
    text = _read_text(args.from_file)
    info = parse_vmallocinfo(text)
    # --compare reports the differences itself; without it, a file the machine would not print is an error
    vm = Vmalloc.from_vmallocinfo(text, nr_cpus=args.cpus, version=args.version[0], strict=not args.compare)
    out = vm.vmallocinfo()
    if not args.compare:
        sys.stdout.write(out)
        return 0
    again = parse_vmallocinfo(out)
    matched = sum((info.counts() & again.counts()).values())
    kinds = Counter(line.kind for line in info)
    print(f"read {len(info)} lines from {args.from_file} ({kinds['vm']} areas with a vm_struct, "
          f"{kinds['vm_map_ram']} vm_map_ram, {kinds['unpurged']} unpurged); addresses "
          f"{'hashed by %pK' if info.hashed else 'real'}")
    print(f"rebuilt a {args.version[0]} machine with {args.cpus} CPUs: re-emitted {len(again)} lines")
    if info.hashed:
        print(f"matched {matched} of {len(info)} lines field by field, addresses aside (as a multiset)")
    else:
        same = sum(a == b for a, b in zip(text.splitlines(), out.splitlines()))
        print(f"matched {matched} of {len(info)} lines as a multiset; {same} identical line for line")
    return 0 if matched == len(info) == len(again) else 1


def hexdump(addr: int, data: bytes) -> list[str]:
    """hexdump -C style, 16 bytes a line, repeated lines folded into '*'."""
    lines, prev, folded = [], None, False
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        if chunk == prev and off + 16 < len(data):
            if not folded:
                lines.append("*")
                folded = True
            continue
        prev, folded = chunk, False
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{addr + off:016x}  {hexes[:23]:<23}  {hexes[24:]:<23}  |{text}|")
    lines.append(f"{addr + len(data):016x}")
    return lines


def cmd_vread(args) -> int:
    vm = build_scenario(args.workload, args.version[0], args.seed, args.cpus)
    print("\n".join(hexdump(args.addr, vm.vread(args.addr, args.count))))
    return 0


def cmd_speedups(args) -> int:
    """Build, list or prune the compiled builds of the hot modules (speedups.py): results never depend on them."""
    if args.action == "build":
        speedups.build(jobs=args.jobs, force=args.force)        # SpeedupsError: EXIT_STATUS's line
        speedups.prune()
    elif args.action == "prune":
        speedups.prune()
    rows = speedups.status()
    built, loaded = sum(r.built for r in rows), sum(r.loaded for r in rows)
    if not speedups.enabled():
        use = "VMAPLAB_PURE is set: the source is used"
    elif args.action == "build":
        use = "in use from the next start of Python"
    else:
        use = f"{loaded} compiled in use in this process"
    print(f"speedups: {built} of {len(rows)} modules built for their current source in {speedups.cache_dir()}; {use}")
    for r in rows:
        print(f"  {r.name:34} {'built' if r.built else '-':5} {'in use' if r.loaded else ''}".rstrip())
    return 0


def _ratio(a: float, b: float) -> float | None:
    """a / b, or None when b is 0 (a mask of tests that do nothing, e.g. pcpu_alloc_test alone)."""
    return a / b if b else None


NOTE_ITERATIONS = 10 ** 7        # test loop iterations past which a run takes tens of minutes or more: say so
MAX_ITERATIONS = 10 ** 11        # ... and past which it takes months: refuse


def _run_length_ok(iterations: int, knobs: str, prog: str) -> bool:
    """Refuse a run of ``iterations`` test loop iterations that could not finish; note one of hours first."""
    if iterations > MAX_ITERATIONS:
        print(f"{prog}: error: this run would make {iterations:,} test loop iterations per version (more than "
              f"{MAX_ITERATIONS:,}: months on one core); {knobs}", file=sys.stderr)
        return False
    if iterations > NOTE_ITERATIONS:
        print(f"note: this run makes {iterations:,} test loop iterations per version: expect hours on one "
              f"core ({knobs} for a quicker run)", file=sys.stderr, flush=True)
    return True


def _simulation_ok(params: TestVmallocParams, nr_threads: int, scale: int) -> bool:
    """What ContentionSim would accept but cannot measure: no test selected, no loop left, too many threads."""
    from .contention.runs import MAX_SIM_THREADS
    prog = "vmaplab simulate"
    loops = params.test_loop_count
    if nr_threads > MAX_SIM_THREADS:
        print(f"{prog}: error: nr_threads must be <= {MAX_SIM_THREADS} (the simulator gives each thread 4 GiB of "
              f"RAM and models 1 TiB at most), got {nr_threads}", file=sys.stderr)
        return False
    if not params.selected_tests():
        print(f"{prog}: error: run_test_mask={params.run_test_mask} selects none of the 11 tests (bits 0..10): "
              f"the run would measure nothing", file=sys.stderr)
        return False
    if scale > loops:
        print(f"{prog}: error: --scale {scale} leaves test_loop_count={loops} at {loops // scale} iterations "
              f"(loops // scale): use --scale <= {loops}", file=sys.stderr)
        return False
    return _run_length_ok(params.loop_iterations(scale), "raise --scale, or lower test_loop_count or "
                          "test_repeat_count", prog)


def _simulate_one(item: tuple[str, dict]):
    """One version's run (a top-level function, so the process pool can pickle it)."""
    from .contention.sim import ContentionSim
    version, kwargs = item
    return ContentionSim(version, **kwargs).run()


def cmd_simulate(args) -> int:
    """The contention simulator: the cover letter's comparison on N simulated CPUs."""
    import json

    from .contention.profile import format_atomics, format_locks, format_sections, format_spin_split, format_table
    from .contention.sim import ContentionSim
    try:
        params = TestVmallocParams.from_args(args.params, args.cpus)
    except ConfigError as e:
        print(f"vmaplab: error: {e}", file=sys.stderr)      # the script's own message, one line
        return 2
    from .contention.costs import ContentionCosts
    try:
        costs = ContentionCosts().with_overrides(args.cost)
    except VmallocError as e:
        print(f"vmaplab simulate: error: {e}", file=sys.stderr)
        return 2
    given = {k: v for k, v in vars(params).items() if v != getattr(TestVmallocParams(), k)}
    nr_threads = given.pop("nr_threads", None) or args.cpus
    # what the simulator runs: run_test_mask 7 unless given (ContentionSim's default), nr_threads as resolved
    if not _simulation_ok(replace(params, nr_threads=nr_threads, run_test_mask=given.get("run_test_mask", 7)),
                          nr_threads, args.scale):
        return 2
    kwargs = dict(nr_threads=nr_threads, nr_cpus=args.cpus, machine=args.machine, scale=args.scale,
                  seed=args.seed, policy=args.policy, params=given, drain=args.drain, costs=costs,
                  placement=args.placement, warm_start=not args.cold_start)
    try:
        # constructing a simulator validates every argument (machine size, threads, scale, ...)
        sims = {version: ContentionSim(version, **kwargs) for version in args.version}
    except VmallocError as e:
        print(f"vmaplab simulate: error: {e}", file=sys.stderr)
        return 2
    if args.jobs > 1 and len(args.version) > 1:
        # the versions are independent runs: one process each, through the one loop every sweep uses
        # (contention/runs.py); results are identical to running them here
        from .contention.runs import map_unordered
        done = dict(map_unordered(_simulate_one, [(v, kwargs) for v in args.version],
                                  jobs=min(args.jobs, len(args.version))))
        results = {v: done[i] for i, v in enumerate(args.version)}
    else:
        results = {}
        for version, sim in sims.items():
            bar = Progress(nr_threads, f"simulate {version}", args.quiet)
            sim.progress = bar
            results[version] = sim.run()
            bar.close()
    letter_workload = is_letter_workload(given, nr_threads, args.machine)
    if args.json:
        out = {v: {**r.as_dict(), "machine": args.machine, "nr_cpus": args.cpus} for v, r in results.items()}
        if args.compare_profile:
            for v, r in results.items():
                if v not in LETTER_VERSIONS:
                    continue            # the letter profiled 6.8 and 6.9 only
                records = compare_profile(r.profile, v)
                out[v]["profile_comparison"] = {
                    **comparison_as_dict(records), "letter_workload": letter_workload,
                    "seconds": [asdict(b) for b in time_budget(records, published()[v]["wall_s"], r.wall_s)]}
        doc: dict[str, object] = dict(out)      # each version's result, and their ratio
        if set(results) == set(LETTER_VERSIONS):
            doc["ratio"] = _ratio(results[BEFORE].wall_s, results[AFTER].wall_s)
        print(json.dumps(doc, indent=1, sort_keys=True))
        return 0
    for version, r in results.items():
        print(f"== Linux {version}: {nr_threads} threads on {args.cpus} CPUs ({args.machine}, {args.policy} "
              f"locks), scale 1/{args.scale}, seed {args.seed}")
        print("\n".join(r.summary))
        print(f"wall time {r.wall_s:.1f} s (real-equivalent); native_queued_spin_lock_slowpath self "
              f"{r.slowpath_self_pct:.2f}%")
        print(f"purges {r.allocator['purges']}, purge helpers {r.allocator['purge_helpers']}; "
              f"{r.overlapping_purges} purges started while another was still running (the kernel serialises them)")
        print("  children    self   symbol")
        print("\n".join(format_table(r.profile, args.top)))
        print("\n".join(format_locks(r.locks, args.scale)))
        print(format_spin_split(r.locks, r.busy_ns))
        print("\n".join(format_atomics(r.atomics, r.busy_ns)))
        print("\n".join(format_sections(r.sections)))
    if set(results) == set(LETTER_VERSIONS):
        a, b = results[BEFORE], results[AFTER]
        pub = published()
        ratio = _ratio(a.wall_s, b.wall_s)
        print(f"ratio 6.8/6.9: {'n/a (6.9 took no time)' if ratio is None else f'{ratio:.1f}x'} (cover letter: {pub['6.8']['wall_s']:.3f} s / "
              f"{pub['6.9']['wall_s']:.3f} s = {pub['ratio']:.1f}x); slow path {a.slowpath_self_pct:.2f}% -> "
              f"{b.slowpath_self_pct:.2f}% (published {pub['6.8']['slowpath_self_pct']}% -> "
              f"{pub['6.9']['slowpath_self_pct']}%)")
    if any(generation(v).vmap_nodes for v in results) and args.scale > 1:
        print("note: a scaled 6.9 run starts each test loop with its pools in their steady state (README, "
              "'scale'); results vary by a few percent from seed to seed: compare a few --seed values")
    if args.compare_profile:
        _print_profile_comparison(results, letter_workload)
    return 0


def _print_profile_comparison(results: dict, letter_workload: bool) -> None:
    """``--compare-profile``: each version's profile against the letter's tables (contention-model.md §7.4)."""
    if not letter_workload:
        print(f"note: the cover letter's tables are for {LETTER_WORKLOAD}; this run is another workload or "
              f"machine, so the comparison below is not a validation")
    for version, r in results.items():
        if version not in LETTER_VERSIONS:
            print(f"== {version}: the cover letter has no table for it (it profiled 6.8 and 6.9): nothing to compare")
            continue
        print(f"== profile vs the cover letter's {version} table (every symbol of its 6.8 and 6.9 tables)")
        records = compare_profile(r.profile, version)
        print("\n".join(format_comparison(records)))
        wall = published()[version]["wall_s"]
        print("\n".join(format_time_budget(time_budget(records, wall, r.wall_s), wall, r.wall_s)))


def cmd_exercises(args) -> int:
    """A teacher's sheet: numbered problems (each names its kind and seed, so it can be remade), then the key."""
    from .course.exercises import KINDS, problem_set
    if args.verify is not None:
        return _verify_progress(args.verify)
    if args.from_file is not None:
        return _exercise_from_ops(args)
    if args.ask is not None:
        print("vmaplab: error: --ask names an area of --from's calls", file=sys.stderr)
        return 2
    sheet = problem_set(args.seed, args.count, tuple(args.kind or KINDS))
    print(f"vmaplab exercises --seed {args.seed} --count {args.count}"
          + "".join(f" --kind {k}" for k in args.kind or ()) + f" ({len(sheet)} problems)\n")
    for n, ex in enumerate(sheet, 1):
        print(f"{n}. [{ex.kind}, seed {ex.seed}]\n{ex.question}\n")
    if args.answers:
        print("Answer key")
        for n, ex in enumerate(sheet, 1):
            print(f"{n}. {ex.solution}")
    return 0


def _verify_progress(path: str) -> int:
    """``vmaplab exercises --verify progress.json``: every problem remade and every answer checked again."""
    from .course.exercises import ExerciseError
    from .course.scorecard import MAX_BYTES, verify
    from .formats.userfile import read_user_file
    score = verify(read_user_file(path, kind="progress.json", max_bytes=MAX_BYTES, exc=ExerciseError,
                                  max_nesting=8), path)
    print(f"vmaplab exercises --verify {path}: every problem remade from its kind and seed, every answer checked again")
    print("\n".join(score.lines))
    print(f"score: {score.right}/{score.total} right ({score.right_without_solution} without showing the solution "
          f"first), {score.attempts} attempts")
    return 0


def _exercise_from_ops(args) -> int:
    """``vmaplab exercises --from FILE``: a teacher's own calls as a problem, answer computed."""
    from .course.exercises import ExerciseError, from_ops
    from .course.explain import MAX_FILE_BYTES
    from .formats.userfile import read_user_file, read_user_stream
    if args.from_file == "-":
        text = read_user_stream(sys.stdin.buffer, "standard input", kind="list of calls", max_bytes=MAX_FILE_BYTES, exc=ExerciseError)
    else:
        text = read_user_file(args.from_file, kind="list of calls", max_bytes=MAX_FILE_BYTES, exc=ExerciseError)
    version = args.version[0]
    ex = from_ops(text, version, args.cpus, args.seed, args.ask)
    print(f"vmaplab exercises --from {args.from_file} --version {version} --cpus {args.cpus} --seed {args.seed}"
          + (f" --ask {args.ask}" if args.ask else "") + "\n")
    print(ex.question)
    if args.answers:
        print(f"\nAnswer: {ex.answer}\n{ex.explanation}")
    return 0


def cmd_explain(args) -> int:
    """Narrate each call of an op list from the kernel model's trace (vmaplab.course.explain)."""
    import json

    from .course.explain import MAX_FILE_BYTES, ExplainError, as_json, explain
    from .formats.userfile import read_user_file
    text = args.ops
    if os.path.exists(text):
        text = read_user_file(text, kind="list of calls", max_bytes=MAX_FILE_BYTES, exc=ExplainError)
    version = args.version[0]
    steps = explain(text, version, args.cpus, args.seed)
    if args.json:
        print(json.dumps(as_json(steps, version, args.cpus, args.seed), indent=1, sort_keys=True))
        return 0
    print(f"vmaplab explain --version {version} --cpus {args.cpus} --seed {args.seed}")
    for st in steps:
        print("\n".join(st.lines))
    return 0


def cmd_sweep(args) -> int:
    """Run an experiment spec (docs/experiments.md) on a process pool or Dask; print its table.

    Ctrl-C: every finished run is kept; one line says how to resume; exit status 130.
    """
    from .contention.experiments import SweepInterrupted, SweepWorkerLost
    try:
        return _sweep(args)
    except SweepWorkerLost as e:            # stopped cleanly: every finished run is recorded
        print(f"vmaplab: {e}; `{_sweep_command(args)}` finishes it", file=sys.stderr)
        return 1
    except SweepInterrupted as e:
        print(f"vmaplab: {e}; `{_sweep_command(args)}` resumes", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("vmaplab: interrupted before any run was recorded", file=sys.stderr)
        return 130


def _sweep_command(args) -> str:
    import shlex
    out = args.out or os.path.join("results", _sweep_name(args))
    where = (f" --dask-local {args.dask_local}" if args.dask_local else
             f" --scheduler {shlex.quote(args.scheduler)}" if args.scheduler else f" --jobs {args.jobs}")
    return f"vmaplab sweep {shlex.quote(args.spec)} --out {shlex.quote(out)}{where}"


def _sweep_name(args) -> str:
    from .contention.experiments import load_experiment
    return load_experiment(args.spec).name


def _sweep(args) -> int:
    from .contention.experiments import dask_executor, load_experiment, output_paths, resume_state, run_experiment
    args.jobs = args.jobs or min(2, os.cpu_count() or 1)
    exp = load_experiment(args.spec)
    out = os.path.join("results", exp.name) if args.out is None else args.out
    _, jsonl = output_paths(out)
    runs = exp.runs()
    progress = None if args.quiet else _tqdm_progress()
    have = len(resume_state(exp, out).kept)
    print(f"sweep {exp.name}: {len(runs)} runs ({have} already in {jsonl}, not run again) -> "
          f"{out}.csv, {jsonl}", flush=True)
    report = _note_printer()
    if args.dask_local or args.scheduler:
        with dask_executor(args.dask_local, args.scheduler) as (executor, client):
            print(f"dask: {len(client.scheduler_info()['workers'])} workers, dashboard {client.dashboard_link}",
                  flush=True)
            rows = run_experiment(exp, out, executor=executor, progress=progress, report=report)
    else:
        rows = run_experiment(exp, out, jobs=args.jobs, progress=progress, report=report)
    if exp.report == "uncertainty":
        _print_uncertainty(rows)
        return 0
    varying = [k for k in rows[0] if k not in ("key", "wall_s", "slowpath_self_pct", "vmaplab", "model", "profile")
               and len({str(r.get(k)) for r in rows}) > 1]
    print("  ".join(f"{k:>14s}" for k in varying) + f"  {'wall s':>10s}  {'slow path %':>11s}")
    for r in rows:
        print("  ".join(f"{str(r.get(k, '')):>14s}" for k in varying)
              + f"  {r['wall_s']:>10.3f}  {r['slowpath_self_pct']:>11.2f}")
    return 0


def _note_printer(limit: int = 5):
    """``report`` for run_experiment: the first ``limit`` lines not kept, then how many more."""
    count = [0]

    def note(line: str) -> None:
        count[0] += 1
        if count[0] <= limit:
            print(f"note: {line}", flush=True)
        elif count[0] == limit + 1:
            print("note: more lines not kept; `vmaplab.contention.experiments.resume_state` lists them all",
                  flush=True)
    return note


def _print_uncertainty(rows) -> None:
    from .contention.experiments import published_for_report, uncertainty_report
    print(f"{'point':26s} {'metric':18s} {'n':>4s} {'median':>10s} {'5%':>10s} {'95%':>10s} {'published':>10s}  inside")
    for iv in uncertainty_report(rows, published_for_report()):
        pub = "" if iv.published is None else f"{iv.published:10.3f}"
        inside = "" if iv.inside is None else ("yes" if iv.inside else "no")
        print(f"{iv.point:26s} {iv.metric:18s} {iv.n:4d} {iv.median:10.3f} {iv.low:10.3f} {iv.high:10.3f} "
              f"{pub:>10s}  {inside}")
    _print_profile_intervals(rows)


def _print_profile_intervals(rows) -> None:
    """Per-symbol intervals beside the letter's tables, when the sweep ran the letter's workload."""
    from .contention.experiments import profile_intervals
    intervals = profile_intervals(rows)
    if not intervals:
        return
    print(f"\n{'version':7s} {'symbol':34s} {'column':8s} {'n':>4s} {'median':>8s} {'5%':>8s} {'95%':>8s} "
          f"{'letter':>8s}  inside")
    for iv in intervals:
        letter = f"{iv.letter:8.2f}" if iv.letter is not None else f"<{iv.bound:.2f}".rjust(8)
        print(f"{iv.version:7s} {iv.symbol:34s} {iv.column:8s} {iv.n:4d} {iv.median:8.2f} {iv.low:8.2f} "
              f"{iv.high:8.2f} {letter}  {'yes' if iv.inside else 'no'}")
    inside = sum(iv.inside for iv in intervals)
    print(f"inside: {inside} of {len(intervals)} symbol/column intervals")


def _tqdm_progress():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return lambda it, total, desc: tqdm(it, total=total, desc=desc, file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``vmaplab: error: ...``, exit status 2) instead of usage + error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _nonempty(text: str) -> str:
    """An argparse type: any text but the empty string (which would silently mean the default)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


_int_in = int_arg        # the one rule for an integer typed on a command line (kernel/validate.py)


def _setting_option(name: str, **override) -> dict:
    """An option of a simulator setting, as its RunSpec field declares it (contention/settings.py): its
    default, its choices when it has a few, its help with the default said."""
    f = SETTINGS[name]
    out: dict = {"default": f.default, "help": f"{help_of(name)} (default {f.default})"}
    options = getattr(f.metadata["check"], "options", None)
    if options:
        out["choices"] = list(options)
    out.update(override)
    return out


def _machine_options(p, *, cpus: int, both: bool = False, cpus_max: int = 1 << 16, cpus_help: str = "",
                     version_help: str = "", seed: bool = True) -> None:
    """``--cpus``, ``--version`` and ``--seed``, declared here once for every command that builds a machine.

    ``both``: ``--version`` also takes "both" (the letter's 6.8 and 6.9 side by side, the default); else it
    picks one model (default ``DEFAULT``, 6.9: the series' own). The top-level ``vmaplab --version`` prints vmaplab's own.
    """
    p.add_argument("--cpus", type=_int_in(1, cpus_max), default=cpus,
                   help=cpus_help or f"CPUs of the simulated machine (default {cpus})")
    p.add_argument("--version", choices=[*VERSIONS, "both"] if both else list(VERSIONS),
                   default="both" if both else DEFAULT,
                   help=version_help or (f"the kernel model; both: {' and '.join(LETTER_VERSIONS)} side by side "
                                         "(default)" if both else f"the kernel model (default {DEFAULT})"))
    if seed:
        p.add_argument("--seed", type=_int_in(0, MAX_SEED), default=0, help="every random choice's seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vmaplab", description=__doc__.split("\n\n")[0])
    from . import __version__
    p.add_argument("-V", "--version", action="version", version=f"vmaplab {__version__}",
                   help="print vmaplab's version and exit (a subcommand's --version picks a kernel model)")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    d = sub.add_parser("demo", help="lazy free, purge and pool reuse on 6.8 and 6.9")
    _machine_options(d, cpus=4, both=True, cpus_help="possible CPUs (default 4)")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("test-vmalloc", help="test_vmalloc.sh against the simulated allocator")
    t.add_argument("params", nargs="*", help="performance | stress | smoke | key=value ...")
    _machine_options(t, cpus=64, both=True, cpus_help="CPUs of the simulated machine (default 64, the cover "
                     "letter's); NUM_CPUS of the stress preset")
    t.add_argument("--interleave", choices=["round-robin", "random"], default="round-robin",
                   help="how workers take turns, one allocator call at a time")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_test_vmalloc)

    v = sub.add_parser("vmallocinfo", help="/proc/vmallocinfo of a scenario, or of a real file re-emitted")
    v.add_argument("--from", dest="from_file", metavar="FILE", help="a /proc/vmallocinfo to rebuild ('-': standard input, e.g. a pipe)")
    v.add_argument("--compare", action="store_true", help="with --from: report how many lines matched")
    v.add_argument("--workload", default="mixed", choices=sorted(SCENARIOS), help="seeded scenario")
    _machine_options(v, cpus=4, cpus_help="CPUs (with --from: the capture's CPU count)")
    v.set_defaults(func=cmd_vmallocinfo)

    r = sub.add_parser("vread", help="hexdump of vread(ADDR, COUNT) on a seeded scenario")
    r.add_argument("addr", type=_int_in(0, (1 << 64) - 1, 0), help="address (0x... or decimal)")
    r.add_argument("count", type=_int_in(0, MAX_VREAD, 0), help="bytes to read (0x... or decimal)")
    r.add_argument("--workload", default="mixed", choices=sorted(SCENARIOS))
    _machine_options(r, cpus=4)
    r.set_defaults(func=cmd_vread)

    m = sub.add_parser("simulate", help="N CPUs contending on the allocator's spinlocks (6.8 vs 6.9)")
    m.add_argument("params", nargs="*", help="test_vmalloc key=value parameters (default run_test_mask=7)")
    _machine_options(m, cpus=64, both=True, cpus_help="simulated CPUs (default 64); nr_threads defaults to it")
    m.add_argument("--machine", **_setting_option("machine", metavar="MACHINE",
                   help="the simulated machine's topology and cache-line latencies (default threadripper-3970x, "
                        "the cover letter's): " + machine_help()))
    m.add_argument("--scale", **_setting_option("scale", type=_int_in(1, MAX_SCALE)))
    m.add_argument("--policy", **_setting_option("policy"))
    m.add_argument("--drain", **_setting_option("drain"))
    m.add_argument("--cold-start", action="store_true",
                   help="scaled 6.9 runs start each loop with the pools as the previous one left them "
                        "(default: in their steady state; see the README's 'Scale')")
    m.add_argument("--placement", **_setting_option("placement"))
    m.add_argument("--cost", action="append", default=[], metavar="NAME=VALUE",
                   help="change one constant of the cost model (repeatable), e.g. --cost f_smt=1.3 "
                        "--cost clear_page_ns=60; an unknown NAME lists the known ones")
    m.add_argument("--top", type=_int_in(0, 10 ** 6), default=18, help="rows of the perf-like table")
    m.add_argument("--json", action="store_true", help="print the results as one JSON object")
    m.add_argument("--compare-profile", action="store_true",
                   help="compare each version's profile with the cover letter's two perf tables, symbol by "
                        "symbol (with --json: a profile_comparison key; docs/contention-model.md §7.4)")
    m.add_argument("--jobs", type=_int_in(1, 256), default=min(2, os.cpu_count() or 1),
                   help="processes for the two versions (default: up to 2)")
    m.add_argument("--quiet", action="store_true")
    m.set_defaults(func=cmd_simulate)

    w = sub.add_parser("sweep", help="run an experiment spec (TOML) on a process pool or Dask")
    w.add_argument("spec", help="an experiment spec, e.g. experiments/threads.toml (docs/experiments.md)")
    where = w.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=_int_in(1, 256), default=None,     # None: "not given", for the group
                       help="local worker processes (default: up to 2)")
    where.add_argument("--dask-local", type=_int_in(1, 256), metavar="N",
                       help="a Dask LocalCluster of N single-threaded workers (pip install 'vmaplab[dask]')")
    where.add_argument("--scheduler", metavar="ADDR", type=_nonempty, help="an existing Dask scheduler, tcp://HOST:PORT")
    w.add_argument("--out", metavar="FILE", help="output stem: FILE.csv and FILE.jsonl (default results/NAME); "
                   "runs already in FILE.jsonl are not run again")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.set_defaults(func=cmd_sweep)

    from .course.exercises import KINDS
    x = sub.add_parser("exercises", help="a seeded problem set from the real allocator and simulator, "
                                         "with its answer key on demand")
    x.add_argument("--seed", type=_int_in(0, MAX_SEED), default=0, help="the set's seed (default 0)")
    x.add_argument("--count", type=_int_in(1, 50), default=2, help="exercises of each kind (default 2)")
    x.add_argument("--kind", action="append", choices=list(KINDS), metavar="KIND",
                   help=f"only this kind (repeatable): {', '.join(KINDS)}")
    x.add_argument("--answers", action="store_true", help="print the answer key after the problems")
    x.add_argument("--from", dest="from_file", metavar="FILE",
                   help="a problem made of your own calls (the grammar of `vmaplab explain --help`; - reads stdin): "
                        "which address does the last allocating call get? The answer and every call's narration "
                        "are computed by the model")
    x.add_argument("--ask", metavar="NAME", help="with --from: ask about the area NAME instead")
    x.add_argument("--verify", metavar="PROGRESS_JSON",
                   help="score a learner's progress.json (the notebooks' 'save progress'): every problem remade "
                        "from its kind and seed, every answer checked again; a card that does not match is refused")
    _machine_options(x, cpus=2, cpus_max=1024, cpus_help="with --from: CPUs of the machine (default 2)",
                     version_help=f"with --from: the model (default {DEFAULT})", seed=False)
    x.set_defaults(func=cmd_exercises)

    from .course.assignment import add_parser as add_assignment_parser
    add_assignment_parser(sub, _int_in)         # vmaplab assignment: per-student nbgrader problem sets

    from .course.explain import GRAMMAR
    e = sub.add_parser("explain", help="narrate a list of calls (vmalloc, vfree, purge, ...) from the model's trace",
                       description="Run a list of calls on a fresh machine and narrate each from its trace records: "
                                   "the node and pool tried, hit or miss, the free-tree match and its fit type, "
                                   "what a free left lazy, what a purge or the shrinker moved.",
                       epilog=GRAMMAR, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("ops", metavar="OPS", help="the calls, e.g. \"vmalloc 4K cpu0; vfree a cpu1; purge\", "
                                              "or a file of them (read as a file when a file of that name exists)")
    _machine_options(e, cpus=2, cpus_max=1024)
    e.add_argument("--json", action="store_true", help="one JSON document: each call's facts, narration and events")
    e.set_defaults(func=cmd_explain)

    sp = sub.add_parser("speedups", help="the optional compiled builds of the simulator's hot modules "
                                         "(status, build, prune)")
    sp.add_argument("action", nargs="?", choices=["status", "build", "prune"], default="status",
                    help="status (default): which modules have a build of their current source and are in use; "
                         "build: compile the missing ones (needs the [speedups] extra and a C compiler); "
                         "prune: delete builds of older sources")
    sp.add_argument("--jobs", type=_int_in(1, 256), default=min(2, os.cpu_count() or 1),
                    help="compiler processes (default: min(2, CPUs))")
    sp.add_argument("--force", action="store_true", help="rebuild every module")
    sp.set_defaults(func=cmd_speedups)

    from .oracle.cli import add_parser as add_oracle_parser
    add_oracle_parser(sub, _int_in)
    return p


# What the CLI does with each branch of vmaplab's exceptions (kernel/errors.py): (class, exit status,
# how its one line starts); the first class the error is an instance of decides. Never a traceback.
EXIT_STATUS: tuple[tuple[type[VmaplabError], int, str], ...] = (
    (OracleUnavailable, EXIT_UNAVAILABLE, "vmaplab oracle: unavailable: "),   # a prerequisite is missing
    (GuestError, 1, "vmaplab oracle: the guest failed: "),         # the real kernel misbehaved
    (speedups.SpeedupsError, 2, "vmaplab speedups: error: "),      # no compiler or Cython: the source runs
    (VmallocError, 2, "vmaplab: error: "),                         # bad input: nothing changed
    (ExternalError, 1, "vmaplab: error: "),                        # another tool failed
    (InvariantError, 70, "vmaplab: internal error (a bug in vmaplab; please report it with the command): "),
    (VmaplabError, 1, "vmaplab: error: "),
)


def exit_status(e: VmaplabError) -> tuple[int, str]:
    """(exit status, line prefix) of a vmaplab exception: the first row of :data:`EXIT_STATUS` it is an instance of."""
    return next((status, prefix) for cls, status, prefix in EXIT_STATUS if isinstance(e, cls))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:             # --help (0) or a bad argument (2, one line already printed)
        return e.code if isinstance(e.code, int) else 2
    _echo(argv, sys.stderr if getattr(args, "json", False) else None)
    if getattr(args, "version", None) is not None:
        args.version = list(LETTER_VERSIONS) if args.version == "both" else [args.version]
    if getattr(args, "cpus", 1) < 1:
        print(f"vmaplab: error: --cpus must be >= 1 (nr_cpus must be >= 1), got {args.cpus}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except VmaplabError as e:
        status, prefix = exit_status(e)
        print(f"{prefix}{e}", file=sys.stderr)
        return status
    except BrokenPipeError:          # `vmaplab ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
