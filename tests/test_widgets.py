# SPDX-License-Identifier: MIT
"""Widget callbacks in plain pytest: set a control's value, check what the figure now shows.

Outside a kernel ipywidgets uses a dummy comm, so apps can be built and driven here
(widgets sync through the front end). ``jslink`` does nothing in Python, so tests drive the slider the
app observes, not the Play widget.
"""
import html

import pytest

pytest.importorskip("plotly")
pytest.importorskip("ipywidgets")

from vmaplab.contention.runs import run_pair  # noqa: E402
from vmaplab.course import figures as viz  # noqa: E402
from vmaplab.course.lessons import FreeTreeDemo, PoolsDemo  # noqa: E402
from vmaplab.course.widgets import (  # noqa: E402
    ContentionApp,
    FreeTreeApp,
    PoolsApp,
    QuizApp,
    SegmentApp,
    WhatIfApp,
    profile_tables,
)


@pytest.fixture(scope="module")
def pair():
    return run_pair(nr_threads=4, scale=200000, window_us=(0, 40))


def test_free_tree_app_follows_the_slider():
    app = FreeTreeApp(FreeTreeDemo())
    assert list(app.fig.data[1].x) == [0]                       # one free block at the start
    app.slider.value = 6                                          # vmalloc 2 pages aligned 4: NE split
    frame = app.demo.frames[6]
    assert "NE_FIT_TYPE" in app.fig.layout.title.text
    outline = app.fig.data[1].marker.line.color
    assert outline[frame.found] == "#2e7d32" and "#ff9800" in outline
    app.view.value = "after"                                      # the tree after the split: one more node
    assert len(app.fig.data[1].x) == len(frame.after) == len(frame.before) + 1
    app.next.click()
    assert app.slider.value == 7 and "FL_FIT_TYPE" in app.fig.layout.title.text
    app.go(10**6)
    assert app.slider.value == app.slider.max


def test_free_tree_app_batches_each_step_into_few_messages():
    app = FreeTreeApp(FreeTreeDemo())
    sent = []
    app.fig.comm.send = lambda *a, **k: sent.append(a)            # count what would go to the browser
    app.slider.value = 3
    assert 0 < len(sent) <= 4


def test_quiz_reveals_only_on_demand():
    app = QuizApp(seed=2)
    assert "Request: 4 page(s) aligned to 2 page(s)" in app.question.value and app.answer.value == ""
    app.reveal.click()
    assert "At page 20" in app.answer.value
    app.new.click()
    assert app.seed.value == 3 and app.answer.value == ""


def test_segment_app_shows_the_cap_and_any_address():
    app = SegmentApp(nr_cpus=8, zone_pages=16, nr_zones=32)
    assert list(app.fig.data[0].z[0][:9]) == [0, 0, 0, 0, 1, 1, 1, 1, 2]      # 4-page cells, 16-page zones
    app.zone.value = 4
    assert list(app.fig.data[0].z[0][:9]) == [0, 1, 2, 3, 4, 5, 6, 7, 0]      # the zone control changes the grid
    app.cpus.value = 200
    assert "nr_vmap_nodes = 128 (capped at 128)" in app.fig.layout.title.text
    assert "node 0 comes round again" in app.fig.layout.title.text
    flat = [v for row in app.fig.data[0].z for v in row]
    assert flat[127] == 127 and flat[128] == 0                                 # the wrap is in the grid
    app.addr.value = "0xffffc90000010000"                         # page 16 = cell 4 with 4-page zones
    assert "node 4" in app.node.value and "outlined" in app.node.value
    assert "4-page zones are a vmaplab what-if" in app.node.value                # the kernel's zone is 16 pages
    app.zone.value = 16
    assert "what-if" not in app.node.value
    app.zone.value = 4
    (box,) = app.fig.layout.shapes
    assert (box.x0 + 0.5, box.y0 + 0.5) == (4, 0)
    app.addr.value = "0xffffd90000000000"
    assert "beyond the stretch" in app.node.value and not app.fig.layout.shapes
    app.addr.value = "not an address"
    assert "not a number" in app.node.value


def test_pools_app_shows_each_frame():
    demo = PoolsDemo()
    app = PoolsApp(demo)
    assert sum(map(sum, app.fig.data[0].z)) == 0
    app.slider.value = 5                                          # after the first purge: 24 VAs in node 0's pool 2
    assert app.fig.data[0].z[0][1] == 24 == demo.frames[5].pools[0][1]
    assert "purge_vmap_node 0: 24 lazy VA(s)" in app.log.value
    app.slider.value = len(demo.frames) - 2                       # the shrinker emptied every pool
    assert sum(map(sum, app.fig.data[0].z)) == 0 and "full decay" in app.log.value


def test_contention_app_reveals_up_to_the_cursor(pair):
    app = ContentionApp(pair, window_us=(0, 40), frames=40)
    def shown():
        return sum(len(tr.x) for tr in app.fig.data)
    full = shown()
    app.go(0)
    early = shown()
    assert 0 < early < full
    app.step.click()
    assert app.slider.value == 1 and shown() >= early
    assert app.describe(app.cursor).startswith("at ")
    # what is drawn never ends after the cursor
    assert all(b + x <= app.cursor / 1e3 + 1e-9 for tr in app.fig.data for b, x in zip(tr.base, tr.x))


def test_static_fallback_is_the_same_figure(pair):
    app = FreeTreeApp(FreeTreeDemo())
    app.slider.value = 9
    static = app.static()
    assert static.layout.title.text == app.fig.layout.title.text
    assert list(static.data[1].x) == list(app.fig.data[1].x)


def test_profile_tables_put_the_cover_letter_beside(pair):
    figs = profile_tables(pair, limit=5)
    cells = figs["6.8"].data[0].cells.values
    assert len(cells) == 5 and "native_queued_spin_lock_slowpath" in cells[0]
    # joined on the symbol: the row of the slow path holds both sides' numbers for it
    row = list(cells[0]).index("native_queued_spin_lock_slowpath")
    sim = {r["symbol"]: r for r in pair["6.8"].profile}["native_queued_spin_lock_slowpath"]
    assert cells[2][row] == f"{sim['self_pct']:.2f}%" and cells[4][row] == "93.07%"
    assert len(set(cells[0])) == len(cells[0])                               # one row per symbol


def test_what_if_runs_both_versions_and_redraws():
    app = WhatIfApp(scale=200000, nr_threads=4)
    app.nodes.value = 1
    res = app.run()
    assert set(res) == {"6.8", "6.9"} and len(app.fig.data) == 2          # no default run yet: no ghost
    assert list(app.fig.data[0].y) == [res["6.8"].wall_s, res["6.9"].wall_s]
    assert "6.9 nodes 1" in app.status.value and not app.run_button.disabled
    app.nodes.value, app.pool_limit.value = 4, 1              # pools only for 1-page VAs: the 2-page ones miss
    res = app.run()
    assert res["6.9"].allocator["pool_hits"] == 0 and "pools up to 1" in app.status.value


def test_what_if_keeps_the_default_run_as_a_ghost_and_links_threads_to_nodes():
    app = WhatIfApp(scale=200000, nr_threads=4)
    default = app.run()
    assert "the default settings" in app.status.value and len(app.fig.data) == 2
    app.threads.value = 2                                    # nodes followed the threads down ...
    assert app.nodes.value == 2 and app.nodes.max == 2
    app.threads.value = 6                                    # ... and up again
    assert app.nodes.value == 6
    app.nodes.value = 3
    app.threads.value = 4                                    # a node count set by hand stays, within bounds
    assert app.nodes.value == 3 and app.nodes.max == 4
    app.clear.value = 0.0
    app.run()
    names = [t.name for t in app.fig.data]
    assert names.count("default settings") == 2 and names.count("simulated") == 2
    ghost = [t for t in app.fig.data if t.name == "default settings"][0]
    assert list(ghost.y) == [default["6.8"].wall_s, default["6.9"].wall_s]
    assert all(t.text is not None and len(t.text) == 2 for t in app.fig.data)       # value labels
    assert app.changed() == {"6.9 nodes": 3, "clear_page ns": 0}
    assert "6.9 nodes 3, clear_page ns 0" in app.fig.layout.title.text and "grey" in app.fig.layout.title.text


def test_timeline_categories_have_colours(pair):
    for res in pair.values():
        for _cpu, _t0, _t1, state, label, lock in res.timeline:
            assert viz.category_colour(viz.timeline_state(state, label, lock)).startswith("#")


def test_exercise_app_checks_reveals_and_makes_a_new_problem():
    from vmaplab.course.exercises import make
    from vmaplab.course.widgets import ExerciseApp
    app = ExerciseApp("decay", seed=3)
    ex = make("decay", 3)
    assert app.feedback.value == "" and ex.answer not in app.feedback.value
    app.answer.value = "999"
    assert "Not" in app.feedback.value and "#c62828" in app.feedback.value
    app.answer.value = ex.answer
    assert "Right" in app.feedback.value and "#2e7d32" in app.feedback.value
    app.seed.value = 4
    assert app.answer.value == "" and app.feedback.value == "" and app.exercise == make("decay", 4)
    app.reveal()
    assert make("decay", 4).explanation.split(":")[0] in app.feedback.value


def test_quiz_reveal_draws_the_path_and_where_the_request_lands():
    app = QuizApp(seed=2)
    landing = app.fig.data[-1]
    assert len(landing.x) == 0 and "orange" not in app.answer.value          # nothing given away
    frame = app.quiz.demo.frames[-1]
    app.show_answer()
    assert "Answer:" in app.answer.value and frame.outcome in app.fig.layout.title.text
    if frame.result is not None:
        assert list(app.fig.data[-1].base) == [frame.result[0]]
    outlines = app.fig.data[1].marker.line.color
    assert "#ff9800" in outlines or "#2e7d32" in outlines


def _controls(widget):
    """Every control in a widget tree (what a learner can press, drag, type into or pick)."""
    import ipywidgets as W
    if isinstance(widget, W.Box):
        return [c for child in widget.children for c in _controls(child)]
    return [widget] if isinstance(widget, (W.ValueWidget, W.Button)) and not isinstance(widget, W.HTML) else []


def test_every_control_has_a_visible_label_or_a_tooltip(pair):
    """Issue 29: the Play widget's buttons are icons with no text, and a slider's visible label is not
    linked to its handle, so both say what they do in a tooltip; every other control has a label."""
    import ipywidgets as W
    apps = [FreeTreeApp(FreeTreeDemo()), PoolsApp(PoolsDemo()), QuizApp(), SegmentApp(),
            ContentionApp(pair, window_us=(0, 40), frames=10), WhatIfApp(scale=200000, nr_threads=4)]
    seen, unlabelled = set(), []
    for app in apps:
        for c in _controls(app.widget):
            seen.add(type(c).__name__)
            if isinstance(c, W.Play):          # its description is never drawn, and hides its tooltip
                ok = bool(c.tooltip) and not c.description
            elif isinstance(c, (W.IntSlider, W.FloatSlider)):
                ok = bool(c.tooltip)
            elif isinstance(c, W.ToggleButtons):
                ok = all(label.strip() for label in c._options_labels)
            else:
                ok = bool((c.description or "").strip() or c.tooltip)
            if not ok:
                unlabelled.append(f"{type(app).__name__}: {type(c).__name__} {c.description!r}")
    assert {"Play", "IntSlider", "FloatSlider", "Button", "Dropdown"} <= seen, seen
    assert unlabelled == []


def test_explain_app_steps_through_the_narration_and_the_address_space():
    """Issue 28, item 3: the ExplainApp runs typed calls, shows each call's narration (the explainer's,
    from the trace) and the address space after it; a bad list is reported and changes nothing shown."""
    from vmaplab.course.explain import explain
    from vmaplab.course.widgets import ExplainApp
    app = ExplainApp("a = vmalloc 8K cpu0\nvfree a cpu1\npurge\nb = vmalloc 8K cpu0", version="6.9")
    steps = explain("a = vmalloc 8K cpu0\nvfree a cpu1\npurge\nb = vmalloc 8K cpu0", "6.9", 2, 0)
    assert (app.slider.max, app.slider.value) == (4, 4)
    for i, st in enumerate(steps, 1):
        app.slider.value = i
        assert app.narration.value.count("\n") == len(st.lines) - 1
        assert st.lines[0].split("  =>")[0] in app.narration.value
        assert app.fig.layout.title.text.startswith(f"after call {i}:")
    app.slider.value = 2                    # after the vfree: one lazy area, none pooled
    names = {tr.name for tr in app.fig.data}
    assert any("lazy" in (n or "") for n in names), names
    shown = (app.slider.max, app.narration.value, len(app.fig.data))
    app.text.value = "vfree nobody"
    assert app.run() is False and "nobody" in app.error.value
    assert (app.slider.max, app.narration.value, len(app.fig.data)) == shown


def test_node_colours_tell_neighbours_apart_and_never_alone():
    """Issue 29, item 2: consecutive nodes never share a colour (the stepped scale, not Turbo), and a
    figure that colours by node also writes the node's number (colour is not the only cue)."""
    from vmaplab import Vmalloc
    from vmaplab.course import figures
    from vmaplab.course.lessons import address_cells
    assert all(figures.node_colour(i) != figures.node_colour(i + 1) for i in range(130))
    scale = figures.node_colorscale(32)
    z = address_cells(32, 16)
    fig = figures.address_cells_figure(z)
    assert fig.data[0].zmin == -0.5 and fig.data[0].zmax == 31.5
    for node in range(32):                      # the colour a cell of node k gets is node_colour(k)
        pos = (node + 0.5) / 32
        colour = next(c for (lo, c), (hi, _c) in zip(scale[::2], scale[1::2]) if lo <= pos <= hi)
        assert colour == figures.node_colour(node)
    assert fig.data[0].texttemplate == "%{text}"
    vm = Vmalloc(nr_cpus=4, version="6.9")
    for cpu in range(4):
        vm.vmalloc(4096 * 20, cpu=cpu)
    busy = next(tr for tr in figures.address_space_figure(vm).data if tr.name == "busy")
    lo = min(va.va_start for vn in vm.nodes for va in vn.busy)
    assert len(busy.text) == 4
    assert list(busy.text) == [str(vm.addr_to_node_id(lo + int(b) * 4096)) for b in busy.base]
    assert list(busy.marker.color) == [figures.node_colour(int(t)) for t in busy.text]


def test_every_app_says_under_its_figure_what_it_shows_now(pair):
    """Issue 29 item 2: a caption under each app's figure follows its controls, and is the figure's
    description (so the stored first view and the book say the same)."""
    app = FreeTreeApp()
    first = app.caption.value
    app.go(5)
    assert app.caption.value != first and f"Step {app.frames[5].step}" in app.caption.value
    assert viz.description(app.static()) in html.unescape(app.caption.value)
    pools = PoolsApp()
    pools.go(len(pools.frames) - 1)
    assert f"{pools.frames[-1].hits} pool hits" in pools.caption.value
    seg = SegmentApp(nr_cpus=8)
    seg.cpus.value = 16
    assert "16 CPUs give 16 vmap nodes" in seg.caption.value
    timeline = ContentionApp(pair, window_us=(0, 40), frames=10)
    before = timeline.caption.value
    timeline.go(2)
    assert timeline.caption.value != before and "spinning" in timeline.caption.value
    quiz = QuizApp(seed=3)
    assert "Step" in quiz.caption.value and "takes the block" not in quiz.caption.value    # not the answer
    quiz.show_answer()
    assert "takes the block" in quiz.caption.value
