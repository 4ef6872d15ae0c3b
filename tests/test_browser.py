# SPDX-License-Identifier: MIT
"""Real-browser tests: JupyterLab on a free local port, Debian's Chromium driven by Playwright.

Each test opens a notebook, runs all its cells, checks that plotly figures and widgets rendered,
presses a widget's step control, checks that the view changed, and saves a screenshot under
``test-artifacts/`` (kept by CI as an artifact). Playwright never downloads a browser here: it
launches ``/usr/bin/chromium`` (``.ci/run`` installs Debian's ``chromium``). Without that browser
the tests skip locally and fail under CI (``CI=true``), so a missing install cannot pass silently.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI must install Debian's chromium (see .ci/run): /usr/bin/chromium is missing", pytrace=False)
    pytest.skip("no /usr/bin/chromium here (apt-get install chromium); CI installs it", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")
from _jupyterapp import progress_round_trip, wait_for_kernel, wait_for_notebook  # noqa: E402
from _static import free_port  # noqa: E402


def _settings(path: Path) -> None:
    """No news toast, no autosave (the run must not write into the copies' outputs mid-test)."""
    for plugin, values in {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                            "checkForUpdates": False},
                           "@jupyterlab/docmanager-extension/plugin": {"autosave": False}}.items():
        f = path / (plugin + ".jupyterlab-settings")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on copies of the notebooks (and data/ and experiments/, which 5 and 6 read)."""
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns("src"))
    shutil.copytree(ROOT / "data", home / "data")
    shutil.copytree(ROOT / "experiments", home / "experiments")
    _settings(home / "settings")
    port = free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR":
           str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "TQDM_DISABLE": "1"}
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                             "--ip=127.0.0.1", f"--port={port}", "--ServerApp.token=", "--ServerApp.password=",
                             "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={home / 'notebooks'}",
                             "--LabApp.expose_app_in_browser=True"],   # window.jupyterapp (tests/_jupyterapp.py)
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/api/status", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_and_run(browser, lab: str, name: str):
    """Open ``name`` in JupyterLab, run all cells, wait until the kernel is idle with no cell pending."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    # a workspace of its own per notebook, reset: earlier tests' tabs are not restored
    page.goto(f"{lab}/lab/workspaces/{Path(name).stem}/tree/{name}?reset", wait_until="domcontentloaded")
    # a kernel that has run code (not just the notebook, nor the status bar's text) is what makes the
    # run command reliable
    wait_for_notebook(page, name)
    wait_for_kernel(page, timeout_ms=120_000)
    page.locator(".jp-Notebook:visible .jp-Cell").first.click(force=True)     # make the notebook the current widget
    page.locator("li.lm-MenuBar-item", has_text="Run").click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Cell .jp-InputPrompt')].some(p => p.textContent.includes('*'))",
        timeout=60_000)
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.jp-Cell .jp-InputPrompt')].some(p => p.textContent.includes('*'))",
        timeout=600_000, polling=1000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Error")
    assert errors.count() == 0, errors.first.inner_text()
    return page


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"browser-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def test_tour_renders_its_figures(browser, lab):
    page = open_and_run(browser, lab, "00-tour.ipynb")
    page.locator(".js-plotly-plot").nth(2).wait_for(timeout=60_000)
    assert page.locator(".js-plotly-plot").count() >= 3
    page.locator(".js-plotly-plot").nth(2).scroll_into_view_if_needed()
    assert shot(page, "00-tour").stat().st_size > 10_000
    page.close()


def find_app(page, has):
    """The widget app (a VBox) that contains ``has``, scrolled into view."""
    app = page.locator(".widget-vbox", has=has).first
    app.wait_for(timeout=60_000)
    app.scroll_into_view_if_needed()
    return app


def step_and_wait(page, app, watched) -> str:
    """Press the app's "step ▶" and wait until ``watched``'s text changes; returns the old text."""
    watched.wait_for(timeout=60_000)
    before = watched.text_content()
    app.locator("button", has_text="step ▶").click()
    page.wait_for_function("([el, old]) => el.textContent !== old", arg=[watched.element_handle(), before],
                           timeout=30_000)
    return before


def test_free_tree_widget_steps(browser, lab):
    page = open_and_run(browser, lab, "01-free-tree.ipynb")
    app = find_app(page, page.locator("button", has_text="step ▶"))
    title = app.locator(".js-plotly-plot .gtitle")
    assert step_and_wait(page, app, title).startswith("step 0")
    assert title.text_content().startswith("step 1") and "LE_FIT_TYPE" in title.text_content()
    assert app.locator(".widget-slider, .widget-hslider").count() >= 1
    # the Play's icon buttons and the slider say what they do when the pointer rests on them
    assert "play" in (app.locator(".widget-play").first.get_attribute("title") or "")
    assert "step" in (app.locator(".widget-slider label, .widget-hslider label").first.get_attribute("title") or "")
    assert shot(page, "01-free-tree").stat().st_size > 10_000
    page.close()


def test_contention_widget_steps(browser, lab):
    page = open_and_run(browser, lab, "04-contention.ipynb")
    app = find_app(page, page.locator(".widget-html", has_text="µs —"))
    state = app.locator(".widget-html", has_text="µs —").first
    bars = app.locator(".js-plotly-plot .barlayer .point")
    n_before = bars.count()
    step_and_wait(page, app, state)
    page.wait_for_timeout(1500)                  # let plotly redraw the batch
    assert bars.count() > n_before, (n_before, bars.count())
    assert "6.8" in state.inner_text() and "6.9" in state.inner_text()
    assert shot(page, "04-contention").stat().st_size > 10_000
    page.close()


def test_experiments_runs_on_dask_and_draws_its_intervals(browser, lab):
    """Notebook 6 in the browser: a LocalCluster from inside the kernel, the same rows as the pool,
    every figure drawn, and the progress bars replaced by their finished lines."""
    page = open_and_run(browser, lab, "06-experiments.ipynb")
    page.get_by_text("process pool and Dask identical: True").first.wait_for(timeout=60_000)
    assert page.get_by_text("identical: False").count() == 0
    assert page.get_by_text("Dask: 2 workers, dashboard http://127.0.0.1:").count() == 1
    # JupyterLab draws only the cells near the viewport: visit each output to have it drawn
    drawn = 0
    for cell in page.locator(".jp-Notebook:visible .jp-CodeCell").all():
        cell.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        drawn += cell.locator(".js-plotly-plot").count()
    assert drawn == 6, drawn
    assert page.locator(".widget-inline-hbox .widget-progress").count() == 0     # every bar finished
    assert page.get_by_text("uncertainty-v1-small: 192/192 runs in").count() == 1
    page.locator(".jp-CodeCell", has_text="interval_band_figure").first.scroll_into_view_if_needed()
    assert shot(page, "06-experiments").stat().st_size > 10_000
    page.close()


def test_segment_mapping_zone_control_changes_the_grid(browser, lab):
    page = open_and_run(browser, lab, "02-segment-mapping.ipynb")
    app = find_app(page, page.locator(".widget-dropdown", has_text="zone pages"))
    title = app.locator(".js-plotly-plot .gtitle").first
    title.wait_for(timeout=60_000)
    before = title.text_content()
    app.locator(".widget-dropdown select").first.select_option("64")
    page.wait_for_function("([el, old]) => el.textContent !== old", arg=[title.element_handle(), before],
                           timeout=30_000)
    assert "zones of 64 pages = 16 cells" in title.text_content()
    assert "outlined" in app.inner_text()
    assert shot(page, "02-segment-mapping").stat().st_size > 10_000
    page.close()


def test_pools_widget_steps(browser, lab):
    page = open_and_run(browser, lab, "03-pools-and-decay.ipynb")
    app = find_app(page, page.locator("button", has_text="step ▶"))
    title = app.locator(".js-plotly-plot .gtitle").first
    assert step_and_wait(page, app, title).startswith("step 0")
    assert title.text_content().startswith("step 1")
    assert shot(page, "03-pools-and-decay").stat().st_size > 10_000
    page.close()


def test_vmallocinfo_notebook_draws_and_its_exercise_checks_answers(browser, lab):
    page = open_and_run(browser, lab, "05-vmallocinfo-and-vread.ipynb")
    ex = find_app(page, page.locator("button", has_text="show the solution"))
    box = ex.locator("input[type='text']").first
    box.fill("123456789")
    ex.locator("button", has_text="check").click()
    ex.get_by_text("Not '123456789'").wait_for(timeout=30_000)
    ex.locator("button", has_text="show the solution").click()
    ex.get_by_text("Solution:").wait_for(timeout=30_000)
    assert shot(page, "05-vmallocinfo-and-vread").stat().st_size > 10_000
    page.close()


def test_the_free_tree_app_works_from_the_keyboard_alone(browser, lab):
    """Issue 29 item 3: from the app's first control, Tab reaches the step slider, the arrow keys move it,
    and the figure and the description under it follow (no pointer once the notebook has run)."""
    page = open_and_run(browser, lab, "01-free-tree.ipynb")
    app = find_app(page, page.locator("button", has_text="step ▶"))
    caption = app.locator(".widget-html", has_text="Figure:").first
    caption.wait_for(timeout=60_000)
    title = app.locator(".js-plotly-plot .gtitle").first
    assert "Step 0" in caption.text_content() and title.text_content().startswith("step 0")
    app.locator(".widget-play button").first.focus()             # where a Tab into the app lands first
    handle = app.locator(".widget-slider .noUi-handle, .widget-hslider .noUi-handle").first
    for _ in range(8):
        if handle.evaluate("h => h === document.activeElement || h.contains(document.activeElement)"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("Tab never reached the step slider")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("el => el.textContent.includes('Step 2')", arg=caption.element_handle(), timeout=30_000)
    assert title.text_content().startswith("step 2")
    assert shot(page, "01-free-tree-keyboard").stat().st_size > 10_000
    page.close()


def test_progress_json_round_trip_in_jupyterlab(browser, lab, tmp_path):
    """Issue 28: the tour's exercise answered wrong then right, progress.json downloaded from the page,
    scored by ``vmaplab exercises --verify``, and a copy with its verdicts turned round refused."""
    page = open_and_run(browser, lab, "00-tour.ipynb")
    ex = find_app(page, page.locator("button", has_text="save progress"))
    said = progress_round_trip(page, ex, "next-address", 1, tmp_path / "progress.json")
    assert said["score"].startswith("score: 1/1 right (1 without showing the solution first)")
    assert "records" in said["tampered"]
    page.close()
