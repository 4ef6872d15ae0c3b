# SPDX-License-Identifier: MIT
"""The kernel generations vmaplab models: one frozen record each, resolved once.

What it mirrors: which of mm/vmalloc.c's designs and rules a model version follows
(docs/kernel-model.md §8, where each switch cites the kernel version it appeared in). Every
module that behaves differently per generation asks the record's switches (``gen.vmap_nodes``,
``gen.decay_wraps_short_pools``, ...), never the version string: the list of versions lives
here and nowhere else (tests/test_generations.py fails on a version literal compared
anywhere else in the package).

Invariants: a name resolves to exactly one record; a switch is a fact about the kernel the
record mirrors, not a what-if (what-ifs are ``Vmalloc`` arguments such as ``pools=False``).

Simplifications: "6.8" names the design the series replaced, as the letter measured it (its base
was 6.7-rc8); "6.9" the series as merged. 6.1, 6.12 and 7.3 are Debian's kernels, the ones the
oracle boots. Intermediate releases are not modelled: a release maps to the newest record whose
``since`` is not newer than it (``for_release``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .config import GFP_NOWAIT, GFP_NOWARN
from .errors import ConfigError

INT_MAX = (1 << 31) - 1

# lib/test_vmalloc.c's test_case_array, in table order (kernel-model.md §5.2): bit i of
# run_test_mask selects entry i. 6.1 has ten; vm_map_ram_test is the 11th by 6.12; 7.3 adds two.
TEST_VMALLOC_TESTS_6_1 = (
    "fix_size_alloc_test", "full_fit_alloc_test", "long_busy_list_alloc_test", "random_size_alloc_test",
    "fix_align_alloc_test", "random_size_align_alloc_test", "align_shift_alloc_test", "pcpu_alloc_test",
    "kvfree_rcu_1_arg_vmalloc_test", "kvfree_rcu_2_arg_vmalloc_test")
TEST_VMALLOC_TESTS_6_12 = TEST_VMALLOC_TESTS_6_1 + ("vm_map_ram_test",)
TEST_VMALLOC_TESTS_7_3 = TEST_VMALLOC_TESTS_6_12 + ("no_block_alloc_test", "vrealloc_test")


@dataclass(frozen=True)
class TestVmallocModule:
    """lib/test_vmalloc.c of one kernel (kernel-model.md §5): its table, its parameters, its Summary line."""
    __test__ = False                      # not a pytest class
    tests: tuple[str, ...]                # test_case_array in table order
    params: tuple[tuple[str, int], ...]   # module parameters and their defaults, in declaration order
    xfail: tuple[str, ...] = ()           # tests whose failure is counted as xfailed (7.3)
    counts_xfailed: bool = False          # the Summary line has an "xfailed:" column (7.3)

    @property
    def defaults(self) -> dict[str, int]:
        """Each parameter's default, by name."""
        return dict(self.params)


_PARAMS_6_1 = (("nr_threads", 0), ("sequential_test_order", 0), ("test_repeat_count", 1),
               ("test_loop_count", 1_000_000), ("nr_pages", 0), ("run_test_mask", INT_MAX))
TEST_VMALLOC_6_1 = TestVmallocModule(TEST_VMALLOC_TESTS_6_1, _PARAMS_6_1)
# 6.12 adds use_huge (vmalloc_huge in fix_size_alloc_test) and vm_map_ram_test
TEST_VMALLOC_6_12 = TestVmallocModule(TEST_VMALLOC_TESTS_6_12, _PARAMS_6_1[:5] + (("use_huge", 0),) + _PARAMS_6_1[5:])
# 7.3: run_test_mask 7 (the first three tests), nr_pcpu_objects, two xfail tests and the xfailed column
TEST_VMALLOC_7_3 = TestVmallocModule(
    TEST_VMALLOC_TESTS_7_3,
    _PARAMS_6_1[:5] + (("use_huge", 0), ("run_test_mask", 7), ("nr_pcpu_objects", 35000)),
    xfail=("align_shift_alloc_test", "no_block_alloc_test"), counts_xfailed=True)


@dataclass(frozen=True)
class Generation:
    """One modelled kernel: its switches, each the kernel's own behaviour (kernel-model.md §8)."""
    name: str                       # the model version: "6.1", "6.8", "6.9", "6.12", "7.3"
    title: str                      # one line for tables and the CLI
    since: tuple[int, int]          # the first upstream release that behaves like it (for_release)
    vmap_nodes: bool                # per-node busy/lazy trees and size pools (6.9); else one global tree each
    vread_vm_map_ram: bool          # vread reads vm_map_ram areas through their blocks (6.3); 6.1 gives zeros
    vm_map_ram_flagged: bool        # vmallocinfo says vm_map_ram only for VMAP_RAM VAs (6.3); 6.1 for any bare VA
    vfree_unlinks_once: bool        # vfree finds and unlinks its VA in one busy-lock hold (6.3); 6.1 takes it 3 times
    block_purge_keeps_usable: bool  # the block purge keeps blocks a caller can still use (6.5)
    vb_flush_once: bool             # vm_unmap_aliases walks every block and flushes a dirty range once (6.5)
    decay_wraps_short_pools: bool   # a pool shorter than 4 is emptied by the decay (6.9 .. 6.15)
    vm_bound_before_insert: bool    # alloc_vmap_area binds the vm_struct before the busy insert (6.10)
    warn_names_range: bool          # the overflow warning names the window, not vmalloc=<size> (6.10)
    warn_pages_names_order: bool    # "failed to allocate pages" names the page order (6.1; gone by 6.8)
    warn_names_align: bool          # vmalloc error lines name the align and the requested size (7.3)
    nowait_fails_fast: bool         # a non-blocking gfp skips purge, notifiers and warning on overflow (7.3)
    lookup_probes_down: bool        # find_vmap_area probes the nodes below the address's first (7.3); else above
    alloc_trace_errno: bool         # a failed alloc_vmap_area traces an error code, not vend (7.3)
    info_skips_uninitialized: bool  # vmallocinfo leaves out areas still VM_UNINITIALIZED (read in 6.12; 6.1 prints them)
    has_vrealloc: bool              # vrealloc() exists, with vm_struct.requested_size (read in 6.12; 6.1 has neither)
    vrealloc_frees_tail: bool       # vrealloc's shrink unmaps and frees whole tail pages; grows in place only up to
                                    # nr_pages (7.3's vrealloc_node_align); 6.12 keeps every page
    vrealloc_names_caller: bool     # vrealloc's new area records vrealloc's caller (7.3); 6.12 records vrealloc_noprof
    nowait_nowarn: bool             # GFP_NOWAIT includes __GFP_NOWARN (6.18; 7.3)
    test_vmalloc: TestVmallocModule  # lib/test_vmalloc.c of this kernel (§5): tests, parameters, Summary line
    shrinker_takes_purge_lock: bool # the vmap-node shrinker decays under vmap_purge_lock (read in 6.12)
    pcpu_insert_per_area: bool      # pcpu_get_vm_areas takes a busy-lock hold per area; 6.1 one for all
    oracle_series: str | None       # the Debian kernel series that referees it (vmaplab.oracle)

    @property
    def gfp_nowait(self) -> int:
        """This kernel's GFP_NOWAIT: __GFP_KSWAPD_RECLAIM, plus __GFP_NOWARN from 6.18 (§8)."""
        return GFP_NOWAIT | (GFP_NOWARN if self.nowait_nowarn else 0)

    @property
    def merges_lazy(self) -> bool:
        """Lazily freed areas merge into one global purge tree (before the vmap nodes)."""
        return not self.vmap_nodes

    def __str__(self) -> str:
        return self.name


# Each generation is written as what changed from the one before it (docs/kernel-model.md §8 has the
# same table with the functions): 6.1 in full, then each later record as its differences.
_6_1 = Generation(
    "6.1", "Linux 6.1 (Debian 12's kernel): global locks, blocks purged when unmapped", (6, 1),
    vmap_nodes=False, vread_vm_map_ram=False, vm_map_ram_flagged=False, vfree_unlinks_once=False,
    block_purge_keeps_usable=False, vb_flush_once=False, decay_wraps_short_pools=False,
    vm_bound_before_insert=False, warn_names_range=False, warn_pages_names_order=True,
    warn_names_align=False, nowait_fails_fast=False, lookup_probes_down=False, alloc_trace_errno=False,
    info_skips_uninitialized=False, has_vrealloc=False, vrealloc_frees_tail=False,
    vrealloc_names_caller=False, nowait_nowarn=False, pcpu_insert_per_area=False,
    shrinker_takes_purge_lock=False, test_vmalloc=TEST_VMALLOC_6_1, oracle_series="6.1")
_6_8 = replace(  # 6.3 and 6.5: vm_map_ram flagged and read, one unlink per vfree, the block purge rule
    _6_1, name="6.8", title="before the series (the letter's 6.7-rc8 base): global locks", since=(6, 5),
    vread_vm_map_ram=True, vm_map_ram_flagged=True, vfree_unlinks_once=True, block_purge_keeps_usable=True,
    vb_flush_once=True, warn_pages_names_order=False, pcpu_insert_per_area=True,
    test_vmalloc=TEST_VMALLOC_6_12, oracle_series=None)
_6_9 = replace(  # the series: vmap nodes, and the pool decay whose countdown wraps
    _6_8, name="6.9", title="the series as merged: vmap nodes, per-node pools", since=(6, 9),
    vmap_nodes=True, decay_wraps_short_pools=True)
_6_12 = replace(  # 6.10 to 6.12
    _6_9, name="6.12", title="Linux 6.12 (Debian's backport): vmap nodes; the vm_struct bound before insert",
    since=(6, 10), vm_bound_before_insert=True, warn_names_range=True, info_skips_uninitialized=True,
    has_vrealloc=True, shrinker_takes_purge_lock=True, oracle_series="6.12")
_7_3 = replace(  # after 6.12, as Debian's 7.3.4 has it
    _6_12, name="7.3", title="Linux 7.3 (trixie-backports): vmap nodes; short pools survive the decay",
    since=(6, 16), decay_wraps_short_pools=False, warn_names_align=True, nowait_fails_fast=True,
    lookup_probes_down=True, alloc_trace_errno=True, vrealloc_frees_tail=True, vrealloc_names_caller=True,
    nowait_nowarn=True, test_vmalloc=TEST_VMALLOC_7_3, oracle_series="7.3")
GENERATIONS: dict[str, Generation] = {g.name: g for g in (_6_1, _6_8, _6_9, _6_12, _7_3)}
VERSIONS: tuple[str, ...] = tuple(GENERATIONS)
DEFAULT = "6.9"
BEFORE, AFTER = "6.8", "6.9"            # the letter's two kernels: the simulator's "both"
LETTER_VERSIONS: tuple[str, ...] = (BEFORE, AFTER)
ORACLE_SERIES: tuple[str, ...] = tuple(g.oracle_series for g in GENERATIONS.values() if g.oracle_series)
DEFAULT_ORACLE_SERIES = "6.12"


def generation(version: str | Generation) -> Generation:
    """The record for a model version name (a record passes through); ConfigError naming the choices."""
    if isinstance(version, Generation):
        return version
    try:
        return GENERATIONS[version]
    except (KeyError, TypeError):
        raise ConfigError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}") from None


def for_series(series: str) -> Generation:
    """The model a Debian kernel series is compared with (6.1 -> 6.1, 6.12 -> 6.12, 7.3 -> 7.3)."""
    for g in GENERATIONS.values():
        if g.oracle_series == series:
            return g
    raise ConfigError(f"kernel series must be one of {', '.join(ORACLE_SERIES)}, got {series!r}")


def for_release(release: str) -> Generation:
    """The model for a kernel release string (``uname -r``, e.g. 6.10.3-custom): the newest record
    whose release is not newer; a release older than 6.1 is refused."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        raise ConfigError(f"kernel release {release!r} does not start with MAJOR.MINOR")
    key = (int(m[1]), int(m[2]))
    fits = [g for g in GENERATIONS.values() if g.since <= key]
    if not fits:
        raise ConfigError(f"kernel release {release!r} is older than the oldest model (6.1)")
    return max(fits, key=lambda g: g.since)
