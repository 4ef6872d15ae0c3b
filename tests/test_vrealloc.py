# SPDX-License-Identifier: MIT
"""vrealloc() on 6.12 and 7.3 (kernel-model.md §8: ``has_vrealloc``, ``vrealloc_frees_tail``,
``vrealloc_names_caller``), and vmalloc's gfp (``nowait_fails_fast``, ``nowait_nowarn``).

Every case is worked by hand on a one-CPU tiny machine (one vmap node, no pools): the window starts
at S, each vmalloc takes its pages plus a guard page from the lowest free address, and a freed area
waits in the lazy tree. ``check()`` runs after every step (the tiny machines also check after
every public call).
"""
from __future__ import annotations

import pytest
from conftest import snapshot, tiny
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from vmaplab import PAGE_SIZE, VMALLOC_START, Vmalloc
from vmaplab.kernel.config import GFP_FS, GFP_KERNEL, GFP_NOWAIT, GFP_NOWARN, GFP_ZERO
from vmaplab.kernel.errors import BadFreeError, InvalidArgumentError, VmallocError, WrongFreeFunctionError

P = PAGE_SIZE
S = VMALLOC_START
CALLER = "my_driver+0x10/0x40"
BOTH = ["6.12", "7.3"]


def machine(version: str, pages: int = 64, **kw) -> Vmalloc:
    return tiny(version, nr_cpus=1, pages=pages, **kw)


def area(vm: Vmalloc, addr: int):
    vms = vm.find_vm_area(addr)
    return vms.requested_size, vms.nr_pages, len(vms.pages)


# -- NULL and zero size ------------------------------------------------------------------------------
@pytest.mark.parametrize("version", BOTH)
def test_null_is_vmalloc_and_6_12_names_itself_the_caller(version):
    vm = machine(version)
    p = vm.vrealloc(None, 100, caller=CALLER)
    vm.check()
    assert p == S and area(vm, p) == (100, 1, 1)           # 100 bytes: one page, then the guard
    assert vm.find_vmap_area(p).size == 2 * P
    # 6.12's vrealloc calls __vmalloc, which records its own caller; 7.3 passes vrealloc's on
    assert vm.find_vm_area(p).caller == ("vrealloc_noprof" if version == "6.12" else CALLER)
    assert vm.vrealloc(0, P) == S + 2 * P                   # 0 is NULL too
    vm.check()


@pytest.mark.parametrize("version", BOTH)
def test_zero_size_frees(version):
    vm = machine(version)
    p = vm.vmalloc(P)
    before = snapshot(vm)
    assert vm.vrealloc(None, 0) is None                      # vfree(NULL): nothing at all
    assert snapshot(vm) == before
    assert vm.vrealloc(p, 0) is None
    vm.check()
    assert vm.find_vm_area(p) is None and vm.vmap_lazy_nr == 2      # freed lazily, with its guard page
    assert vm.nr_vmalloc_pages == 0
    with pytest.raises(BadFreeError):                        # a second time is vfree's double free
        vm.vrealloc(p, 0)


# -- in place ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", BOTH)
def test_shrink_in_place_zeroes_the_tail(version):
    vm = machine(version)
    p = vm.vmalloc(3 * P)                                    # [S, S+4P): 3 pages and the guard
    vm.write(p + P, b"k")
    vm.write(p + P + 5, b"q")
    used = vm.pages.nr_used
    assert vm.vrealloc(p, P + 1) == p
    vm.check()
    assert vm.vread(p + P, 1) == b"k"                        # below the new size: kept
    assert vm.vread(p + P + 5, 1) == b"\0"                   # [size, old size) zeroed (init_on_alloc)
    if version == "6.12":                                    # 6.12 keeps every page
        assert area(vm, p) == (P + 1, 3, 3) and vm.pages.nr_used == used and vm.nr_vmalloc_pages == 3
    else:                                                    # 7.3: PAGE_ALIGN(P+1) = 2 pages stay, 1 freed
        assert area(vm, p) == (P + 1, 2, 2) and vm.pages.nr_used == used - 1 and vm.nr_vmalloc_pages == 2
        assert "pages=2 vmalloc" in vm.vmallocinfo()
    assert vm.find_vmap_area(p).size == 4 * P                # the range never changes in place


@pytest.mark.parametrize("version", BOTH)
def test_grow_back_in_place_on_6_12_moves_on_7_3(version):
    vm = machine(version)
    p = vm.vmalloc(3 * P)
    vm.write(p + P, b"k")
    vm.vrealloc(p, P + 1)
    q = vm.vrealloc(p, 3 * P, caller=CALLER)
    vm.check()
    if version == "6.12":                                    # 3P fits the area's usable 3 pages
        assert q == p and area(vm, p) == (3 * P, 3, 3) and vm.vmap_lazy_nr == 0
    else:                                                    # 3P > nr_pages (2) pages: a new area
        assert q == S + 4 * P and area(vm, q) == (3 * P, 3, 3)
        assert vm.find_vm_area(p) is None and vm.vmap_lazy_nr == 4     # the old [S, S+4P) is lazy
        assert vm.find_vm_area(q).caller == CALLER
    assert vm.vread(q + P, 1) == b"k"


@pytest.mark.parametrize("version", BOTH)
def test_grow_within_the_requested_pages_stays(version):
    vm = machine(version)
    p = vm.vmalloc(100)
    assert vm.vrealloc(p, P) == p                            # 100 -> 4096: the page is there
    vm.check()
    assert area(vm, p) == (P, 1, 1) and vm.nr_vmalloc_pages == 1


def test_7_3_shrink_keeps_pages_for_usermap_and_for_a_nofs_gfp():
    vm = machine("7.3")
    u = vm.vmalloc_user(3 * P)                               # VM_USERMAP: remap_vmalloc_range needs them
    assert vm.vrealloc(u, P) == u and area(vm, u) == (P, 3, 3)
    p = vm.vmalloc(3 * P)
    assert vm.vrealloc(p, P, gfp=GFP_KERNEL & ~GFP_FS) == p and area(vm, p) == (P, 3, 3)
    assert vm.vrealloc(p, P // 2) == p and area(vm, p) == (P // 2, 1, 1)   # GFP_KERNEL: 2 freed
    vm.check()


def test_7_3_sets_nr_pages_under_the_busy_lock():
    vm = machine("7.3", trace=True)
    p = vm.vmalloc(2 * P)
    vm.vrealloc(p, P)
    holds = [r.section for r in vm.trace.of("lock") if r.op == "acquire"]
    assert holds[-2:] == ["find_vmap_area", "vrealloc"]


# -- moved --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", BOTH)
def test_grow_past_the_area_moves_and_copies(version):
    vm = machine(version)
    p = vm.vmalloc(P)                                        # [S, S+2P)
    vm.write(p, b"hello")
    vm.write(p + P - 1, b"z")
    q = vm.vrealloc(p, 2 * P, caller=CALLER)
    vm.check()
    assert q == S + 2 * P and area(vm, q) == (2 * P, 2, 2)  # [S+2P, S+5P)
    assert vm.vread(q, 5) == b"hello" and vm.vread(q + P - 1, 2) == b"z\0"
    assert vm.find_vm_area(p) is None and vm.vmap_lazy_nr == 2
    assert vm.nr_vmalloc_pages == 2
    assert vm.find_vm_area(q).caller == ("vrealloc_noprof" if version == "6.12" else CALLER)


@pytest.mark.parametrize("version", BOTH)
def test_a_failed_move_keeps_the_old_area(version):
    vm = machine(version, pages=8)
    p = vm.vmalloc(P)
    vm.write(p, b"x")
    before = snapshot(vm)[0]
    assert vm.vrealloc(p, 16 * P, gfp=GFP_KERNEL | GFP_NOWARN) is None
    vm.check()
    assert snapshot(vm)[0] == before and vm.vread(p, 1) == b"x"


# -- what the kernel warns about, what the model refuses ---------------------------------------------
@pytest.mark.parametrize("version", BOTH)
def test_nonexistent_area_warns_and_returns_null(version):
    vm = machine(version)
    vm.vmalloc(P)
    ram = vm.vm_map_ram(vm.alloc_pages(4))                   # a VA with no vm_struct
    before = snapshot(vm)
    for addr in (S + 40 * P, ram):
        assert vm.vrealloc(addr, P) is None
    after = snapshot(vm)
    assert after[-3][len(before[-3]):] == [
        f"WARNING: vrealloc: Trying to vrealloc() nonexistent vm area ({S + 40 * P:#x})",
        f"WARNING: vrealloc: Trying to vrealloc() nonexistent vm area ({ram:#x})"]
    assert after[:-3] == before[:-3]
    vm.check()


@pytest.mark.parametrize("version", BOTH)
def test_an_area_bound_by_setup_vmalloc_vm_alone_is_mismatched(version):
    # vmlist areas get requested_size = the whole VA (guard included): larger than the usable size
    vm = Vmalloc(nr_cpus=1, version=version, vmalloc_size=64 * P, early_areas=[(S, S + 2 * P)])
    assert vm.vrealloc(S, P) is None
    assert vm.dmesg[-1] == f"WARNING: vrealloc: vrealloc() has mismatched area vs requested sizes ({S:#x})"
    vm.check()


@pytest.mark.parametrize("version", ["6.1", "6.8", "6.9"])
def test_refused_where_the_kernel_has_none(version):
    vm = machine(version)
    p = vm.vmalloc(P)
    before = snapshot(vm)
    with pytest.raises(InvalidArgumentError, match="version"):
        vm.vrealloc(p, 2 * P)
    with pytest.raises(InvalidArgumentError, match="version"):
        vm.vrealloc(None, P)
    assert snapshot(vm) == before
    vm.check()


BAD = [("addr", v) for v in ("x", True, -1, 2 ** 70, 1.5)] + \
      [("size", v) for v in ("x", True, -1, 1.5, 2 ** 70)] + \
      [("cpu", v) for v in (5, -1, "0", None)] + \
      [("gfp", v) for v in (-1, "GFP_KERNEL", None, 1.5)] + \
      [("caller", v) for v in (5, "", "two words")]


@pytest.mark.parametrize("version", BOTH)
@pytest.mark.parametrize("arg,value", BAD)
def test_bad_arguments_change_nothing(version, arg, value):
    vm = machine(version)
    p = vm.vmalloc(P)
    args = {"addr": p, "size": 2 * P, "cpu": 0, "gfp": GFP_KERNEL, "caller": CALLER, arg: value}
    before = snapshot(vm)
    with pytest.raises(VmallocError) as e:
        vm.vrealloc(**args)
    assert arg in str(e.value) or (arg == "cpu" and "CPU" in str(e.value))
    assert snapshot(vm) == before
    vm.check()


@pytest.mark.parametrize("version", BOTH)
def test_caller_bugs_are_refused(version):
    vm = machine(version)
    p = vm.vmalloc(2 * P)
    v = vm.vmap(vm.alloc_pages(2))
    r = vm.vmalloc(P)
    vm.kvfree_rcu(r)
    before = snapshot(vm)
    with pytest.raises(BadFreeError, match="not its start"):
        vm.vrealloc(p + P, P)                                # an interior pointer
    with pytest.raises(WrongFreeFunctionError, match="not a vmalloc"):
        vm.vrealloc(v, P)                                    # a vmap() area
    with pytest.raises(BadFreeError, match="kvfree_rcu"):
        vm.vrealloc(r, P)
    assert snapshot(vm) == before
    vm.check()


# -- gfp on vmalloc --------------------------------------------------------------------------------
def full(version: str, **kw) -> Vmalloc:
    """An 8-page window with one lazily freed 3-page area: a 4-page request fits only after a purge."""
    vm = machine(version, pages=8, **kw)
    a = vm.vmalloc(2 * P)                                    # [S, S+3P)
    vm.vmalloc(3 * P)                                        # [S+3P, S+7P)
    vm.vfree(a)
    return vm


def test_7_3_nowait_fails_fast_and_its_gfp_nowait_is_silent():
    vm = full("7.3")
    assert vm.vmalloc(2 * P, gfp=vm.gen.gfp_nowait) is None
    vm.check()
    assert vm.stats.purges == 0 and vm.vmap_lazy_nr == 3 and not [ln for ln in vm.dmesg if "vmalloc" in ln]
    assert vm.gen.gfp_nowait == GFP_NOWAIT | GFP_NOWARN
    # __GFP_KSWAPD_RECLAIM alone (6.17's GFP_NOWAIT) still fails fast, but warns in __vmalloc_node_range
    assert vm.vmalloc(2 * P, 0, None, GFP_NOWAIT) is None
    assert vm.dmesg[-1] == f"vmalloc error: size {2 * P}, align 0x1, vm_struct allocation failed"
    assert vm.vmalloc(2 * P) == S                            # GFP_KERNEL purges and retries
    vm.check()


def test_6_12_nowait_purges_like_any_request():
    vm = full("6.12")
    assert vm.gen.gfp_nowait == GFP_NOWAIT
    assert vm.vmalloc(2 * P, gfp=vm.gen.gfp_nowait) == S
    vm.check()
    assert vm.stats.purges == 1 and vm.vmap_lazy_nr == 0


def test_vmalloc_keeps_its_positional_signature_and_checks_gfp():
    vm = machine("7.3")
    assert vm.vmalloc(P, 0, CALLER) == S and vm.find_vm_area(S).caller == CALLER
    p = vm.vmalloc(P, gfp=GFP_KERNEL | GFP_ZERO)
    assert vm.vread(p, 1) == b"\0"
    before = snapshot(vm)
    with pytest.raises(InvalidArgumentError, match="gfp"):
        vm.vmalloc(P, gfp="GFP_NOWAIT")
    assert snapshot(vm) == before


# -- random sequences: contents kept up to the smaller size, zeros past it ---------------------------
class VreallocMachine(RuleBasedStateMachine):
    """vrealloc/vfree/write at random on a tiny machine, against a plain dict of each area's bytes.

    The kernel's promise, as both generations keep it: the contents survive up to the lesser of
    the old and new sizes, and (Debian's init_on_alloc) the bytes past the old size read as zeros.
    """
    version = "6.12"

    @initialize(nr_cpus=st.integers(1, 3), pages=st.integers(12, 48), lazy_unit=st.integers(1, 8))
    def setup(self, nr_cpus, pages, lazy_unit):
        self.vm = tiny(self.version, nr_cpus=nr_cpus, pages=pages, lazy_max_unit_pages=lazy_unit, debug=False)
        self.live: dict[int, bytearray] = {}      # addr -> the requested bytes

    def _pick(self, data):
        return data.draw(st.sampled_from(sorted(self.live))) if self.live else None

    @rule(size=st.integers(1, 4 * P), cpu=st.integers(0, 2))
    def alloc(self, size, cpu):
        p = self.vm.vrealloc(None, size, cpu=cpu % self.vm.nr_cpus)
        if p is not None:
            self.live[p] = bytearray(size)

    @rule(data=st.data(), value=st.integers(1, 255))
    def write(self, data, value):
        p = self._pick(data)
        if p is not None:
            off = data.draw(st.integers(0, len(self.live[p]) - 1))
            self.vm.write(p + off, bytes([value]))
            self.live[p][off] = value

    @rule(data=st.data(), size=st.integers(0, 4 * P), cpu=st.integers(0, 2))
    def realloc(self, data, size, cpu):
        p = self._pick(data)
        if p is None:
            return
        q = self.vm.vrealloc(p, size, cpu=cpu % self.vm.nr_cpus)
        if size == 0:
            assert q is None
            del self.live[p]
        elif q is not None:
            old = self.live.pop(p)
            keep = min(size, len(old))
            self.live[q] = old[:keep] + bytearray(size - keep)

    @invariant()
    def contents_and_invariants(self):
        if not hasattr(self, "vm"):
            return
        self.vm.check()
        for p, want in self.live.items():
            assert self.vm.vread(p, len(want)) == bytes(want), hex(p)
            vms = self.vm.find_vm_area(p)
            assert vms.requested_size == len(want) and len(vms.pages) * P >= len(want)


class Vrealloc73Machine(VreallocMachine):
    version = "7.3"


TestVrealloc612 = VreallocMachine.TestCase
TestVrealloc73 = Vrealloc73Machine.TestCase
