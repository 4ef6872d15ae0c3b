# SPDX-License-Identifier: MIT
"""Plotly figures of the core's state and records: the static views every widget also falls back to.

Reads only the core's public API and its plain records (``vmaplab.course.lessons`` frames,
``Vmalloc`` nodes and trees, ``SimResult`` and its timeline tuples); draws, never
computes allocator behaviour. Each ``*_figure`` returns a fresh ``go.Figure``;
each ``*_traces`` helper returns the trace data a widget writes into its
``FigureWidget`` inside ``batch_update()``, so the static figure and the live
widget show exactly the same thing.

Invariants: the same input draws the same figure (no randomness, no time);
colours are fixed per node id, per lock and per CPU state, so two figures can be
compared side by side.
"""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..kernel.config import PAGE_SIZE
from ..kernel.locks import LockId

# Nodes: Okabe-Ito's seven hues and a grey, in an order where neighbours differ in lightness too (a
# colour-blind reader tells node i from node i+1 without hue); they repeat every 8 nodes, so every
# figure that colours by node also writes the node's number on it (colour is never the only cue).
NODE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"]
# Okabe-Ito, a colour-blind-safe palette: one hue per lock, solid while holding it, the same hue
# hatched while spinning on it; CPU work in greys, IPIs in black
STATE_COLOURS = {
    "work": "#bbbbbb",                    # running allocator code outside any lock
    "page work": "#777777",               # allocating, clearing, mapping, unmapping, freeing pages
    "IPI": "#000000",                     # a TLB-flush interrupt
}
LOCK_COLOURS = {                          # (spinning on, holding): the same hue, told apart by the hatch
    "free_vmap_area_lock": ("#D55E00", "#D55E00"),
    "vmap_area_lock": ("#CC79A7", "#CC79A7"),
    "purge_vmap_area_lock": ("#E69F00", "#E69F00"),
    "busy.lock": ("#0072B2", "#0072B2"),
    "lazy.lock": ("#009E73", "#009E73"),
    "pool_lock": ("#56B4E9", "#56B4E9"),
    "vmap_purge_lock": ("#F0E442", "#F0E442"),
}
PAGE_WORK = {"pages.alloc", "pages.clear", "pages.map", "pages.unmap", "pages.free"}
LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=40))


def node_colour(node: int) -> str:
    return NODE_COLOURS[node % len(NODE_COLOURS)]


def node_colorscale(nr_nodes: int) -> list:
    """A stepped colour scale for a heatmap of node ids 0..nr_nodes-1 (zmin 0, zmax nr_nodes-1): each
    node's cell gets ``node_colour(node)``, so consecutive nodes never share a colour, as a continuous
    scale's neighbours nearly do."""
    n = max(nr_nodes, 2)
    scale = []
    for node in range(n):
        lo, hi = node / n, (node + 1) / n
        scale += [[lo, node_colour(node)], [hi, node_colour(node)]]
    return scale


def _lock_family(lock: str) -> str:
    """Per-node locks are named ``vn[i].busy.lock`` etc.: colour them by kind, not by node (an unknown name is refused)."""
    return LockId.parse(lock).family


# ------------------------------------------------------------------------------- free tree
def free_tree_traces(frame, which: str = "after") -> list[dict]:
    """Edges, nodes and the search path of a ``TreeFrame`` (``which``: "before" or "after")."""
    nodes = frame.before if which == "before" else frame.after
    ex, ey = [], []
    for n in nodes:
        if n["parent"] is not None:
            p = nodes[n["parent"]]
            ex += [p["x"], n["x"], None]
            ey += [-p["depth"], -n["depth"], None]
    on_path = set(frame.path) if which == "before" else set()
    edge = dict(type="scatter", x=ex, y=ey, mode="lines", line=dict(color="#888"), hoverinfo="skip",
                name="tree links", showlegend=False)
    text = [f"[{n['start']}, {n['end']})<br>max {n['smax']}" for n in nodes]
    colour = ["#d32f2f" if n["red"] else "#212121" for n in nodes]
    outline = ["#2e7d32" if which == "before" and n["x"] == frame.found else
               "#ff9800" if n["x"] in on_path else "#ffffff" for n in nodes]
    dots = dict(type="scatter", x=[n["x"] for n in nodes], y=[-n["depth"] for n in nodes], mode="markers+text",
                text=text, textposition="bottom center", name="free block (orange ring: searched, green: chosen)",
                marker=dict(size=22, color=colour, line=dict(width=4, color=outline)),
                hovertext=[f"free [{n['start']}, {n['end']}) pages, subtree_max_size {n['smax']} pages"
                           for n in nodes], hoverinfo="text")
    return [edge, dots]


def strip_traces(busy, free, pages: int) -> list[dict]:
    """Busy ranges (``(start, end, label)``) and free ranges (``(start, end)``) on one address line."""
    free = [(s, min(e, pages)) for s, e in free if s < pages]
    return [dict(type="bar", orientation="h", y=["window"] * len(free), base=[s for s, _ in free],
                 x=[e - s for s, e in free], marker=dict(color="#e0e0e0", line=dict(color="#9e9e9e", width=1)),
                 name="free", hovertext=[f"free [{s}, {e})" for s, e in free], hoverinfo="text"),
            dict(type="bar", orientation="h", y=["window"] * len(busy), base=[s for s, _e, _l in busy],
                 x=[e - s for s, e, _l in busy], text=[lab for _s, _e, lab in busy], textposition="inside",
                 marker=dict(color="#1565c0"), name="allocated",
                 hovertext=[f"{lab}: [{s}, {e})" for s, e, lab in busy], hoverinfo="text")]


def frame_strip_traces(frame, which: str, pages: int) -> list[dict]:
    """The address line of a ``TreeFrame`` before or after its step, and where the step's range is
    (the request landing, or the range freed): a third trace, empty when there is none."""
    nodes, busy = (frame.before, frame.busy_before) if which == "before" else (frame.after, frame.busy)
    traces = strip_traces(busy, [(n["start"], n["end"]) for n in nodes], pages)
    r = frame.result if frame.kind in ("alloc", "free") else None
    what = "the request lands here" if frame.kind == "alloc" else "the range freed"
    traces.append(dict(type="bar", orientation="h", y=["window"] if r else [], base=[r[0]] if r else [],
                       x=[r[1] - r[0]] if r else [], name=what if r else "this step's range",
                       marker=dict(color="rgba(0,0,0,0)", line=dict(color="#009E73", width=4)),
                       hovertext=[f"{what}: [{r[0]}, {r[1]})"] if r else [], hoverinfo="text"))
    return traces


def free_tree_figure(frame, pages: int, which: str = "before") -> go.Figure:
    """The free tree (search path in orange, chosen block in green, each node's free range and
    ``subtree_max_size``) over the window's address line, with a legend for both."""
    fig = make_subplots(rows=2, cols=1, row_heights=[0.74, 0.26], vertical_spacing=0.1,
                        subplot_titles=("free_vmap_area_root: free blocks [start, end), max = subtree_max_size "
                                        "(pages); red/black: the node's colour",
                                        "the window, in pages"))
    _fill_tree_figure(fig, frame, pages, which)
    fig.update_layout(**LAYOUT, height=540, barmode="overlay",
                      legend=dict(orientation="h", y=-0.12, x=0, title_text=""))
    fig.update_xaxes(visible=False, row=1, col=1)
    fig.update_yaxes(visible=False, row=1, col=1)
    fig.update_xaxes(range=[0, pages], title_text="page", row=2, col=1)
    fig.update_yaxes(visible=False, row=2, col=1)
    return described(fig, free_tree_description(frame, pages, which))


def _fill_tree_figure(fig, frame, pages: int, which: str) -> None:
    for tr in free_tree_traces(frame, which):
        fig.add_trace(go.Scatter(**{k: v for k, v in tr.items() if k != "type"}), row=1, col=1)
    for tr in frame_strip_traces(frame, which, pages):
        fig.add_trace(go.Bar(**{k: v for k, v in tr.items() if k != "type"}), row=2, col=1)
    fig.update_layout(title=f"step {frame.step}: {frame.title}  →  {frame.outcome}")
    fig.update_yaxes(range=tree_y_range(frame, which), row=1, col=1)


def tree_y_range(frame, which: str) -> list[float]:
    """Room below the deepest node for its two lines of text (plotly's autorange ignores text)."""
    nodes = frame.before if which == "before" else frame.after
    depth = max((n["depth"] for n in nodes), default=0)
    return [-(depth + 0.9), 0.4]


# ------------------------------------------------------------------------------- segments
def zone_grid(z: dict, width: int = 16) -> tuple[list, list]:
    """The zone → node list of ``lessons.zone_nodes`` as rows of ``width`` zones (heatmap z and text)."""
    ids = z["node"]
    rows = [ids[i:i + width] for i in range(0, len(ids), width)]
    text = [[str(v) for v in row] for row in rows]
    return rows, text


def zone_figure(z: dict, width: int = 16) -> go.Figure:
    """Each zone of ``zone_pages`` pages coloured by the node that owns its busy and lazy VAs."""
    rows, text = zone_grid(z, width)
    fig = go.Figure(go.Heatmap(z=rows, text=text, texttemplate="%{text}", colorscale=node_colorscale(z["nr_vmap_nodes"]),
                               showscale=False,
                               zmin=-0.5, zmax=max(z["nr_vmap_nodes"], 2) - 0.5, xgap=2, ygap=2,
                               hovertemplate="zone %{y}×" + str(width) + "+%{x}: node %{z}<extra></extra>"))
    fig.update_layout(**LAYOUT, height=140 + 28 * len(rows), title=zone_title(z))
    fig.update_yaxes(autorange="reversed", title_text=f"zones, {width} a row")
    fig.update_xaxes(title_text="zone in row")
    return described(fig, _say_zones(z))


def zone_title(z: dict) -> str:
    capped = " (capped at 128)" if z["nr_cpus"] > z["cap"] else ""
    return (f"{z['nr_cpus']} CPUs → nr_vmap_nodes = {z['nr_vmap_nodes']}{capped}; zone = {z['zone_pages']} pages "
            f"({z['zone_size'] // 1024} KiB)")


def address_cells_figure(c: dict, addr: int | None = None) -> go.Figure:
    """``lessons.address_cells`` as a grid: each cell a fixed stretch of addresses coloured by its node
    (the colour bar names the nodes), the cell holding ``addr`` outlined."""
    per, cell = c["per_row"], c["cell_pages"]
    ids = c["node"]
    rows = [ids[i:i + per] for i in range(0, len(ids), per)]
    kib = cell * PAGE_SIZE // 1024
    hover = [[f"{c['start'] + (r * per + k) * cell * PAGE_SIZE:#x}: pages {(r * per + k) * cell}-"
              f"{(r * per + k + 1) * cell - 1} from VMALLOC_START, node {v}" for k, v in enumerate(row)]
             for r, row in enumerate(rows)]
    fig = go.Figure(go.Heatmap(z=rows, text=[[str(v) for v in row] for row in rows],
                               texttemplate="%{text}" if c["nr_vmap_nodes"] <= 64 and len(rows) <= 24 else "",
                               colorscale=node_colorscale(c["nr_vmap_nodes"]), zmin=-0.5,
                               zmax=max(c["nr_vmap_nodes"], 2) - 0.5, xgap=1, ygap=1,
                               hovertext=hover, hoverinfo="text", showscale=False))
    if addr is not None:
        k = (addr - c["start"]) // (cell * PAGE_SIZE)
        if 0 <= k < len(ids):
            fig.add_shape(type="rect", x0=k % per - 0.5, x1=k % per + 0.5, y0=k // per - 0.5, y1=k // per + 0.5,
                          line=dict(color="black", width=3))
    capped = " (capped at 128)" if c["nr_cpus"] > c["cap"] else ""
    wrap = "; node 0 comes round again" if c["wraps"] else ""
    fig.update_layout(**LAYOUT, height=170 + 18 * len(rows),
                      title=f"{c['nr_cpus']} CPUs → nr_vmap_nodes = {c['nr_vmap_nodes']}{capped}<br><sub>zones of "
                            f"{c['zone_pages']} pages = {c['zone_pages'] // cell} cells of one colour{wrap}</sub>")
    fig.update_yaxes(autorange="reversed", tickvals=list(range(len(rows)))[::max(1, len(rows) // 8)],
                     ticktext=[f"+{r * per * cell * PAGE_SIZE // 1024} KiB" for r in range(len(rows))][::max(1, len(rows) // 8)],
                     title_text="from VMALLOC_START")
    fig.update_xaxes(title_text=f"cell = {cell} pages ({kib} KiB) of addresses, {per} a row")
    return described(fig, cells_description(c, addr))


def node_balance_figure(rows: list[dict]) -> go.Figure:
    """Busy areas per node (``lessons.busy_by_node``): as 6.9 shards them, by address, beside where
    they would be if each were recorded in its allocating CPU's node."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[r["node"] for r in rows], y=[r["areas"] for r in rows], name="sharded by address (6.9)",
                         marker_color="#0072B2", text=[r["areas"] for r in rows], textposition="outside",
                         hovertext=[f"node {r['node']}: {r['areas']} areas, {r['pages']} pages" for r in rows],
                         hoverinfo="text"))
    if all("by_cpu" in r for r in rows):
        fig.add_trace(go.Bar(x=[r["node"] for r in rows], y=[r["by_cpu"] for r in rows],
                             name="if recorded by the allocating CPU", marker_color="#D55E00",
                             text=[r["by_cpu"] for r in rows], textposition="outside",
                             hovertext=[f"node {r['node']}: {r['by_cpu']} areas allocated by its CPU" for r in rows],
                             hoverinfo="text"))
    fig.update_layout(**LAYOUT, height=320, barmode="group", title="busy areas per vmap node",
                      xaxis_title="vmap node", yaxis_title="busy areas", xaxis=dict(dtick=1))
    return described(fig, _say_balance(rows))


def routing_figure(d: dict) -> go.Figure:
    """The three routing rules side by side (``lessons.routing_demo``): the busy tree by address,
    the lazy tree and the pools by owner, each panel's bars per vmap node, with the lock holds the
    vfrees took; the title says what the pool lookups by the current CPU found."""
    rows, look = d["rows"], d["lookups"]
    a, f = d["alloc_cpu"], d["free_cpu"]
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, subplot_titles=(
        "busy tree: by address", f"lazy tree: by owner (CPU {a}'s node)", f"pools: by owner (CPU {a}'s node)"))
    nodes = [r["node"] for r in rows]
    panels = (("busy", "busy_locks", "busy areas", f"vfree's busy-lock holds (CPU {f})"),
              ("lazy", "lazy_locks", "lazy areas", f"vfree's lazy-lock holds (CPU {f})"),
              ("pooled", None, "pooled areas after the purge", None))
    for col, (key, locks, name, lock_name) in enumerate(panels, 1):
        fig.add_trace(go.Bar(x=nodes, y=[r[key] for r in rows], name=name, marker_color=node_colour(col - 1),
                             text=[r[key] for r in rows], textposition="outside", showlegend=True,
                             hovertext=[f"node {r['node']}: {r[key]} {name}" for r in rows], hoverinfo="text"),
                      row=1, col=col)
        if locks:
            fig.add_trace(go.Scatter(x=nodes, y=[r[locks] for r in rows], mode="markers", name=lock_name,
                                     marker=dict(symbol="diamond", size=9, color="#000000" if col == 1 else "#009E73"),
                                     hovertext=[f"node {r['node']}: {r[locks]} holds" for r in rows],
                                     hoverinfo="text"), row=1, col=col)
    lookups = "; ".join(f"CPU {cpu} (node {v['node']}) asks for {v['asked']}: {v['hits']} from its pools"
                        for cpu, v in look.items())
    fig.update_layout(**LAYOUT, height=420, barmode="group",
                      title=dict(text=f"{d['nr_areas']} areas allocated on CPU {a}, freed on CPU {f}, purged<br><sub>"
                                      f"pool lookup by the current CPU: {lookups}</sub>", y=0.97, yanchor="top"),
                      legend=dict(orientation="h", y=-0.25))
    # room for the two-line title above the panels' own titles
    fig.update_layout(margin=dict(l=50, r=20, t=130, b=40))
    fig.update_xaxes(title_text="vmap node", dtick=1)
    return described(fig, _say_routing(d))


# ------------------------------------------------------------------------------- pools
def pools_heatmap_trace(frame) -> dict:
    pools = [list(p) for p in frame.pools]
    return dict(type="heatmap", z=pools, text=[[str(v) if v else "" for v in row] for row in pools],
                texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=max(24, max(map(max, pools), default=0)),
                x=list(range(1, len(pools[0]) + 1)), y=[f"node {i}" for i in range(len(pools))],
                hovertemplate="%{y}, pool of %{x} page(s): %{z} VAs<extra></extra>", showscale=True,
                colorbar=dict(title="VAs in<br>the pool"))


def pools_figure(frame) -> go.Figure:
    """Pool lengths, one row per node, one column per size (pages, guard included)."""
    fig = go.Figure(go.Heatmap(**{k: v for k, v in pools_heatmap_trace(frame).items() if k != "type"}))
    fig.update_layout(**LAYOUT, height=120 + 45 * len(frame.pools), title=pools_title(frame),
                      xaxis_title="pool: VA size in pages (guard page included)")
    fig.update_yaxes(autorange="reversed")
    return described(fig, pools_description(frame))


def pools_title(frame) -> str:
    total = frame.hits + frame.misses
    rate = f"{100 * frame.hits / total:.0f}%" if total else "n/a"
    return (f"step {frame.step}: {frame.title}<br><sub>pool hits {frame.hits}, misses {frame.misses} "
            f"(hit rate {rate}); lazy {frame.lazy_pages}/{frame.lazy_max} pages; "
            f"{frame.free_blocks} free-tree blocks</sub>")


def pool_history_figure(frames) -> go.Figure:
    """Pooled VAs, lazy pages and the cumulative hit rate over the steps of a ``PoolsDemo``: three
    panels on one step axis, each in its own unit."""
    steps = [f.step for f in frames]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("areas waiting in the pools (VAs)", "pages waiting in the lazy trees",
                                        "pool hit rate so far (%)"))
    fig.add_trace(go.Bar(x=steps, y=[sum(map(sum, f.pools)) for f in frames], name="pooled VAs",
                         marker_color="#1565c0"), row=1, col=1)
    fig.add_trace(go.Bar(x=steps, y=[f.lazy_pages for f in frames], name="lazy pages", marker_color="#ff9800"),
                  row=2, col=1)
    rate = [100 * f.hits / (f.hits + f.misses) if f.hits + f.misses else None for f in frames]
    fig.add_trace(go.Scatter(x=steps, y=rate, name="pool hit rate %", mode="lines+markers",
                             line=dict(color="#2e7d32")), row=3, col=1)
    fig.update_layout(**LAYOUT, height=520, title="the pools over the script", showlegend=False)
    fig.update_yaxes(title_text="VAs", row=1, col=1)
    fig.update_yaxes(title_text="pages", row=2, col=1)
    fig.update_yaxes(title_text="%", range=[0, 100], row=3, col=1)
    fig.update_xaxes(title_text="step", row=3, col=1)
    return described(fig, _say_pool_history(frames))


# ------------------------------------------------------------------------------- address space
def address_space_figure(vm, max_areas: int = 400) -> go.Figure:
    """Busy, lazy and pooled VAs of a ``Vmalloc`` coloured by node (with a legend of the nodes), and
    the free-tree blocks between them, on a page axis from the lowest VA."""
    rows = []
    for vn in vm.nodes:
        rows += [("busy", va, vn.id) for va in vn.busy]
        rows += [("lazy", va, vn.id) for va in vn.lazy]
        rows += [("pooled", va, vn.id) for p in vn.pool for va in p]
    rows.sort(key=lambda r: r[1].va_start)
    rows = rows[:max_areas]
    counts = {state: sum(r[0] == state for r in rows) for state in ("busy", "lazy", "pooled")}
    fig = go.Figure()
    if rows:
        lo = rows[0][1].va_start
        hi = max(va.va_end for _s, va, _n in rows)
        free = [(max(va.va_start, lo), min(va.va_end, hi)) for va in vm.free_space if va.va_end > lo and va.va_start < hi]
        counts["free"] = len(free)
        fig.add_trace(go.Bar(orientation="h", y=["free"] * len(free), base=[(a - lo) // PAGE_SIZE for a, _b in free],
                             x=[(b - a) // PAGE_SIZE for a, b in free], name="free (in the free tree)",
                             marker=dict(color="#eeeeee", line=dict(color="#9e9e9e", width=1)),
                             hovertext=[f"free {a:#x}-{b:#x}: {(b - a) // PAGE_SIZE} pages" for a, b in free],
                             hoverinfo="text", showlegend=False))
        for state in ("pooled", "lazy", "busy"):
            sel = [r for r in rows if r[0] == state]
            fig.add_trace(go.Bar(orientation="h", y=[state] * len(sel), base=[(va.va_start - lo) // PAGE_SIZE
                                                                            for _s, va, _n in sel],
                                 x=[va.size // PAGE_SIZE for _s, va, _n in sel], name=state, showlegend=False,
                                 marker=dict(color=[node_colour(n) for _s, _va, n in sel],
                                             line=dict(color="#fff", width=0.5)),
                                 text=[str(n) for _s, _va, n in sel], textposition="inside",
                                 insidetextanchor="middle", textfont=dict(color="#000000"),
                                 hovertext=[f"{state}: {va.va_start:#x}-{va.va_end:#x}, {va.size // PAGE_SIZE} pages "
                                            f"(guard included), node {n}" for _s, va, n in sel], hoverinfo="text"))
        for n in sorted({n for _s, _va, n in rows})[:24]:        # the legend: one swatch per node shown
            fig.add_trace(go.Bar(x=[None], y=[None], orientation="h", name=f"node {n}", marker_color=node_colour(n),
                                 showlegend=True, hoverinfo="skip"))
    what = ", ".join(f"{v} {k}" for k, v in counts.items())
    nodes = f"{vm.nr_vmap_nodes} vmap node{'s' * (vm.nr_vmap_nodes > 1)}"
    fig.update_layout(**LAYOUT, height=300, barmode="overlay", legend_title_text="colour (and number) = node",
                      title=f"Linux {vm.version}, {nodes}: {what} areas",
                      xaxis_title="pages from the lowest area")
    fig.update_yaxes(categoryorder="array", categoryarray=["free", "pooled", "lazy", "busy"])
    span = (max(va.va_end for _s, va, _n in rows) - rows[0][1].va_start) // PAGE_SIZE if rows else 0
    return described(fig, _say_address_space(vm, counts, sorted({n for _s, _va, n in rows}), span))


def vread_figure(vm, addr: int, count: int) -> go.Figure:
    """``vm.vread(addr, count)`` as a 16-column byte grid with an ASCII column; hover says which
    area (or hole) each byte came from; the colour bar is the byte's value."""
    data = vm.vread(addr, count)
    areas = [vm.find_vm_area(addr + i) for i in range(len(data))]   # each byte's area (None: a hole)
    rows = (count + 15) // 16
    z: list[list[int | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for r in range(rows):
        zr: list[int | None] = []
        tr: list[str] = []
        hr: list[str] = []
        for c in range(16):
            i = r * 16 + c
            if i >= count:
                zr.append(None)
                tr.append("")
                hr.append("")
                continue
            a = addr + i
            vm_area = areas[i]
            where = (f"{vm_area.caller or '?'} [{vm_area.addr:#x}, +{vm_area.size:#x}), busy tree of node "
                     f"{vm.addr_to_node_id(vm_area.addr)}" if vm_area is not None
                     else "no area here (a hole or a guard page): reads as zero")
            zr.append(data[i])
            tr.append(f"{data[i]:02x}")
            hr.append(f"{a:#x}: {data[i]:#04x} — {where}")
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    ascii_rows = ["".join(chr(b) if 32 <= b < 127 else "." for b in data[16 * r:16 * r + 16]) for r in range(rows)]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", hovertext=hover, hoverinfo="text",
                               colorscale="Viridis", zmin=0, zmax=255, xgap=1, ygap=1,
                               colorbar=dict(title="byte value", len=0.8)))
    for r, line in enumerate(ascii_rows):
        fig.add_annotation(x=16.2, y=r, text=f"<span style='font-family:monospace'>|{html_escape(line)}|</span>",
                           showarrow=False, xanchor="left")
    fig.update_layout(**{**LAYOUT, "margin": dict(l=110, r=200, t=70, b=20)}, height=100 + 22 * rows,
                      title=f"vread({addr:#x}, {count}): zeros where no area is mapped (holes, guard pages)")
    fig.update_yaxes(autorange="reversed", tickvals=list(range(rows)),
                     ticktext=[f"{addr + 16 * r:#x}" for r in range(rows)])
    fig.update_xaxes(tickvals=list(range(16)), ticktext=[f"+{c:x}" for c in range(16)], side="top",
                     range=[-0.5, 15.5])
    return described(fig, _say_vread(addr, data, areas))


def html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vmallocinfo_callers_figure(info, top: int = 12) -> go.Figure:
    """Bytes of vmalloc space per caller (busy lines) and the unpurged total, from a parsed vmallocinfo,
    on a log axis (one caller often holds most of it), each bar labelled."""
    sizes: dict[str, int] = {}
    areas: dict[str, int] = {}
    for line in info.lines:
        key = "(unpurged vm_area)" if line.kind == "unpurged" else (line.caller or "?").split("+")[0]
        sizes[key] = sizes.get(key, 0) + line.size
        areas[key] = areas.get(key, 0) + 1
    rows = sorted(sizes.items(), key=lambda kv: -kv[1])[:top][::-1]
    mib = [v / 2**20 for _, v in rows]
    fig = go.Figure(go.Bar(y=[k for k, _ in rows], x=mib, orientation="h",
                           text=[f"{m:.2f} MiB" if m < 10 else f"{m:.0f} MiB" for m in mib], textposition="outside",
                           customdata=[areas[k] for k, _ in rows],
                           hovertemplate="%{y}: %{x:.3f} MiB in %{customdata} area(s)<extra></extra>",
                           marker_color=["#ff9800" if k.startswith("(") else "#1565c0" for k, _ in rows]))
    fig.update_layout(**LAYOUT, height=140 + 26 * len(rows),
                      title="vmalloc space by caller, the largest first (MiB, guard pages included; orange: freed, "
                            "not yet purged)", xaxis_title="MiB (log)")
    fig.update_xaxes(type="log")
    return described(fig, _say_callers(rows, areas, sum(sizes.values()), len(info.lines)))


# ------------------------------------------------------------------------------- contention
def timeline_state(state: str, label: str, lock: str) -> str:
    """The colour category of one timeline record (cpu, t0, t1, state, label, lock)."""
    if state == "spin":
        return f"spin {_lock_family(lock)}"
    if state == "cs":
        return f"hold {_lock_family(lock)}"
    if state == "ipi":
        return "IPI"
    return "page work" if label in PAGE_WORK else "work"


def category_colour(cat: str) -> str:
    if cat in STATE_COLOURS:
        return STATE_COLOURS[cat]
    kind, lock = cat.split(" ", 1)
    return LOCK_COLOURS[lock][0 if kind == "spin" else 1]


def _timeline_words(cpu: int, state: str, label: str, lock: str, t0: float, t1: float) -> str:
    span = f"{t0 / 1e3:.3f}-{t1 / 1e3:.3f} µs"
    if state == "spin":
        return f"CPU {cpu} spins on {lock} (to enter {label}), {span}"
    if state == "cs":
        return f"CPU {cpu} holds {lock} in {label} (its critical section), {span}"
    if state == "ipi":
        return f"CPU {cpu} handles a TLB-flush IPI, {span}"
    return f"CPU {cpu} runs {label}, {span}"


def category_name(cat: str) -> str:
    """Legend words for a category: "spinning on X", "holding X (critical section)", or the state."""
    if cat in STATE_COLOURS:
        return {"work": "allocator work", "page work": "page work (alloc, clear, map)", "IPI": "TLB-flush IPI"}[cat]
    kind, lock = cat.split(" ", 1)
    return f"spinning on {lock}" if kind == "spin" else f"holding {lock}"


def timeline_traces(records, t_lo: float, t_hi: float, cursor: float | None = None, row_label: str = "") -> list[dict]:
    """One bar trace per state category for the records overlapping [t_lo, min(t_hi, cursor)), in µs;
    a lock's spinning and holding share its colour, the spinning hatched."""
    end = t_hi if cursor is None else min(t_hi, cursor)
    cats: dict[str, dict] = {}
    for cpu, t0, t1, state, label, lock in records:
        if t1 <= t_lo or t0 >= end:
            continue
        a, b = max(t0, t_lo), min(t1, end)
        cat = timeline_state(state, label, lock)
        d = cats.setdefault(cat, {"y": [], "base": [], "x": [], "hovertext": []})
        d["y"].append(cpu), d["base"].append(a / 1e3), d["x"].append((b - a) / 1e3)
        d["hovertext"].append(_timeline_words(cpu, state, label, lock, t0, t1))

    def group(cat):
        return "CPU" if cat in STATE_COLOURS else cat.split(" ", 1)[1]
    # an explicit width: plotly would size a trace's bars by the gaps between its own rows
    return [dict(type="bar", orientation="h", name=category_name(cat), legendgroup=group(cat),
                 legendgrouptitle=dict(text=group(cat)),
                 marker=dict(color=category_colour(cat), line=dict(width=0),
                             pattern=dict(shape="/" if cat.startswith("spin ") else "", fgcolor="#ffffff",
                                          size=6, solidity=0.45)),
                 width=0.8, hoverinfo="text", **d)
            for cat, d in sorted(cats.items(), key=lambda kv: (group(kv[0]) != "CPU", group(kv[0]), kv[0]))]


def timeline_figure(results: dict, t_lo: float, t_hi: float, cursor: float | None = None) -> go.Figure:
    """One row of CPUs per version ({"6.8": SimResult, "6.9": SimResult}), coloured by state, in µs."""
    versions = list(results)
    fig = make_subplots(rows=len(versions), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[f"Linux {v}" for v in versions])
    seen = set()
    traces = {v: timeline_traces(results[v].timeline, t_lo, t_hi, cursor) for v in versions}
    for i, v in enumerate(versions, 1):
        for tr in traces[v]:
            tr = {k: val for k, val in tr.items() if k != "type"}
            tr["showlegend"] = tr["name"] not in seen
            if not tr["showlegend"]:
                tr.pop("legendgrouptitle")
            seen.add(tr["name"])
            fig.add_trace(go.Bar(**tr), row=i, col=1)
        rows = results[v].nr_threads
        fig.update_yaxes(title_text="CPU", range=[rows - 0.5, -0.5], row=i, col=1)     # CPU 0 on top
    fig.update_layout(**LAYOUT, barmode="overlay", bargap=0.1, height=330 * len(versions),
                      title="what each CPU does (simulated µs of the scaled run): a colour per lock, "
                            "hatched while spinning on it, solid while holding it", legend=dict(groupclick="toggleitem"))
    fig.update_xaxes(range=[t_lo / 1e3, t_hi / 1e3], title_text="µs", row=len(versions), col=1)
    return described(fig, timeline_description(results, t_lo, t_hi, cursor, traces))


def profile_table_figure(simulated: list[dict], published: list[dict] | None, title: str, limit: int = 14) -> go.Figure:
    """The perf-like table joined on the symbol: each row one symbol, the simulated children and self
    beside the cover letter's (the letter's top rows first, then the simulator's others; "–" where
    a side does not list the symbol)."""
    sim = {r["symbol"]: r for r in simulated}
    pub = {r["symbol"]: r for r in (published or [])}
    order = list(dict.fromkeys([r["symbol"] for r in (published or [])[:limit]] +
                               [r["symbol"] for r in simulated[:limit]]))

    def pct(table, sym, key):
        return f"{table[sym][key]:.2f}%" if sym in table else "–"
    header = ["symbol", "simulated children", "simulated self"]
    cols = [order, [pct(sim, s, "children_pct") for s in order], [pct(sim, s, "self_pct") for s in order]]
    if published:
        header += ["cover letter children", "cover letter self"]
        cols += [[pct(pub, s, "children_pct") for s in order], [pct(pub, s, "self_pct") for s in order]]
    fig = go.Figure(go.Table(header=dict(values=header, fill_color="#e3f2fd", align="left"),
                             cells=dict(values=cols, align=["left"] + ["right"] * (len(header) - 1), font=dict(size=11)),
                             columnwidth=[3] + [1] * (len(header) - 1)))
    fig.update_layout(**{**LAYOUT, "margin": dict(l=10, r=10, t=40, b=10)}, height=90 + 24 * len(order), title=title)
    return described(fig, _say_profile(simulated, published, order))


def locks_table_figure(results: dict, limit: int = 6) -> go.Figure:
    """Per version, the locks the CPUs waited for longest (``SimResult.locks``, real-equivalent)."""
    rows = []
    for v, r in results.items():
        for d in r.locks[:limit]:
            rows.append({"version": v, "lock": d["lock"], "acquisitions": d["acquisitions"] * r.scale,
                         "contended": 100 * d["contended_share"], "wait": d["mean_wait_ns"], "hold": d["mean_hold_ns"],
                         "spin": d["spin_ns"] / 1e9})
    return table_figure(rows, {"version": "Linux", "lock": "lock", "acquisitions": "acquisitions",
                               "contended": "found taken %", "wait": "mean wait ns (when taken)",
                               "hold": "mean hold ns", "spin": "CPU-seconds spinning"},
                        "the locks waited on longest (real-equivalent counts)",
                        formats={"acquisitions": ",.0f", "contended": ".1f", "wait": ",.0f", "hold": ",.0f",
                                 "spin": ",.1f"})


def sections_table_figure(results: dict, limit: int = 5) -> go.Figure:
    """Per version, the longest critical sections and what made them long (``SimResult.sections``)."""
    rows = [{"version": v, **d} for v, r in results.items() for d in r.sections[:limit]]
    return table_figure(rows, {"version": "Linux", "section": "critical section", "lock": "lock",
                               "hold_s": "held, s in all", "mean_hold_ns": "mean hold ns",
                               "nodes_read": "tree nodes read", "line_hits": "lines already here",
                               "lines_from_other_cpus": "lines fetched from other CPUs", "cold_lines": "lines from memory"},
                        "why a critical section is long: its tree accesses and where their cache lines were",
                        formats={"hold_s": ",.1f", "mean_hold_ns": ",.0f", "nodes_read": ".1f", "line_hits": ".1f",
                                 "lines_from_other_cpus": ".1f", "cold_lines": ".1f"})


def wall_figure(results: dict, published: dict | None = None, reference_name: str = "cover letter") -> go.Figure:
    """Wall time and slow-path share per version, simulated beside a reference (the published
    values, or another run's as {version: {"wall_s", "slowpath_self_pct"}}), every bar labelled."""
    versions = list(results)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("wall time, s (log)", "native_queued_spin_lock_slowpath self %"))
    groups = [("simulated", "#1565c0", {v: {"wall_s": results[v].wall_s, "slowpath_self_pct": results[v].slowpath_self_pct}
                                        for v in versions})]
    if published:
        groups.append((reference_name, "#9e9e9e", published))
    for name, colour, values in groups:
        for col, key, fmt in ((1, "wall_s", "{:.1f} s"), (2, "slowpath_self_pct", "{:.1f}%")):
            ys = [values[v][key] for v in versions]
            fig.add_trace(go.Bar(x=versions, y=ys, name=name, marker_color=colour, showlegend=col == 1,
                                 text=[fmt.format(y) for y in ys], textposition="outside",
                                 hovertemplate=f"%{{x}} {name}: %{{text}}<extra></extra>"), row=1, col=col)
    fig.update_layout(**LAYOUT, height=340, barmode="group", legend_title_text="")
    fig.update_yaxes(type="log", row=1, col=1)          # 6.9's bars are a tenth of 6.8's: a log axis shows both
    fig.update_yaxes(range=[0, 110], row=1, col=2)
    return described(fig, _say_wall(results, published, reference_name))


def sweep_figure(rows: list[dict], x: str, ys: dict[str, str], title: str, y_title: str,
                 log_y: bool = False) -> go.Figure:
    """Lines of a sweep: ``rows`` of dicts, ``x`` the key on the axis, ``ys`` {key: legend name};
    ``log_y`` when the curves span decades (low ones would sit on the axis otherwise)."""
    fig = go.Figure()
    for key, name in ys.items():
        fig.add_trace(go.Scatter(x=[r[x] for r in rows], y=[r.get(key) for r in rows], mode="lines+markers", name=name,
                                 line=dict(color=VERSION_COLOURS.get(key)) if key in VERSION_COLOURS else None,
                                 hovertemplate=f"{name}, {x} %{{x}}: %{{y:.3g}}<extra></extra>"))
    fig.update_layout(**LAYOUT, height=360, title=title, xaxis_title=x,
                      yaxis_title=y_title + (" (log)" if log_y else ""), yaxis_type="log" if log_y else "linear")
    return described(fig, _say_sweep(rows, x, ys, title))


# ------------------------------------------------------------------------------- experiments
VERSION_COLOURS = {"6.8": "#d32f2f", "6.9": "#1565c0"}       # one hue per kernel in every experiment figure


def table_figure(rows: list[dict], columns: dict[str, str], title: str, formats: dict | None = None,
                 height: int | None = None) -> go.Figure:
    """An aligned table of ``rows``: ``columns`` {key: header}; ``formats`` {key: format spec}."""
    formats = formats or {}

    def cell(row, key):
        v = row.get(key)
        return "" if v is None else format(v, formats[key]) if key in formats else str(v)
    fig = go.Figure(go.Table(header=dict(values=list(columns.values()), align="left", fill_color="#eceff1"),
                             cells=dict(values=[[cell(r, k) for r in rows] for k in columns], align="left")))
    fig.update_layout(**{**LAYOUT, "margin": dict(l=10, r=10, t=40, b=10)}, title=title,
                      height=height or min(120 + 26 * len(rows), 640))
    return described(fig, _say_table(rows, columns, title, cell))


def interval_band_figure(intervals, x: str, metrics: dict[str, str], title: str, y_title: str,
                         published_name: str = "published", log_y: bool = True) -> go.Figure:
    """Median lines with their 5-95% band per metric, over the point parameter ``x``, and the
    published values as markers. ``intervals``: ``Interval`` records; ``metrics`` {metric: legend}."""
    fig = go.Figure()
    for (metric, name), colour in zip(metrics.items(), list(VERSION_COLOURS.values()) + NODE_COLOURS):
        pts = sorted((dict(i.params)[x], i) for i in intervals if i.metric == metric)
        xs = [p for p, _ in pts]
        fig.add_trace(go.Scatter(x=xs + xs[::-1], y=[i.high for _, i in pts] + [i.low for _, i in pts][::-1],
                                 fill="toself", fillcolor=colour, opacity=0.18, line=dict(width=0),
                                 name=f"{name}: 5-95% of {pts[0][1].n} samples" if pts else name, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=xs, y=[i.median for _, i in pts], mode="lines+markers", name=f"{name}: median",
                                 line=dict(color=colour),
                                 customdata=[[i.low, i.high] for _, i in pts],
                                 hovertemplate=f"{x} %{{x}}: median %{{y:.3g}}, 5-95%% %{{customdata[0]:.3g}}"
                                               f"..%{{customdata[1]:.3g}}<extra>{name}</extra>"))
        pub = [(p, i.published) for p, i in pts if i.published is not None]
        if pub:
            fig.add_trace(go.Scatter(x=[p for p, _ in pub], y=[v for _, v in pub], mode="markers",
                                     marker=dict(symbol="diamond", size=10, color="black"), name=published_name,
                                     hovertemplate=f"{x} %{{x}}: {published_name} %{{y:.3g}}<extra></extra>"))
    ticks = sorted({dict(i.params)[x] for i in intervals if x in dict(i.params)})
    fig.update_layout(**LAYOUT, height=380, title=title, xaxis_title=x, yaxis_title=y_title,
                      yaxis_type="log" if log_y else "linear", xaxis_type="log")
    fig.update_xaxes(tickvals=ticks, ticktext=[str(t) for t in ticks])
    return described(fig, _say_band(intervals, x, metrics))


def interval_points_figure(intervals, title: str, published_name: str = "published") -> go.Figure:
    """One panel per metric: the median with its 5-95% interval, the published value beside it,
    and "inside" or "outside" under each panel."""
    metrics = list(dict.fromkeys(i.metric for i in intervals))
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics, horizontal_spacing=0.06)
    for col, metric in enumerate(metrics, 1):
        i = next(i for i in intervals if i.metric == metric)
        colour = VERSION_COLOURS.get(metric.split()[-2], "#546e7a") if "6." in metric else "#546e7a"
        fig.add_trace(go.Scatter(x=["model"], y=[i.median], mode="markers", marker=dict(size=11, color=colour),
                                 error_y=dict(type="data", symmetric=False, array=[i.high - i.median],
                                              arrayminus=[i.median - i.low]),
                                 name="model: median, 5-95%", showlegend=col == 1,
                                 hovertemplate=f"median %{{y:.3g}} (5-95%: {i.low:.3g}..{i.high:.3g}, n={i.n})<extra></extra>"),
                      row=1, col=col)
        if i.published is not None:
            fig.add_trace(go.Scatter(x=[published_name], y=[i.published], mode="markers",
                                     marker=dict(symbol="diamond", size=11, color="black"), name=published_name,
                                     showlegend=col == 1, hovertemplate=f"{published_name} %{{y:.3g}}<extra></extra>"),
                          row=1, col=col)
            fig.add_annotation(text="inside" if i.inside else "<b>outside</b>", showarrow=False, row=1, col=col,
                               xref="x domain", yref="y domain", x=0.5, y=-0.18)
    fig.update_layout(**LAYOUT, height=360, title=title)
    return described(fig, _say_points(intervals, published_name))



def machines_figure(rows: list[dict]) -> go.Figure:
    """Real-equivalent wall time per machine and version (an experiment's rows with ``machine``,
    ``version`` and ``wall_s``), on a log axis, every bar labelled."""
    fig = go.Figure()
    for version, colour in VERSION_COLOURS.items():
        mine = [r for r in rows if r["version"] == version]
        fig.add_trace(go.Bar(x=[r["machine"] for r in mine], y=[r["wall_s"] for r in mine], name=f"Linux {version}",
                             marker_color=colour, text=[f"{r['wall_s']:.0f} s" for r in mine], textposition="outside"))
    fig.update_layout(**LAYOUT, barmode="group", height=360, yaxis_type="log",
                      title="64 threads, run_test_mask=7: real-equivalent wall time by machine (log axis)",
                      yaxis_title="wall time, s (log)", xaxis_title="machine (64 of its CPUs)")
    return described(fig, _say_machines(rows))

# ------------------------------------------------------------------------------- descriptions
# Every figure says in words what it shows and its main numbers (issue 29 item 2): the sentence goes in
# ``layout.meta.description``, which the book uses as the caption and the chart's accessible name
# (docs/site.md §3), and :func:`show` prints it under the figure in a notebook. It is made from the
# same data the figure draws, so it cannot drift from the picture.
DESCRIPTION_MARK = "vmaplab-figure-description"     # the output metadata key of a printed description


def described(fig: go.Figure, text: str) -> go.Figure:
    """``fig`` with ``text`` as its description (``layout.meta.description``); returns ``fig``."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.update_layout(meta={**meta, "description": text})
    return fig


def description(fig) -> str:
    """The description a figure carries ('' if none): a ``go.Figure`` or its JSON dict."""
    layout = fig.get("layout", {}) if isinstance(fig, dict) else fig.to_plotly_json().get("layout", {})
    meta = layout.get("meta")
    return meta.get("description", "") if isinstance(meta, dict) else ""


def show(fig: go.Figure) -> None:
    """Display ``fig`` and, under it, its description as text (one Markdown output, marked so the book,
    which writes the same sentence as the caption, does not print it twice)."""
    from IPython.display import Markdown, display
    display(fig)
    text = description(fig)
    if text:
        display(Markdown(f"*Figure: {html_escape(text)}*"), metadata={DESCRIPTION_MARK: True})


def _n(count: int, word: str) -> str:
    """``1 area``, ``3 areas``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _listed(items: list[str], most: int = 8) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _span(values: list[float], fmt: str = "{:g}") -> str:
    """``from 3 to 7`` (or ``all 5``) for a description."""
    lo, hi = min(values), max(values)
    return f"all {fmt.format(lo)}" if lo == hi else f"from {fmt.format(lo)} to {fmt.format(hi)}"


def free_tree_description(frame, pages: int, which: str) -> str:
    nodes = frame.before if which == "before" else frame.after
    largest = max((n["end"] - n["start"] for n in nodes), default=0)
    outcome = f": {frame.outcome}" if frame.outcome else ""
    text = (f"Step {frame.step}, {frame.title}{outcome}. The free tree {which} the step holds "
            f"{_n(len(nodes), 'free block')} of the {pages}-page window, the largest {_n(largest, 'page')}")
    if which == "before" and frame.path:
        text += f"; the search visits {_n(len(frame.path), 'node')}"
        if frame.found is not None:
            blk = frame.before[frame.found]
            text += f" and takes the block of pages {blk['start']}-{blk['end']}"
    if frame.result is not None:
        verb = "lands on" if frame.kind == "alloc" else "frees"
        text += f"; the request {verb} pages {frame.result[0]}-{frame.result[1]}"
    return text + "."


def _say_nodes_in_turn(nr_cpus: int, nr_nodes: int, capped: bool, zone_pages: int, zone_size: int) -> str:
    cap = " (capped at 128)" if capped else ""
    return (f"{nr_cpus} CPUs give {_n(nr_nodes, 'vmap node')}{cap}; the addresses are cut into zones of "
            f"{zone_pages} pages ({zone_size // 1024} KiB), and the zones belong to the nodes in turn: "
            f"zone k to node k mod {nr_nodes}")


def _say_zones(z: dict) -> str:
    ids = z["node"]
    return (_say_nodes_in_turn(z["nr_cpus"], z["nr_vmap_nodes"], z["nr_cpus"] > z["cap"], z["zone_pages"],
                               z["zone_size"]) + f". {_n(len(ids), 'zone')} are shown; their nodes run "
            f"{_listed([str(v) for v in ids], 12)}.")


def cells_description(c: dict, addr: int | None) -> str:
    text = _say_nodes_in_turn(c["nr_cpus"], c["nr_vmap_nodes"], c["nr_cpus"] > c["cap"], c["zone_pages"],
                              c["zone_pages"] * PAGE_SIZE)
    text += (f". The grid shows {_n(len(c['node']), 'cell')} of {_n(c['cell_pages'], 'page')} from VMALLOC_START"
             + ("; past the last node, node 0 comes round again" if c["wraps"] else ""))
    if addr is not None:
        k = (addr - c["start"]) // (c["cell_pages"] * PAGE_SIZE)
        if 0 <= k < len(c["node"]):
            text += f"; address {addr:#x} (outlined) is in cell {k}, owned by node {c['node'][k]}"
    return text + "."


def _say_balance(rows: list[dict]) -> str:
    areas = [r["areas"] for r in rows]
    per_node = _listed([f"node {r['node']} {r['areas']}" for r in rows])
    text = f"Busy areas per vmap node, sharded by address as 6.9 does: {per_node} ({_span(areas)} areas a node, {sum(areas)} in all)"
    if rows and all("by_cpu" in r for r in rows):
        by_cpu = [r["by_cpu"] for r in rows]
        busiest = max(rows, key=lambda r: r["by_cpu"])
        text += (f"; recorded by the allocating CPU instead, they would be {_span(by_cpu)} a node, "
                 f"node {busiest['node']} holding {busiest['by_cpu']}")
    return text + "."


def _say_routing(d: dict) -> str:
    rows = d["rows"]

    def where(key: str) -> str:
        held = [f"node {r['node']} {r[key]}" for r in rows if r[key]]
        return _listed(held) if held else "none"
    lookups = "; ".join(f"CPU {cpu} (node {v['node']}) asks for {v['asked']} and gets {v['hits']} from the pools"
                        for cpu, v in d["lookups"].items())
    return (f"{_n(d['nr_areas'], 'area')} allocated on CPU {d['alloc_cpu']}, freed on CPU {d['free_cpu']}, then "
            f"purged. Busy areas by node (by address): {where('busy')}. Lazy areas (by owner): {where('lazy')}. "
            f"Pooled after the purge (by owner): {where('pooled')}. {lookups}.")


def _pool_contents(pools) -> str:
    held = [f"node {n}: " + ", ".join(f"{v} of {i + 1} page{'s' * (i > 0)}" for i, v in enumerate(row) if v)
            for n, row in enumerate(pools) if any(row)]
    return "; ".join(held) if held else "every pool is empty"


def pools_description(frame) -> str:
    total = sum(map(sum, frame.pools))
    return (f"Step {frame.step}, {frame.title}: the pools hold {_n(total, 'area')} ({_pool_contents(frame.pools)}); "
            f"{frame.hits} pool hits and {frame.misses} misses so far; {frame.lazy_pages} of "
            f"{frame.lazy_max} lazy pages before a purge.")


def _say_pool_history(frames) -> str:
    if not frames:
        return "No steps."
    pooled = [sum(map(sum, f.pools)) for f in frames]
    lazy = [f.lazy_pages for f in frames]
    peak = max(range(len(frames)), key=lambda i: pooled[i])
    last = frames[-1]
    total = last.hits + last.misses
    rate = f"{100 * last.hits / total:.0f}%" if total else "not yet measured (no lookups)"
    return (f"Over {_n(len(frames), 'step')}, the pools peak at {_n(pooled[peak], 'area')} (step {frames[peak].step}) "
            f"and end with {pooled[-1]}; the lazy trees hold {_span(lazy)} pages; the pool hit rate ends at {rate}.")


def _say_address_space(vm, counts: dict, nodes_shown: list[int], span_pages: int) -> str:
    what = ", ".join(f"{v} {k}" for k, v in counts.items())
    if not nodes_shown:
        return f"Linux {vm.version}: no area to show."
    return (f"Linux {vm.version} with {_n(vm.nr_vmap_nodes, 'vmap node')}: {what} areas over {span_pages} pages; "
            f"the areas shown belong to {'node' if len(nodes_shown) == 1 else 'nodes'} "
            f"{_listed([str(n) for n in nodes_shown], 12)}.")


def _say_vread(addr: int, data: bytes, areas: list) -> str:
    holes = sum(1 for a in areas if a is None)
    callers = list(dict.fromkeys(a.caller or "?" for a in areas if a is not None))
    nonzero = sum(1 for b in data if b)
    text = (f"vread of {len(data)} bytes from {addr:#x}: {nonzero} non-zero; "
            f"{holes} byte{'s' * (holes != 1)} fall where no area is mapped and read as zero")
    if callers:
        text += f"; the mapped bytes come from the area{'s' * (len(callers) > 1)} of {_listed(callers, 4)}"
    ascii_text = "".join(chr(b) if 32 <= b < 127 else "." for b in data[:32])
    return text + f". The first bytes as text: {ascii_text!r}."


def _say_callers(rows: list[tuple[str, int]], areas: dict[str, int], total: int, nr_lines: int) -> str:
    top = [f"{k} {v / 2**20:.2f} MiB in {_n(areas[k], 'area')}" for k, v in rows[::-1][:4]]
    return (f"{total / 2**20:.1f} MiB of vmalloc space in {_n(nr_lines, 'area')}; the largest callers: "
            f"{'; '.join(top)}.")


def timeline_description(results: dict, t_lo: float, t_hi: float, cursor: float | None,
                         traces: dict | None = None) -> str:
    """What ``timeline_figure`` shows, in words; ``traces`` are its traces per version if already made."""
    parts = []
    for v, r in results.items():
        shares: dict[str, float] = {}
        for tr in (traces[v] if traces is not None else timeline_traces(r.timeline, t_lo, t_hi, cursor)):
            shares[tr["name"]] = shares.get(tr["name"], 0.0) + sum(tr["x"])
        total = sum(shares.values())
        if not total:
            parts.append(f"Linux {v}: nothing in this window")
            continue
        spin = sum(t for k, t in shares.items() if k.startswith("spinning"))
        top = max(((k, t) for k, t in shares.items() if k.startswith("spinning")), key=lambda kv: kv[1], default=None)
        most = f", most of it {top[0]}" if top and spin else ""
        parts.append(f"Linux {v}'s {_n(r.nr_threads, 'CPU')} spend {100 * spin / total:.0f}% of the window "
                     f"spinning{most}, {100 * (total - spin) / total:.0f}% working or holding locks")
    end = t_hi if cursor is None else min(t_hi, cursor)
    return f"From {t_lo / 1e3:g} to {end / 1e3:g} µs of simulated time: " + "; ".join(parts) + "."


def _say_wall(results: dict, published: dict | None, reference_name: str) -> str:
    if not results:
        return "No run yet: the bars appear when a run has finished."
    parts = []
    for v, r in results.items():
        ref = ""
        if published and v in published:
            p = published[v]
            ref = f" ({reference_name}: {p['wall_s']:.1f} s, {p['slowpath_self_pct']:.1f}%)"
        parts.append(f"Linux {v} takes {r.wall_s:.1f} s and spends {r.slowpath_self_pct:.1f}% of CPU time in "
                     f"the spin-lock slow path{ref}")
    return "Simulated: " + "; ".join(parts) + "."


def _say_sweep(rows: list[dict], x: str, ys: dict[str, str], title: str) -> str:
    parts = []
    for key, name in ys.items():
        pts = [(r[x], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            parts.append(f"{name} goes from {pts[0][1]:.3g} at {x} {pts[0][0]} to {pts[-1][1]:.3g} at {x} {pts[-1][0]}")
    return f"{title}: " + ("; ".join(parts) if parts else "no values") + "."


def _say_table(rows: list[dict], columns: dict[str, str], title: str, cell) -> str:
    head = f"A table, {title}: {_n(len(rows), 'row')}, columns {_listed(list(columns.values()), 10)}"
    if not rows:
        return head + "."
    first = "; ".join(f"{name} {cell(rows[0], key)}" for key, name in columns.items() if cell(rows[0], key))
    return f"{head}. First row: {first}."


def _say_band(intervals, x: str, metrics: dict[str, str]) -> str:
    parts = []
    for metric, name in metrics.items():
        pts = sorted((dict(i.params)[x], i) for i in intervals if i.metric == metric)
        if not pts:
            continue
        (x0, i0), (x1, i1) = pts[0], pts[-1]
        pub = [i for _, i in pts if i.published is not None]
        inside = sum(1 for i in pub if i.inside)
        verdict = f"; the published value is inside {inside} of {len(pub)} intervals" if pub else ""
        parts.append(f"{name}: median {i0.median:.3g} ({i0.low:.3g}..{i0.high:.3g}) at {x} {x0} to "
                     f"{i1.median:.3g} ({i1.low:.3g}..{i1.high:.3g}) at {x} {x1}{verdict}")
    return "Medians with 5-95% intervals. " + ("; ".join(parts) if parts else "No points") + "."


def _say_points(intervals, published_name: str) -> str:
    parts = []
    for metric in dict.fromkeys(i.metric for i in intervals):
        i = next(i for i in intervals if i.metric == metric)
        pub = "" if i.published is None else (f", {published_name} {i.published:.3g}: "
                                              f"{'inside' if i.inside else 'outside'}")
        parts.append(f"{metric}: model median {i.median:.3g} (5-95% {i.low:.3g}..{i.high:.3g}, n={i.n}){pub}")
    return "; ".join(parts) + "." if parts else "No intervals."


def _say_profile(simulated: list[dict], published: list[dict] | None, order: list[str]) -> str:
    """The symbol with the largest self share on each side, with both sides' shares for it."""
    sim = {r["symbol"]: r for r in simulated}
    pub = {r["symbol"]: r for r in (published or [])}
    if not order:
        return "An empty profile."

    def both(sym: str) -> str:
        said = [f"{side} {table[sym]['self_pct']:.1f}%" for side, table in (("simulated", sim), ("cover letter", pub))
                if sym in table]
        return f"{sym} ({', '.join(said)})"
    tops = list(dict.fromkeys(max(table.values(), key=lambda r: r["self_pct"])["symbol"]
                              for table in (sim, pub) if table))
    return (f"A perf-like table of {_n(len(order), 'symbol')}, each with its children and self share of CPU time; "
            f"the largest self share: {'; '.join(both(t) for t in tops)}.")


def _say_machines(rows: list[dict]) -> str:
    parts = []
    for machine in dict.fromkeys(r["machine"] for r in rows):
        walls = {r["version"]: r["wall_s"] for r in rows if r["machine"] == machine}
        said = ", ".join(f"Linux {v} {w:.0f} s" for v, w in walls.items())
        before, after = VERSION_COLOURS          # the pair every experiment figure draws
        ratio = f" ({walls[before] / walls[after]:.1f}x)" if walls.get(after) and before in walls else ""
        parts.append(f"{machine}: {said}{ratio}")
    return "Real-equivalent wall time by machine: " + ("; ".join(parts) if parts else "no runs") + "."
