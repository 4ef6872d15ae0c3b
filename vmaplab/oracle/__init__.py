# SPDX-License-Identifier: MIT
"""The real kernel as the referee: Linux 6.12 under QEMU runs the same scenarios as vmaplab.

Layers (docs/oracle.md): ``debian`` fetches and unpacks Debian's kernel packages, ``guest`` builds
the modules, packs the initramfs and boots QEMU, ``scenario`` validates scenario files, replays
them on the model and compares, ``run`` ties them together, ``cli`` is ``vmaplab oracle``. The
oracle uses the kernel model only through its public calls; nothing below it imports it.
"""
from .errors import GuestError, OracleUnavailable, ScenarioError
from .scenario import Scenario, load_scenario, parse_scenario, shipped_scenarios

__all__ = ["GuestError", "OracleUnavailable", "ScenarioError", "Scenario", "load_scenario",
           "parse_scenario", "shipped_scenarios"]
