# SPDX-License-Identifier: MIT
"""check() must catch corruption and say where, with the address map and the last trace records."""
import pytest

from vmaplab import PAGE_SIZE, InvariantError, Vmalloc, render_address_map

P = PAGE_SIZE


def machine():
    vm = Vmalloc(nr_cpus=4, version="6.9", trace=True)
    addrs = [vm.vmalloc(P * (1 + i % 3), cpu=i % 4) for i in range(8)]
    for i in (1, 4):
        vm.vfree(addrs[i], cpu=i % 4)
    vm.check()
    return vm, addrs


def test_lazy_accounting_drift_is_caught():
    vm, _ = machine()
    vm.vmap_lazy_nr += 1
    with pytest.raises(InvariantError, match="vmap_lazy_nr is 7 but the lazy trees hold 6 pages") as e:
        vm.check()
    assert "address map:" in str(e.value) and "last trace records:" in str(e.value)
    assert "free_vmap_area_noflush: va_start=" in str(e.value)


def test_leaked_range_is_caught():
    vm, addrs = machine()
    va = vm.find_vmap_area(addrs[0])
    vm.addr_to_node(va.va_start).busy.erase(va)          # dropped on the floor
    with pytest.raises(InvariantError, match="hole \\(leaked space\\) at 0xffffc90000000000") as e:
        vm.check()
    assert "address map:" in str(e.value) and "lazy  vn1" in str(e.value)


def test_busy_area_in_the_wrong_node_is_caught():
    vm, addrs = machine()
    va = vm.find_vmap_area(addrs[0])
    vm.nodes[0].busy.erase(va)
    vm.nodes[2].busy.insert(va)
    with pytest.raises(InvariantError, match="is in node 2, addr_to_node_id says 0"):
        vm.check()


def test_corrupted_subtree_max_size_is_caught():
    vm, _ = machine()
    vm.free_space.tree.root.subtree_max_size += P
    with pytest.raises(InvariantError, match="subtree_max_size"):
        vm.check()


def test_pool_length_drift_is_caught():
    vm, _ = machine()
    vm.purge()
    vn = next(vn for vn in vm.nodes if vn.pool_total())
    pool = next(p for p in vn.pool if p.len)
    pool.len += 1
    with pytest.raises(InvariantError, match=r"pool\[\d\]\.len is"):
        vm.check()


def test_render_address_map_marks_the_address():
    vm, addrs = machine()
    text = render_address_map(vm, around=addrs[2] + 1)
    line = next(ln for ln in text.splitlines() if ln.startswith("->"))
    assert f"{addrs[2]:#018x}" in line and "busy" in line
