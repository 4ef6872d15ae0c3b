# SPDX-License-Identifier: MIT
"""The notebooks' shape: built from their sources, opening the same way, with checked cells that do check.

nbval itself runs every notebook (pytest collects notebooks/*.ipynb with --nbval-lax); these
tests keep the notebooks honest around it.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "scripts"))
import build_notebooks  # noqa: E402


def test_there_are_the_seven_lessons():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05", "06"]


def test_notebooks_match_their_sources():
    assert build_notebooks.check() == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_opens_the_same_way(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first, second = nb.cells[0], nb.cells[1]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {int(path.stem[:2])} · ")
    assert "What you will" in first.source
    assert second.cell_type == "code" and "import vmaplab" in second.source
    assert second.source.rstrip().endswith("vmaplab.__version__")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_cells_have_stored_output_and_no_core_logic(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    checked = [c for c in code if "# NBVAL_CHECK_OUTPUT" in c.source]
    assert checked, "each notebook checks at least one deterministic output"
    assert all(c.source.strip() for c in nb.cells), "no empty cells"
    assert all(c.outputs for c in checked)
    # no core logic inside: a notebook may define a tiny helper, not classes or allocator code
    assert not any(line.startswith("class ") for c in code for line in c.source.splitlines())


def test_nbval_fails_when_a_checked_output_changes(tmp_path):
    """A checked cell really is compared: tamper with a stored output and nbval must fail."""
    src = ROOT / "notebooks" / "03-pools-and-decay.ipynb"
    nb = nbformat.read(src, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in c.source)
    out = cell.outputs[0]
    assert "pages" in out["text"]
    out["text"] = out["text"].replace("pages", "bytes", 1)
    nbformat.write(nb, tmp_path / "tampered.ipynb")
    shutil.copy(ROOT / "notebooks" / "sanitize.cfg", tmp_path)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                          "-c", "/dev/null", "--nbval-lax", "--nbval-current-env", "tampered.ipynb::Cell 1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "1 failed" in run.stdout, run.stdout[-2000:]


WIDGET_REPR = re.compile(r"^(VBox|HBox|FigureWidget|IntProgress|Button|Play|Output|Label|HTML)\(")
UNFINISHED_BAR = re.compile(r"(\d+)/(\d+)")


def _texts(out) -> list[str]:
    if out.output_type == "stream":
        return [out.text]
    return [str(v) for k, v in out.get("data", {}).items() if k.startswith("text/")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_stored_notebook_shows_figures_not_widget_reprs_or_frozen_bars(path):
    """Read without a kernel, every widget cell shows its static figure, and every progress bar its
    finished line (issue 14): no widget view (its state is not stored), no widget repr, no
    "n/m" bar with n < m."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            data = out.get("data", {})
            assert "application/vnd.jupyter.widget-view+json" not in data, (path.stem, i)
            for text in _texts(out):
                assert not WIDGET_REPR.match(text.strip()), (path.stem, i, text[:80])
                if "%|" in text or " runs in " in text:
                    for done, total in UNFINISHED_BAR.findall(text):
                        assert done == total, (path.stem, i, text[:120])
            if "an interactive figure" in str(data.get("text/plain", "")):
                assert "application/vnd.plotly.v1+json" in data, (path.stem, i)
