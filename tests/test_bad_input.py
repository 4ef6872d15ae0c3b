# SPDX-License-Identifier: MIT
"""Every public call, driven with a table of bad values: each must raise a VmallocError subclass
whose message names the argument, and leave the machine exactly as it was.

A new public call added to ``CALLS`` without validation fails here; ``test_the_sweep_covers_the_api``
fails when a public name of ``Vmalloc`` that takes an argument is not in ``CALLS`` (no exemption list).
"""
from __future__ import annotations

import inspect
import math

import pytest
from conftest import snapshot, tiny

from vmaplab import PAGE_SIZE, VM_ALLOC, Vmalloc, VmallocError, VmStruct, encode_vn_id
from vmaplab.kernel.config import GFP_KERNEL, VMAP_RAM

P = PAGE_SIZE


class Index:
    """An integral type that is not int (as numpy.int64 is): accepted wherever an int is."""

    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v

    def __repr__(self):
        return f"Index({self.v})"


NOT_INTS = ["x", "4096", 1.5, 4096.0, None, True, False, math.nan, math.inf, [], b"1", object(), Index(4096)]
OUT_OF_RANGE = [-1, -P, 2 ** 70]
BAD_INTS = NOT_INTS + OUT_OF_RANGE
BAD_PAGES = ["0123", 5, None, [1.9], [True], [None], ["1"], [-1], [2 ** 70], b"\x01"]
BAD_CALLERS = [5, "", "two words", "kernel_clone+0x1/0x2 pages=1", b"x", 1.5]


def machine(version="6.9"):
    vm = tiny(version, nr_cpus=2, pages=128)
    live = {"vmalloc": vm.vmalloc(P, cpu=1), "vmap_pages": vm.alloc_pages(2)}
    live["vmap"] = vm.vmap(live["vmap_pages"])
    live["ram_pages"] = vm.alloc_pages(1)
    live["ram"] = vm.vm_map_ram(live["ram_pages"])
    live["io"] = vm.ioremap(0xfe000000, P)
    live["spare"] = vm.alloc_pages(1)
    return vm, live


def state(vm: Vmalloc):
    return snapshot(vm), vm.vmallocinfo(), vm.rng.getstate(), dict(vm._user_pages)


# (call, {argument: bad values}, valid arguments): each bad value replaces one argument in turn
def CALLS(live):
    a, cpu = live["vmalloc"], {"cpu": BAD_INTS + [2]}
    return [
        ("vmalloc", dict(size=BAD_INTS + [0], **cpu, caller=BAD_CALLERS), dict(size=P, cpu=0, caller=None)),
        ("vzalloc", dict(size=BAD_INTS + [0], **cpu), dict(size=P, cpu=0)),
        ("vmalloc_user", dict(size=BAD_INTS + [0], **cpu), dict(size=P, cpu=0)),
        ("vmalloc_node", dict(size=BAD_INTS + [0], align=BAD_INTS + [0, 3], **cpu, gfp=BAD_INTS[:-1]),
         dict(size=P, align=1, cpu=0, caller=None, gfp=0)),
        ("vmalloc_node_range", dict(size=BAD_INTS, align=BAD_INTS + [3], start=BAD_INTS, end=BAD_INTS,
                                    flags=BAD_INTS + [1, 4, 0x200], **cpu),
         lambda vm, live: dict(size=P, align=1, start=vm.VMALLOC_START, end=vm.VMALLOC_END, flags=0, cpu=0)),
        ("vmap", dict(pages=BAD_PAGES + [[]], flags=BAD_INTS + [2, 1], **cpu, caller=BAD_CALLERS),
         dict(pages=live["spare"], flags=4, cpu=0, caller=None)),
        ("ioremap", dict(phys_addr=BAD_INTS, size=BAD_INTS + [0], **cpu), dict(phys_addr=0xfd000000, size=P, cpu=0)),
        ("vm_map_ram", dict(pages=BAD_PAGES + [[]], **cpu), dict(pages=live["spare"], cpu=0)),
        ("get_vm_area", dict(size=BAD_INTS + [0], flags=BAD_INTS, **cpu), dict(size=P, flags=4, cpu=0)),
        ("pcpu_get_vm_areas", dict(offsets=[5, "x", None, [0, "a"], [1.5], [-P], [True]],
                                   sizes=[5, "x", None, [P, "a"], [1.5], [0], [True]],
                                   align=BAD_INTS + [3, 2048], **cpu),
         dict(offsets=[0], sizes=[P], align=P, cpu=0)),
        ("restore_vm_struct", dict(addr=BAD_INTS + [a, live["io"] + P],
                                   pages_by_node=["0 1", None, 5, [(0,)], [(5, 1)], [(0, -1)], [(0, 10 ** 6)],
                                                  [("0", 1)], [(True, 1)], [(0, 1.0)]],
                                   phys_addr=BAD_INTS, vpages=[1, 0, None, "yes"]),
         dict(addr=live["io"], pages_by_node=[(0, 1)], phys_addr=0, vpages=False)),
        ("vfree", dict(addr=NOT_INTS[:4] + NOT_INTS[5:] + OUT_OF_RANGE + [a + 1], **cpu), dict(addr=a, cpu=0)),
        ("vunmap", dict(addr=BAD_INTS, **cpu), dict(addr=live["vmap"], cpu=0)),
        ("iounmap", dict(addr=BAD_INTS, **cpu), dict(addr=live["io"], cpu=0)),
        ("vm_unmap_ram", dict(addr=BAD_INTS, count=BAD_INTS + [0, 2], **cpu), dict(addr=live["ram"], count=1, cpu=0)),
        ("kvfree_rcu", dict(addr=BAD_INTS, **cpu), dict(addr=a, cpu=0)),
        # swept on 6.12 (version_for): 6.9 has no vrealloc. addr None is vrealloc(NULL) = vmalloc
        ("vrealloc", dict(addr=NOT_INTS[:4] + NOT_INTS[5:] + OUT_OF_RANGE + [a + 1], size=BAD_INTS, **cpu,
                          caller=BAD_CALLERS, gfp=BAD_INTS[:-1]),
         lambda vm, live: dict(addr=live["vmalloc"], size=2 * P, cpu=0, caller=None, gfp=GFP_KERNEL)),
        ("rcu_grace_period", dict(**cpu), dict(cpu=0)),
        ("purge", dict(**cpu), dict(cpu=0)),
        ("reclaim_and_purge_vmap_areas", dict(**cpu), dict(cpu=0)),
        ("vm_unmap_aliases", dict(**cpu), dict(cpu=0)),
        ("find_vmap_area", dict(addr=BAD_INTS[:-1], **cpu), dict(addr=a, cpu=0)),
        ("find_vm_area", dict(addr=BAD_INTS[:-1], **cpu), dict(addr=a, cpu=0)),
        ("vmalloc_dump_obj", dict(addr=BAD_INTS[:-1], **cpu), dict(addr=a, cpu=0)),
        ("vread", dict(addr=BAD_INTS, count=BAD_INTS + [2 ** 40]), dict(addr=a, count=16)),
        ("write", dict(addr=BAD_INTS, data=["str", 5, None, 1.5]), dict(addr=a, data=b"x")),
        ("alloc_pages", dict(nr=BAD_INTS + [0]), dict(nr=1)),
        ("free_pages", dict(pfns=BAD_PAGES + [live["spare"] * 2, live["vmap_pages"]]), dict(pfns=live["spare"])),
        ("addr_to_node_id", dict(addr=BAD_INTS), dict(addr=a)),
        ("register_vmap_purge_notifier", dict(fn=[None, 5, "f"]), dict(fn=lambda vm, cpu: 0)),
        ("unregister_vmap_purge_notifier", dict(fn=[None, 5, lambda vm, cpu: 0]), dict(fn=None)),
        ("shrinker.count", dict(**cpu), dict(cpu=0)),
        ("shrinker.scan", dict(nr_to_scan=BAD_INTS, **cpu), dict(nr_to_scan=1, cpu=0)),
        ("rcu_barrier", dict(**cpu), dict(cpu=0)),
        ("attach_tracer", dict(sink=["x", 5, object()]), dict(sink=None)),
        ("show_numa_info", dict(vm_struct=[None, 5, "vm", a, OTHER["vm_struct"].pages]),
         lambda vm, live: dict(vm_struct=vm.find_vm_area(live["vmalloc"]))),
        ("from_vmallocinfo", dict(nr_cpus=[x for x in BAD_INTS if not isinstance(x, Index)] + [0]),
         dict(text=CAPTURE, nr_cpus=2)),
        ("pcpu_free_vm_areas", dict(vms=[None, "ab", 5, [None], [5], [OTHER["vm_struct"]]], **cpu),
         lambda vm, live: dict(vms=vm.pcpu_get_vm_areas([0], [P]), cpu=0)),
        ("free_vm_area", dict(area=[None, 5, a, OTHER["get_vm_area"]], **cpu),
         lambda vm, live: dict(area=vm.get_vm_area(P), cpu=0)),
        ("purge", dict(full=[None, "no", 0, 1, 1.0]), dict(cpu=0, full=False)),
        # -- the kernel steps, called on their own (issue 26 item 6) --
        ("alloc_vmap_area", dict(size=BAD_INTS + [0, P + 1], align=BAD_INTS + [0, 3], vstart=BAD_INTS, vend=BAD_INTS,
                                 va_flags=BAD_INTS + [2, 3, 99 << 8], gfp=BAD_INTS[:-1], **cpu), WINDOW),
        ("node_alloc", dict(size=BAD_INTS + [0, P + 1], align=BAD_INTS + [0, 3], vstart=BAD_INTS, vend=BAD_INTS, **cpu),
         lambda vm, live: {k: v for k, v in WINDOW(vm, live).items() if k in ("size", "align", "vstart", "vend", "cpu")}),
        ("node_pool_del_va", dict(vn=NOT_NODES, size=BAD_INTS + [0, P + 1], align=BAD_INTS + [0, 3],
                                  vstart=BAD_INTS, vend=BAD_INTS, **cpu),
         lambda vm, live: dict(vn=vm.nodes[0], **{k: v for k, v in WINDOW(vm, live).items()
                                                  if k in ("size", "align", "vstart", "vend", "cpu")})),
        ("carve_vmap_area", dict(size=BAD_INTS + [0, P + 1], align=BAD_INTS + [0, 3], vstart=BAD_INTS, vend=BAD_INTS,
                                 va_flags=BAD_INTS + [1, 2, 99 << 8]),
         lambda vm, live: {k: v for k, v in WINDOW(vm, live).items() if k not in ("gfp", "cpu")}),
        ("setup_vmalloc_vm", dict(vm=[None, 5, OTHER["get_vm_area"]], va=NOT_VAS, flags=BAD_INTS, caller=BAD_CALLERS),
         lambda vm, live: dict(vm=VmStruct(VM_ALLOC, None), va=bare(vm), flags=VM_ALLOC, caller=None)),
        ("find_unlink_vmap_area", dict(addr=BAD_INTS + [a], **cpu), lambda vm, live: dict(addr=bare(vm).va_start, cpu=0)),
        ("free_vmap_area_noflush", dict(va=NOT_VAS, **cpu), lambda vm, live: dict(va=in_flight(vm), cpu=0)),
        ("free_vmap_area", dict(va=NOT_VAS, **cpu), lambda vm, live: dict(va=bare(vm), cpu=0)),
        ("schedule_work", dict(name=[None, 5, "vfree", "run_workqueue", "_drain_vmap_area_work"], **cpu),
         dict(name="drain_vmap_area_work", cpu=0)),
        ("drain_vmap_area_work", dict(**cpu), dict(cpu=0)),
        ("purge_vmap_node", dict(vn=NOT_NODES, helper=NOT_BOOLS, **cpu),
         lambda vm, live: dict(vn=vm.nodes[0], helper=False, cpu=0)),
        ("reclaim_list_global", dict(lst=[None, 5, "ab", [None], [OTHER["in_flight"]]], **cpu),
         lambda vm, live: dict(lst=[in_flight(vm)], cpu=0)),
        ("flush_tlb_kernel_range", dict(start=BAD_INTS, end=BAD_INTS + [1], **cpu),
         lambda vm, live: dict(start=vm.VMALLOC_START, end=vm.VMALLOC_END, cpu=0)),
        ("node_pool_add_va", dict(vn=NOT_NODES, va=NOT_VAS, **cpu),
         lambda vm, live: dict(vn=vm.nodes[0], va=in_flight(vm, owner=0), cpu=0)),
        ("decay_va_pool_node", dict(vn=NOT_NODES, full_decay=NOT_BOOLS, **cpu),
         lambda vm, live: dict(vn=vm.nodes[0], full_decay=False, cpu=0)),
        ("new_vmap_block", dict(order=BAD_INTS + [2], **cpu), dict(order=0, cpu=0)),
        ("vb_alloc", dict(size=BAD_INTS + [0, 3 * P, P + 1], **cpu), dict(size=P, cpu=0)),
        ("vb_free", dict(vb=NOT_VBS, addr=BAD_INTS + [live["ram"] + P], order=BAD_INTS + [1], **cpu),
         lambda vm, live: dict(vb=block(vm), addr=live["ram"], order=0, cpu=0)),
        ("free_vmap_block", dict(vb=NOT_VBS, **cpu), lambda vm, live: dict(vb=dirty_block(vm, live), cpu=0)),
        ("purge_fragmented_block", dict(vb=NOT_VBS, force=NOT_BOOLS, purge_list=[None, (), "x", 5]),
         lambda vm, live: dict(vb=block(vm), force=False, purge_list=[])),
        ("purge_fragmented_blocks_allcpus", dict(**cpu), dict(cpu=0)),
        ("find_vmap_area_exceed_addr_lock", dict(addr=BAD_INTS), dict(addr=a)),
        ("register_ram_mapping", dict(va_start=BAD_INTS + [a, 0], pages=BAD_PAGES),
         lambda vm, live: dict(va_start=bare(vm, VMAP_RAM).va_start, pages=[])),
        ("cpu_to_node", dict(**cpu), dict(cpu=0)),
        ("id_to_node", dict(node_id=BAD_INTS), dict(node_id=0)),
        ("addr_to_node", dict(addr=BAD_INTS), dict(addr=a)),
        ("owner_node_id", dict(va=[None, 5, "va"]), lambda vm, live: dict(va=bare(vm))),
        ("pool_index", dict(size=BAD_INTS + [0]), dict(size=P)),
    ]


# Objects of another machine (the sweep builds a fresh one for every call): each must be refused.
def _other():
    vm, live = machine()
    return {"vn": vm.nodes[0], "va": vm.find_vmap_area(live["vmalloc"]), "vm_struct": vm.find_vm_area(live["vmalloc"]),
            "get_vm_area": vm.get_vm_area(P), "in_flight": in_flight(vm), "vb": block(vm)}


def WINDOW(vm, live):
    return dict(size=2 * P, align=P, vstart=vm.VMALLOC_START, vend=vm.VMALLOC_END, va_flags=0, gfp=0, cpu=0)


def bare(vm, flags=0):
    """A busy VA with nothing bound to it (alloc_vmap_area's)."""
    return vm.alloc_vmap_area(2 * P, P, vm.VMALLOC_START, vm.VMALLOC_END, flags, 0, 0)


def in_flight(vm, owner=None):
    """A VA out of every tree and pool (find_unlink_vmap_area's, or carved with an owner)."""
    if owner is None:
        return vm.find_unlink_vmap_area(bare(vm).va_start)
    return vm.carve_vmap_area(2 * P, P, vm.VMALLOC_START, vm.VMALLOC_END, encode_vn_id(owner, vm.nr_vmap_nodes))


def block(vm):
    return next(vb for q in vm.vmap_block_queue for vb in q.vmap_blocks.values())


def dirty_block(vm, live):
    vb = block(vm)
    vm.vm_unmap_ram(live["ram"], 1)
    assert vm.purge_fragmented_block(vb, True, [])
    return vb


CAPTURE = "0xffffc90000000000-0xffffc90000002000    8192 kernel_clone+0xb8/0x400 pages=1 vmalloc N0=1\n"
OTHER = _other()
NOT_NODES = [None, 5, "vn0", OTHER["vn"]]
NOT_VAS = [None, 5, "va", OTHER["va"], OTHER["in_flight"]]
NOT_VBS = [None, 5, "vb", OTHER["vb"]]
NOT_BOOLS = [None, 0, 1, "no", 1.0]


def version_for(name: str) -> str:
    """The sweep's machine is 6.9; vrealloc is swept on 6.12, as 6.9 has none."""
    return "6.12" if name == "vrealloc" else "6.9"


def takes_no_argument(name: str) -> bool:
    """A property, or a method whose only parameter is self: nothing a caller could get wrong."""
    attr = inspect.getattr_static(Vmalloc, name)
    if isinstance(attr, property):
        return True
    fn = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
    return list(inspect.signature(fn).parameters) in (["self"], [])


def _sweep():
    """(call, argument, value, outcome, message) for every bad value of every call."""
    rows = []
    vm0, live0 = machine()
    for name, bad, valid in CALLS(live0):
        version = version_for(name)
        for arg, values in bad.items():
            for value in values:
                vm, live = machine(version)
                base = valid(vm, live) if callable(valid) else dict(valid)
                if name == "unregister_vmap_purge_notifier":
                    base["fn"] = None
                fn = vm
                for part in name.split("."):
                    fn = getattr(fn, part)
                before = state(vm)
                try:
                    fn(**{**base, arg: value})
                    outcome, msg = "accepted", ""
                except VmallocError as e:
                    outcome, msg = "clean", str(e)
                except Exception as e:       # noqa: BLE001 - the sweep records what escapes
                    outcome, msg = "wrong type", f"{type(e).__name__}: {e}"
                changed = state(vm) != before
                try:
                    vm.check()
                except Exception:            # noqa: BLE001
                    changed = True
                rows.append((name, arg, value, "state changed" if changed else outcome, msg))
    return rows


ROWS = _sweep()


def test_every_bad_value_raises_a_vmalloc_error_and_changes_nothing():
    bad = [f"{name}({arg}={value!r}): {outcome} {msg}" for name, arg, value, outcome, msg in ROWS
           if outcome != "clean"]
    assert bad == [], f"{len(bad)} of {len(ROWS)} bad calls:\n" + "\n".join(bad[:40])


def test_messages_name_the_argument_or_the_call():
    vague = [f"{name}({arg}={value!r}): {msg}" for name, arg, value, outcome, msg in ROWS
             if outcome == "clean" and arg.split("_")[0] not in msg and name.split(".")[-1] not in msg
             and not (arg == "cpu" and "CPU" in msg)]
    assert vague == [], "\n".join(vague[:40])


def test_the_sweep_covers_the_api():
    swept = {name.split(".")[0] for name, *_ in CALLS(machine()[1])} | {"shrinker"}
    public = {n for n in dir(Vmalloc) if not n.startswith("_")}
    assert public - swept - {n for n in public if takes_no_argument(n)} == set()
    assert {"vmallocinfo", "check", "trace"} <= {n for n in public if takes_no_argument(n)}
    assert len(ROWS) > 500


def test_any_integral_seed_is_accepted_and_others_refused():
    assert Vmalloc(nr_cpus=2, seed=Index(3)).seed == 3                    # as numpy.int64(3) is
    assert Vmalloc(nr_cpus=2, seed=Index(3)).rng.random() == Vmalloc(nr_cpus=2, seed=3).rng.random()
    for bad in (1.5, "3", None, True):
        with pytest.raises(VmallocError, match="seed"):
            Vmalloc(nr_cpus=2, seed=bad)


def sweep_counts() -> dict[str, int]:
    """The closing note's counts: calls / clean / wrong type / accepted / state changed."""
    out = {"calls": len(ROWS)}
    for outcome in ("clean", "wrong type", "accepted", "state changed"):
        out[outcome] = sum(1 for row in ROWS if row[3] == outcome)
    return out


if __name__ == "__main__":
    print(sweep_counts())
    for row in ROWS:
        if row[3] != "clean":
            print(row)


# ---- issue 26, items 5 and 7: calls that did half their work, or took what they should refuse

def test_pcpu_free_vm_areas_checks_every_area_before_freeing_any():
    vm, _live = machine()
    good = vm.pcpu_get_vm_areas([0], [P])[0]
    for bad in ("bad", None, 5, good):          # the last: the same area twice
        before = state(vm)
        with pytest.raises(VmallocError, match=r"pcpu_free_vm_areas: vms\[1\]"):
            vm.pcpu_free_vm_areas([good, bad])
        assert state(vm) == before
        vm.check()
    for bad in ("ab", None, 5, good):           # not a list of areas at all
        with pytest.raises(VmallocError, match="pcpu_free_vm_areas: vms"):
            vm.pcpu_free_vm_areas(bad)
    vm.pcpu_free_vm_areas((good,))
    vm.check()


def test_attach_tracer_refuses_what_cannot_take_events():
    vm, live = machine()
    for bad in ("x", 5, object(), type("NoEmit", (), {"emit": 3})()):
        with pytest.raises(VmallocError, match="attach_tracer: sink"):
            vm.attach_tracer(bad)
        assert vm._tr is None
        vm.vfree(vm.vmalloc(P))                  # later calls still work
    assert vm.attach_tracer(None) is None


def test_purge_full_must_be_a_bool():
    for bad in ("no", "", 0, 1, None, 1.0, [True]):
        vm, _live = machine()
        vm.vfree(vm.vmalloc(P, cpu=1), cpu=1)
        before = state(vm)
        with pytest.raises(VmallocError, match="purge: full"):
            vm.purge(full=bad)
        assert state(vm) == before


def test_from_vmallocinfo_names_a_bad_nr_cpus():
    text = ("0xffffc90000000000-0xffffc90000002000    8192 kernel_clone+0xb8/0x400 pages=1 vmalloc N0=1\n")
    for bad in ("2", None, 1.5, True, 0, -1, [2]):
        with pytest.raises(VmallocError, match="nr_cpus"):
            Vmalloc.from_vmallocinfo(text, nr_cpus=bad)
    assert Vmalloc.from_vmallocinfo(text, nr_cpus=Index(2)).nr_cpus == 2      # as numpy.int64(2)


def test_show_numa_info_refuses_what_is_not_a_vm_struct():
    vm, live = machine()
    for bad in (None, 5, "vm", live["vmalloc"]):
        with pytest.raises(VmallocError, match="show_numa_info: vm_struct"):
            vm.show_numa_info(bad)
    assert vm.show_numa_info(vm.find_vm_area(live["vmalloc"])) == {0: 1}


def test_every_valid_call_is_accepted_and_leaves_a_sound_machine():
    """The other half of the sweep: each call's valid arguments pass, and check() holds after it (issue 26
    item 6: no public method, kernel steps included, may corrupt a machine)."""
    refused = []
    for name, _bad, valid in CALLS(machine()[1]):
        vm, live = machine(version_for(name))
        fn = vm
        for part in name.split("."):
            fn = getattr(fn, part)
        args = valid(vm, live) if callable(valid) else dict(valid)
        if name == "unregister_vmap_purge_notifier":
            vm.register_vmap_purge_notifier(args["fn"] or (lambda vm, cpu: 0))
            args["fn"] = vm._purge_notifiers[0]
        try:
            fn(**args)
            vm.check()
        except Exception as e:      # noqa: BLE001 - collect them all
            refused.append(f"{name}: {type(e).__name__}: {e}"[:300])
    assert refused == []


def test_a_va_in_flight_is_counted_until_a_step_takes_it_back():
    vm, live = machine()
    va = vm.alloc_vmap_area(2 * P, P, vm.VMALLOC_START, vm.VMALLOC_END, 0, 0, 1)
    assert vm.find_unlink_vmap_area(va.va_start + P, cpu=1) is va
    vm.check()                                         # in flight: in no tree, yet not leaked
    with pytest.raises(VmallocError, match="find_unlink_vmap_area"):
        vm.find_unlink_vmap_area(live["vmalloc"])      # a vmalloc area: vfree unlinks it
    before = state(vm)
    with pytest.raises(VmallocError, match="reclaim_list_global: lst lists the same VA twice"):
        vm.reclaim_list_global([va, va], 0)
    with pytest.raises(VmallocError, match="node_pool_add_va: va .* is owned by node 1, not vn 0"):
        vm.node_pool_add_va(vm.nodes[0], va, 0)        # CPU 1's node owns it: pools keep their own node's VAs
    assert state(vm) == before
    vm.free_vmap_area_noflush(va, 1)
    vm.check()
    with pytest.raises(VmallocError, match="free_vmap_area_noflush: va must be a VA in flight"):
        vm.free_vmap_area_noflush(va, 1)               # twice
    vm.purge()
    vm.check()


def test_another_machines_node_is_refused_and_both_machines_stay_sound():
    vm, _ = machine()
    vm2, _ = machine()
    va = vm.carve_vmap_area(2 * P, P, vm.VMALLOC_START, vm.VMALLOC_END, encode_vn_id(0, vm.nr_vmap_nodes))
    before, before2 = state(vm), state(vm2)
    with pytest.raises(VmallocError, match="vn must be one of this machine's vm.nodes"):
        vm.node_pool_add_va(vm2.nodes[0], va, 0)       # the corruption of *another* machine
    with pytest.raises(VmallocError, match="va must be a VA in flight on this machine"):
        vm2.node_pool_add_va(vm2.nodes[0], va, 0)
    assert (state(vm), state(vm2)) == (before, before2)
    assert vm.node_pool_add_va(vm.nodes[0], va, 0)
    vm.check()
    vm2.check()


def test_vmap_block_steps_refuse_what_would_corrupt():
    vm, live = machine()
    vb = block(vm)
    before = state(vm)
    with pytest.raises(VmallocError, match="free_vmap_block: vb .* is not fully dirty"):
        vm.free_vmap_block(vb, 0)                      # a live page in it
    with pytest.raises(VmallocError, match="vb_alloc: size"):
        vm.vb_alloc(2 ** 64, 0)                         # was a MemoryError
    with pytest.raises(VmallocError, match="vb_free: no live"):
        vm.vb_free(vb, live["ram"], 1, 0)               # the run is one page (order 0)
    assert state(vm) == before
    vm.vb_free(vb, live["ram"], 0, 0)                   # its page unmapped as vm_unmap_ram does
    vm.check()
    with pytest.raises(VmallocError, match="vm_unmap_ram"):
        vm.vm_unmap_ram(live["ram"], 1)
    big = vm.alloc_vmap_area(4 * P, P, vm.VMALLOC_START, vm.VMALLOC_END, VMAP_RAM, 0, 0)
    with pytest.raises(VmallocError, match="vm_unmap_ram"):
        vm.vm_unmap_ram(big.va_start, 4)                # VMAP_RAM but no mapping registered: not vm_map_ram's
    vm.check()
