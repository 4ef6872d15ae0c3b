# SPDX-License-Identifier: MIT
"""``vmaplab oracle ...``: the real kernel as the referee (docs/oracle.md §5).

Kept apart from vmaplab/cli.py so the main command line does not import the oracle until asked.
Exit status: 0 when every op and the final /proc/vmallocinfo matched, 1 when something differs,
2 for bad input, 3 when a prerequisite (qemu, apt, the archive) is missing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..kernel.generations import AFTER, DEFAULT_ORACLE_SERIES, ORACLE_SERIES, VERSIONS
from .errors import ScenarioError
from .scenario import load_scenario, shipped_scenarios

KERNEL_HELP = (f"which kernel referees: a Debian series ({', '.join(ORACLE_SERIES)}; default "
               f"{DEFAULT_ORACLE_SERIES}) or a directory holding your own build (a bzImage and a tree "
               "prepared with make modules_prepare; docs/oracle.md §7.2)")


def _kernel_option(parser, allow_all: bool = False) -> None:
    parser.add_argument("--kernel", default=DEFAULT_ORACLE_SERIES, metavar="KERNEL",
                        help=KERNEL_HELP + ("; all: every series, one table" if allow_all else ""))


def add_parser(sub, int_in) -> None:
    o = sub.add_parser("oracle", help="run scenarios in a real Linux (6.1, 6.12, 7.3) under QEMU and in vmaplab, compare")
    osub = o.add_subparsers(dest="oracle_cmd", required=True, parser_class=type(o))
    r = osub.add_parser("run", help="run scenario files (or shipped names, or 'all') and compare op by op")
    r.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="a .json file, a shipped name, or all")
    r.add_argument("--smp", type=int_in(1, 64), help="override the scenarios' CPU count")
    r.add_argument("--model", choices=["own", *VERSIONS, "both"], default="own",
                   help="the model version to compare with: own (default: the kernel's own generation), a "
                        f"version, or both (its own and {AFTER}, the series' design)")
    _kernel_option(r, allow_all=True)
    r.add_argument("--json", action="store_true", help="one JSON document on stdout")
    r.add_argument("--record", metavar="DIR", help="also keep each kernel's answers as replayable records, "
                   "DIR/SERIES/SCENARIO.json, merged with the records already there (docs/oracle.md §7.3)")
    r.set_defaults(func=cmd_run)
    ls = osub.add_parser("list", help="the shipped scenarios")
    ls.set_defaults(func=cmd_list)
    t = osub.add_parser("test-vmalloc", help="the kernel's own test_vmalloc in the guest, beside vmaplab's")
    t.add_argument("params", nargs="*", default=[], metavar="KEY=VALUE",
                   help="module parameters (default: nr_threads=2 test_loop_count=1000); TCG is ~100x "
                        "slower than hardware, keep loop counts small")
    t.add_argument("--smp", type=int_in(1, 64), default=2)
    t.add_argument("--json", action="store_true")
    _kernel_option(t)
    t.set_defaults(func=cmd_test_vmalloc)
    v = osub.add_parser("vmallocinfo", help="the guest's /proc/vmallocinfo; --compare re-emits it from vmaplab")
    v.add_argument("--smp", type=int_in(1, 64), default=2)
    v.add_argument("--compare", action="store_true", help="import it and compare vmaplab's re-emission")
    _kernel_option(v)
    v.set_defaults(func=cmd_vmallocinfo)


def _resolve(names: list[str], smp):
    shipped = {p.stem.split("-", 1)[1]: p for p in shipped_scenarios()}
    paths = []
    for name in names:
        if name == "all":
            paths += list(shipped.values())
        elif name in shipped:
            paths.append(shipped[name])
        elif name.endswith(".json") or Path(name).exists():
            paths.append(Path(name))
        else:
            raise ScenarioError(f"scenario {name!r} is neither a file nor one of: {', '.join(shipped)}, all")
    return [load_scenario(p, smp) for p in paths]


def cmd_list(args) -> int:
    for p in shipped_scenarios():
        scn = load_scenario(p)
        print(f"{scn.name:30s} smp={scn.smp:<2d} ops={len(scn.ops):<4d} {scn.description}")
    return 0


def _print_comparison(run, versions) -> None:
    scn = run.scenario
    print(f"== {scn.name} (smp {scn.smp}, Linux {run.release}): {scn.description}")
    head = f"{'#':>4s} {'cpu':>3s} {'call':34s} {'kernel':20s}" + "".join(f" {'vmaplab ' + v:24s}" for v in versions)
    print(head)
    for i, op in enumerate(scn.ops):
        cells = [run.comparisons[v].ops[i] for v in versions]
        k = cells[0].kernel
        marks = "".join(f" {c.vmaplab + ('' if c.match else ' ≠'):24s}" for c in cells)
        print(f"{i:4d} {op.cpu:3d} {op.describe()[:34]:34s} {k:20s}{marks}")
    for v in versions:
        c = run.comparisons[v]
        f = c.final
        print(f"   model {v}: {c.matched}/{len(c.ops)} ops matched; final /proc/vmallocinfo "
              f"{'identical' if f.match else 'differs'} ({f.matched}/{f.kernel_lines} lines, callers aside)"
              + ("" if f.match else f"; {f.first_difference}") + _tree_note(c))


def _tree_note(c) -> str:
    """The free tree the comparison started from, and whether the final trees agree (docs/oracle.md §4)."""
    before = {"kernel": "the guest's", "rebuilt": "rebuilt from the text"}.get(c.free_tree, c.free_tree)
    after = {"same": "the same node for node", "": "not recorded"}.get(c.free_tree_after, c.free_tree_after)
    return f"; free tree: {before}, final trees {after}" if c.free_tree else ""


def _versions(choice: str) -> tuple[str, ...]:
    """--model as run_scenarios takes it ("own": the kernel's own generation, resolved once it is known)."""
    return {"own": ("own",), "both": ("own", AFTER)}.get(choice, (choice,))


def _agrees(r) -> bool:
    return all(c.matched == len(c.ops) and c.final.match for c in r.comparisons.values())


def _document(runs, versions) -> dict:
    """One kernel's JSON document (the shape of earlier releases, plus the model each run used)."""
    doc = {"kernel": runs[0].release, "model": runs[0].model, "scenarios": []}
    for r in runs:
        entry = {"name": r.scenario.name, "smp": r.scenario.smp, "boot_seconds": round(r.boot_seconds, 1)}
        for v, c in r.comparisons.items():
            entry[v] = c.to_json()
        doc["scenarios"].append(entry)
    first = next(iter(runs[0].comparisons.values())).to_json()
    if len(runs) == 1:      # the one-scenario document of the issue: kernel, smp, ops, matched, total
        doc.update({k: first[k] for k in ("smp", "ops", "matched", "total", "vmallocinfo")})
    return doc


def _print_kernel(runs) -> None:
    versions = list(runs[0].comparisons)
    for r in runs:
        _print_comparison(r, versions)
    w = max(28, *(len(r.scenario.name) for r in runs))
    print(f"\n{'scenario':{w}s} smp  ops " + " ".join(f"matched {v:5s}" for v in versions))
    for r in runs:
        print(f"{r.scenario.name:{w}s} {r.scenario.smp:3d} {len(r.scenario.ops):4d} "
              + " ".join(f"{r.comparisons[v].matched:5d}{'' if r.comparisons[v].final.match else '*':1s}      "
                         for v in versions))
    print("(* the final /proc/vmallocinfo differs)")


def _print_matrix(by_kernel: dict, scenarios) -> None:
    """--kernel all: every differing scenario in full, then one row per scenario, one column per kernel."""
    for runs in by_kernel.values():
        for r in runs:
            if not _agrees(r):
                _print_comparison(r, list(r.comparisons))
    kernels = [k for k, runs in by_kernel.items() if runs]
    w = max(28, *(len(scn.name) for scn in scenarios))
    print(f"\n{'scenario':{w}s} smp  ops " + " ".join(f"{'Linux ' + k:>14s}" for k in kernels))
    by_name = {k: {r.scenario.name: r for r in by_kernel[k]} for k in kernels}
    for scn in scenarios:
        cells = []
        for k in kernels:
            r = by_name[k].get(scn.name)
            if r is None:
                cells.append("n/a")
                continue
            c = next(iter(r.comparisons.values()))
            cells.append(f"{c.matched}/{len(c.ops)}{'' if c.final.match else '*'}")
        print(f"{scn.name:{w}s} {scn.smp:3d} {len(scn.ops):4d} " + " ".join(f"{c:>14s}" for c in cells))
    print("models: " + ", ".join(f"Linux {by_kernel[k][0].release} against {by_kernel[k][0].model}" for k in kernels)
          + "; ops matched, * the final /proc/vmallocinfo differs, n/a the scenario's \"kernels\" exclude it")


def _applicable(scenarios, spec: str, strict: bool) -> list:
    """The scenarios whose "kernels" include ``spec``; a named one that excludes it is refused (exit 2)."""
    series = spec if spec in ORACLE_SERIES else ""
    out = [s for s in scenarios if s.applies_to(series)]
    if strict and len(out) < len(scenarios):
        s = next(s for s in scenarios if not s.applies_to(series))
        raise ScenarioError(f"scenario {s.name} applies to Linux {', '.join(s.kernels)} only, not {spec}")
    return out


def _record(args, by_kernel: dict) -> None:
    from .records import record_doc, save
    for runs in by_kernel.values():
        command = " ".join(["vmaplab oracle run", *args.scenarios, "--kernel", args.kernel, "--record", args.record]
                           + (["--smp", str(args.smp)] if args.smp else []))
        for r in runs:
            save(Path(args.record), record_doc(r.scenario.doc, r.series, r.release, r.probe_output, r.dmesg,
                                               r.boot_seconds, command))
    print(f"oracle: records kept under {args.record}", file=sys.stderr)


def cmd_run(args) -> int:
    from .run import check_kernel_spec, run_scenarios
    scenarios = _resolve(args.scenarios, args.smp)
    specs = list(ORACLE_SERIES) if args.kernel == "all" else [check_kernel_spec(args.kernel)]
    versions = _versions(args.model)
    picked = {spec: _applicable(scenarios, spec, strict=args.kernel != "all" and "all" not in args.scenarios)
              for spec in specs}
    by_kernel = {spec: run_scenarios(scns, versions, kernel_spec=spec) if scns else []
                 for spec, scns in picked.items()}
    if args.record:
        _record(args, by_kernel)
    ok = all(_agrees(r) for runs in by_kernel.values() for r in runs)
    if args.json:
        if args.kernel == "all":
            doc = {"kernels": {k: _document(runs, versions) for k, runs in by_kernel.items() if runs}}
        else:
            doc = _document(by_kernel[specs[0]], versions)
        json.dump(doc, sys.stdout, indent=1)
        print()
    elif args.kernel == "all":
        _print_matrix(by_kernel, scenarios)
    else:
        _print_kernel(by_kernel[specs[0]]) if by_kernel[specs[0]] else print("no scenario applies to this kernel")
    return 0 if ok else 1


def cmd_test_vmalloc(args) -> int:
    from .run import run_test_vmalloc
    words = args.params or ["nr_threads=2", "test_loop_count=1000"]
    release, kernel, model = run_test_vmalloc(words, args.smp, kernel_spec=args.kernel)
    by_key = {(s.worker, s.test): s for s in model}
    rows = [(k, by_key.get((k.worker, k.test))) for k in kernel]

    def same(k, m) -> bool:
        return m is not None and k.verdict == m.verdict

    def counts(s) -> dict:
        return {"passed": s.passed, "failed": s.failed, "xfailed": s.xfailed}
    agree = bool(kernel) and len(kernel) == len(model) and all(same(k, m) for k, m in rows)
    if args.json:
        json.dump({"kernel": release, "smp": args.smp, "params": words, "agree": agree,
                   "tests": [{"worker": k.worker, "test": k.test, "kernel": {**counts(k), "avg_usec_tcg": k.avg_usec},
                              "vmaplab": None if m is None else counts(m), "agree": same(k, m)}
                             for k, m in rows]}, sys.stdout, indent=1)
        print()
        return 0 if agree else 1
    print(f"test_vmalloc {' '.join(words)} on Linux {release} (-smp {args.smp}, TCG) and on its vmaplab model")
    print(f"{'worker':>6s} {'test':34s} {'kernel pass/fail/xfail':>22s} {'vmaplab pass/fail/xfail':>23s}  agree  "
          f"{'kernel avg (TCG, usec)':>22s}")
    for k, m in rows:
        mv = "-" if m is None else "/".join(map(str, m.verdict))
        print(f"{k.worker:6d} {k.test:34s} {'/'.join(map(str, k.verdict)):>22s} {mv:>23s}  "
              f"{'yes' if same(k, m) else 'NO ':5s}  {k.avg_usec:22d}")
    print(f"{'all agree' if agree else 'they differ'}: {len(kernel)} kernel lines, {len(model)} vmaplab lines "
          "(times under TCG mean nothing; pass/fail must agree)")
    return 0 if agree else 1


def cmd_vmallocinfo(args) -> int:
    from ..kernel.generations import for_release
    from .run import capture_vmallocinfo
    release, text = capture_vmallocinfo(args.smp, kernel_spec=args.kernel)
    if not args.compare:
        sys.stdout.write(text)
        return 0
    from ..kernel.vmalloc import Vmalloc
    from .scenario import compare_vmallocinfo
    vm = Vmalloc.from_vmallocinfo(text, nr_cpus=args.smp, version=for_release(release).name)
    out = vm.vmallocinfo()
    exact = sum(a == b for a, b in zip(text.splitlines(), out.splitlines()))
    cmp = compare_vmallocinfo(text, out)
    same = out == text
    print(f"Linux {release}, -smp {args.smp}: {len(text.splitlines())} lines; vmaplab re-emitted "
          f"{exact} identical, order included{' (the whole text is byte-identical)' if same else ''}"
          + ("" if cmp.match else f"; first difference {cmp.first_difference}"))
    return 0 if same else 1
