# SPDX-License-Identifier: MIT
"""One root exception with its branches, one table of exit statuses, one validator (issue 27, item 0).

* every exception class vmaplab defines descends from ``VmaplabError`` through exactly one branch
  (bad input, a broken invariant, an outside failure), and the CLI's ``EXIT_STATUS`` gives each
  branch its status and one line;
* ``vmaplab/kernel/validate.py`` is the only place that writes what an integer is: no other module
  pairs ``isinstance(x, bool)`` with ``isinstance(x, int)``, and no module raises a bare
  ``ValueError``/``RuntimeError`` but the two that say why;
* its rules, each on a hand-made case.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
from pathlib import Path

import pytest

import vmaplab
from vmaplab import cli
from vmaplab.kernel import validate as V
from vmaplab.kernel.errors import (
    ConfigError,
    ExternalError,
    InvalidArgumentError,
    InvariantError,
    VmallocError,
    VmaplabError,
)

PKG = Path(vmaplab.__file__).parent
BRANCHES = (VmallocError, InvariantError, ExternalError)
# (module, exception name): raised bare on purpose, with the reason
BARE_RAISES = {("vmaplab.oracle.scenario", "ValueError"): "caught two lines below, to share one message",
               ("vmaplab.speedups", "ValueError"): "imported before the package's errors exist (its hook)"}


class Index:
    """An integral type that is not int, as numpy.int64 is."""

    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def _exception_classes():
    """Every Exception class vmaplab defines (SweepInterrupted is a KeyboardInterrupt, as Ctrl-C is: not one)."""
    out = set()
    for name, _ in _modules():
        if name.endswith("__main__"):
            continue
        try:
            mod = importlib.import_module(name)
        except ImportError:              # an optional extra (plotly, ipywidgets) not installed
            continue
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, Exception) and obj.__module__.startswith("vmaplab"):
                out.add(obj)
    out.add(vmaplab.speedups.SpeedupsError)
    return out


def test_every_exception_of_vmaplab_is_in_exactly_one_branch():
    classes = _exception_classes()
    assert len(classes) >= 20, classes                    # the scan found them (it can fail)
    for cls in classes:
        if cls is VmaplabError:
            continue
        branches = [b for b in BRANCHES if issubclass(cls, b) or cls is b]
        assert issubclass(cls, VmaplabError) and len(branches) == 1, (cls, branches)


def test_the_branches_keep_their_builtin_bases():
    """Callers who caught ValueError (bad input) or RuntimeError (the oracle) still do."""
    assert issubclass(VmallocError, ValueError) and issubclass(InvariantError, RuntimeError)
    assert issubclass(ExternalError, RuntimeError) and not issubclass(InvariantError, ValueError)


@pytest.mark.parametrize("cls", sorted(_exception_classes() - {VmaplabError}, key=lambda c: c.__name__))
def test_every_exception_has_an_exit_status_and_one_line(cls):
    status, prefix = cli.exit_status(cls.__new__(cls))
    assert prefix.startswith("vmaplab") and prefix.endswith(": ") and "\n" not in prefix
    expected = 2 if issubclass(cls, VmallocError) else 70 if issubclass(cls, InvariantError) else None
    if expected is not None:
        assert status == expected, cls
    else:
        assert status in (1, 2, 3), cls


def test_an_invariant_error_in_a_command_is_one_line_and_status_70(capsys, monkeypatch):
    def broken(args):
        raise InvariantError("check: node 3's busy tree is not sorted")
    monkeypatch.setattr(cli, "cmd_demo", broken)
    assert cli.main(["demo"]) == 70
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vmaplab: internal error (a bug in vmaplab; please report it with the command): "
                   "check: node 3's busy tree is not sorted"]


def _bool_and_int_pairs(tree) -> list[int]:
    """Lines where one boolean expression tests a value both for bool and for int (a hand-made validator)."""
    def kinds(node):
        out = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance" \
                    and len(n.args) == 2 and isinstance(n.args[1], ast.Name):
                out.add((ast.dump(n.args[0]), n.args[1].id))
        return out
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp):
            k = kinds(node)
            if any((v, "bool") in k and (v, "int") in k for v, _ in k):
                lines.append(node.lineno)
    return lines


def test_only_validate_py_writes_what_an_integer_is():
    found = {}
    for name, path in _modules():
        if name != "vmaplab.kernel.validate":
            lines = _bool_and_int_pairs(ast.parse(path.read_text()))
            if lines:
                found[name] = lines
    assert found == {}


def test_the_scan_can_fail():
    assert _bool_and_int_pairs(ast.parse("ok = not isinstance(v, int) or isinstance(v, bool)")) == [1]


def test_no_bare_value_or_runtime_errors():
    found = []
    for name, path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in ("ValueError", "RuntimeError") \
                        and (name, exc.id) not in BARE_RAISES:
                    found.append((name, node.lineno, exc.id))
    assert found == []


# -- the rules, case by case ----------------------------------------------------------------------------
def test_check_int_rules():
    assert V.check_int(5, "n", 1, 9) == 5
    assert V.check_int(Index(5), "n", 1, 9, integral=True) == 5 and type(V.check_int(Index(5), "n", integral=True)) is int
    for bad, message in [(True, "n must be an integer in 1..9, got True"), (Index(5), "n must be an integer in 1..9"),
                         (5.0, "got 5.0"), ("5", "got '5'"), (0, "n must be an integer in 1..9, got 0"),
                         (10, "got 10")]:
        with pytest.raises(InvalidArgumentError, match=message.replace(".", r"\.")):
            V.check_int(bad, "n", 1, 9)
    with pytest.raises(ConfigError, match="n must be an integer >= 1, got 0"):
        V.check_int(0, "n", 1, exc=ConfigError)
    with pytest.raises(InvalidArgumentError, match="a 5001-bit integer"):
        V.check_int(1 << 5000, "n", 0, 9)


def test_check_bool_real_choice_rules():
    assert V.check_bool(False, "f") is False
    for bad in (0, 1, "yes", None):
        with pytest.raises(InvalidArgumentError, match="f must be true or false"):
            V.check_bool(bad, "f")
    assert V.check_real(2, "x", 0, 3) == 2.0
    for bad in (True, float("nan"), float("inf"), "1", 4):
        with pytest.raises(InvalidArgumentError, match="x must be a"):
            V.check_real(bad, "x", 0, 3)
    assert V.check_choice("fifo", "policy", ("fifo", "tas")) == "fifo"
    with pytest.raises(InvalidArgumentError, match="policy must be one of fifo, tas, got 'x'"):
        V.check_choice("x", "policy", ("fifo", "tas"))
    with pytest.raises(InvalidArgumentError):
        V.check_choice(True, "n", (1, 2))


def test_text_is_an_integer_only_in_ascii_digits():
    assert V.parse_int("0x10", "addr", base=0) == 16 and V.parse_int("12", "n") == 12
    for bad in ("١", "１", "1.5", "", "0x10"):
        with pytest.raises(InvalidArgumentError, match="is not"):
            V.parse_int(bad, "n")
    parse = V.int_arg(1, 64)
    assert parse("64") == 64
    with pytest.raises(argparse.ArgumentTypeError, match="^must be an integer in 1..64, got 65$"):
        parse("65")


def test_settings_accept_integral_types_and_calls_do_not():
    """A setting (nr_cpus, nr_ram_pages, ...) is an integer of any integral type, converted; an allocator
    call's argument is a C integer: only int (kernel/validate.py says why)."""
    a = vmaplab.Vmalloc(nr_cpus=Index(4), version="6.9", nr_ram_pages=Index(4096), nr_vmap_nodes=Index(2))
    b = vmaplab.Vmalloc(nr_cpus=4, version="6.9", nr_ram_pages=4096, nr_vmap_nodes=2)
    assert (a.nr_cpus, a.nr_vmap_nodes, type(a.nr_cpus)) == (4, 2, int)
    assert a.vmalloc(4096, cpu=1) == b.vmalloc(4096, cpu=1)
    with pytest.raises(InvalidArgumentError, match="cpu"):
        a.vmalloc(4096, cpu=Index(1))
    with pytest.raises(ConfigError, match="nr_cpus must be an integer >= 1, got True"):
        vmaplab.Vmalloc(nr_cpus=True)
    with pytest.raises(ConfigError, match="nr_mem_nodes"):
        vmaplab.Vmalloc(nr_cpus=2, nr_mem_nodes=True)
    start = vmaplab.VMALLOC_START + (1 << 30)
    assert vmaplab.Vmalloc(nr_cpus=2, vmalloc_start=Index(start)).VMALLOC_START == start   # it raised TypeError
    with pytest.raises(ConfigError, match="vmalloc_start must be an integer >= 1, got True"):
        vmaplab.Vmalloc(nr_cpus=2, vmalloc_start=True)


# -- a lock's identity (kernel/locks.py) -------------------------------------------------------------------
def test_every_lock_a_machine_takes_parses_back_to_itself():
    from vmaplab.kernel.locks import LockId
    from vmaplab.kernel.trace import Lock
    seen = set()
    for version in vmaplab.VERSIONS:
        vm = vmaplab.Vmalloc(nr_cpus=4, version=version, trace=True)
        a = [vm.vmalloc(4096 * (1 + i % 3), cpu=i % 4) for i in range(12)]
        for i, addr in enumerate(a):
            vm.vfree(addr, cpu=(i + 1) % 4)
        vm.purge(cpu=0)
        vm.vmalloc(4096, cpu=2)
        seen |= {e.lock for e in vm.trace if isinstance(e, Lock)}
    assert {"vmap_area_lock", "free_vmap_area_lock", "vmap_purge_lock", "vn[2].busy.lock"} <= seen
    for name in seen:
        lock = LockId.parse(name)
        assert lock.name == name and LockId.parse(lock.group.replace("*", "0")).family == lock.family


def test_lock_names_are_refused_not_guessed():
    from vmaplab.kernel.locks import LockId
    assert LockId.parse("vn[12].pool_lock") == LockId("pool", 12)
    assert LockId("busy", 3).group == "vn[*].busy.lock" and LockId("lazy", 0).family == "lazy.lock"
    for bad in ("vn[03].busy.lock", "vn[-1].busy.lock", "vn[1].busy", "zone->lock", "", None, 3):
        with pytest.raises(InvalidArgumentError, match="not a kernel lock's name"):
            LockId.parse(bad)
    for kind, node in (("vmap_area_lock", 0), ("busy", None), ("busy", -1), ("spare", None)):
        with pytest.raises(InvalidArgumentError, match="LockId"):
            LockId(kind, node)


# -- only the kernel model writes kernel state -----------------------------------------------------------
KERNEL_OBJECT_NAMES = {"vm", "area", "va", "vn", "vb"}
OBSERVER_SLOTS = {"line"}          # RBTree nodes' slot for the cache-line observer (kernel/rbtree.py: a public hook)


def _kernel_state_writes(tree) -> list[str]:
    """``vm.x = ``, ``area.pages, n = ``, ``self.vm.x += ``, ``vm.x[i] = ``: assignments into a kernel object."""
    def written(target):
        if isinstance(target, (ast.Tuple, ast.List)):
            return any(written(e) for e in target.elts)
        if isinstance(target, ast.Subscript):
            return written(target.value)
        return isinstance(target, ast.Attribute) and target.attr not in OBSERVER_SLOTS and (
            (isinstance(target.value, ast.Name) and target.value.id in KERNEL_OBJECT_NAMES)
            or (isinstance(target.value, ast.Attribute) and target.value.attr == "vm") or written(target.value))
    out = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        out += [f"{node.lineno}: {ast.unparse(t)}" for t in targets if written(t)]
    return out


def test_nothing_outside_the_kernel_writes_kernel_state():
    found = {name: w for name, path in _modules()
             if not name.startswith("vmaplab.kernel") and (w := _kernel_state_writes(ast.parse(path.read_text())))}
    assert found == {}


def test_the_state_scan_can_fail():
    assert len(_kernel_state_writes(ast.parse("vm.nr_vmalloc_pages += 3\nself.vm.autorun_work = False\n"
                                              "area.pages, x = [], 1\nvm.pages.data[3] = b''"))) == 4
    assert _kernel_state_writes(ast.parse("self.trees[vn.busy_lock] = 1\nx = vm.nr_cpus")) == []


def test_restore_vm_struct_refuses_and_changes_nothing():
    from conftest import snapshot
    vm = vmaplab.Vmalloc(nr_cpus=2, version="6.9", nr_ram_pages=64, nr_mem_nodes=2)
    va = vm.alloc_vmap_area(3 * 4096, 4096, vm.VMALLOC_START, vm.VMALLOC_END, 0, 0, 0)
    vm.setup_vmalloc_vm(vmaplab.VmStruct(vmaplab.VM_ALLOC, None), va, vmaplab.VM_ALLOC, None)
    before = snapshot(vm), vm.nr_vmalloc_pages, vm.pages.nr_used
    for args, kwargs, message in [((va.va_start + 4096, [(0, 1)]), {}, "does not start"),
                                  ((va.va_start, [(2, 1)]), {}, "node"), ((va.va_start, [(0, 4)]), {}, "do not fit"),
                                  ((va.va_start, "0 1"), {}, "pairs"), ((va.va_start, [(0, -1)]), {}, "count"),
                                  ((va.va_start, [(0, 1)]), {"vpages": 1}, "vpages"),
                                  ((va.va_start, [(0, 1)]), {"phys_addr": -1}, "phys_addr")]:
        with pytest.raises(InvalidArgumentError, match=message):
            vm.restore_vm_struct(*args, **kwargs)
        assert (snapshot(vm), vm.nr_vmalloc_pages, vm.pages.nr_used) == before
    area = vm.restore_vm_struct(va.va_start, [(0, 1), (1, 1)], vpages=True)
    assert area.nr_pages == 2 and vm.nr_vmalloc_pages == 2 and [vm.pages.page_to_nid(p) for p in area.pages] == [0, 1]
    with pytest.raises(InvalidArgumentError, match="has its pages already"):
        vm.restore_vm_struct(va.va_start, [(0, 1)])
    vm.check()
    with vm.workqueue_held():
        assert vm.autorun_work is False
    assert vm.autorun_work is True


# -- a run's settings, declared once (contention/settings.py) ---------------------------------------------
def test_every_consumer_of_the_settings_derives_them():
    from dataclasses import fields

    from vmaplab.contention.experiments import PARAMS
    from vmaplab.contention.settings import SETTINGS, RunSpec
    from vmaplab.contention.sim import ContentionSim
    names = {f.name for f in fields(RunSpec)} - {"costs"}
    assert set(SETTINGS) == names == set(PARAMS)
    sim = inspect.signature(ContentionSim.__init__).parameters
    for name in names - {"run_test_mask"}:                   # the simulator takes it inside params
        assert sim[name].default == SETTINGS[name].default, name
    parser = cli.build_parser()
    simulate = parser._subparsers._group_actions[0].choices["simulate"]      # argparse keeps them there
    options = {a.dest: a for a in simulate._actions}
    for name in ("machine", "scale", "policy", "drain", "placement"):
        assert options[name].default == SETTINGS[name].default, name
    for name in ("policy", "drain", "placement"):
        assert options[name].choices == list(SETTINGS[name].metadata["check"].options)


def test_a_spec_and_the_simulator_refuse_alike():
    from vmaplab.contention.experiments import SpecError, parse_experiment
    from vmaplab.contention.settings import RunSpec
    from vmaplab.contention.sim import ContentionError, ContentionSim
    for name, bad in (("policy", "mcs"), ("pools", 1), ("nr_threads", 0), ("seed", -1), ("drain", None)):
        with pytest.raises(ContentionError, match=f"^{name} must be"):
            ContentionSim("6.9", **{name: bad})
        with pytest.raises(SpecError, match=f"base.{name} must be"):
            parse_experiment({"name": "x", "base": {name: bad}})
    assert RunSpec(nr_threads=2, nr_cpus=2, scale=100000).simulator().params.nr_threads == 2
