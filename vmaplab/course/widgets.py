# SPDX-License-Identifier: MIT
"""ipywidgets apps for the notebooks: controls that choose a frame, FigureWidgets that draw it.

Each app holds a lesson model or simulator results from the core, a ``FigureWidget``
built from the same ``vmaplab.course.figures`` figure as the static fallback, and controls.
Callbacks only pick data and write it into the figure inside ``batch_update()``
(one comm message per step, not one per property). Animation uses ``Play``
``jslink``-ed to the step slider, so the clock runs in the browser and the kernel
only observes the slider. ``app.static()`` returns the plain figure of the
current state for readers without a kernel.

Invariants: an app never changes the model it shows (frames are immutable);
the figure always shows ``frames[slider.value]`` (or the cursor time).
"""
from __future__ import annotations

import html
import json
from dataclasses import replace

import ipywidgets as W
import plotly.graph_objects as go

from ..contention.costs import ContentionCosts
from ..contention.published import published
from ..contention.sim import ContentionSim
from ..workloads.costs import CostModel
from . import figures
from .lessons import FreeTreeDemo, PoolsDemo, address_cells, free_tree_quiz

# ipywidgets' Play draws three icon buttons with no text (and never its description): its tooltip, the
# title of the element that holds them, shown when the pointer rests on any of them, says what they do.
# ipywidgets sets that title only when the description is empty, so a Play has no description.
PLAY_TOOLTIP = "play the steps: play/pause, stop, repeat (the slider beside it shows the step)"


def _apply(fig: go.FigureWidget, traces: list[dict], first: int = 0) -> None:
    """Write trace dicts (as the figures helpers return them) into ``fig.data[first:]``, in order."""
    for trace, new in zip(fig.data[first:], traces):
        trace.update({k: v for k, v in new.items() if k != "type"})


def _display_with_fallback(widget: W.Widget, static: dict) -> None:
    """One output: the live widget's view, and ``static`` (mimetype -> data) for a stored notebook,
    where scripts/build_notebooks.py drops the view (no widget state is stored)."""
    from IPython.display import display
    display({"application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0,
                                                          "model_id": widget.model_id}, **static}, raw=True)


class App:
    """Base: ``widget`` is what Jupyter shows; ``static()`` the frozen figure of the current state."""

    widget: W.Widget
    fig: go.FigureWidget

    def _ipython_display_(self):
        """The live widget and, in the same output, the static figure of its first state: a
        notebook stored without widget state (scripts/build_notebooks.py drops the widget view)
        then shows the figure where the widget will be, not a repr."""
        _display_with_fallback(self.widget, {
            "application/vnd.plotly.v1+json": json.loads(self.static().to_json()),
            "text/plain": f"{type(self).__name__}: an interactive figure; run the notebook to use its controls"})

    def static(self) -> go.Figure:
        return go.Figure(self.fig)

    def _caption(self) -> W.HTML:
        """The line under the figure that says what it shows now (figures' descriptions, issue 29)."""
        self.caption = W.HTML(layout=W.Layout(max_width="900px"))
        return self.caption

    def _say(self, text: str) -> None:
        """Say what the figure now shows: in the caption under it, and as its description (the
        accessible name in the book, and the stored view's)."""
        self.fig.layout.meta = {"description": text}
        self.caption.value = f"<i>Figure: {html.escape(text)}</i>"


class Stepper(App):
    """Play + slider + back/next buttons over ``n`` frames, calling ``self.show(i)``."""

    def _controls(self, n: int, interval_ms: int = 1200) -> W.HBox:
        self.slider = W.IntSlider(value=0, min=0, max=n - 1, description="step", continuous_update=True,
                                  tooltip="the step shown (the arrow keys move it)")
        self.play = W.Play(value=0, min=0, max=n - 1, interval=interval_ms, tooltip=PLAY_TOOLTIP)
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.back = W.Button(description="◀ back", layout=W.Layout(width="90px"))
        self.next = W.Button(description="step ▶", layout=W.Layout(width="90px"))
        self.back.on_click(lambda _b: self.go(self.slider.value - 1))
        self.next.on_click(lambda _b: self.go(self.slider.value + 1))
        self.slider.observe(lambda ch: self.show(ch["new"]), "value")
        return W.HBox([self.play, self.slider, self.back, self.next])

    def go(self, i: int) -> None:
        self.slider.value = max(self.slider.min, min(self.slider.max, i))

    def show(self, i: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# ------------------------------------------------------------------------------- the free tree
class FreeTreeApp(Stepper):
    """Step through a ``FreeTreeDemo``: the search path before each step, the tree after it."""

    def __init__(self, demo: FreeTreeDemo | None = None):
        self.demo = demo or FreeTreeDemo()
        self.frames = self.demo.frames
        self.view = W.ToggleButtons(options=[("search (before)", "before"), ("result (after)", "after")],
                                    value="before")
        self.fig = go.FigureWidget(figures.free_tree_figure(self.frames[0], self.demo.pages, "before"))
        self.text = W.HTML()
        controls = self._controls(len(self.frames))
        self.view.observe(lambda _ch: self.show(self.slider.value), "value")
        self.widget = W.VBox([controls, self.view, self.fig, self._caption(), self.text])
        self.show(0)

    def show(self, i: int) -> None:
        frame = self.frames[i]
        which = self.view.value
        with self.fig.batch_update():
            _apply(self.fig, figures.free_tree_traces(frame, which) + figures.frame_strip_traces(frame, which, self.demo.pages))
            self.fig.layout.title.text = f"step {frame.step}: {frame.title}  →  {frame.outcome}"
            self.fig.layout.yaxis.range = figures.tree_y_range(frame, which)
            self._say(figures.free_tree_description(frame, self.demo.pages, which))
        self.text.value = (f"<b>{html.escape(frame.title)}</b>: {html.escape(frame.explain)}"
                           "<br><span style='color:#ff9800'>orange</span>: nodes the search stood on; "
                           "<span style='color:#2e7d32'>green</span>: the block chosen.")


class QuizApp(App):
    """OSTEP-style: a seeded free window and a request; the answer is shown on demand."""

    def __init__(self, seed: int = 0, pages: int = 32):
        self.pages = pages
        self.seed = W.BoundedIntText(value=seed, min=0, max=10**6, description="seed")
        self.new = W.Button(description="new problem")
        self.reveal = W.Button(description="reveal answer", button_style="info")
        self.question, self.answer = W.HTML(), W.HTML()
        self.fig = go.FigureWidget(figures.free_tree_figure(free_tree_quiz(seed, pages).demo.frames[-1], pages, "before"))
        self.new.on_click(lambda _b: self.load(self.seed.value + 1))
        self.reveal.on_click(lambda _b: self.show_answer())
        self.seed.observe(lambda ch: self.load(ch["new"]), "value")
        self.widget = W.VBox([W.HBox([self.seed, self.new, self.reveal]), self.question, self.fig, self._caption(),
                              self.answer])
        self.load(seed)

    def load(self, seed: int) -> None:
        if self.seed.value != seed:
            self.seed.value = seed            # observe() calls back here with the same seed
            return
        self.quiz = free_tree_quiz(seed, self.pages)
        frame = self.quiz.demo.frames[-1]
        with self.fig.batch_update():
            # the tree before the request, without the search path (that is the answer)
            blank = replace(frame, path=(), found=None, outcome="?", result=None)
            _apply(self.fig, figures.free_tree_traces(blank, "before") + figures.frame_strip_traces(blank, "before", self.pages))
            self.fig.layout.title.text = f"quiz, seed {seed}: where does the request land?"
            self.fig.layout.yaxis.range = figures.tree_y_range(frame, "before")
            self._say(figures.free_tree_description(blank, self.pages, "before"))
        self.question.value = "<pre>" + html.escape(self.quiz.question) + "</pre>"
        self.answer.value = ""

    def show_answer(self) -> None:
        """The answer in words, and in the figure: the search path, the chosen block, where it lands."""
        frame = self.quiz.demo.frames[-1]
        with self.fig.batch_update():
            _apply(self.fig, figures.free_tree_traces(frame, "before") + figures.frame_strip_traces(frame, "before", self.pages))
            self.fig.layout.title.text = f"quiz, seed {self.quiz.seed}: {frame.outcome} after reading {len(frame.path)} node(s)"
            self._say(figures.free_tree_description(frame, self.pages, "before"))
        self.answer.value = ("<b>Answer:</b> " + html.escape(self.quiz.answer) +
                             "<br><span style='color:#ff9800'>orange</span>: the nodes the search read; "
                             "<span style='color:#2e7d32'>green</span>: the block chosen and where the request lands.")


# ------------------------------------------------------------------------------- segment mapping
class SegmentApp(App):
    """A fixed grid of addresses coloured by node for a CPU count and zone size; addr_to_node_id of any
    address, its cell outlined in the grid."""

    def __init__(self, nr_cpus: int = 32, zone_pages: int = 16, nr_zones: int | None = None):
        # nr_zones: accepted for callers of the one-cell-per-zone grid; the grid now shows as many
        # address cells as it takes to see the zones wrap round (lessons.address_cells)
        self.cpus = W.IntSlider(value=nr_cpus, min=1, max=256, description="CPUs", continuous_update=False,
                                tooltip="the machine's CPUs: nr_vmap_nodes follows them, up to 128")
        self.zone = W.Dropdown(options=[4, 8, 16, 32, 64, 256], value=zone_pages, description="zone pages",
                               tooltip="the zone size in pages: consecutive zones go to consecutive nodes")
        self.addr = W.Text(value="0xffffc90000123000", description="address",
                           tooltip="any address in the vmalloc space, in hex: its zone and node are shown")
        self.node = W.HTML()
        self.fig = go.FigureWidget(figures.address_cells_figure(address_cells(nr_cpus, zone_pages), self._addr()))
        for w in (self.cpus, self.zone, self.addr):
            w.observe(lambda _ch: self.update(), "value")
        self.widget = W.VBox([W.HBox([self.cpus, self.zone]), W.HBox([self.addr, self.node]), self.fig, self._caption()])
        self.update()

    def _addr(self) -> int | None:
        try:
            addr = int(self.addr.value, 0)
        except ValueError:
            return None
        return addr if addr >= 0 else None

    def update(self) -> None:
        z = address_cells(self.cpus.value, self.zone.value)
        fresh = figures.address_cells_figure(z, self._addr())
        with self.fig.batch_update():
            self.fig.data[0].update(z=fresh.data[0].z, text=fresh.data[0].text, hovertext=fresh.data[0].hovertext,
                                    zmax=fresh.data[0].zmax, texttemplate=fresh.data[0].texttemplate,
                                    colorscale=fresh.data[0].colorscale)
            self.fig.layout.shapes = fresh.layout.shapes
            self.fig.layout.title.text = fresh.layout.title.text
            self.fig.layout.height = fresh.layout.height
            self.fig.layout.yaxis.tickvals = fresh.layout.yaxis.tickvals
            self.fig.layout.yaxis.ticktext = fresh.layout.yaxis.ticktext
            self._say(figures.description(fresh))
        self.node.value = self.describe(z)

    def describe(self, z: dict) -> str:
        try:
            addr = int(self.addr.value, 0)
        except ValueError:
            return "<span style='color:#d32f2f'>not a number: type an address like 0xffffc90000123000</span>"
        if addr < 0:
            return "<span style='color:#d32f2f'>addresses are unsigned</span>"
        zone = addr // z["zone_size"]
        node = zone % z["nr_vmap_nodes"]
        shown = self.fig.layout.shapes
        where = " (outlined in the grid)" if shown else " (beyond the stretch the grid shows)"
        whatif = ("" if z["zone_pages"] == 16 else
                  f"<br>&nbsp;<i>{z['zone_pages']}-page zones are a vmaplab what-if: the kernel's are 16 pages</i>")
        return (f"&nbsp;zone {zone:#x} → <code>addr_to_node_id</code> = ({addr:#x} / {z['zone_size']:#x}) % "
                f"{z['nr_vmap_nodes']} = <b>node {node}</b>{where}{whatif}")


# ------------------------------------------------------------------------------- pools
class PoolsApp(Stepper):
    """Step through a ``PoolsDemo``: every node's pools, the hit rate, the decay and purge log."""

    def __init__(self, demo: PoolsDemo | None = None):
        self.demo = demo or PoolsDemo()
        self.frames = self.demo.frames
        self.fig = go.FigureWidget(figures.pools_figure(self.frames[0]))
        self.log = W.HTML()
        controls = self._controls(len(self.frames), interval_ms=1500)
        self.widget = W.VBox([controls, self.fig, self._caption(), self.log])
        self.show(0)

    def show(self, i: int) -> None:
        frame = self.frames[i]
        with self.fig.batch_update():
            _apply(self.fig, [figures.pools_heatmap_trace(frame)])
            self.fig.layout.title.text = figures.pools_title(frame)
            self._say(figures.pools_description(frame))
        lines = frame.events or ("(no purge, decay or shrinker work in this step)",)
        self.log.value = "<pre>" + "\n".join(html.escape(e) for e in lines) + "</pre>"


# ------------------------------------------------------------------------------- contention
class ContentionApp(App):
    """The two versions' timelines, one row per CPU, revealed up to a cursor you play or step."""

    def __init__(self, results: dict, window_us: tuple = (100, 160), frames: int = 120):
        self.results = results
        self.lo, self.hi = window_us[0] * 1e3, window_us[1] * 1e3
        self.times = [self.lo + (self.hi - self.lo) * i / frames for i in range(1, frames + 1)]
        self.fig = go.FigureWidget(figures.timeline_figure(results, self.lo, self.hi))
        self.index = {(tr.xaxis, tr.name): i for i, tr in enumerate(self.fig.data)}
        self.slider = W.IntSlider(value=frames - 1, min=0, max=frames - 1, description="time",
                                  tooltip="the moment shown, as a frame of the window (the arrow keys move it)")
        self.play = W.Play(value=frames - 1, min=0, max=frames - 1, interval=250, tooltip=PLAY_TOOLTIP)
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.step = W.Button(description="step ▶", layout=W.Layout(width="90px"))
        self.step.on_click(lambda _b: self.go(self.slider.value + 1))
        self.width = W.FloatSlider(value=(self.hi - self.lo) / 1e3, min=2.0, max=(self.hi - self.lo) / 1e3, step=1.0,
                                   description="window µs", continuous_update=False,
                                   tooltip="how many microseconds before the moment shown the timeline covers")
        self.state = W.HTML()
        self.slider.observe(lambda _ch: self.show(), "value")
        self.width.observe(lambda _ch: self.show(), "value")
        self.widget = W.VBox([W.HBox([self.play, self.slider, self.step, self.width]), self.state, self.fig,
                              self._caption()])
        self.show()

    def go(self, i: int) -> None:
        self.slider.value = max(0, min(self.slider.max, i))

    @property
    def cursor(self) -> float:
        return self.times[self.slider.value]

    def show(self) -> None:
        cur = self.cursor
        lo = max(self.lo, cur - self.width.value * 1e3)
        with self.fig.batch_update():
            for row, version in enumerate(self.results):
                axis = "x" if row == 0 else f"x{row + 1}"
                fresh = {tr["name"]: tr for tr in figures.timeline_traces(self.results[version].timeline, lo, self.hi, cur)}
                for (ax, name), i in self.index.items():
                    if ax == axis:
                        new = fresh.get(name, {"y": [], "base": [], "x": [], "hovertext": []})
                        self.fig.data[i].update(y=new["y"], base=new["base"], x=new["x"], hovertext=new["hovertext"])
            for r in range(len(self.results)):
                self.fig.layout[f"xaxis{r + 1 if r else ''}"].range = [lo / 1e3, max(cur, lo + 1e3) / 1e3]
            self._say(figures.timeline_description(self.results, lo, self.hi, cur))
        self.state.value = self.describe(cur)

    def describe(self, t: float) -> str:
        """What the CPUs of each version are doing at time ``t``: counts per state category."""
        parts = []
        for version, res in self.results.items():
            counts: dict[str, int] = {}
            for _cpu, t0, t1, state, label, lock in res.timeline:
                if t0 <= t < t1:
                    cat = figures.timeline_state(state, label, lock)
                    counts[cat] = counts.get(cat, 0) + 1
            desc = ", ".join(f"{n} {figures.category_name(cat)}" for cat, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            parts.append(f"<b>{version}</b>: {desc or 'no CPU recorded'}")
        return f"at {t / 1e3:.2f} µs — " + " &nbsp;|&nbsp; ".join(parts)


def profile_tables(results: dict, limit: int = 14) -> dict[str, go.Figure]:
    """Per version, the simulated perf-like table beside the cover letter's."""
    pub = published()
    return {v: figures.profile_table_figure(res.profile, pub[v]["profile"], f"Linux {v}: simulated vs cover letter", limit)
            for v, res in results.items()}


class WhatIfApp(App):
    """Change one thing (threads, nodes, zone size, pools and their size limit, page clearing cost, lock kind)
    and rerun both versions; the first run (the defaults) stays beside every later one as a grey ghost."""

    def __init__(self, scale: int = 20000, nr_threads: int = 32):
        self.scale = scale
        wide = {"description_width": "initial"}
        self.threads = W.IntSlider(value=nr_threads, min=1, max=64, description="threads", continuous_update=False,
                                   tooltip="test_vmalloc's worker threads")
        self.nodes = W.IntSlider(value=nr_threads, min=1, max=nr_threads, description="6.9 nodes",
                                 continuous_update=False, tooltip="6.9's nr_vmap_nodes (at most the threads)")
        self.zone = W.Dropdown(options=[1, 4, 16, 64, 256], value=16, description="zone pages", style=wide)
        self.pools = W.Checkbox(value=True, description="6.9 pools")
        self.pool_limit = W.Dropdown(options=[1, 2, 4, 16, 64, 256], value=256, description="pools up to",
                                     tooltip="the largest VA size (pages) pooled: MAX_VA_SIZE_PAGES", style=wide)
        self.clear = W.FloatSlider(value=CostModel().clear_page_ns, min=0.0, max=500.0, step=10.0,
                                   description="clear_page ns", continuous_update=False, style=wide,
                                   tooltip="what clearing one page costs, in ns")
        self.policy = W.Dropdown(options=["fifo", "tas"], value="fifo", description="spinlock")
        self.run_button = W.Button(description="run both versions", button_style="primary")
        self.status = W.HTML()
        self.results: dict = {}
        self.baseline: dict | None = None          # the defaults' run, the ghost every later run is shown beside
        self.defaults = self.settings()
        self.fig = go.FigureWidget(figures.wall_figure({}, None))
        self.run_button.on_click(lambda _b: self.run())
        self.threads.observe(self._threads_changed, "value")
        self.widget = W.VBox([W.HBox([self.threads, self.nodes, self.zone]),
                              W.HBox([self.pools, self.pool_limit, self.clear]), W.HBox([self.policy, self.run_button]),
                              self.status, self.fig, self._caption()])
        self._say(figures.description(self.fig))

    def _threads_changed(self, change) -> None:
        """6.9 makes one node per CPU (here threads = CPUs): the node count follows the thread count
        when it was at its maximum, and can never exceed it."""
        following = self.nodes.value == change["old"]
        self.nodes.max = change["new"]
        if following:
            self.nodes.value = change["new"]

    def settings(self) -> dict:
        return {"threads": self.threads.value, "6.9 nodes": self.nodes.value, "zone pages": self.zone.value,
                "pools": "on" if self.pools.value else "off", "pools up to": self.pool_limit.value,
                "clear_page ns": round(self.clear.value), "spinlock": self.policy.value}

    def changed(self) -> dict:
        """The settings that differ from the defaults (threads moving nodes with it counts once)."""
        now = self.settings()
        out = {k: v for k, v in now.items() if v != self.defaults[k]}
        if "threads" in out and out.get("6.9 nodes") == out["threads"]:
            del out["6.9 nodes"]
        return out

    def costs(self) -> ContentionCosts:
        base = ContentionCosts()
        return base.with_(calls=replace(base.calls, clear_page_ns=self.clear.value))

    def run(self) -> dict:
        n = self.threads.value
        nodes = min(self.nodes.value, n)
        self.run_button.disabled = True
        self.run_button.description = "running…"
        self.status.value = f"running 6.8 and 6.9 with {n} threads at scale {self.scale}…"
        try:
            common = dict(nr_threads=n, scale=self.scale, costs=self.costs(), policy=self.policy.value,
                          params={"run_test_mask": 7})
            self.results = {"6.8": ContentionSim("6.8", **common).run(),
                            "6.9": ContentionSim("6.9", nr_vmap_nodes=nodes, vmap_zone_size_pages=self.zone.value,
                                                 pools=self.pools.value, max_va_size_pages=self.pool_limit.value,
                                                 **common).run()}
        finally:
            self.run_button.disabled = False
            self.run_button.description = "run both versions"
        changed = self.changed()
        if self.baseline is None and not changed:
            self.baseline = {v: {"wall_s": r.wall_s, "slowpath_self_pct": r.slowpath_self_pct}
                             for v, r in self.results.items()}
        fresh = figures.wall_figure(self.results, self.baseline if changed else None, "default settings")
        what = ", ".join(f"{k} {v}" for k, v in changed.items()) or "the default settings"
        fresh.update_layout(title=f"this run: {what}" + ("" if not changed or self.baseline is None
                                                         else " (grey: the defaults)"))
        with self.fig.batch_update():
            self.fig.data = []
            self.fig.add_traces(list(fresh.data), rows=[1] * len(fresh.data),
                                cols=[1, 2] * (len(fresh.data) // 2))
            self.fig.layout = fresh.layout
            self._say(figures.description(fresh))
        a, b = self.results["6.8"], self.results["6.9"]
        self.status.value = (f"{what}: 6.8 {a.wall_s:.1f} s ({a.slowpath_self_pct:.1f}% spinning), "
                             f"6.9 {b.wall_s:.1f} s ({b.slowpath_self_pct:.1f}%), ratio {a.wall_s / b.wall_s:.1f}×")
        return self.results


class ExerciseApp:
    """A seeded exercise (``vmaplab.course.exercises``): a seed box makes a new problem, the
    learner types an answer and checks it, and the solution shows only on demand."""

    def __init__(self, kind: str, seed: int = 0):
        from .exercises import make
        self._make = make
        self.kind = kind
        self.seed = W.BoundedIntText(value=seed, min=0, max=2 ** 31 - 1, description="problem",
                                     layout=W.Layout(width="170px"))
        self.question = W.HTML()
        self.answer = W.Text(placeholder="your answer", description="answer", continuous_update=False)
        self.check_button = W.Button(description="check", button_style="primary")
        self.reveal_button = W.Button(description="show the solution")
        self.feedback = W.HTML()
        self.save_button = W.Button(description="save progress",
                                    tooltip="write progress.json (every exercise checked in this session) and "
                                            "offer it as a download; `vmaplab exercises --verify progress.json` scores it")
        self.saved = W.HTML()
        self.seed.observe(lambda ch: self.new(ch["new"]), "value")
        self.check_button.on_click(lambda _b: self.check())
        self.answer.observe(lambda _ch: self.check(), "value")          # Enter in the box checks too
        self.reveal_button.on_click(lambda _b: self.reveal())
        self.save_button.on_click(lambda _b: self.save())
        self.widget = W.VBox([self.seed, self.question, W.HBox([self.answer, self.check_button, self.reveal_button]),
                              self.feedback, W.HBox([self.save_button, self.saved])])
        self.new(seed)

    def new(self, seed: int) -> None:
        self.exercise = self._make(self.kind, seed)
        self.question.value = f"<pre style='white-space:pre-wrap'>{html.escape(self.exercise.question)}</pre>"
        self.answer.value = ""
        self.feedback.value = ""

    def check(self) -> None:
        from .scorecard import CARD
        verdict = self.exercise.check(self.answer.value)
        if self.answer.value.strip():           # a cleared box (a new problem) is not an attempt
            CARD.checked(self.kind, self.exercise.seed, self.answer.value, verdict.correct)
        colour = "#2e7d32" if verdict.correct else "#c62828"
        self.feedback.value = f"<span style='color:{colour}'>{html.escape(verdict.message)}</span>"

    def reveal(self) -> None:
        from .scorecard import CARD
        CARD.revealed(self.kind, self.exercise.seed)
        self.feedback.value = (f"<b>Solution:</b><pre style='white-space:pre-wrap'>"
                               f"{html.escape(self.exercise.solution)}</pre>")

    def save(self, path: str = "progress.json") -> str:
        """Write the session's card beside the notebook and link it as a download (a data URI: it works
        in JupyterLab and in the browser site alike); returns the card's text."""
        import base64

        from .scorecard import CARD, save
        text = CARD.to_json()
        try:
            where = f"written to {html.escape(str(save(CARD, path)))}; "
        except OSError as e:                    # a read-only folder: the download still works
            where = f"not written ({html.escape(e.strerror or str(e))}); "
        data = base64.b64encode(text.encode()).decode()
        self.saved.value = (f"{where}<a download='progress.json' href='data:application/json;base64,{data}'>"
                            f"download progress.json</a> ({len(CARD.entries)} exercise(s))")
        return text

    def _ipython_display_(self):
        """The live widget; a stored notebook shows the question (never the answer) in its place."""
        text = f"Exercise ({self.kind}, problem {self.seed.value}):\n{self.exercise.question}"
        _display_with_fallback(self.widget, {
            "text/html": f"<pre style='white-space:pre-wrap'>{html.escape(text)}\n\n(run the notebook to "
                         f"answer it and check)</pre>",
            "text/plain": text})


# ------------------------------------------------------------------------------- explainer
EXPLAIN_OPS = "a = vmalloc 8K cpu0\nvfree a cpu1\npurge\nb = vmalloc 8K cpu0\nc = vmalloc 8K cpu1"


class ExplainApp(App):
    """Type calls (``vmaplab explain``'s grammar), run them on a fresh machine of the chosen kernel,
    then step through them: each call's narration, read from the model's trace (vmaplab.course.explain),
    and the address space after it (busy, lazy and pooled areas by node, and the free blocks)."""

    def __init__(self, ops: str = EXPLAIN_OPS, version: str = "6.9", nr_cpus: int = 2, seed: int = 0):
        from ..kernel.generations import VERSIONS
        from .explain import GRAMMAR
        self.seed = seed
        self.text = W.Textarea(value=ops, rows=7, description="calls", layout=W.Layout(width="420px"),
                               tooltip=GRAMMAR)
        self.version = W.Dropdown(options=list(VERSIONS), value=version, description="kernel",
                                  tooltip="the kernel generation whose model runs the calls")
        self.cpus = W.BoundedIntText(value=nr_cpus, min=1, max=64, description="CPUs", layout=W.Layout(width="170px"))
        self.run_button = W.Button(description="run", button_style="primary", tooltip="run the calls on a fresh machine")
        self.slider = W.IntSlider(value=1, min=1, max=1, description="call",
                                  tooltip="the call shown: its narration and the address space after it")
        self.error = W.HTML()
        self.narration = W.HTML()
        self.fig = go.FigureWidget()
        self.run_button.on_click(lambda _b: self.run())
        self.slider.observe(lambda ch: self.show(ch["new"]), "value")
        self.widget = W.VBox([W.HBox([self.text, W.VBox([self.version, self.cpus, self.run_button])]),
                              self.error, self.slider, self.narration, self.fig, self._caption()])
        self.steps: list = []
        self.figures: list = []
        self.run()

    def run(self) -> bool:
        """Run the calls; on a bad list say why and keep what was shown (returns False)."""
        from .explain import Explainer, ExplainError, parse_ops
        try:
            ops = parse_ops(self.text.value, self.cpus.value)
            ex = Explainer(self.version.value, self.cpus.value, self.seed)
            steps, figs = [], []
            for op in ops:
                steps.append(ex.run(op))
                figs.append(figures.address_space_figure(ex.vm))
        except ExplainError as e:
            self.error.value = f"<span style='color:#c62828'>{html.escape(str(e))}</span>"
            return False
        self.error.value = ""
        self.steps, self.figures = steps, figs
        self.slider.max = len(steps)
        self.slider.value = len(steps)
        self.show(len(steps))
        return True

    def show(self, i: int) -> None:
        if not self.steps:
            return
        step = self.steps[i - 1]
        self.narration.value = "<pre style='white-space:pre-wrap'>" + html.escape("\n".join(step.lines)) + "</pre>"
        new = self.figures[i - 1]
        with self.fig.batch_update():
            self.fig.data = []
            self.fig.add_traces(list(new.data))
            self.fig.layout = new.layout
            self.fig.layout.title.text = f"after call {i}: {step.op.text}"
            self._say(f"After call {i}, {step.op.text}: {figures.description(new)}")
