# SPDX-License-Identifier: MIT
"""The wheel installs: built from this checkout (sdist, then the wheel from it), its metadata checked
by twine, installed with no dependencies into a fresh venv outside the repository, and its CLI and
public API run from there, with the package data they read and no test files or build leftovers.

The core needs nothing beyond the standard library (pyproject.toml: ``dependencies = []``), so the
fresh venv has no site packages and the install reaches no index: ``--no-isolation`` builds with the
setuptools already in the test venv, ``pip --python`` installs with its pip.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from vmaplab import __all__ as PUBLIC
from vmaplab import __version__

ROOT = Path(__file__).resolve().parents[1]

# what the installed package reads at run time (resources or paths beside its modules)
PACKAGE_DATA = {"vmaplab/data/cover-letter-v3.txt", "vmaplab/data/vmallocinfo-linux-6.18-x86_64.txt",
                "vmaplab/oracle/module/vmaplab_probe.c", "vmaplab/oracle/module/Kbuild",
                "vmaplab/oracle/module/COPYING"}
LICENCES = {"LICENSE", "vmaplab/oracle/module/COPYING"}


def _run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    had_build = (ROOT / "build").exists()
    try:
        _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)])
    finally:
        assert had_build or not (ROOT / "build").exists(), "the build left build/ in the checkout"
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("vmaplab-*.whl")
    return wheel


def test_sdist_and_wheel_carry_the_version_and_pass_twine_check(dist):
    names = sorted(p.name for p in dist.iterdir())
    assert names == [f"vmaplab-{__version__}-py3-none-any.whl", f"vmaplab-{__version__}.tar.gz"]
    _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())])


def test_wheel_holds_the_package_data_and_licences_and_nothing_else(dist):
    with zipfile.ZipFile(_wheel(dist)) as z:
        names = set(z.namelist())
        meta = z.read(f"vmaplab-{__version__}.dist-info/METADATA").decode()
    info = f"vmaplab-{__version__}.dist-info/"
    assert PACKAGE_DATA <= names, PACKAGE_DATA - names
    scenarios = [n for n in names if n.startswith("vmaplab/oracle/scenarios/") and n.endswith(".json")]
    assert len(scenarios) == len(list((ROOT / "vmaplab/oracle/scenarios").glob("*.json"))) >= 25
    records = [n for n in names if n.startswith("vmaplab/data/oracle-records/") and n.endswith(".json")]
    assert len(records) == len(list((ROOT / "vmaplab/data/oracle-records").glob("*/*.json"))) >= 50
    assert {f"{info}licenses/{name}" for name in LICENCES} <= names
    assert "License-Expression: MIT AND GPL-2.0-only" in meta.splitlines()
    assert {f"License-File: {name}" for name in LICENCES} <= set(meta.splitlines())
    # nothing from tests/, no caches, compiled speedups, build leftovers or notebooks
    bad = [n for n in names if n.startswith(("tests/", "build/", "notebooks/", "docs/", "benchmarks/"))
           or "__pycache__" in n or n.endswith((".pyc", ".so", ".o", ".ko", ".ipynb", ".tmp", "~"))
           or n.rsplit("/", 1)[-1] in ("conftest.py", "SOURCES.txt")
           or (n.rsplit("/", 1)[-1].startswith("test_") and n != "vmaplab/workloads/test_vmalloc.py")]
    assert bad == []
    # every file is under the package or its dist-info, and every module of the checkout is there
    assert all(n.startswith(("vmaplab/", info)) for n in names)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vmaplab").rglob("*.py")}
    assert modules <= names, modules - names


def test_sdist_carries_the_licences(dist):
    (sdist,) = dist.glob("vmaplab-*.tar.gz")
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert LICENCES <= names and PACKAGE_DATA <= names


INSTALLED_CHECK = r"""
import importlib.metadata, importlib.resources, pathlib, sys
import vmaplab
from vmaplab import *
assert pathlib.Path(vmaplab.__file__).is_relative_to(sys.prefix), vmaplab.__file__
names = set(vmaplab.__all__)
missing = [n for n in names if n not in globals()]
assert not missing, missing
assert vmaplab.__version__ == importlib.metadata.version("vmaplab"), vmaplab.__version__
capture = (importlib.resources.files("vmaplab") / "data" / "vmallocinfo-linux-6.18-x86_64.txt").read_text()
vm = Vmalloc.from_vmallocinfo(capture, nr_cpus=2)
assert len(vm.vmallocinfo().splitlines()) == len(parse_vmallocinfo(capture)) > 1000
from vmaplab.contention import published
assert published.COVER_LETTER.is_relative_to(sys.prefix) and published.COVER_LETTER.is_file()
from vmaplab.oracle.records import load_all
records = load_all()
assert len(records) >= 50 and all(r.replay().matched == len(r.scenario.ops) for r in records[:3])
print(len(names), vmaplab.__version__)
"""


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh venv in the temporary directory (outside the checkout), the wheel installed alone."""
    env = tmp_path_factory.mktemp("venv")
    assert not env.is_relative_to(ROOT)
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    _run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--quiet",
          "--no-deps", "--no-index", "--disable-pip-version-check", str(_wheel(dist))], env=_clean_env())
    return env


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment without anything that would let the checkout's vmaplab be found."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _in_venv(venv: Path, *args: str) -> subprocess.CompletedProcess:
    return _run(list(args), cwd=venv, env=_clean_env(venv))


def test_the_installed_package_imports_every_public_name_and_finds_its_data(venv):
    out = _in_venv(venv, str(venv / "bin" / "python"), "-I", "-c", INSTALLED_CHECK).stdout
    assert out.split() == [str(len(PUBLIC)), __version__]


@pytest.mark.parametrize("argv", [
    ["demo"],
    ["oracle", "list"],
    ["simulate", "run_test_mask=1", "nr_threads=2", "--scale", "20000"],
    ["vmallocinfo", "--from", "{capture}", "--cpus", "2", "--compare"],
], ids=lambda a: " ".join(a[:2]))
def test_the_installed_cli_runs(venv, argv):
    (capture,) = venv.glob("lib/python*/site-packages/vmaplab/data/vmallocinfo-linux-6.18-x86_64.txt")
    p = _in_venv(venv, str(venv / "bin" / "vmaplab"), *(a.format(capture=capture) for a in argv))
    assert p.stdout.strip()
    if argv == ["oracle", "list"]:
        assert len(p.stdout.splitlines()) >= 25
    if argv[0] == "simulate":
        assert "ratio 6.8/6.9" in p.stdout and "cover letter" in p.stdout
