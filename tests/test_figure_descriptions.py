# SPDX-License-Identifier: MIT
"""Issue 29 item 2: every figure says in words what it shows and its main numbers.

The description lives in the figure (``layout.meta.description``): the book makes it the caption and
the chart's accessible name, and ``figures.show`` prints it under the figure in a notebook. These tests
read the stored notebooks (every figure described, every static one with its sentence printed under
it), check that each description carries the numbers of the data it was drawn from, and that no
``*_figure`` function of vmaplab.course.figures returns a figure without one.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path

import nbformat
import pytest

from vmaplab import Vmalloc
from vmaplab.contention.experiments import Interval
from vmaplab.course import figures as viz
from vmaplab.course.lessons import FreeTreeDemo, PoolsDemo, busy_by_node, routing_demo, zone_nodes

ROOT = Path(__file__).resolve().parents[1]
PLOTLY = "application/vnd.plotly.v1+json"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _figure_outputs():
    """(notebook, cell index, output index, outputs of the cell) for every stored plotly figure."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            for k, out in enumerate(cell.get("outputs", [])):
                if PLOTLY in out.get("data", {}):
                    yield path.name, i, k, cell.outputs


def test_every_stored_figure_has_a_description():
    found = list(_figure_outputs())
    assert len(found) >= 20
    bare = [f"{nb} cell {i}" for nb, i, k, outs in found if not viz.description(outs[k]["data"][PLOTLY]).strip()]
    assert bare == [], "figures without a description: " + ", ".join(bare)


def test_every_static_figure_prints_its_description_under_it():
    """A figure shown by figures.show has the same sentence, marked, in the next output of its cell; an
    app's stored first view (its live widget's fallback) carries the description in the figure only."""
    missing = []
    shown = 0
    for nb, i, k, outs in _figure_outputs():
        plain = outs[k]["data"].get("text/plain", "")
        if "an interactive figure" in ("".join(plain) if isinstance(plain, list) else plain):
            continue
        shown += 1
        text = viz.description(outs[k]["data"][PLOTLY])
        nxt = outs[k + 1] if k + 1 < len(outs) else {}
        md = nxt.get("data", {}).get("text/markdown", "")
        if not (nxt.get("metadata") or {}).get(viz.DESCRIPTION_MARK) or viz.html_escape(text) not in md:
            missing.append(f"{nb} cell {i}")
    assert shown >= 15
    assert missing == [], "figures without their description printed under them: " + ", ".join(missing)


def _own_returns(fn: ast.FunctionDef):
    """The return statements of ``fn`` itself, not of the functions defined inside it."""
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.Lambda, ast.AsyncFunctionDef)):
            todo.extend(ast.iter_child_nodes(node))


def test_no_figure_function_returns_without_a_description():
    """Each ``*_figure`` returns through ``described`` (or through ``table_figure``, which does)."""
    tree = ast.parse(inspect.getsource(viz))
    loose = []
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.endswith("_figure")):
        for ret in _own_returns(fn):
            call = ret.value
            name = call.func.id if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) else ""
            if name not in ("described", "table_figure"):
                loose.append(f"{fn.name} line {ret.lineno}")
    assert loose == []


# ---- the numbers a description carries come from the data drawn

def test_the_address_space_says_what_it_counts():
    vm = Vmalloc(nr_cpus=4, version="6.9")
    for cpu in range(4):
        vm.vmalloc(4096 * (cpu + 1), cpu=cpu)
    text = viz.description(viz.address_space_figure(vm))
    assert "Linux 6.9" in text and "4 vmap nodes" in text and "4 busy" in text


def test_the_wall_figure_says_each_version_and_the_reference():
    class R:
        def __init__(self, wall, pct):
            self.wall_s, self.slowpath_self_pct = wall, pct
    text = viz.description(viz.wall_figure({"6.8": R(651.2, 93.4), "6.9": R(51.0, 5.9)},
                                           {"6.8": {"wall_s": 651.0, "slowpath_self_pct": 93.0},
                                            "6.9": {"wall_s": 51.0, "slowpath_self_pct": 6.0}}))
    assert "6.8 takes 651.2 s" in text and "93.4%" in text and "cover letter: 651.0 s" in text
    assert "6.9 takes 51.0 s" in text
    assert "No run yet" in viz.description(viz.wall_figure({}, None))


def test_the_segment_figures_name_nodes_and_zones():
    z = zone_nodes(nr_cpus=8, zone_pages=16, nr_zones=32)
    text = viz.description(viz.zone_figure(z))
    assert "8 CPUs give 8 vmap nodes" in text and "zone k to node k mod 8" in text and "32 zones" in text
    vm = Vmalloc(nr_cpus=4, version="6.9")
    for _ in range(8):
        vm.vmalloc(4096, cpu=0)
    rows = busy_by_node(vm)
    text = viz.description(viz.node_balance_figure(rows))
    assert f"{sum(r['areas'] for r in rows)} in all" in text
    d = routing_demo(nr_cpus=4, nr_areas=16, alloc_cpu=0, free_cpu=2)
    text = viz.description(viz.routing_figure(d))
    assert "16 areas allocated on CPU 0, freed on CPU 2" in text


def test_the_tree_and_pool_figures_follow_their_frames():
    demo = FreeTreeDemo()
    frame = next(f for f in demo.frames if f.kind == "alloc" and f.result)
    text = viz.description(viz.free_tree_figure(frame, demo.pages, "before"))
    assert f"Step {frame.step}" in text and f"pages {frame.result[0]}-{frame.result[1]}" in text
    pools = PoolsDemo()
    last = pools.frames[-1]
    text = viz.description(viz.pools_figure(last))
    assert f"{last.hits} pool hits and {last.misses} misses" in text
    assert f"Over {len(pools.frames)} steps" in viz.description(viz.pool_history_figure(pools.frames))


def test_interval_figures_say_inside_or_outside():
    a = Interval("nr_threads=64", "wall 6.8 (s)", 8, 500.0, 400.0, 600.0, 651.0, (("nr_threads", 64),))
    b = Interval("nr_threads=64", "wall 6.9 (s)", 8, 40.0, 35.0, 55.0, 51.0, (("nr_threads", 64),))
    text = viz.description(viz.interval_points_figure([a, b], "headline"))
    assert "wall 6.8 (s): model median 500" in text and "outside" in text and "inside" in text
    text = viz.description(viz.interval_band_figure([a, b], "nr_threads", {"wall 6.8 (s)": "6.8 model"}, "t", "s"))
    assert "6.8 model: median 500" in text and "inside 0 of 1" in text


def test_a_table_names_its_columns_and_first_row():
    text = viz.description(viz.table_figure([{"a": 1.234, "b": "x"}, {"a": 2, "b": "y"}], {"a": "alpha", "b": "beta"},
                                            "two rows", formats={"a": ".1f"}))
    assert "2 rows" in text and "alpha, beta" in text and "First row: alpha 1.2; beta x" in text


def test_the_book_prints_a_description_once():
    """site/build.py makes the description the caption, so it drops the sentence figures.show printed."""
    pytest.importorskip("yaml")
    spec = importlib.util.spec_from_file_location("vmaplab_site_build_desc", ROOT / "site" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.DESCRIPTION_MARK == viz.DESCRIPTION_MARK
    fig = viz.described(viz.go.Figure(), "three areas, one node")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("viz.show(fig)")
    cell.outputs = [nbformat.v4.new_output("display_data", {PLOTLY: fig.to_plotly_json(), "text/plain": "Figure"}),
                    nbformat.v4.new_output("display_data", {"text/markdown": "*Figure: three areas, one node*"},
                                           metadata={viz.DESCRIPTION_MARK: True})]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    src = ROOT / "test-artifacts" / "desc-src.ipynb"
    src.parent.mkdir(exist_ok=True)
    nbformat.write(nb, src)
    dest = src.with_name("desc-dest.ipynb")
    assert build.stage_notebook(src, dest, binder="https://b/", lite_built=False, pages=set(), repo="https://r") == 1
    staged = nbformat.read(dest, as_version=4)
    outs = [c for c in staged.cells if c.cell_type == "code"][0].outputs
    assert len(outs) == 1 and "three areas, one node" in outs[0]["data"]["text/html"]
