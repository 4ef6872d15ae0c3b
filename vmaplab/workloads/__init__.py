# SPDX-License-Identifier: MIT
"""What runs on the kernel model: lib/test_vmalloc.c and test_vmalloc.sh, their cost model, scenarios.

What it is: the kernel's own test module as a reproducible workload (``test_vmalloc.py``), the
*uncontended* per-call and per-page cost model that times it (``costs.py``), and seeded machines
for figures and the CLI (``scenarios.py``). Lock contention is not modelled here: that is
:mod:`vmaplab.contention`'s job.

What it may import: the standard library and :mod:`vmaplab.kernel` (public names only).
"""
from .costs import CostModel
from .scenarios import SCENARIOS, build_scenario
from .test_vmalloc import PRESET_MESSAGES, PRESETS, TEST_NAMES, TestResult, TestVmallocParams, TestVmallocRun

__all__ = ["CostModel", "SCENARIOS", "build_scenario", "TEST_NAMES", "TestVmallocParams", "TestVmallocRun",
           "TestResult", "PRESETS", "PRESET_MESSAGES"]
