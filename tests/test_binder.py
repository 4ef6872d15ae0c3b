# SPDX-License-Identifier: MIT
"""Binder: the files repo2docker reads are consistent, and they install into a fresh venv that runs the tour.

There is no Docker here, so this is a "Binder emulation": a venv with
the runtime's Python, ``pip install -r binder/requirements.txt``, ``binder/postBuild`` (once with no
C compiler: the image still builds and says the source is used; once with one: the speedups are
compiled), then the tour notebook executed by that venv's own Jupyter, on the compiled modules.
"""
import ast
import os
import re
import subprocess
import sys
import time
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


def test_binder_installs_what_the_speedups_build_needs():
    """postBuild compiles the speedups: Cython and setuptools (the [speedups] extra) are pinned for it."""
    assert "vmaplab speedups build" in (BINDER / "postBuild").read_text()
    pins = _pins(BINDER / "requirements.txt")
    extra = re.search(r'^speedups = \[(.*)\]', (ROOT / "pyproject.toml").read_text(), re.M)[1]
    for req in re.findall(r'"([A-Za-z0-9_.\-]+)', extra):
        assert req.lower() in pins, f"binder/requirements.txt does not pin {req} (the [speedups] extra)"


def test_readme_badge_opens_the_tour_in_jupyterlab():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\?urlpath=lab/tree/([^)\s]+)\)", readme)
    assert m and (ROOT / m[1]).exists() and m[1].endswith("00-tour.ipynb")


@pytest.mark.slow          # a fresh venv with the pinned requirements, then the tour: over a minute
def test_binder_environment_installs_and_runs_the_tour(tmp_path):
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    speedups = tmp_path / "speedups"             # the image's cache, not this machine's
    env = {**os.environ, "NB_PYTHON_PREFIX": str(venv), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "VIRTUAL_ENV": str(venv), "TQDM_DISABLE": "1", "VMAPLAB_SPEEDUPS_DIR": str(speedups)}
    env.pop("VMAPLAB_PURE", None)
    env.pop("PYTHONPATH", None)
    run = dict(cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    pip = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"], **run)
    assert pip.returncode == 0, pip.stderr[-3000:]
    # an image without a C compiler: postBuild still succeeds, says why, and nothing is compiled
    bare = subprocess.run(["bash", "binder/postBuild"], **{**run, "env": {**env, "CC": str(tmp_path / "no-cc")}})
    assert bare.returncode == 0, bare.stderr[-3000:]
    assert "no C compiler" in bare.stderr and "runs from its source" in bare.stderr, bare.stderr[-3000:]
    assert not list(speedups.glob("vmaplab.*"))
    t0 = time.monotonic()
    post = subprocess.run(["bash", "binder/postBuild"], **run)
    built_s = time.monotonic() - t0
    assert post.returncode == 0, post.stderr[-3000:]
    assert (venv / "share/jupyter/lab/settings/overrides.json").exists()
    m = re.search(r"^speedups: (\d+) of (\d+) modules built", post.stdout, re.M)
    built = list(speedups.glob("vmaplab.*"))
    assert m and int(m[1]) == int(m[2]) == len(built) > 0, post.stdout[-3000:]
    # the tour, with one cell more at the end: which of the hot modules the kernel imported are compiled
    tour = nbformat.read(ROOT / "notebooks" / "00-tour.ipynb", as_version=4)
    tour.cells.append(nbformat.v4.new_code_cell(
        "import sys\nfrom vmaplab import speedups\n"
        "print('SPEEDUPS', [(r.name, r.loaded) for r in speedups.status() if r.name in sys.modules])"))
    src = tmp_path / "00-tour.ipynb"
    nbformat.write(tour, src)
    out = tmp_path / "tour.ipynb"
    nb = subprocess.run([str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                         "--ExecutePreprocessor.kernel_name=python3", "--output", str(out), str(src)], **run)
    assert nb.returncode == 0, nb.stderr[-3000:]
    done = nbformat.read(out, as_version=4)
    code = [c for c in done.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    imported = ast.literal_eval(code[-1].outputs[0].text.split("SPEEDUPS", 1)[1])     # [(name, loaded)]
    assert imported and all(loaded for _, loaded in imported), imported
    print(f"Binder emulation: speedups built in {built_s:.0f} s ({len(built)} modules); the tour's kernel "
          f"ran {len(imported)} hot modules compiled")
    # the kernel was the Binder venv's: vmaplab imported from this checkout, via postBuild's install
    which = subprocess.run([str(py), "-c", "import vmaplab; print(vmaplab.__file__)"], **run)
    assert which.stdout.strip().startswith(str(ROOT / "vmaplab"))
