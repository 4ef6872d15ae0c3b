# SPDX-License-Identifier: MIT
"""contention/calibration.py: the protocol's calibration (contention-model.md §7.0) as a function."""
from __future__ import annotations

from dataclasses import replace

import pytest

from vmaplab.contention.calibration import T6_FIX_US, T6_LONG_US, T7_ONE_JOB_US, calibrate, single_cpu_us
from vmaplab.contention.costs import ContentionCosts
from vmaplab.workloads.costs import CostModel

SCALE = 8000


def _no_zero(costs: ContentionCosts) -> ContentionCosts:
    return replace(costs, calls=replace(costs.calls, init_on_alloc=False))


@pytest.mark.parametrize("calls", [CostModel(), CostModel(clear_page_ns=120.0, vmalloc_fixed_ns=150.0, page_free_ns=40.0)])
def test_calibrated_costs_reproduce_t6_and_t7_on_one_cpu(calls):
    cal = calibrate(ContentionCosts(calls=calls), SCALE)
    assert cal.consistent
    assert single_cpu_us(_no_zero(cal.costs), 1, SCALE) == pytest.approx(T6_FIX_US, rel=1e-3)
    assert single_cpu_us(_no_zero(cal.costs), 4, SCALE) == pytest.approx(T6_LONG_US, rel=1e-3)
    assert single_cpu_us(cal.costs, 1, SCALE) == pytest.approx(T7_ONE_JOB_US, rel=1e-3)
    c = cal.costs.calls
    # the derived totals, split in the given proportions
    assert c.vmalloc_fixed_ns + c.vfree_fixed_ns == pytest.approx(cal.pair_fixed_ns)
    assert c.vmalloc_fixed_ns / c.vfree_fixed_ns == pytest.approx(calls.vmalloc_fixed_ns / calls.vfree_fixed_ns)
    assert c.page_alloc_ns + c.page_map_ns + c.page_unmap_ns + c.page_free_ns == pytest.approx(cal.page_work_ns)
    assert c.page_free_ns / c.page_alloc_ns == pytest.approx(calls.page_free_ns / calls.page_alloc_ns)
    assert c.clear_page_ns == cal.clear_page_ns


def test_the_derived_values_do_not_depend_on_the_ones_they_replace():
    """F, P and the clear are unknowns: the values given for them do not move the result."""
    a = calibrate(ContentionCosts(), SCALE)
    b = calibrate(ContentionCosts(calls=CostModel(vmalloc_fixed_ns=10.0, vfree_fixed_ns=10.0, page_alloc_ns=1.0,
                                                  page_map_ns=1.0, page_unmap_ns=1.0, page_free_ns=1.0,
                                                  clear_page_ns=500.0)), SCALE)
    assert (a.pair_fixed_ns, a.page_work_ns, a.clear_page_ns) == pytest.approx(
        (b.pair_fixed_ns, b.page_work_ns, b.clear_page_ns))


def test_other_costs_that_exceed_a_timing_are_flagged_not_hidden():
    """A critical section that alone takes longer than T6's pair leaves no room for F: F is 0, not negative."""
    cal = calibrate(ContentionCosts(cs_base_ns=500.0), SCALE)
    assert not cal.consistent
    assert cal.pair_fixed_ns == 0.0 and cal.page_work_ns >= 0.0 and cal.clear_page_ns >= 0.0
