# SPDX-License-Identifier: MIT
"""Drive the oracle: fetch a kernel, build the probe, boot one guest per ``-smp``, compare.

A kernel is named by its Debian series (6.1, 6.12, 7.3: ``generations.ORACLE_SERIES``) or is a
user's own build (a directory, ``debian.own_build``); each is compared with its own model
generation (``own_model``) unless another is asked for.

Each boot runs scenarios of one CPU count one after another: a scenario starts from the guest's
state as the previous one left it, settled and re-read, and the probe frees what a script left
allocated. One leftover cannot be seen: a per-CPU vmap block none of whose pages is mapped is
busy but absent from /proc/vmallocinfo (docs/oracle.md §2.3), so a scenario that calls
``vm_map_ram`` is the last of its boot.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..kernel.generations import DEFAULT_ORACLE_SERIES, ORACLE_SERIES, Generation, for_release, for_series
from . import debian, guest
from .errors import GuestError, ScenarioError
from .scenario import Scenario, compare, parse_probe_output, probe_script


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_kernel_spec(spec: str) -> str:
    """A series name or an existing directory; ScenarioError (bad input, exit 2) otherwise."""
    if spec in ORACLE_SERIES or (spec and Path(spec).is_dir()):
        return spec
    raise ScenarioError(f"--kernel must be one of {', '.join(ORACLE_SERIES)}, all, or a kernel build "
                        f"directory, got {spec!r}")


def fetch_kernel(spec: str = DEFAULT_ORACLE_SERIES, progress=_say) -> debian.KernelTree:
    """The kernel named by ``spec`` (a series, fetched and cached; or a user's build directory)."""
    check_kernel_spec(spec)
    if spec in ORACLE_SERIES:
        return debian.fetch(progress, spec)
    return debian.own_build(Path(spec))


def own_model(kernel: debian.KernelTree) -> Generation:
    """The model generation a kernel is compared with: its series', or its release's for a user's build."""
    return for_series(kernel.series) if kernel.series else for_release(kernel.release)


def kernel_and_probe(progress=_say, spec: str = DEFAULT_ORACLE_SERIES):
    """The cached kernel tree and our module built against it (both made on first use)."""
    check_kernel_spec(spec)
    guest.require_tools()               # before a large download, not after
    kernel = fetch_kernel(spec, progress)
    return kernel, guest.build_probe(kernel)


@dataclass(frozen=True)
class ScenarioRun:
    scenario: Scenario
    release: str
    boot_seconds: float
    comparisons: dict            # model version -> Comparison
    dmesg: str
    model: str = ""              # the kernel's own model generation
    probe_output: str = ""       # the probe's raw answer (what a record keeps)
    series: str = ""             # the kernel's Debian series; "" for a user's own build


def run_scenarios(scenarios: list[Scenario], versions=None, progress=_say,
                  kernel_spec: str = DEFAULT_ORACLE_SERIES) -> list[ScenarioRun]:
    """Every scenario in the real kernel (one boot per distinct ``smp``) and in each model version
    (default: the kernel's own, ``own_model``)."""
    kernel, probe = kernel_and_probe(progress, kernel_spec)
    excluded = [s.name for s in scenarios if not s.applies_to(kernel.series)]
    if excluded:
        raise ScenarioError(f"scenario {excluded[0]} does not apply to Linux {kernel.series} (its \"kernels\")")
    own = own_model(kernel).name
    versions = tuple(dict.fromkeys(own if v == "own" else v for v in (versions or ("own",))))
    by_smp: dict[int, list[Scenario]] = defaultdict(list)
    for scn in scenarios:
        by_smp[scn.smp].append(scn)
    runs: dict[int, ScenarioRun] = {}
    for smp, group in [(smp, b) for smp, g in sorted(by_smp.items()) for b in boot_batches(g)]:
        progress(f"oracle: booting Linux {kernel.release} with -smp {smp} for {len(group)} scenario(s)")
        jobs = [guest.Job("scenario", s.name, probe_script(s)) for s in group]
        boot = _boot_twice(kernel, smp, jobs, {"vmaplab_probe": probe}, progress)
        progress(f"oracle: the guest ran and powered off in {boot.seconds:.1f} s")
        keep = debian.cache_dir() / "last-run" / boot.release
        keep.mkdir(parents=True, exist_ok=True)
        for scn, out in zip(group, boot.outputs):
            # the guest's raw answer, kept for a look after a mismatch (one run's worth)
            (keep / f"{scn.name}.probe.txt").write_text(out.text + "\n--- dmesg\n" + out.dmesg)
            krun = parse_probe_output(out.text, scn, out.dmesg)
            cmps = {v: compare(scn, krun, boot.release, v) for v in versions}
            runs[id(scn)] = ScenarioRun(scn, boot.release, boot.seconds, cmps, out.dmesg, own, out.text, kernel.series)
    return [runs[id(s)] for s in scenarios]


def _boot_twice(kernel, smp, jobs, modules, progress, timeout=None):
    """One boot; if the guest fails, one more. Every boot of the oracle goes through here: under TCG
    a guest has been seen to panic while booting (in inet_init, before any job), once in a CI run."""
    try:
        return guest.boot(kernel, smp, jobs, modules, timeout)
    except GuestError as e:
        progress(f"oracle: the guest failed ({str(e).splitlines()[0]}); booting once more")
        return guest.boot(kernel, smp, jobs, modules, timeout)


def boot_batches(scenarios: list[Scenario]) -> list[list[Scenario]]:
    """Split one CPU count's scenarios into boots: each ``vm_map_ram`` scenario ends a boot."""
    batches, current = [], []
    for scn in scenarios:
        current.append(scn)
        if any(op.op == "vm_map_ram" for op in scn.ops):
            batches.append(current)
            current = []
    return batches + ([current] if current else [])


# 7.3 adds "xfailed: N" (tests expected to fail, e.g. align_shift_alloc_test) before "repeat"
SUMMARY_RE = re.compile(r"Summary: (\w+) passed: (\d+) failed: (\d+) (?:xfailed: (\d+) )?repeat: \d+ loops: \d+ "
                        r"avg: (\d+) usec")


@dataclass(frozen=True)
class TestSummary:
    """One worker's line for one test: what the kernel (or vmaplab) printed."""
    __test__ = False
    worker: int
    test: str
    passed: int
    failed: int
    avg_usec: int
    xfailed: int = 0        # 7.3's column; 0 where the kernel prints none

    @property
    def verdict(self) -> tuple[int, int, int]:
        """What must agree between the kernel and the model: passed, failed, xfailed."""
        return self.passed, self.failed, self.xfailed


def parse_summaries(text: str) -> list[TestSummary]:
    """The module's Summary lines, numbered by worker (each worker prints its tests, then 'All test took')."""
    out, worker = [], 0
    for line in text.splitlines():
        m = SUMMARY_RE.search(line)
        if m:
            out.append(TestSummary(worker, m[1], int(m[2]), int(m[3]), int(m[5]), int(m[4] or 0)))
        elif "All test took worker" in line:
            worker += 1
    return out


def run_test_vmalloc(words: list[str], smp: int, progress=_say, kernel_spec: str = DEFAULT_ORACLE_SERIES,
                     ) -> tuple[str, list[TestSummary], list[TestSummary]]:
    """The real test_vmalloc with ``words`` as module parameters, and vmaplab's on the kernel's own model."""
    from ..kernel.vmalloc import Vmalloc
    from ..workloads.test_vmalloc import TestVmallocParams, TestVmallocRun
    params = TestVmallocParams.from_args(words, smp)       # the same validation as vmaplab test-vmalloc
    kernel, probe = kernel_and_probe(progress, kernel_spec)
    tv = guest.build_test_vmalloc(kernel)
    progress(f"oracle: booting Linux {kernel.release} with -smp {smp} for test_vmalloc {' '.join(words)}")
    boot = _boot_twice(kernel, smp, [guest.Job("test_vmalloc", "test_vmalloc", " ".join(words))],
                       {"vmaplab_probe": probe, "test_vmalloc": tv}, progress, timeout=1800)
    progress(f"oracle: the guest ran and powered off in {boot.seconds:.1f} s")
    model = TestVmallocRun(Vmalloc(nr_cpus=smp, version=own_model(kernel)), params)
    model.run()
    return boot.release, parse_summaries(boot.outputs[0].dmesg), parse_summaries("\n".join(model.lines))


def capture_vmallocinfo(smp: int, progress=_say, kernel_spec: str = DEFAULT_ORACLE_SERIES) -> tuple[str, str]:
    """(release, /proc/vmallocinfo) of a freshly booted guest, real addresses."""
    kernel, probe = kernel_and_probe(progress, kernel_spec)
    boot = _boot_twice(kernel, smp, [guest.Job("vmallocinfo", "vmallocinfo")], {"vmaplab_probe": probe}, progress)
    return boot.release, boot.outputs[0].text
