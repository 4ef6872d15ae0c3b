# SPDX-License-Identifier: MIT
"""Issue 25, item 0: the kernel generation is one record, resolved once (vmaplab/kernel/generations.py).

No module compares a version string of its own: the scan below fails on a version literal in a
comparison, or on a list of versions written anywhere but generations.py.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vmaplab import Vmalloc
from vmaplab.kernel.errors import ConfigError
from vmaplab.kernel.generations import GENERATIONS, LETTER_VERSIONS, VERSIONS, for_release, for_series, generation

PKG = Path(__file__).resolve().parents[1] / "vmaplab"
VERSION_RE = re.compile(r"^[5-9]\.\d{1,2}$")


def _is_version(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(VERSION_RE.match(node.value))


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            flat = [e for o in operands for e in (o.elts if isinstance(o, (ast.Tuple, ast.List, ast.Set)) else [o])]
            if any(_is_version(e) for e in flat):
                out.append(f"{path.relative_to(PKG.parent)}:{node.lineno}: compares a version literal")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and sum(map(_is_version, node.elts)) >= 2:
            out.append(f"{path.relative_to(PKG.parent)}:{node.lineno}: writes a list of versions")
    return out


def test_no_module_compares_a_version_literal_or_lists_versions():
    offences = [o for p in sorted(PKG.rglob("*.py")) if p.name != "generations.py" for o in _offences(p)]
    assert offences == [], "ask vmaplab.kernel.generations instead:\n" + "\n".join(offences)


def test_the_scan_finds_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('def f(v):\n    return v == "6.9" or v in ("6.8", "6.12")\nX = ["6.1", "7.3"]\n')
    original = PKG
    try:
        globals()["PKG"] = tmp_path
        found = _offences(bad)
        # v == "6.9", v in (...), the tuple itself, and the module-level list
        assert sorted(int(o.split(":")[1]) for o in found) == [2, 2, 2, 3], found
    finally:
        globals()["PKG"] = original


def test_records_and_their_names():
    assert VERSIONS == ("6.1", "6.8", "6.9", "6.12", "7.3")
    assert LETTER_VERSIONS == ("6.8", "6.9")
    assert all(GENERATIONS[v].name == v for v in VERSIONS)
    assert generation(generation("7.3")) is GENERATIONS["7.3"]
    assert [g.name for g in GENERATIONS.values() if g.vmap_nodes] == ["6.9", "6.12", "7.3"]
    assert [g.name for g in GENERATIONS.values() if g.decay_wraps_short_pools] == ["6.9", "6.12"]
    assert for_series("6.1").name == "6.1" and for_series("6.12").name == "6.12" and for_series("7.3").name == "7.3"


@pytest.mark.parametrize("release, model", [("6.1.0-57-amd64", "6.1"), ("6.4.2", "6.1"), ("6.5.0", "6.8"),
                                            ("6.8.12-custom", "6.8"), ("6.9.1", "6.9"), ("6.10.3", "6.12"),
                                            ("6.12.118+deb12-amd64", "6.12"), ("6.16.0", "7.3"),
                                            ("7.3.4+deb13-amd64", "7.3")])
def test_a_release_maps_to_the_newest_model_not_newer(release, model):
    assert for_release(release).name == model


@pytest.mark.parametrize("bad", ["6.7", "", None, 6.9, "6.9 "])
def test_an_unknown_version_is_refused_naming_the_choices(bad):
    with pytest.raises(ConfigError, match="version must be one of 6.1, 6.8, 6.9, 6.12, 7.3"):
        Vmalloc(nr_cpus=2, version=bad)
    with pytest.raises(ConfigError):
        for_series("6.9")
    with pytest.raises(ConfigError, match="older than"):
        for_release("5.15.0")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_generation_builds_and_checks(version):
    vm = Vmalloc(nr_cpus=4, version=version)
    assert vm.version == version and vm.gen is generation(version)
    a = vm.vmalloc(8192, cpu=1)
    vm.vfree(a, cpu=2)
    vm.purge(cpu=0)
    vm.check()
    assert (vm.nr_vmap_nodes > 1) == vm.gen.vmap_nodes


def test_6_12_profiles_as_a_vmap_nodes_kernel():
    """The bug item 0 names: contention/profile.py tested == "6.9", so 6.12 got 6.8's call paths."""
    from vmaplab.contention.profile import call_path
    who = ("long_busy_list_alloc_test", "vfree")
    for v in ("6.9", "6.12", "7.3"):
        assert call_path("cs", who, "free_vmap_area_noflush", v)[-1] == "insert_vmap_area"
        assert call_path("run", ("x", "purge_vmap_node"), None, v)[-1] == "purge_vmap_node"
    for v in ("6.1", "6.8"):
        assert call_path("cs", who, "free_vmap_area_noflush", v)[-1] == "merge_or_add_vmap_area"
