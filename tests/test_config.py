# SPDX-License-Identifier: MIT
"""Constants and formulas against the spec's worked numbers (§3.3, §3.4, §3.6, §3.9)."""
import pytest

from vmaplab import VMALLOC_END, VMALLOC_START, Vmalloc, decode_vn_id, encode_vn_id
from vmaplab.kernel.config import lazy_max_pages_for, nr_vmap_nodes_for, vmap_bbmap_bits_for


@pytest.mark.parametrize("cpus,nodes", [(1, 1), (2, 2), (64, 64), (128, 128), (256, 128)])
def test_nr_vmap_nodes_clamps_possible_cpus_to_128(cpus, nodes):
    # §3.3: clamp(num_possible_cpus(), 1, 128), no rounding
    assert nr_vmap_nodes_for(cpus) == nodes
    vm = Vmalloc(nr_cpus=cpus, version="6.9")
    assert vm.nr_vmap_nodes == nodes and len(vm.nodes) == nodes
    # one node disables the node layer: zone size 1, no pools (§3.3)
    assert vm.vmap_zone_size == (65536 if nodes > 1 else 1)


def test_6_8_has_one_global_node():
    vm = Vmalloc(nr_cpus=64, version="6.8")
    assert vm.nr_vmap_nodes == 1 and vm.nodes[0].busy.name == "vmap_area_root"
    assert vm.nodes[0].busy_lock == "vmap_area_lock" and len(vm.nodes[0].pool) == 0


@pytest.mark.parametrize("online,pages", [(1, 8192), (2, 16384), (4, 24576), (8, 32768), (16, 40960),
                                          (32, 49152), (48, 49152), (64, 57344), (96, 57344),
                                          (128, 65536), (256, 73728)])
def test_lazy_max_pages_table(online, pages):
    # §3.6 table
    assert lazy_max_pages_for(online) == pages
    assert Vmalloc(nr_cpus=256, nr_online_cpus=online).lazy_max_pages() == pages


def test_lazy_max_pages_follows_online_not_possible_cpus():
    vm = Vmalloc(nr_cpus=64, nr_online_cpus=2)
    assert vm.nr_vmap_nodes == 64 and vm.lazy_max_pages() == 16384
    vm.nr_online_cpus = 64
    assert vm.lazy_max_pages() == 57344


def test_vn_id_encoding():
    # §3.4: (id + 1) << 8; 0 means no owner and decodes to nr_vmap_nodes silently
    assert encode_vn_id(0, 64) == 0x100 and encode_vn_id(63, 64) == 0x4000
    assert encode_vn_id(64, 64) == 0
    assert decode_vn_id(0x100 | 0x3, 64) == 0
    assert decode_vn_id(0, 64) == 64
    assert decode_vn_id(0x4100, 64) == 64       # id 64 is out of range


def test_addr_to_node_id_worked_example():
    # §3.4: VMALLOC_START // 0x10000 = 0xffffc9000000 is divisible by these node counts
    for n in (2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128):
        vm = Vmalloc(nr_cpus=n)
        assert vm.addr_to_node_id(VMALLOC_START) == 0
        assert vm.addr_to_node_id(VMALLOC_START + 0x10000) == 1
        assert vm.addr_to_node_id(VMALLOC_START + n * 0x10000) == 0
    vm = Vmalloc(nr_cpus=5)
    assert vm.addr_to_node_id(VMALLOC_START) == 0xffffc9000000 % 5


def test_window_constants():
    # §3.2
    assert VMALLOC_START == 0xffffc90000000000 and VMALLOC_END == 0xffffe8ffffffffff


@pytest.mark.parametrize("nr_cpus,bits", [(512, 1024), (1024, 1024), (8192, 256), (64, 1024)])
def test_vmap_bbmap_bits(nr_cpus, bits):
    # §3.9 computed examples
    assert vmap_bbmap_bits_for(nr_cpus) == bits
