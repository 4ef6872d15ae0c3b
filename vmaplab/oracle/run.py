"""Drive the oracle: fetch the kernel, build the probe, boot one guest per ``-smp``, compare.

Each boot runs every scenario of its CPU count one after another (a scenario starts from the
guest's state as the previous one left it, settled and re-read, so scenarios do not depend on
each other's leftovers: the probe frees what a script left allocated).
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass

from . import debian, guest
from .scenario import Comparison, Scenario, compare, parse_probe_output, probe_script

MODEL_VERSIONS = ("6.12", "6.9")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def kernel_and_probe(progress=_say):
    """The cached kernel tree and our module built against it (both made on first use)."""
    kernel = debian.fetch(progress)
    return kernel, guest.build_probe(kernel)


@dataclass(frozen=True)
class ScenarioRun:
    scenario: Scenario
    release: str
    boot_seconds: float
    comparisons: dict            # model version -> Comparison
    dmesg: str


def run_scenarios(scenarios: list[Scenario], versions=MODEL_VERSIONS, progress=_say) -> list[ScenarioRun]:
    """Every scenario in the real kernel (one boot per distinct ``smp``) and in each model version."""
    kernel, probe = kernel_and_probe(progress)
    by_smp: dict[int, list[Scenario]] = defaultdict(list)
    for scn in scenarios:
        by_smp[scn.smp].append(scn)
    runs: dict[int, ScenarioRun] = {}
    for smp, group in sorted(by_smp.items()):
        progress(f"oracle: booting Linux {kernel.release} with -smp {smp} for {len(group)} scenario(s)")
        jobs = [guest.Job("scenario", s.name, probe_script(s)) for s in group]
        boot = guest.boot(kernel, smp, jobs, {"vmaplab_probe": probe})
        progress(f"oracle: the guest ran and powered off in {boot.seconds:.1f} s")
        for scn, out in zip(group, boot.outputs):
            krun = parse_probe_output(out.text, scn, out.dmesg)
            cmps = {v: compare(scn, krun, boot.release, v) for v in versions}
            runs[id(scn)] = ScenarioRun(scn, boot.release, boot.seconds, cmps, out.dmesg)
    return [runs[id(s)] for s in scenarios]


def capture_vmallocinfo(smp: int, progress=_say) -> tuple[str, str]:
    """(release, /proc/vmallocinfo) of a freshly booted guest, real addresses."""
    kernel, probe = kernel_and_probe(progress)
    boot = guest.boot(kernel, smp, [guest.Job("vmallocinfo", "vmallocinfo")], {"vmaplab_probe": probe})
    return boot.release, boot.outputs[0].text
