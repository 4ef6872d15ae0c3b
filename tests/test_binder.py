# SPDX-License-Identifier: MIT
"""Binder: the files repo2docker reads are consistent, and they install into a fresh venv that runs the tour.

There is no Docker here, so this is a "Binder emulation": a venv with
the runtime's Python, ``pip install -r binder/requirements.txt``, ``binder/postBuild``, then the tour
notebook executed by that venv's own Jupyter.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([\w.+\-]+)", line)
            assert m, f"{path.name}: not an exact pin: {line!r}"
            pins[m[1].lower()] = m[2]
    return pins


def test_requirements_are_fully_pinned_and_agree_with_the_loose_list():
    pins = _pins(BINDER / "requirements.txt")
    assert len(pins) > 50                                 # transitive dependencies too
    for line in (BINDER / "requirements.in").read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.\-]+)==([\w.]+)", line)
        if m:
            assert pins[m[1].lower()] == m[2], m[1]
    assert not any("vmaplab" in name for name in pins)    # installed by postBuild, so the layer caches


def test_runtime_matches_the_supported_pythons():
    m = re.fullmatch(r"python-3\.(\d+)\s*", (BINDER / "runtime.txt").read_text())
    assert m and 11 <= int(m[1]) <= 14


def test_post_build_stops_on_errors_and_installs_vmaplab():
    text = (BINDER / "postBuild").read_text()
    assert os.access(BINDER / "postBuild", os.X_OK)
    assert "set -euo pipefail" in text and "pip install --no-deps -e ." in text


def test_readme_badge_opens_the_tour_in_jupyterlab():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\?urlpath=lab/tree/([^)\s]+)\)", readme)
    assert m and (ROOT / m[1]).exists() and m[1].endswith("00-tour.ipynb")


@pytest.mark.slow          # a fresh venv with the pinned requirements, then the tour: over a minute
def test_binder_environment_installs_and_runs_the_tour(tmp_path):
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {**os.environ, "NB_PYTHON_PREFIX": str(venv), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "VIRTUAL_ENV": str(venv), "TQDM_DISABLE": "1"}
    env.pop("PYTHONPATH", None)
    run = dict(cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    pip = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"], **run)
    assert pip.returncode == 0, pip.stderr[-3000:]
    post = subprocess.run(["bash", "binder/postBuild"], **run)
    assert post.returncode == 0, post.stderr[-3000:]
    assert (venv / "share/jupyter/lab/settings/overrides.json").exists()
    out = tmp_path / "tour.ipynb"
    nb = subprocess.run([str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                         "--ExecutePreprocessor.kernel_name=python3", "--output", str(out),
                         "notebooks/00-tour.ipynb"], **run)
    assert nb.returncode == 0, nb.stderr[-3000:]
    done = nbformat.read(out, as_version=4)
    code = [c for c in done.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    # the kernel was the Binder venv's: vmaplab imported from this checkout, via postBuild's install
    which = subprocess.run([str(py), "-c", "import vmaplab; print(vmaplab.__file__)"], **run)
    assert which.stdout.strip().startswith(str(ROOT / "vmaplab"))
