# SPDX-License-Identifier: MIT
"""Shared helpers: tiny machines that hit edge cases in a few calls, state snapshots, Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (the default) runs the property tests as CI does; ``deep`` runs many more
examples and longer state-machine runs, for anyone changing the kernel model (docs/testing.md).
"""
from __future__ import annotations

import os

# The suite tests the source files (doctests are collected from them): never the compiled speedups,
# which tests/test_speedups.py compares with the source in subprocesses. Set before vmaplab is imported.
os.environ["VMAPLAB_PURE"] = "1"

import pytest
from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("deep", max_examples=2000, stateful_step_count=150, deadline=None,
                          suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from vmaplab import PAGE_SIZE, Vmalloc


def tiny(version: str = "6.9", nr_cpus: int = 2, pages: int = 64, **kw) -> Vmalloc:
    """A machine with a ``pages``-page vmalloc window, 4 pool sizes, a small lazy threshold
    (fls(online) * 8 pages) and 8-page vmap blocks, checked after every call."""
    opts = dict(vmalloc_size=pages * PAGE_SIZE, max_va_size_pages=4, lazy_max_unit_pages=8,
                vmap_bbmap_bits=8, vmap_max_alloc=2, nr_ram_pages=4096, debug=True)
    opts.update(kw)
    return Vmalloc(nr_cpus=nr_cpus, version=version, **opts)


def snapshot(vm: Vmalloc):
    """Everything observable about a machine, for "an invalid call changes nothing" tests."""
    from vmaplab.kernel.check import _segments
    segs = sorted(_segments(vm))
    pools = [[[va.va_start for va in pool.va_list] for pool in vn.pool] for vn in vm.nodes]
    blocks = [(vb.va.va_start, vb.free, vb.dirty, vb.used, sorted(vb.allocs))
              for q in vm.vmap_block_queue for vb in q.vmap_blocks.values()]
    return (segs, pools, blocks, vm.vmap_lazy_nr, vm.nr_vmalloc_pages, vm.pages.nr_used,
            vm.stats.as_dict(), list(vm.dmesg), vm.pending_work, vm.rcu_pending)


@pytest.fixture(params=["6.8", "6.9"])
def version(request):
    return request.param
