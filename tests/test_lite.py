# SPDX-License-Identifier: MIT
"""The course with no server: the JupyterLite site built, served on 127.0.0.1, every notebook run in
Debian's Chromium, with every request off localhost refused and counted (docs/lite.md).

The pages see JupyterLab's app object (the test serves the site's ``jupyter-lite.json`` with
``exposeAppInBrowser``; the built files are unchanged), so a test waits for the kernel itself, a
code request answered with its printed marker, not for the status bar's text (which says "Idle"
before the Pyodide kernel has started), and reads the notebook as the page holds it: every stored
output must be the repository's, text for text.

Each notebook's cold open (page load to a kernel that ran code) and run-all times are written to
``test-artifacts/lite-times.json``, its screenshot to ``test-artifacts/lite-NAME.png``. Without
Chromium or npm the module skips locally and fails under CI (``CI=true``).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))

pytestmark = [pytest.mark.lite, pytest.mark.slow]

for what, ok in (("Debian's chromium (/usr/bin/chromium)", CHROMIUM.exists()), ("npm", shutil.which("npm"))):
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {what} (see .ci/run)", pytrace=False)
        pytest.skip(f"no {what} here; CI installs it", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")
sys.path.insert(0, str(ROOT / "scripts"))
import _axe as axe  # noqa: E402
import build_lite  # noqa: E402
from _jupyterapp import progress_round_trip, wait_for_kernel, wait_for_notebook  # noqa: E402
from _static import serve  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("lite") / "site"
    had_build = (ROOT / "build").exists()
    # the repository's notebooks the site is built from, read as a Jupyter server reads them (each
    # multiline string joined): what the site must show, even if the checkout changes during the tests
    notebooks = {name: nbformat.read(ROOT / "notebooks" / name, as_version=4) for name in NOTEBOOKS}
    t0 = time.monotonic()
    build_lite.build(out)
    built_s = time.monotonic() - t0
    assert had_build or not (ROOT / "build").exists(), "the site's build left build/ in the checkout"
    server, url = serve(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    yield {"url": url, "out": out, "built_s": built_s, "bytes": size, "times": {}, "notebooks": notebooks}
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(site):
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                    "--disable-background-networking", "--disable-component-update"])
        yield b
        b.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "lite-times.json").write_text(json.dumps(
        {"site_mib": round(site["bytes"] / 2**20, 1), "build_s": round(site["built_s"], 1), **site["times"]}, indent=1))


def _local(url: str) -> bool:
    if url.startswith(("data:", "blob:")):
        return True
    host = url.split("/")[2].rsplit(":", 1)[0] if "://" in url else ""
    return host in ("127.0.0.1", "localhost")


def _open(browser, site, name: str, kernel: bool = True, context=None, url: str | None = None, query: str = ""):
    """Open ``name`` from the site's root page; every request off localhost is refused and recorded.

    Returns once JupyterLab has the notebook open and, with ``kernel``, once its kernel has run code.
    The page is in its own browser context (its own storage) unless ``context`` is given; ``url`` is the
    site's address if not ``site["url"]``; ``query`` is added to the page's address.
    """
    viewport = {"width": 1500, "height": 1100}
    page = browser.new_page(viewport=viewport) if context is None else context.new_page()
    page.outside = []

    def route(r):
        url = r.request.url
        if not _local(url):
            page.outside.append(url)
            r.abort()
        elif url.split("?")[0].endswith("/jupyter-lite.json"):      # the app object, for the test to read
            response = r.fetch()
            config = response.json()
            config.setdefault("jupyter-config-data", {})["exposeAppInBrowser"] = "true"
            r.fulfill(response=response, json=config)
        else:
            r.continue_()
    page.route("**/*", route)
    t0 = time.monotonic()
    target = "" if name == NOTEBOOKS[0] and not query else f"lab/index.html?path=notebooks/{name}{query}"
    page.goto(f"{url or site['url']}/{target}")
    wait_for_notebook(page, f"notebooks/{name}")                # the notebook, not an empty lab
    if kernel:
        wait_for_kernel(page)                                     # the kernel itself, not the status bar
    page.open_s = time.monotonic() - t0
    return page


def _run_all(page) -> float:
    page.locator(".jp-Notebook .jp-Cell").first.click(force=True)
    page.locator("li.lm-MenuBar-item", has_text="Run").click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
    t0 = time.monotonic()
    page.wait_for_function("() => [...document.querySelectorAll('.jp-Cell .jp-InputPrompt')]"
                           ".some(p => p.textContent.includes('*'))", timeout=60_000)
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-Cell .jp-InputPrompt')]"
                           ".some(p => p.textContent.includes('*'))", timeout=900_000, polling=1000)
    took = time.monotonic() - t0
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Error")
    assert errors.count() == 0, errors.first.text_content()[-2000:]
    return took


def _drawn(page) -> tuple[int, int]:
    """Figures and widgets drawn, visiting each cell (JupyterLab draws only what is near the viewport)."""
    figures = widgets = 0
    for cell in page.locator(".jp-Notebook .jp-CodeCell").all():
        cell.scroll_into_view_if_needed()
        page.wait_for_timeout(150)
        figures += cell.locator(".js-plotly-plot").count()
        widgets += cell.locator(".widget-vbox").count()
    return figures, widgets


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_the_browser_with_nothing_from_outside(browser, site, name):
    page = _open(browser, site, name)
    took = _run_all(page)
    figures, widgets = _drawn(page)
    assert figures >= 1, "no plotly figure drawn"
    if name[:2] in ("01", "03"):
        # a step control changes the figure: the stepper's title moves from step 0 to step 1
        app = page.locator(".widget-vbox", has=page.locator("button", has_text="step ▶")).first
        app.scroll_into_view_if_needed()
        title = app.locator(".js-plotly-plot .gtitle").first
        before = title.text_content()
        app.locator("button", has_text="step ▶").click()
        page.wait_for_function("([el, old]) => el.textContent !== old", arg=[title.element_handle(), before],
                               timeout=60_000)
        assert title.text_content().startswith("step 1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"lite-{Path(name).stem}.png"))
    site["times"][name] = {"open_s": round(page.open_s, 1), "run_all_s": round(took, 1),
                           "figures": figures, "widgets": widgets}
    assert page.outside == [], page.outside[:5]
    page.close()


# The output fields that carry what a reader sees; a Jupyter server sends each as one string
_TEXT_FIELDS = ("output_type", "name", "text", "data", "ename", "evalue", "traceback")


def _outputs_in_the_page(page) -> dict:
    """Every code cell's outputs as the page's notebook model holds them, by cell id."""
    return page.evaluate("""() => {
      const cells = window.jupyterapp.shell.currentWidget.content.model.cells, out = {};
      for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type === 'code') out[cell.id] = cell.outputs.toJSON();
      }
      return out;
    }""")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_stored_output_in_the_site_is_the_notebooks_text_for_text(browser, site, name):
    """The comma defect: a stream's list of lines once reached the page joined with commas."""
    page = _open(browser, site, name, kernel=False)
    shown = _outputs_in_the_page(page)
    page.close()
    code = [c for c in site["notebooks"][name].cells if c.cell_type == "code"]
    assert set(shown) == {c.id for c in code} | {build_lite.INSTALL_CELL_ID}
    assert shown[build_lite.INSTALL_CELL_ID] == []
    compared, differ = 0, []
    for cell in code:
        assert len(shown[cell.id]) == len(cell.outputs), cell.id
        for want, got in zip(cell.outputs, shown[cell.id]):
            differ += [f"cell {cell.id} {want.output_type} {field}:\n    site: {got.get(field)!r:.240}\n"
                       f"    repo: {want.get(field)!r:.240}"
                       for field in _TEXT_FIELDS if got.get(field) != want.get(field)]
            compared += 1
    assert compared > 0, f"{name} has no stored output (the notebooks are stored executed)"
    assert not differ, (f"{name}: {len(differ)} of {compared} stored outputs' fields differ in the site, "
                        f"e.g.\n" + "\n".join(differ[:1] + [d for d in differ if " stream " in d][:1]))
    assert page.outside == [], page.outside[:5]


SOAK_STEPS = 100


def test_soak_a_hundred_widget_interactions_in_a_row(browser, site):
    """Issue 29 item 4: the free-tree app in the browser site, driven from its slider with the keyboard
    100 times in a row (right to the end, then back): every interaction redraws the figure and its
    description within 30 s (no freeze), and the page's JavaScript heap after them stays within
    64 MiB of where it started (after a garbage collection each time). Figures in test-artifacts."""
    page = _open(browser, site, "01-free-tree.ipynb")
    _run_all(page)
    app = page.locator(".widget-vbox", has=page.locator("button", has_text="step ▶")).first
    app.scroll_into_view_if_needed()
    caption = app.locator(".widget-html", has_text="Figure:").first
    caption.wait_for(timeout=60_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def heap_mib() -> float:
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return metrics["JSHeapUsedSize"] / 2**20
    start = heap_mib()
    handle = app.locator(".widget-slider .noUi-handle, .widget-hslider .noUi-handle").first
    handle.focus()
    last = int(float(handle.get_attribute("aria-valuemax") or 0))
    assert last >= 10
    took: list[float] = []
    value = 0
    for i in range(SOAK_STEPS):
        forward = (i // last) % 2 == 0                 # to the end, back to the start, ...
        before = caption.text_content()
        t0 = time.monotonic()
        page.keyboard.press("ArrowRight" if forward else "ArrowLeft")
        value += 1 if forward else -1
        page.wait_for_function("([el, old]) => el.textContent !== old", arg=[caption.element_handle(), before],
                               timeout=30_000)
        took.append(time.monotonic() - t0)
    assert int(float(handle.get_attribute("aria-valuenow") or -1)) == value
    end = heap_mib()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "lite-soak.json").write_text(json.dumps(
        {"interactions": SOAK_STEPS, "heap_mib_start": round(start, 1), "heap_mib_end": round(end, 1),
         "slowest_s": round(max(took), 2), "median_s": round(sorted(took)[len(took) // 2], 2)}, indent=1))
    page.close()
    assert end - start < 64, (start, end)
    assert page.outside == [], page.outside[:5]


def test_progress_json_round_trip_in_the_browser_site(browser, site, tmp_path):
    """Issue 28: as in tests/test_browser.py, in the browser site: the tour's exercise answered, the
    progress downloaded from the page (a data URI: no server to write to), verified and tampered with."""
    page = _open(browser, site, "00-tour.ipynb")
    _run_all(page)
    ex = page.locator(".widget-vbox", has=page.locator("button", has_text="save progress")).first
    ex.scroll_into_view_if_needed()
    said = progress_round_trip(page, ex, "next-address", 1, tmp_path / "progress.json")
    assert said["score"].startswith("score: 1/1 right (1 without showing the solution first)")
    assert "records" in said["tampered"]
    page.close()
    assert page.outside == [], page.outside[:5]


# ---- issue 29 item 4: a returning learner after the course changed (docs/lite.md §3.1)
EDIT_JS = """async note => { const panel = window.jupyterapp.shell.currentWidget;
  panel.content.model.sharedModel.insertCell(0, {cell_type: 'markdown', source: note});
  await panel.context.save(); return panel.context.path; }"""
# a file as the site's contents give it: a notebook's cells' sources, or a folder's names
GET_JS = """async path => { const m = await window.jupyterapp.serviceManager.contents.get(path, {content: true});
  if (m.type === 'directory') return m.content.map(f => f.name);
  return m.content.cells.map(c => Array.isArray(c.source) ? c.source.join('') : c.source); }"""
DELETE_JS = "async path => { await window.jupyterapp.serviceManager.contents.delete(path); }"
PROMPT_CHECKED_JS = "() => document.documentElement.getAttribute('data-vmaplab-update')"


def _storage(out: Path) -> str:
    """The browser storage a built site keeps its learners' files in."""
    return json.loads((out / "jupyter-lite.json").read_text())["jupyter-config-data"]["contentsStorageName"]


def _prompt(page) -> str:
    """What the update prompt's check found in ``page``: "shown" or "nothing"."""
    page.wait_for_function(PROMPT_CHECKED_JS, timeout=60_000)
    return page.evaluate(PROMPT_CHECKED_JS)


def test_a_returning_learner_is_told_the_course_changed_and_keeps_their_copy(browser, site, tmp_path):
    """A learner edits and saves a notebook; the teacher rebuilds the site with that notebook changed and
    publishes it at the same address; the learner comes back (same browser storage). They must see the
    new notebook, be told the course changed and which files of theirs the browser keeps (axe-core:
    nothing serious in the prompt); "Don't ask again" holds until the address asks again; one button
    brings their copy beside the new notebook, and they are not asked again. Deleting their copy of a course notebook gives back the course's version, and the
    earlier site, opened again, still has their edit: nothing was changed in its storage. Screenshots:
    test-artifacts/lite-update-*.png."""
    name, path = "01-free-tree.ipynb", "notebooks/01-free-tree.ipynb"
    note, added, mine = "MY NOTE: the lazy tree, see 03", "NEW THIS TERM: a question on decay", "MINE AGAIN"
    served = tmp_path / "served"                  # one address, two sites: a symbolic link, switched over
    served.symlink_to(site["out"], target_is_directory=True)
    server, url = serve(served)
    # no service worker: once one controls the pages, their requests go round the test's route (which
    # refuses every host but this one and exposes the app object); the kernel, which needs it, is not run
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, service_workers="block")
    pages = []
    try:
        page = _open(browser, site, name, kernel=False, context=context, url=url)
        pages.append(page)
        assert _prompt(page) == "nothing"           # a first visit: nothing earlier in this browser
        assert page.evaluate(EDIT_JS, note) == path
        assert page.evaluate(GET_JS, path)[0] == note
        page.close()

        notebooks = tmp_path / "notebooks"         # the course, changed: one notebook gains a cell
        shutil.copytree(ROOT / "notebooks", notebooks)
        nb = nbformat.read(notebooks / name, as_version=4)
        nb.cells.append(nbformat.v4.new_markdown_cell(added))
        nbformat.write(nb, notebooks / name)
        updated = build_lite.build(tmp_path / "site2", notebooks=notebooks)
        assert _storage(updated) != _storage(site["out"])
        switched = tmp_path / "switched"
        switched.symlink_to(updated, target_is_directory=True)
        switched.replace(served)                   # published: the same address now serves the new site

        page = _open(browser, site, name, kernel=False, context=context, url=url)
        pages.append(page)
        assert _prompt(page) == "shown"
        prompt = page.locator("#vmaplab-update")
        assert "The course was updated" in prompt.text_content() and path in prompt.text_content()
        cells = page.evaluate(GET_JS, path)        # the new notebook, not the learner's old copy
        assert added in cells and note not in cells
        assert axe.serious(page, "#vmaplab-update") == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "lite-update-prompt.png"))
        page.locator("#vmaplab-update-never").click()      # "Don't ask again" ...
        assert page.locator("#vmaplab-update").count() == 0
        page.close()
        page = _open(browser, site, name, kernel=False, context=context, url=url)
        pages.append(page)
        assert _prompt(page) == "nothing"
        page.close()                                        # ... until the address asks again
        page = _open(browser, site, name, kernel=False, context=context, url=url, query="&vmaplab-earlier")
        pages.append(page)
        assert _prompt(page) == "shown"
        prompt = page.locator("#vmaplab-update")
        page.locator("#vmaplab-update-copy").click()
        prompt.get_by_text("Done: 1 file is here").wait_for(timeout=30_000)
        copies = [n for n in page.evaluate(GET_JS, "notebooks") if n.startswith("01-free-tree (my copy of ")]
        assert len(copies) == 1, copies
        assert page.evaluate(GET_JS, f"notebooks/{copies[0]}")[0] == note
        assert page.evaluate(GET_JS, path)[-1] == added
        # as the prompt says: the file browser lists the copy without a reload
        page.locator(".jp-DirListing-itemText", has_text="01-free-tree (my copy of").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "lite-update-copied.png"))
        page.close()

        page = _open(browser, site, name, kernel=False, context=context, url=url)
        pages.append(page)
        assert _prompt(page) == "nothing"           # copied: not asked again
        page.evaluate(EDIT_JS, mine)                # "reset to the course's version": delete your copy
        assert page.evaluate(GET_JS, path)[0] == mine
        page.evaluate(DELETE_JS, path)
        cells = page.evaluate(GET_JS, path)
        assert mine not in cells and cells[-1] == added
        assert page.evaluate(GET_JS, f"notebooks/{copies[0]}")[0] == note   # their copy untouched
        page.close()

        back = tmp_path / "back"                    # the earlier site, opened again at the same address
        back.symlink_to(site["out"], target_is_directory=True)
        back.replace(served)
        page = _open(browser, site, name, kernel=False, context=context, url=url)
        pages.append(page)
        assert _prompt(page) == "nothing"           # the later version is not "earlier"
        assert page.evaluate(GET_JS, path)[0] == note
        page.close()
    finally:
        context.close()
        server.terminate()
        server.wait(timeout=20)
    outside = [u for p in pages for u in p.outside]
    assert outside == [], outside[:5]
