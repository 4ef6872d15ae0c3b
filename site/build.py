#!/usr/bin/env python
# SPDX-License-Identifier: MIT
"""Build the book: the notebooks, the docs and the API reference as one static site (docs/site.md).

The site is MkDocs with the Material theme; mkdocs-jupyter renders the notebooks as they are stored
(never executed again) and mkdocstrings the API from its docstrings. This script stages the sources in
a temporary folder, changing only the copies, and builds from there into ``site/_output``:

* each notebook: its stored plotly figures become a ``<figure>`` that assets/figures.js draws with the
  plotly.js bundled in the site, with a text description made from the figure's layout (title,
  panel titles, axis titles, series) as its caption and as the drawn chart's accessible name; a widget
  view left in an output gives way to the static figure stored beside it; a block of launch links
  (Binder, the JupyterLite site) goes under the title; links to other notebooks and docs point at
  their pages, links to other repository files at the repository;
* docs/*.md, the README's introduction and notebook table (the home page), the API page (one entry per
  name in ``vmaplab.__all__``) and the CLI page (every ``--help``, from the parser);
* afterwards, the JupyterLite site (``lite/_output``, if built) is copied to ``lite/`` beside the book,
  the empty MathJax tag of the notebook template is removed, and the build fails if any page would
  load a script, stylesheet or image from another host.

Usage: python site/build.py [--out site/_output] [--lite DIR | --no-lite] [--site-url URL]
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import yaml

DESCRIPTION_MARK = "vmaplab-figure-description"     # vmaplab.course.figures.DESCRIPTION_MARK

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
OUT = SITE / "_output"
LITE = ROOT / "lite" / "_output"          # where scripts/lite.sh builds the JupyterLite site
LITE_NOTEBOOK = "lab/index.html?path=notebooks/{name}"   # a notebook in it (scripts/build_lite.py)
DOC_ORDER = ["kernel-model", "contention-model", "oracle", "results", "experiments", "lite", "teaching",
             "site", "testing"]           # the rest of docs/*.md follow, by name
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
OFF_HOST = re.compile(r"""<(?:script|img|iframe|audio|video|source)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
                      r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//""", re.I)


class SiteError(Exception):
    """The book cannot be built as promised (a missing source, a request to another host)."""


# ----------------------------------------------------------------------------- the repository's facts
def binder_prefix(readme: str) -> str:
    """The README's Binder badge URL up to the notebook's name (``.../lab/tree/notebooks/``)."""
    m = re.search(r"\((https://mybinder\.org/v2/gh/[^)\s]*?urlpath=lab/tree/notebooks/)[^)\s]*\)", readme)
    if not m:
        raise SiteError("README.md has no Binder badge linking a notebook (https://mybinder.org/v2/gh/...)")
    return m[1]


def repository_url(binder: str) -> str:
    """The forge's address of the repository the Binder badge builds (``https://github.com/OWNER/NAME``)."""
    m = re.match(r"https://mybinder\.org/v2/gh/([^/]+)/([^/]+)/", binder)
    if not m:
        raise SiteError(f"cannot tell the repository from the Binder URL {binder}")
    return f"https://github.com/{m[1]}/{m[2]}"


# ----------------------------------------------------------------------------- figure descriptions
def _plain(text: Any) -> str:
    """A plotly label as plain text: ``<br>`` becomes "; ", other tags go, entities are decoded."""
    if isinstance(text, dict):
        text = text.get("text")
    if not isinstance(text, str):
        return ""
    text = re.sub(r"<br\s*/?>", "; ", text, flags=re.I)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\s+", " ", text).strip(" ;")


def _listing(items: list[str], most: int) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def describe(fig: dict) -> str:
    """A text alternative for a stored plotly figure, from its layout and traces.

    Says the title (or that there is none), the panels' titles, the axis titles and the series
    drawn. ``layout.meta.description``, when a figure sets it, comes first.

    >>> describe({"data": [{"type": "bar", "name": "busy"}, {"type": "bar", "name": "free"}],
    ...           "layout": {"title": {"text": "8 CPUs<br><sub>zone = 16 pages</sub>"},
    ...                      "xaxis": {"title": {"text": "vmap node"}}}})
    'Figure: 8 CPUs; zone = 16 pages. Horizontal axis: vmap node. Series: busy, free (2 bar traces).'
    """
    layout, data = fig.get("layout") or {}, fig.get("data") or []
    parts = []
    meta = layout.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("description"), str) and meta["description"].strip():
        parts.append(meta["description"].strip().rstrip("."))
    title = _plain(layout.get("title"))
    parts.append(f"Figure: {title}" if title else "Figure (untitled in the notebook)")
    axes = sorted((k for k in layout if re.fullmatch(r"[xy]axis\d*", k)), key=lambda k: (k[0], int(k[5:] or 1)))
    if sum(k[0] == "x" for k in axes) > 1:
        panels = [t for t in (_plain(a.get("text")) for a in layout.get("annotations") or []) if t]
        if panels:
            parts.append(("Panels: " if len(panels) > 1 else "Panel: ") + "; ".join(panels[:8]))
    for letter, word in (("x", "Horizontal"), ("y", "Vertical")):
        titles = []
        for key in axes:
            t = _plain((layout[key] or {}).get("title")) if key[0] == letter else ""
            if t and t not in titles:
                titles.append(t)
        if titles:
            parts.append(f"{word} {'axes' if len(titles) > 1 else 'axis'}: " + "; ".join(titles))
    names, kinds = [], {}
    for trace in data:
        kind = trace.get("type") or "scatter"
        kinds[kind] = kinds.get(kind, 0) + 1
        name = _plain(trace.get("name"))
        if name and name not in names:
            names.append(name)
    drawn = " and ".join(f"{n} {k} trace{'s' if n > 1 else ''}" for k, n in kinds.items())
    if names:
        parts.append(f"Series: {_listing(names, 10)} ({drawn})")
    elif drawn:
        parts.append(f"Drawn as {drawn}")
    return ". ".join(parts) + "."


def figure_html(fig: dict, fig_id: str, description: str, note: str = "") -> str:
    """The ``<figure>`` assets/figures.js draws: a div, the figure's JSON, the caption."""
    spec = json.dumps(fig, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")
    label = html.escape(description, quote=True)
    caption = html.escape(description) + (f" <em>{html.escape(note)}</em>" if note else "")
    return (f'<figure class="vmaplab-figure" id="{fig_id}">'
            f'<div class="vmaplab-plotly" data-spec="{fig_id}-json" data-label="{label}"></div>'
            f'<script type="application/json" id="{fig_id}-json">{spec}</script>'
            f'<figcaption>{caption}</figcaption></figure>')


# ----------------------------------------------------------------------------- links
LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")


def rewrite_links(text: str, where: str, pages: set[str], repo: str, html_pages: bool) -> str:
    """Markdown links in ``text`` (from repository file ``where``) made to work in the site.

    A link to a staged page (a notebook or a doc) stays relative; with ``html_pages`` (a notebook's
    Markdown, which MkDocs does not rewrite) it names the page's ``.html``. A link to any other
    repository file points at the repository on its forge. Absolute URLs and anchors are unchanged.
    """
    base = os.path.dirname(where)

    def one(m: re.Match) -> str:
        target = m[2]
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith(("#", "/")):
            return m[0]
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(base, path))
        if full in pages:
            if html_pages:
                target = os.path.relpath(re.sub(r"\.(md|ipynb)$", ".html", full), base or ".")
                target += f"#{anchor}" if anchor else ""
            return m[1] + target + m[3]
        if full.startswith(".."):
            return m[0]
        kind = "tree" if (ROOT / full).is_dir() else "blob"
        return m[1] + f"{repo}/{kind}/HEAD/{full}" + (f"#{anchor}" if anchor else "") + m[3]
    return LINK.sub(one, text)


# ----------------------------------------------------------------------------- the notebooks
def launch_cell(name: str, binder: str, lite_built: bool) -> str:
    """The launch links under a notebook's title, as raw HTML in a Markdown cell."""
    lite = "../lite/" + LITE_NOTEBOOK.format(name=name)
    note = "" if lite_built else (
        '<span class="vmaplab-note">The browser site is not part of this build: the link points where '
        '<code>bash scripts/lite.sh --build-only</code> puts it once copied beside the book '
        '(<code>bash scripts/site.sh --with-lite</code> does both; docs/site.md).</span>')
    return (f'<div class="vmaplab-launch" role="group" aria-label="Run this notebook">\n'
            f'<a class="vmaplab-binder" href="{html.escape(binder + name)}">Run on Binder</a>\n'
            f'<a class="vmaplab-lite" href="{html.escape(lite)}">Run in your browser (JupyterLite)</a>\n'
            f'{note}</div>')


def stage_notebook(src: Path, dest: Path, *, binder: str, lite_built: bool, pages: set[str],
                   repo: str) -> int:
    """Write the site's copy of a notebook; returns the number of figures it draws."""
    nb = nbformat.read(src, as_version=4)
    nb.metadata.pop("widgets", None)       # no widget state: the template would load a widget manager
    where = f"notebooks/{src.name}"
    figures = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, where, pages, repo, html_pages=True)
            continue
        if cell.cell_type != "code":
            continue
        # the description vmaplab.course.figures.show prints under a figure is the figure's caption here
        cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("metadata") or {}).get(DESCRIPTION_MARK)]
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            if WIDGET_VIEW in data:
                data.pop(WIDGET_VIEW)
                if not set(data) - {"text/plain"}:     # a widget with no static view stored beside it
                    data["text/html"] = ("<p><em>An interactive widget: run the notebook (the links at the "
                                         "top of the page) to use it.</em></p>")
            if PLOTLY in data:
                figures += 1
                fig = data.pop(PLOTLY)
                plain = data.get("text/plain", "")
                plain = "".join(plain) if isinstance(plain, list) else plain
                note = ("In the notebook this is an interactive widget's first view: run the notebook to use "
                        "its controls.") if "interactive figure" in plain else ""
                data["text/html"] = figure_html(fig, f"fig-{src.stem}-{figures}", describe(fig), note)
    first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    launch = nbformat.v4.new_markdown_cell(launch_cell(src.name, binder, lite_built))
    launch["id"] = "site-launch"
    nb.cells.insert(first_md + 1, launch)
    nbformat.write(nb, dest)
    return figures


# ----------------------------------------------------------------------------- generated pages
def api_page() -> str:
    """One entry per name in ``vmaplab.__all__``: classes, errors and functions from their docstrings
    (mkdocstrings), constants in a table of values."""
    import vmaplab
    groups: dict[str, list[str]] = {"Classes": [], "Errors": [], "Functions": [], "Constants": []}
    for name in vmaplab.__all__:
        obj = getattr(vmaplab, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            groups["Errors"].append(name)
        elif isinstance(obj, type):
            groups["Classes"].append(name)
        elif callable(obj):
            groups["Functions"].append(name)
        else:
            groups["Constants"].append(name)
    lines = ["# The public API", "",
             f"Everything `from vmaplab import ...` offers: the {len(vmaplab.__all__)} names of "
             f"`vmaplab.__all__` (vmaplab {vmaplab.__version__}), each from its docstring. The examples in "
             "the docstrings are doctests: the test suite runs them.", ""]
    for group, names in groups.items():
        if not names:
            continue
        lines += [f"## {group}", ""]
        if group == "Constants":
            lines += ["| name | value |", "|---|---|"]
            for name in names:
                value = getattr(vmaplab, name)
                shown = f"{value} ({value:#x})" if isinstance(value, int) and not isinstance(value, bool) \
                    and value >= 256 else repr(value)
                lines.append(f'| <span id="vmaplab.{name}"></span>`{name}` | `{shown}` |')
            lines.append("")
            continue
        for name in names:
            lines += [f"::: vmaplab.{name}", ""]
    return "\n".join(lines)


def _helps(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    yield parser.prog, parser.format_help()
    seen = set()
    for action in parser._actions:                      # argparse keeps its subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield from _helps(sub)


def cli_page() -> str:
    """``vmaplab --help`` and every subcommand's, from the parser itself (nothing runs)."""
    from vmaplab.cli import build_parser
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"                        # argparse wraps to the terminal's width
    try:
        helps = list(_helps(build_parser()))
    finally:
        if columns is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = columns
    lines = ["# The command line", "",
             "`vmaplab` (or `python -m vmaplab`): the help of the program and of each subcommand, as "
             "`--help` prints it.", ""]
    for prog, text in helps:
        lines += [f"## `{prog}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


def _section(readme: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## )", readme, re.M | re.S)
    if not m:
        raise SiteError(f"README.md has no '## {heading}' section")
    return m[1].strip()


def index_page(readme: str, docs: list[tuple[str, str]], pages: set[str], repo: str) -> str:
    """site/index.md with the README's introduction, its notebook table (names linked) and the docs."""
    intro = readme.split("\n## ", 1)[0]
    intro = "\n".join(ln for ln in intro.splitlines()[1:] if "mybinder.org/badge" not in ln).strip()
    table = [ln for ln in _section(readme, "The notebooks").splitlines() if ln.startswith("|")]
    table = [re.sub(r"^\| `(\d\d-[\w-]+)` \|", lambda m: f"| [{m[1]}](notebooks/{m[1]}.ipynb) |", ln)
             for ln in table]
    text = (SITE / "index.md").read_text()
    text = text.replace("<!-- readme:intro -->", rewrite_links(intro, "README.md", pages, repo, html_pages=False))
    text = text.replace("<!-- readme:notebooks -->", "\n".join(table))
    text = text.replace("<!-- site:docs -->", "\n".join(f"* [{title}](docs/{stem}.md)" for stem, title in docs))
    return text


def notebook_title(path: Path) -> str:
    """A notebook's first Markdown heading as plain text (its code spans kept as their text: the
    plugin's own title drops them, "5 · and" for "5 · `/proc/vmallocinfo` and `vread`")."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^# (.+)$", cell.source, re.M)
            if m:
                return re.sub(r"`([^`]*)`", r"\1", m[1]).strip()
    return path.stem


def _title(md: str, fallback: str) -> str:
    m = re.search(r"^# (.+)$", md, re.M)
    return m[1].strip() if m else fallback


# ----------------------------------------------------------------------------- the build
def stage(dest: Path, lite_built: bool) -> dict:
    """Every source of the site in ``dest``; returns what the configuration needs (the nav)."""
    readme = (ROOT / "README.md").read_text()
    binder = binder_prefix(readme)
    repo = repository_url(binder)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise SiteError("no notebooks/*.ipynb to build")
    stems = [p.stem for p in (ROOT / "docs").glob("*.md")]
    stems = [s for s in DOC_ORDER if s in stems] + sorted(s for s in stems if s not in DOC_ORDER)
    pages = {f"notebooks/{p.name}" for p in notebooks} | {f"docs/{s}.md" for s in stems}
    (dest / "notebooks").mkdir(parents=True)
    (dest / "docs").mkdir()
    (dest / "reference").mkdir()
    figures, titles = {}, {}
    for src in notebooks:
        titles[src.name] = notebook_title(src)
        figures[src.name] = stage_notebook(src, dest / "notebooks" / src.name, binder=binder,
                                           lite_built=lite_built, pages=pages, repo=repo)
    docs = []
    for stem in stems:
        text = (ROOT / "docs" / f"{stem}.md").read_text()
        (dest / "docs" / f"{stem}.md").write_text(rewrite_links(text, f"docs/{stem}.md", pages, repo,
                                                                html_pages=False))
        docs.append((stem, _title(text, stem)))
    (dest / "index.md").write_text(index_page(readme, docs, pages, repo))
    (dest / "reference" / "api.md").write_text(api_page())
    (dest / "reference" / "cli.md").write_text(cli_page())
    shutil.copytree(SITE / "assets", dest / "assets")
    import plotly
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not bundle.exists():
        raise SiteError(f"the plotly package has no bundled plotly.js at {bundle}")
    shutil.copy(bundle, dest / "assets" / "plotly.min.js")
    nav = [{"Home": "index.md"},
           {"The course": [{titles[p.name]: f"notebooks/{p.name}"} for p in notebooks]},
           {"Docs": [f"docs/{s}.md" for s, _ in docs]},
           {"Reference": [{"The public API": "reference/api.md"}, {"The command line": "reference/cli.md"}]}]
    return {"nav": nav, "figures": figures, "docs": [s for s, _ in docs]}


def config(staged: Path, out: Path, nav: list, lite_built: bool, site_url: str | None = None) -> dict:
    cfg = yaml.safe_load((SITE / "mkdocs.yml").read_text())
    cfg.update(docs_dir=str(staged), site_dir=str(out), nav=nav)
    if site_url:                           # only the 404 page uses it (its links are absolute)
        cfg["site_url"] = site_url
    cfg.setdefault("extra", {})["lite_built"] = lite_built
    for plugin in cfg["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            python = plugin["mkdocstrings"]["handlers"]["python"]
            python["paths"] = [str(ROOT)]
            python["options"]["extensions"] = [f"{SITE / 'griffe_doctests.py'}:FenceDoctests"]
    return cfg


def finish(out: Path) -> None:
    """The empty MathJax tag goes (the notebooks have no maths; the template would load it from a
    CDN); then no page may load anything from another host."""
    empty_mathjax = re.compile(r'<!-- Load mathjax -->\s*<script src="">\s*</script>')
    bad = []
    for page in out.rglob("*.html"):
        if page.is_relative_to(out / "lite"):
            continue
        text = page.read_text()
        fixed = empty_mathjax.sub("", text)
        if fixed != text:
            page.write_text(fixed)
        for m in OFF_HOST.finditer(fixed):
            bad.append(f"{page.relative_to(out)}: {m[0]}")
    if bad:
        raise SiteError("pages would load from another host:\n" + "\n".join(bad[:20]))


def build(out: Path = OUT, lite: Path | None = LITE, quiet: bool = False, site_url: str | None = None) -> dict:
    """Build the book into ``out`` (cleaned first); copy the JupyterLite site from ``lite`` when it
    is built there. Returns what was built: figures per notebook, the docs, whether lite is in."""
    t0 = time.monotonic()
    lite_built = lite is not None and (lite / "lab" / "index.html").exists()
    if out.exists():
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory(prefix="vmaplab-site-") as tmp:
        staged = Path(tmp) / "src"
        facts = stage(staged, lite_built)
        cfg_path = Path(tmp) / "mkdocs.yml"
        cfg_path.write_text(yaml.safe_dump(config(staged, out, facts["nav"], lite_built, site_url), sort_keys=False))
        cmd = [sys.executable, "-m", "mkdocs", "build", "-f", str(cfg_path)] + (["-q"] if quiet else [])
        done = subprocess.run(cmd, cwd=tmp, text=True, capture_output=True)
        log = done.stdout + done.stderr
        if done.returncode:
            raise SiteError(f"mkdocs build failed ({done.returncode}):\n{log[-4000:]}")
        warnings = [ln for ln in log.splitlines() if ln.startswith("WARNING")]
    if lite_built:
        shutil.copytree(lite, out / "lite")
    finish(out)
    (out / ".nojekyll").write_text("")
    facts.update(lite=lite_built, seconds=round(time.monotonic() - t0, 1), warnings=warnings)
    return facts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default site/_output)")
    ap.add_argument("--lite", type=Path, default=LITE, help="the built JupyterLite site to include "
                    "(default lite/_output, when built there)")
    ap.add_argument("--no-lite", action="store_true", help="leave the JupyterLite site out")
    ap.add_argument("--site-url", default=os.environ.get("VMAPLAB_SITE_URL"),
                    help="the address the site will be published at ($VMAPLAB_SITE_URL): the 404 page's links "
                    "are absolute, from the host's root unless this says otherwise")
    args = ap.parse_args(argv)
    facts = build(args.out, None if args.no_lite else args.lite, site_url=args.site_url)
    for w in facts["warnings"]:
        print(w, file=sys.stderr)
    print(f"built {args.out} in {facts['seconds']} s: {len(facts['figures'])} notebooks "
          f"({sum(facts['figures'].values())} figures), {len(facts['docs'])} docs, the API and the CLI; "
          + ("the JupyterLite site under lite/" if facts["lite"] else
             "no JupyterLite site (bash scripts/lite.sh --build-only, then build again)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
