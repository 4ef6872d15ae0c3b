# SPDX-License-Identifier: MIT
"""A Hypothesis state machine over random API sequences on tiny machines, check() after every step."""
import pytest
from conftest import snapshot, tiny
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from vmaplab import PAGE_SIZE, BadFreeError, VmallocError

P = PAGE_SIZE


class VmallocMachine(RuleBasedStateMachine):
    version = "6.9"

    @initialize(nr_cpus=st.integers(2, 4), pages=st.integers(20, 96), autorun=st.booleans(),
                pool_sizes=st.integers(1, 4), lazy_unit=st.integers(1, 12))
    def setup(self, nr_cpus, pages, autorun, pool_sizes, lazy_unit):
        self.vm = tiny(self.version, nr_cpus=nr_cpus, pages=pages, autorun_work=autorun,
                       max_va_size_pages=pool_sizes, lazy_max_unit_pages=lazy_unit, debug=False)
        self.live = {}          # addr -> (kind, size in bytes of the mapping, extra)
        self.freed = []

    # -- helpers ------------------------------------------------------------------
    def _record(self, addr, kind, size, align=1, extra=None):
        if addr is None:
            return
        vm = self.vm
        assert vm.VMALLOC_START <= addr and addr + size <= vm.VMALLOC_END
        assert addr % align == 0
        for other, (_k, osize, _e) in self.live.items():
            assert addr + size <= other or other + osize <= addr, "overlapping live mappings"
        self.live[addr] = (kind, size, extra)

    def _pick(self, data, kinds):
        choices = sorted(a for a, v in self.live.items() if v[0] in kinds)
        return data.draw(st.sampled_from(choices)) if choices else None

    # -- rules ----------------------------------------------------------------------
    @rule(pages=st.integers(1, 5), cpu=st.integers(0, 3), align_shift=st.sampled_from([0, 12, 13, 14, 16]))
    def vmalloc(self, pages, cpu, align_shift):
        cpu %= self.vm.nr_cpus
        align = 1 << align_shift
        addr = self.vm.vmalloc_node(pages * P, align=align, cpu=cpu)
        self._record(addr, "vmalloc", pages * P, align)

    @rule(data=st.data(), cpu=st.integers(0, 3))
    def vfree(self, data, cpu):
        addr = self._pick(data, {"vmalloc"})
        if addr is not None:
            self.vm.vfree(addr, cpu=cpu % self.vm.nr_cpus)
            del self.live[addr]
            self.freed.append(addr)

    @rule(pages=st.integers(1, 3), cpu=st.integers(0, 3))
    def vmap(self, pages, cpu):
        pfns = self.vm.alloc_pages(pages)
        addr = self.vm.vmap(pfns, cpu=cpu % self.vm.nr_cpus)
        if addr is None:
            self.vm.free_pages(pfns)
        self._record(addr, "vmap", pages * P, extra=pfns)

    @rule(data=st.data())
    def vunmap(self, data):
        addr = self._pick(data, {"vmap"})
        if addr is not None:
            self.vm.vunmap(addr)
            self.vm.free_pages(self.live.pop(addr)[2])

    @rule(pages=st.integers(1, 3), cpu=st.integers(0, 3))
    def vm_map_ram(self, pages, cpu):
        pfns = self.vm.alloc_pages(pages)
        addr = self.vm.vm_map_ram(pfns, cpu=cpu % self.vm.nr_cpus)
        if addr is None:
            self.vm.free_pages(pfns)
        self._record(addr, "ram", pages * P, extra=pfns)

    @rule(data=st.data(), cpu=st.integers(0, 3))
    def vm_unmap_ram(self, data, cpu):
        addr = self._pick(data, {"ram"})
        if addr is not None:
            _k, size, pfns = self.live.pop(addr)
            self.vm.vm_unmap_ram(addr, size // P, cpu=cpu % self.vm.nr_cpus)
            self.vm.free_pages(pfns)

    @rule(pages=st.integers(1, 3))
    def ioremap(self, pages):
        addr = self.vm.ioremap(0xfe000000, pages * P)
        self._record(addr, "io", pages * P)

    @rule(data=st.data())
    def iounmap(self, data):
        addr = self._pick(data, {"io"})
        if addr is not None:
            self.vm.iounmap(addr)
            del self.live[addr]

    @rule(gap=st.integers(0, 2), size=st.integers(1, 2), align_pages=st.sampled_from([1, 2, 4]))
    def pcpu_get_vm_areas(self, gap, size, align_pages):
        unit = align_pages * P
        if (2 * size + gap) * unit > self.vm.VMALLOC_END - self.vm.VMALLOC_START:
            return                     # larger than the window: refused, tested elsewhere
        vms = self.vm.pcpu_get_vm_areas([0, (size + gap) * unit], [size * unit, size * unit], align=unit)
        if vms is not None:
            assert vms[1].addr - vms[0].addr == (size + gap) * unit and vms[0].addr % unit == 0
            for v in vms:
                self._record(v.addr, "pcpu", size * unit, extra=v)

    @rule(data=st.data())
    def pcpu_free(self, data):
        addr = self._pick(data, {"pcpu"})
        if addr is not None:
            self.vm.pcpu_free_vm_areas([self.live.pop(addr)[2]])

    @rule(data=st.data(), cpu=st.integers(0, 3))
    def kvfree_rcu(self, data, cpu):
        addr = self._pick(data, {"vmalloc"})
        if addr is not None:
            self.vm.kvfree_rcu(addr, cpu=cpu % self.vm.nr_cpus)
            self.live[addr] = ("rcu",) + self.live[addr][1:]

    @rule()
    def grace_period(self):
        self.vm.rcu_grace_period()
        for a in [a for a, v in self.live.items() if v[0] == "rcu"]:
            del self.live[a]

    @rule(full=st.booleans(), cpu=st.integers(0, 3))
    def purge(self, full, cpu):
        self.vm.purge(cpu=cpu % self.vm.nr_cpus, full=full)

    @rule()
    def shrink(self):
        self.vm.shrinker.count()
        self.vm.shrinker.scan(64)

    @rule()
    def run_workqueue(self):
        self.vm.run_workqueue()

    @rule()
    def unmap_aliases(self):
        self.vm.vm_unmap_aliases()

    @precondition(lambda self: self.freed)
    @rule(data=st.data())
    def double_free_is_refused(self, data):
        addr = data.draw(st.sampled_from(self.freed))
        if addr in self.live:
            return
        before = snapshot(self.vm)
        # the range may have been reused by a vm_map_ram() block: any refusal is right
        with pytest.raises((BadFreeError, VmallocError)):
            self.vm.vfree(addr)
        assert snapshot(self.vm) == before

    @rule(cpu=st.integers(4, 9))
    def bad_cpu_is_refused(self, cpu):
        before = snapshot(self.vm)
        with pytest.raises(VmallocError):
            self.vm.vmalloc(P, cpu=cpu)
        assert snapshot(self.vm) == before

    @invariant()
    def consistent(self):
        self.vm.check()


class VmallocMachine68(VmallocMachine):
    version = "6.8"


SETTINGS = settings()          # the loaded profile (conftest.py: HYPOTHESIS_PROFILE=ci|deep)
TestVmalloc69 = VmallocMachine.TestCase
TestVmalloc69.settings = SETTINGS
TestVmalloc68 = VmallocMachine68.TestCase
TestVmalloc68.settings = SETTINGS
