# SPDX-License-Identifier: MIT
"""pcpu_get_vm_areas (§4.12): one aligned base, as high as possible, searched top-down."""
import pytest
from conftest import snapshot, tiny

from vmaplab import PAGE_SIZE, InvalidArgumentError, Vmalloc

P = PAGE_SIZE
M2 = 2 << 20


def test_highest_aligned_base_below_vmalloc_end():
    vm = Vmalloc(nr_cpus=4, version="6.9", debug=True)
    vms = vm.pcpu_get_vm_areas([0, M2], [M2, M2], align=M2)
    # VMALLOC_END aligned down to 2 MiB is 0xffffe8ffffe00000; the last area ends at +4 MiB
    assert [v.addr for v in vms] == [0xffffe8ffffa00000, 0xffffe8ffffc00000]
    assert all(v.nr_pages == 0 and v.caller == "pcpu_get_vm_areas+0x0/0x1050" for v in vms)
    assert all(vm.find_vmap_area(v.addr).flags == 0 for v in vms)        # no owner node
    assert vm.vmallocinfo().splitlines()[0] == (
        "0xffffe8ffffa00000-0xffffe8ffffc00000 2097152 pcpu_get_vm_areas+0x0/0x1050 vmalloc")


def test_a_busy_top_moves_the_base_down_and_gaps_between_areas_stay_free():
    vm = tiny("6.9", pages=64, debug=True)
    top = vm.VMALLOC_END & ~(P - 1)                       # the last (unusable) page starts here
    blocker = vm.vmalloc_node_range(P, 1, top - 2 * P, top)  # 2 pages just below it
    assert blocker == top - 2 * P
    vms = vm.pcpu_get_vm_areas([0, 4 * P], [2 * P, 2 * P], align=P)
    base = top - 2 * P - 6 * P
    assert [v.addr for v in vms] == [base, base + 4 * P]
    assert any(va.va_start == base + 2 * P and va.va_end == base + 4 * P for va in vm.free_space)


def test_overflow_purges_once_then_gives_up_quietly(version):
    vm = tiny(version, pages=9, lazy_max_unit_pages=1000)
    addrs = [vm.vmalloc(P) for _ in range(4)]
    vm.vfree(addrs[3])                                    # lazy: only a purge frees the top
    vms = vm.pcpu_get_vm_areas([0], [2 * P])
    assert vms is not None and vm.stats.reclaims == 1
    assert vm.pcpu_get_vm_areas([0], [2 * P]) is None and vm.stats.reclaims == 2
    assert vm.dmesg == []
    vm.pcpu_free_vm_areas(vms)
    vm.check()


@pytest.mark.parametrize("offsets,sizes,align", [
    ([0], [P], 3 * P), ([0], [P], P // 2), ([0, P], [2 * P, P], P), ([0], [0], P), ([0], [P + 1], P),
    ([0, P], [P], P), ([], [], P), ([0], [P], 2 * P), ([P], [2 * P], 2 * P),
])
def test_bad_arguments_change_nothing(offsets, sizes, align):
    vm = tiny("6.9")
    before = snapshot(vm)
    with pytest.raises(InvalidArgumentError):
        vm.pcpu_get_vm_areas(offsets, sizes, align)
    assert snapshot(vm) == before
