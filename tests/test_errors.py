"""Bad input gets a clear error and changes nothing (check() passes, nothing leaked)."""
import pytest

from vmaplab import (
    MODULES_VADDR, PAGE_SIZE, ULONG_MAX, VM_ALLOC, VM_FLUSH_RESET_PERMS, VMALLOC_START,
    BadFreeError, ConfigError, InvalidArgumentError, Vmalloc, VmallocError, WrongFreeFunctionError,
)

from conftest import snapshot, tiny

P = PAGE_SIZE


def machine(version):
    vm = tiny(version, nr_cpus=2, pages=128)
    live = {
        "vmalloc": vm.vmalloc(P, cpu=1),
        "vmalloc3": vm.vmalloc(3 * P),
        "vmap": vm.vmap(vm.alloc_pages(2)),
        "ioremap": vm.ioremap(0xfe000000, P),
        "ram1": vm.vm_map_ram(vm.alloc_pages(1)),
        "ram3": vm.vm_map_ram(vm.alloc_pages(3)),
    }
    gone = vm.vmalloc(P)
    vm.vfree(gone)
    live["gone"] = gone
    return vm, live


BAD_CALLS = [
    ("size 0", InvalidArgumentError, lambda vm, l: vm.vmalloc(0)),
    ("negative size", InvalidArgumentError, lambda vm, l: vm.vmalloc(-P)),
    ("size too big to represent", InvalidArgumentError, lambda vm, l: vm.vmalloc(ULONG_MAX)),
    ("size not an int", InvalidArgumentError, lambda vm, l: vm.vmalloc("4096")),
    ("float size", InvalidArgumentError, lambda vm, l: vm.vmalloc(4096.0)),
    ("align not a power of two", InvalidArgumentError, lambda vm, l: vm.vmalloc_node(P, align=3 * P)),
    ("align 0", InvalidArgumentError, lambda vm, l: vm.vmalloc_node(P, align=0)),
    ("inverted window", InvalidArgumentError,
     lambda vm, l: vm.vmalloc_node_range(P, 1, VMALLOC_START + 8 * P, VMALLOC_START)),
    ("window outside vmalloc space", InvalidArgumentError,
     lambda vm, l: vm.vmalloc_node_range(P, 1, 0x1000, 0x100000)),
    ("window past VMALLOC_END", InvalidArgumentError,
     lambda vm, l: vm.vmalloc_node_range(P, 1, VMALLOC_START, vm.VMALLOC_END + P)),
    ("unknown VM flag", InvalidArgumentError,
     lambda vm, l: vm.vmalloc_node_range(P, 1, VMALLOC_START, vm.VMALLOC_END, flags=1 << 15)),
    ("offline cpu", InvalidArgumentError, lambda vm, l: vm.vmalloc(P, cpu=2)),
    ("negative cpu", InvalidArgumentError, lambda vm, l: vm.vmalloc(P, cpu=-1)),
    ("double free", BadFreeError, lambda vm, l: vm.vfree(l["gone"])),
    ("never allocated", BadFreeError, lambda vm, l: vm.vfree(VMALLOC_START + 100 * P)),
    ("interior pointer", BadFreeError, lambda vm, l: vm.vfree(l["vmalloc3"] + P)),
    ("unaligned pointer", BadFreeError, lambda vm, l: vm.vfree(l["vmalloc"] + 1)),
    ("module address never allocated", BadFreeError, lambda vm, l: vm.vfree(MODULES_VADDR)),
    ("vfree of vmap area", WrongFreeFunctionError, lambda vm, l: vm.vfree(l["vmap"])),
    ("vfree of ioremap area", WrongFreeFunctionError, lambda vm, l: vm.vfree(l["ioremap"])),
    ("vfree of vm_map_ram", WrongFreeFunctionError, lambda vm, l: vm.vfree(l["ram3"])),
    ("vunmap of vmalloc area", WrongFreeFunctionError, lambda vm, l: vm.vunmap(l["vmalloc"])),
    ("iounmap of vmalloc area", WrongFreeFunctionError, lambda vm, l: vm.iounmap(l["vmalloc"])),
    ("vm_unmap_ram wrong count", BadFreeError, lambda vm, l: vm.vm_unmap_ram(l["ram1"], 2)),
    ("vm_unmap_ram of vmalloc area", BadFreeError, lambda vm, l: vm.vm_unmap_ram(l["vmalloc"], 1)),
    ("vm_unmap_ram big wrong count", BadFreeError, lambda vm, l: vm.vm_unmap_ram(l["ram3"], 4)),
    ("vm_unmap_ram count 0", InvalidArgumentError, lambda vm, l: vm.vm_unmap_ram(l["ram1"], 0)),
    ("vm_map_ram of free page", InvalidArgumentError, lambda vm, l: vm.vm_map_ram([4000])),
    ("vm_map_ram of nothing", InvalidArgumentError, lambda vm, l: vm.vm_map_ram([])),
    ("vmap same page twice", InvalidArgumentError,
     lambda vm, l: vm.vmap([vm.find_vm_area(l["vmalloc"]).pages[0]] * 2)),
    ("vmap with VM_FLUSH_RESET_PERMS", InvalidArgumentError,
     lambda vm, l: vm.vmap(vm.find_vm_area(l["vmalloc"]).pages, VM_FLUSH_RESET_PERMS)),
    ("kvfree_rcu of ioremap", WrongFreeFunctionError, lambda vm, l: vm.kvfree_rcu(l["ioremap"])),
    ("huge vmalloc", InvalidArgumentError,
     lambda vm, l: vm.vmalloc_node_range(P, 1, VMALLOC_START, vm.VMALLOC_END, flags=0x400)),
    ("ioremap negative phys", InvalidArgumentError, lambda vm, l: vm.ioremap(-1, P)),
    ("shrinker negative scan", ValueError, lambda vm, l: vm.shrinker.scan(-1)),
]


@pytest.mark.parametrize("name,exc,call", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_and_changes_nothing(version, name, exc, call):
    vm, live = machine(version)
    before = snapshot(vm)
    with pytest.raises(exc) as info:
        call(vm, live)
    assert str(info.value)
    assert snapshot(vm) == before
    vm.check()


def test_errors_are_vmalloc_errors():
    for exc in (InvalidArgumentError, BadFreeError, WrongFreeFunctionError, ConfigError):
        assert issubclass(exc, VmallocError)


def test_double_kvfree_rcu_and_vfree_after_kvfree_rcu(version):
    vm, live = machine(version)
    vm.kvfree_rcu(live["vmalloc"])
    before = snapshot(vm)
    with pytest.raises(BadFreeError, match="kvfree_rcu"):
        vm.kvfree_rcu(live["vmalloc"])
    with pytest.raises(BadFreeError, match="kvfree_rcu"):
        vm.vfree(live["vmalloc"])
    assert snapshot(vm) == before


def test_messages_name_the_problem():
    vm = Vmalloc(nr_cpus=2)
    a = vm.vmalloc(P)
    vm.vfree(a)
    with pytest.raises(BadFreeError, match=r"Trying to vfree\(\) nonexistent vm area \(0xffffc90000000000\)"):
        vm.vfree(a)
    with pytest.raises(InvalidArgumentError, match="not a power of two"):
        vm.vmalloc_node(P, align=6)


@pytest.mark.parametrize("kwargs", [
    dict(nr_cpus=0), dict(nr_cpus=-1), dict(nr_cpus=2.0), dict(version="6.10"),
    dict(nr_cpus=2, nr_online_cpus=3), dict(nr_cpus=2, nr_online_cpus=0),
    dict(vmalloc_size=P), dict(vmalloc_size=3 * P + 1), dict(vmalloc_size=1 << 60),
    dict(max_va_size_pages=0), dict(vmap_zone_size_pages=0), dict(nr_ram_pages=0),
    dict(vmap_bbmap_bits=6), dict(vmap_bbmap_bits=2048), dict(vmap_bbmap_bits=8, vmap_max_alloc=8),
    dict(nr_cpus=16, config_nr_cpus=8),
])
def test_impossible_configurations(kwargs):
    with pytest.raises(ConfigError):
        Vmalloc(**kwargs)


def test_cpu_hotplug_setter_validates():
    vm = Vmalloc(nr_cpus=4)
    with pytest.raises(ConfigError):
        vm.nr_online_cpus = 5
    assert vm.nr_online_cpus == 4


def test_vfree_none_does_nothing(version):
    vm, live = machine(version)
    before = snapshot(vm)
    vm.vfree(None)
    vm.vfree(0)
    assert snapshot(vm) == before


def test_free_vm_area_of_a_reserved_range():
    vm = Vmalloc(nr_cpus=2, debug=True)
    area = vm.get_vm_area(3 * P)
    assert area.size == 4 * P and area.nr_pages == 0
    vm.free_vm_area(area)
    assert vm.find_vmap_area(area.addr) is None
    a = vm.vmalloc(P)
    with pytest.raises(WrongFreeFunctionError):
        vm.free_vm_area(vm.find_vm_area(a))
    assert VM_ALLOC & vm.find_vm_area(a).flags
