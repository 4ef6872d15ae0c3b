#!/usr/bin/env python
# SPDX-License-Identifier: MIT
"""Build notebooks/*.ipynb from their sources in notebooks/src/*.py, executing them so outputs are stored.

The sources are "percent" scripts: a line ``# %% [markdown]`` starts a Markdown cell (its lines
lose their leading ``# ``), a line ``# %%`` starts a code cell. Executed outputs are kept, so a
notebook reads well (static figures, tables, text) where no kernel runs, and nbval has the stored
output to compare for cells marked ``# NBVAL_CHECK_OUTPUT``.

Usage: python scripts/build_notebooks.py [NAME ...]     build (all, or the named ones), executing each
       python scripts/build_notebooks.py --check        fail if a notebook's cells differ from its source
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SRC, OUT = ROOT / "notebooks" / "src", ROOT / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def parse(text: str) -> list[tuple[str, str]]:
    """[(kind, source)] from a percent script; kind is "markdown" or "code"."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        out.append((kind, "\n".join(lines).strip("\n")))
    return out


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(s) if k == "markdown" else nbformat.v4.new_code_cell(s)
                for k, s in cells]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"          # stable ids: rebuilding changes nothing it need not
    return nb


def merge_streams(outputs: list) -> list:
    """Adjacent stream outputs of one name as one, as Jupyter shows them: how many pieces a cell's
    printing arrives in depends on the machine's load, and a stored notebook must not."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            prev["text"] = "".join(prev["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def build(src: Path) -> Path:
    from nbclient import NotebookClient
    nb = notebook(parse(src.read_text()))
    # widget state is not stored: anywidget would embed plotly.js (4.5 MB) per FigureWidget; the
    # static figure beside each widget is the no-kernel view
    NotebookClient(nb, timeout=900, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(OUT)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata.pop("execution", None)
            cell.outputs = merge_streams(cell.outputs)
            for out in cell.outputs:
                # no widget state is stored, so a widget view could only say "model not found": keep
                # the static figure the app put beside it (vmaplab.course.widgets.App)
                out.get("data", {}).pop(WIDGET_VIEW, None)
    dest = OUT / (src.stem + ".ipynb")
    nbformat.write(nb, dest)
    return dest


def check() -> list[str]:
    """Names of notebooks whose cells differ from their sources (or that are missing)."""
    bad = []
    for src in sorted(SRC.glob("*.py")):
        dest = OUT / (src.stem + ".ipynb")
        want = parse(src.read_text())
        if not dest.exists():
            bad.append(f"{dest.name}: missing")
            continue
        have = [(c.cell_type, c.source) for c in nbformat.read(dest, as_version=4).cells]
        if have != want:
            bad.append(f"{dest.name}: cells differ from {src.relative_to(ROOT)}")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook stems to build (default: all)")
    ap.add_argument("--check", action="store_true", help="only check that notebooks match their sources")
    args = ap.parse_args()
    if args.check:
        bad = check()
        print("\n".join(bad) or "all notebooks match their sources")
        return 1 if bad else 0
    sources = sorted(SRC.glob("*.py"))
    if args.names:
        sources = [s for s in sources if s.stem in args.names or any(s.stem.startswith(n) for n in args.names)]
    for src in sources:
        print(f"building {src.stem} ...", flush=True)
        t0 = time.monotonic()
        dest = build(src)
        print(f"  wrote {dest.relative_to(ROOT)} (executed in {time.monotonic() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
