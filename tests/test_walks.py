# SPDX-License-Identifier: MIT
"""vmallocinfo (§4.10), vread (§4.9) and the real-capture import, with golden files and hand-computed bytes."""
import pathlib

import pytest

from vmaplab import PAGE_SIZE, VM_UNINITIALIZED, Vmalloc, VmallocError
from vmaplab.formats.vmallocinfo import LINE_RE, VmallocInfoError, parse_vmallocinfo
from vmaplab.workloads.scenarios import build_scenario

GOLDEN = pathlib.Path(__file__).parent / "golden"
CAPTURE = pathlib.Path(__file__).parents[1] / "data" / "vmallocinfo-linux-6.18-x86_64.txt"
P = PAGE_SIZE


@pytest.mark.parametrize("version", ["6.8", "6.9"])
def test_vmallocinfo_golden(version):
    vm = build_scenario("mixed", version, seed=0)
    assert vm.vmallocinfo() == (GOLDEN / f"vmallocinfo_mixed_{version}.txt").read_text()


def test_vmallocinfo_order_and_format_by_hand():
    # §4.10: 6.9 prints node by node (busy), then node by node (unpurged); size includes the guard
    vm = Vmalloc(nr_cpus=2, version="6.9")
    s = vm.VMALLOC_START
    a = vm.vmalloc(15 * P, cpu=0, caller="a+0x1/0x10")       # zone 0 -> node 0
    b = vm.vmalloc(15 * P, cpu=0, caller="b+0x1/0x10")       # zone 1 -> node 1
    c = vm.vmalloc(P, cpu=1, caller="c+0x1/0x10 [mod]")      # zone 2 -> node 0
    vm.vfree(b, cpu=0)                                        # owner node 0: its lazy list
    assert (a, b, c) == (s, s + 0x10000, s + 0x20000)
    assert vm.vmallocinfo() == (
        "0xffffc90000000000-0xffffc90000010000   65536 a+0x1/0x10 pages=15 vmalloc N0=15\n"
        "0xffffc90000020000-0xffffc90000022000    8192 c+0x1/0x10 [mod] pages=1 vmalloc N0=1\n"
        "0xffffc90000010000-0xffffc90000020000   65536 unpurged vm_area\n")
    vm68 = Vmalloc(nr_cpus=2, version="6.8")
    for caller in ("a+0x1/0x10", "b+0x1/0x10"):
        vm68.vmalloc(15 * P, caller=caller)
    assert vm68.vmallocinfo().splitlines()[1].startswith("0xffffc90000010000-")   # one sorted list


def test_pooled_areas_are_not_shown():
    vm = Vmalloc(nr_cpus=2, version="6.9")
    a = vm.vmalloc(P)
    vm.vfree(a)
    vm.purge()
    assert vm.nodes[0].pool_total() == 1 and vm.vmallocinfo() == ""


def test_without_numa_there_are_no_node_counts_and_uninitialised_areas_have_none():
    vm = Vmalloc(nr_cpus=2, numa=False)
    vm.vmalloc(P, caller="x+0x0/0x1")
    assert vm.vmallocinfo().endswith("x+0x0/0x1 pages=1 vmalloc\n")
    vm = Vmalloc(nr_cpus=2, nr_mem_nodes=2, nr_ram_pages=1000)
    a = vm.vmalloc(3 * P, cpu=1)
    assert vm.vmallocinfo().endswith("pages=3 vmalloc N1=3\n")
    vm.find_vm_area(a).flags |= VM_UNINITIALIZED                 # §2.3: 6.9 prints it, without N=
    assert vm.vmallocinfo().endswith("pages=3 vmalloc\n")


def test_every_line_of_the_real_capture_and_of_our_output_matches_the_grammar():
    text = CAPTURE.read_text()
    for line in text.splitlines():
        assert LINE_RE.match(line), line
    for version in ("6.8", "6.9"):
        for line in build_scenario("mixed", version, seed=3).vmallocinfo().splitlines():
            assert LINE_RE.match(line), line


def test_parse_reemits_the_capture_byte_for_byte():
    text = CAPTURE.read_text()
    info = parse_vmallocinfo(text)
    assert len(info) == 1987 and info.hashed
    assert "\n".join(line.format() for line in info) + "\n" == text
    kinds = [line.kind for line in info]
    assert kinds.count("unpurged") == 1862 and kinds.count("vm") == 125


def test_import_of_the_real_capture_reproduces_every_line_but_the_addresses():
    text = CAPTURE.read_text()
    vm = Vmalloc.from_vmallocinfo(text, nr_cpus=2)
    out = parse_vmallocinfo(vm.vmallocinfo())
    assert len(out) == 1987
    assert out.counts() == parse_vmallocinfo(text).counts()
    assert vm.vmap_lazy_nr == 1853 * 5 + 7 * 2 + 2 * 4


def test_import_with_real_addresses_reproduces_the_text_line_for_line():
    for version in ("6.8", "6.9"):
        original = build_scenario("mixed", version, seed=5).vmallocinfo()
        again = Vmalloc.from_vmallocinfo(original, nr_cpus=4, version=version)
        assert again.vmallocinfo() == original


def test_import_of_a_kaslr_window():
    text = ("0xffffb1c0c0005000-0xffffb1c0c000a000   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4\n"
            "0xffffb1c0c0000000-0xffffb1c0c0002000    8192 unpurged vm_area\n")
    vm = Vmalloc.from_vmallocinfo(text, nr_cpus=1, version="6.8")
    assert vm.VMALLOC_START == 0xffffb1c0c0000000 and vm.vmallocinfo() == text


@pytest.mark.parametrize("text,reason", [
    ("hello\n", "line 1: does not match the vmallocinfo grammar"),
    ("0x0000000000000001-0x0000000000000002    4097 vmalloc\n", "line 1: size 4097 is not a positive multiple"),
    ("0xffffc90000000000-0xffffc90000002000    4096 vmalloc\n", "line 1: end - start = 8192 does not match size 4096"),
    ("0xffffc90000000000-0xffffc90000002000    8192 pages=1 vmalloc N0=2\n", "line 1: N<node>= counts add up to 2"),
    ("0xffffc90000000000-0xffffc90000002000    8192 pages=1 vmalloc N1=1 N0=0\n", "ascending node order"),
    ("0xffffc90000000000-0xffffc90000002000    8192 vmalloc ioremap\n", "does not match the vmallocinfo grammar"),
    ("0xffffc90000000000-0xffffc90000002000    8192 pages=3 vmalloc\n", "pages=3 do not fit in 8192 bytes"),
    ("0x0000000012345678-0xffffc90000002000    8192 vmalloc\n", "one address is hashed and the other is not"),
    ("0xffffc90000000000-0xffffc90000002000    8192 vmalloc\n0x0000000012345678-0x0000000012345679    8192 vmalloc\n",
     "mixed hashed and real addresses"),
])
def test_malformed_lines_are_rejected_with_line_and_reason(text, reason):
    with pytest.raises(VmallocInfoError, match=reason.replace("(", r"\(").replace("=", "=")):
        parse_vmallocinfo(text)


def test_import_refuses_overlapping_real_areas():
    text = ("0xffffc90000000000-0xffffc90000002000    8192 vmalloc\n"
            "0xffffc90000001000-0xffffc90000003000    8192 vmalloc\n")
    with pytest.raises(VmallocInfoError, match="line 2: .* overlaps line 1"):
        Vmalloc.from_vmallocinfo(text, nr_cpus=1)


# ----------------------------------------------------------------------------- vread

def test_vread_by_hand_across_a_page_boundary_a_guard_page_and_a_hole():
    vm = Vmalloc(nr_cpus=2, version="6.9")
    a = vm.vmalloc(2 * P)                                   # [a, a+2P) mapped, a+2P guard
    b = vm.vmalloc(P)                                       # b = a + 3P
    vm.write(a + P - 2, b"ABCD")                            # crosses into the second page
    vm.write(b, b"xyz")
    assert vm.vread(a + P - 3, 6) == b"\0ABCD\0"
    got = vm.vread(a + 2 * P - 1, P + 5)                    # last byte, the guard page, then b
    assert got == b"\0" + bytes(P) + b"xyz\0"
    assert vm.vread(b + 5 * P, 16) == bytes(16)             # nothing mapped there
    assert vm.vread(0, 8) == bytes(8)
    assert len(vm.vread((1 << 64) - 4, 100)) == 4           # clamped at the top of the space


def test_vread_reads_across_nodes_in_address_order():
    vm = Vmalloc(nr_cpus=4, version="6.9")
    addrs = [vm.vmalloc(15 * P, cpu=0) for _ in range(4)]   # one per zone: nodes 0, 1, 2, 3
    for i, a in enumerate(addrs):
        vm.write(a + 15 * P - 1, bytes([0x30 + i]))          # the last mapped byte of each
    data = vm.vread(addrs[0], 4 * 16 * P)
    assert [data[16 * P * i + 15 * P - 1] for i in range(4)] == [0x30, 0x31, 0x32, 0x33]
    assert data.count(0) == len(data) - 4


def test_vread_ioremap_uninitialised_and_freed_areas_read_as_zeros():
    vm = Vmalloc(nr_cpus=2)
    a = vm.vmalloc(P)
    vm.write(a, b"secret")
    io = vm.ioremap(0xfe000000, P)
    assert vm.vread(io, 4) == bytes(4)
    vm.find_vm_area(a).flags |= VM_UNINITIALIZED
    assert vm.vread(a, 6) == bytes(6)
    vm.find_vm_area(a).flags &= ~VM_UNINITIALIZED
    assert vm.vread(a, 6) == b"secret"
    vm.vfree(a)
    assert vm.vread(a, 6) == bytes(6)                       # lazily freed: no longer busy


def test_vread_through_vmap_blocks_and_large_vm_map_ram():
    # §4.9, the kernel's block read: per page, from the first used range's first page. Hand-derived:
    # x (1 page, order 0) at block page 0 is unmapped again, y (2 pages, order 1) holds pages 1-2,
    # so the one used range is [1, 3); page 0 reads zero, every later page reads page 1 (y + 0),
    # which holds "W" at offset 0 ("Y" at y + P, page 2, is never returned).
    vm = Vmalloc(nr_cpus=2, vmap_bbmap_bits=8, vmap_max_alloc=2)
    p = vm.alloc_pages(5)
    x = vm.vm_map_ram(p[:1])
    y = vm.vm_map_ram(p[1:3])
    assert y == x + P
    vm.write(x, b"X")
    vm.write(y, b"W")
    vm.write(y + P, b"Y")
    vm.vm_unmap_ram(x, 1)
    big = vm.vm_map_ram(p[3:5] + vm.alloc_pages(1))         # 3 pages > vmap_max_alloc: own VA, read right
    vm.write(big + 2 * P, b"Z")
    block = vm.vread(x, 8 * P)
    assert block[:P] == bytes(P)
    for page in range(1, 8):
        assert block[page * P] == ord("W") and block[page * P + 1:(page + 1) * P] == bytes(P - 1), page
    assert vm.vread(y + P, 1) == b"W"                       # the kernel's answer; "Y" is what is there
    assert vm.vread(big + 2 * P, 2) == b"Z\0"


def test_vread_of_a_later_run_in_a_block_returns_the_first_run():
    # Two touching runs form one used range [0, 4): a (2 pages) and b (2 pages). Reading b returns
    # a's first page, with the in-page offset kept.
    vm = Vmalloc(nr_cpus=2, vmap_bbmap_bits=8, vmap_max_alloc=2)
    a = vm.vm_map_ram(vm.alloc_pages(2))
    b = vm.vm_map_ram(vm.alloc_pages(2))
    assert b == a + 2 * P
    vm.write(a, b"A" * P + b"B" * P)
    vm.write(b, b"C" * P + b"D" * P)
    assert vm.vread(b + 5, 3) == b"AAA"
    assert vm.vread(a, 4 * P) == b"A" * (4 * P)
    assert vm.vread(a + P - 2, 4) == b"AAAA"                # two chunks: the end of page 0, the start of page 1


def test_write_outside_a_mapping_is_refused_and_changes_nothing():
    vm = Vmalloc(nr_cpus=2)
    a = vm.vmalloc(P)
    with pytest.raises(VmallocError, match="guard page"):
        vm.write(a + P - 1, b"ab")
    assert vm.vread(a + P - 1, 1) == b"\0"
    with pytest.raises(VmallocError, match="not mapped"):
        vm.write(a + 10 * P, b"a")
