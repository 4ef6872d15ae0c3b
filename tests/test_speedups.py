# SPDX-License-Identifier: MIT
"""The optional compiled speedups (vmaplab/speedups.py): loaded only for their exact source, and never a different result.

The suite itself runs on the source files (conftest.py sets VMAPLAB_PURE); here subprocesses run
the same simulations and CLI commands with the compiled modules and without, byte for byte.
CI builds the speedups first (scripts/test.sh), so there a missing build is a failure, not a skip.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from vmaplab import speedups
from vmaplab.cli import main

GOLDEN = pathlib.Path(__file__).parent / "golden"
ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_build_is_keyed_by_the_modules_exact_source(tmp_path, monkeypatch):
    monkeypatch.setenv("VMAPLAB_SPEEDUPS_DIR", str(tmp_path))
    name = "vmaplab.kernel.rbtree"
    current = speedups.source_path(name).read_bytes()
    assert speedups.build_path(name) == speedups.build_path(name, current)
    assert speedups.build_path(name, current + b"\n") != speedups.build_path(name, current)
    assert speedups.build_path("vmaplab.kernel.pages", current) != speedups.build_path(name, current)
    assert speedups.build_path(name).parent == tmp_path
    assert speedups.build_path(name).name.endswith(speedups._EXT)
    with pytest.raises(ValueError, match="not a vmaplab module"):
        speedups.source_path("os.path")


def test_the_finder_serves_only_a_build_of_the_current_source(tmp_path, monkeypatch):
    monkeypatch.setenv("VMAPLAB_SPEEDUPS_DIR", str(tmp_path))
    name = "vmaplab.kernel.rbtree"
    finder = speedups._Finder()
    assert finder.find_spec("vmaplab.kernel.walks") is None        # not a hot module
    assert finder.find_spec(name) is None                          # nothing built
    stale = speedups.build_path(name, b"# an older version of rbtree.py\n")
    stale.write_bytes(b"not loaded")
    assert finder.find_spec(name) is None                          # a build of another source: ignored
    speedups.build_path(name).write_bytes(b"stand-in: only its path is checked")
    spec = finder.find_spec(name)
    assert spec is not None and spec.name == name and spec.origin == str(speedups.build_path(name))
    rows = {r.name: r for r in speedups.status()}
    assert rows[name].built and not rows[name].loaded               # this process runs the source (conftest)
    speedups.claim([stale.name])                                   # built by this checkout
    assert speedups.prune(log=lambda _msg: None) == 1 and not stale.exists()


def test_pure_mode_turns_them_off(monkeypatch):
    monkeypatch.setenv("VMAPLAB_PURE", "1")
    assert not speedups.enabled() and not speedups.install()
    monkeypatch.setenv("VMAPLAB_PURE", "0")
    assert speedups.enabled()


def test_the_build_without_cython_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VMAPLAB_SPEEDUPS_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "Cython.Build", None)         # `from Cython.Build import ...` fails
    assert main(["speedups", "build", "--force"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("vmaplab speedups: error: the build needs Cython")
    assert not list(tmp_path.iterdir())                            # nothing written


def test_status_lists_every_hot_module(capsys):
    assert main(["speedups"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in speedups.MODULES)
    assert "VMAPLAB_PURE is set" in out


# -- the compiled modules against the source, in subprocesses ------------------------------------------------

def _all_built() -> bool:
    return all(r.built for r in speedups.status())


def _need_builds():
    if not _all_built():
        if os.environ.get("CI") == "true":
            pytest.fail("CI builds the speedups (scripts/test.sh) but some module has no build of its source")
        pytest.skip("no speedups built (vmaplab speedups build)")


def _run(args: list[str], pure: bool) -> str:
    env = dict(os.environ, VMAPLAB_PURE="1" if pure else "0")
    out = subprocess.run([sys.executable, "-m", "vmaplab", *args], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True)
    return out.stdout


COMPARED = {      # the stored runs of test_cli.py, whose every float a refactor must leave alone
    "simulate_small": ["simulate", "--version", "both", "--cpus", "16", "--scale", "20000", "--jobs", "1",
                       "--json", "--quiet"],
    "simulate_tas_kworker": ["simulate", "--version", "6.9", "--cpus", "8", "--scale", "20000", "--policy", "tas",
                             "--drain", "kworker", "--machine", "epyc-7713", "--json", "--quiet"],
}


def test_the_compiled_modules_are_the_ones_in_use_when_built():
    _need_builds()
    code = ("import vmaplab.contention.sim as s, vmaplab.kernel.vmalloc as v; "
            "print(s.__file__.endswith('.py'), v.__file__.endswith('.py'))")
    env = dict(os.environ, VMAPLAB_PURE="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", list(COMPARED))
def test_simulate_json_is_the_same_compiled_and_pure(name):
    _need_builds()
    args = COMPARED[name]
    golden = GOLDEN / f"{name}.json"
    compiled, pure = _run(args, pure=False), _run(args, pure=True)
    assert compiled == pure == golden.read_text()


@pytest.mark.parametrize("args", [
    ["demo", "--cpus", "4"],
    ["test-vmalloc", "run_test_mask=1064", "nr_threads=3", "test_loop_count=15", "--cpus", "4", "--version", "6.9",
     "--interleave", "random", "--seed", "5", "--quiet"],
    ["vmallocinfo", "--workload", "mixed", "--seed", "2", "--version", "6.8"],
    ["simulate", "run_test_mask=7", "nr_threads=8", "--cpus", "16", "--machine", "epyc-7713", "--scale", "40000",
     "--placement", "packed"],
], ids=["demo", "test-vmalloc", "vmallocinfo", "simulate-epyc-packed"])
def test_cli_output_is_the_same_compiled_and_pure(args):
    _need_builds()
    assert _run(args, pure=False) == _run(args, pure=True)


def test_a_failing_compiler_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VMAPLAB_SPEEDUPS_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", "false")                              # a "compiler" that always fails
    pytest.importorskip("Cython")
    if not shutil.which("false"):
        pytest.skip("no false(1)")
    monkeypatch.setattr(speedups, "MODULES", ("vmaplab.kernel.nodes",))  # one small module: quick
    assert main(["speedups", "build"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("vmaplab speedups: error: the build failed"), err
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


# ---- issue 26, item 10: a bad cache folder is one line before any compiling; prune keeps others' builds

@pytest.mark.parametrize("where", ["file", "under-file", "proc"])
def test_a_cache_folder_that_cannot_be_written_is_one_line_before_compiling(monkeypatch, capsys, tmp_path, where):
    (tmp_path / "f").write_text("a file")
    folder = {"file": tmp_path / "f", "under-file": tmp_path / "f" / "sub", "proc": pathlib.Path("/proc/vmaplab")}
    monkeypatch.setenv("VMAPLAB_SPEEDUPS_DIR", str(folder[where]))
    monkeypatch.setitem(sys.modules, "Cython.Build", None)         # reaching the compiler would say "Cython"
    assert main(["speedups", "build", "--force"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "VMAPLAB_SPEEDUPS_DIR" in err[0] and str(folder[where]) in err[0], err
    assert (tmp_path / "f").read_text() == "a file"


def test_prune_removes_only_this_checkouts_stale_builds(monkeypatch, tmp_path):
    monkeypatch.setenv("VMAPLAB_SPEEDUPS_DIR", str(tmp_path))
    name = "vmaplab.kernel.rbtree"
    mine = speedups.build_path(name, b"# this checkout's older rbtree.py\n")
    theirs = speedups.build_path(name, b"# another checkout's rbtree.py\n")
    unknown = speedups.build_path(name, b"# built before builds had owners\n")
    for f in (mine, theirs, unknown):
        f.write_bytes(b"stand-in")
    speedups.claim([mine.name])
    other = tmp_path / "elsewhere" / "vmaplab"
    other.mkdir(parents=True)
    monkeypatch.setattr(speedups, "PACKAGE_DIR", other)             # the other checkout claims its build
    speedups.claim([theirs.name])
    monkeypatch.undo()
    monkeypatch.setenv("VMAPLAB_SPEEDUPS_DIR", str(tmp_path))
    assert speedups.prune(log=lambda _msg: None) == 1
    assert not mine.exists() and theirs.exists() and unknown.exists()
