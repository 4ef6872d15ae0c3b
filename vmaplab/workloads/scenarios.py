# SPDX-License-Identifier: MIT
"""Small seeded machines for the CLI, the notebooks and golden tests (OSTEP: a seed makes a problem).

Invariants: the same (name, version, seed, nr_cpus) always builds the same machine, byte for
byte: every random choice comes from ``random.Random(seed)``.
"""
from __future__ import annotations

import random

from ..kernel.config import PAGE_SIZE, VM_MAP
from ..kernel.errors import ConfigError, InvariantError
from ..kernel.vmalloc import Vmalloc

# Callers as %pS prints them, taken from the shapes seen in real vmallocinfo files.
CALLERS = ("kernel_clone+0xb8/0x400", "bpf_prog_alloc_no_stats+0x4b/0x270", "n_tty_open+0x19/0x90",
           "alloc_large_system_hash+0x1f4/0x2b0", "xfs_buf_alloc_backing_mem+0x1c4/0x2c0 [xfs]",
           "module_alloc+0x3e/0x50", "relay_open_buf+0x6c/0x330")


def mixed(version: str = "6.9", seed: int = 0, nr_cpus: int = 4) -> Vmalloc:
    """A dozen areas of every kind on random CPUs, some freed and purged into pools, some lazy.

    Pages hold recognisable bytes (the area's number repeated) so vread has something to show.
    """
    r = random.Random(seed)
    vm = Vmalloc(nr_cpus=nr_cpus, version=version, seed=seed, nr_ram_pages=1 << 16)
    live = []
    for i in range(12):
        cpu = r.randrange(nr_cpus)
        pages = r.choice((1, 1, 2, 3, 4, 15, 31))
        a = vm.vmalloc(pages * PAGE_SIZE, cpu=cpu, caller=r.choice(CALLERS))
        if a is None:
            raise InvariantError(f"the mixed scenario's vmalloc {i} failed on a fresh machine")
        vm.write(a, bytes([0x41 + i]) * (pages * PAGE_SIZE - r.randrange(0, PAGE_SIZE, 512)))
        live.append((a, cpu))
    io = vm.ioremap(0xFED00000 + r.randrange(16) * PAGE_SIZE, 2 * PAGE_SIZE, cpu=0,
                    caller="acpi_os_map_iomem+0x1bc/0x1e0")
    stack = vm.vmap(vm.alloc_pages(4), VM_MAP, cpu=1 % nr_cpus, caller="irq_init_percpu_irqstack+0xed/0x120")
    ram = vm.alloc_pages(2)
    m = vm.vm_map_ram(ram, cpu=0)
    if m is None:
        raise InvariantError("the mixed scenario's vm_map_ram failed on a fresh machine")
    vm.write(m, b"vm_map_ram page " * 4)
    for a, cpu in r.sample(live, 4):          # freed and purged: into pools (6.9) or the free tree
        vm.vfree(a, cpu=cpu)
        live.remove((a, cpu))
    vm.purge(cpu=0)
    for a, cpu in r.sample(live, 3):          # freed, still lazy: "unpurged vm_area" lines
        vm.vfree(a, cpu=cpu)
    del io, stack
    return vm


SCENARIOS = {"mixed": mixed}


def build_scenario(name: str, version: str = "6.9", seed: int = 0, nr_cpus: int = 4) -> Vmalloc:
    """The named scenario's machine; ConfigError for an unknown name."""
    try:
        return SCENARIOS[name](version, seed, nr_cpus)
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
