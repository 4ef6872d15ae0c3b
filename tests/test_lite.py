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
import socket
import subprocess
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
import build_lite  # noqa: E402
from _jupyterapp import progress_round_trip, wait_for_kernel, wait_for_notebook  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
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


def _open(browser, site, name: str, kernel: bool = True):
    """Open ``name`` from the site's root page; every request off localhost is refused and recorded.

    Returns once JupyterLab has the notebook open and, with ``kernel``, once its kernel has run code.
    """
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
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
    target = "" if name == NOTEBOOKS[0] else f"lab/index.html?path=notebooks/{name}"   # the root opens the tour
    page.goto(f"{site['url']}/{target}")
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
