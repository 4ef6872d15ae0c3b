# SPDX-License-Identifier: MIT
"""The course with no server: the JupyterLite site built, served on 127.0.0.1, every notebook run in
Debian's Chromium, with every request off localhost refused and counted (docs/lite.md).

Each notebook's cold open (page load to an idle Pyodide kernel) and run-all times are written to
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("lite") / "site"
    had_build = (ROOT / "build").exists()
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
    yield {"url": url, "out": out, "built_s": built_s, "bytes": size, "times": {}}
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


def _open(browser, site, name: str):
    """Open ``name`` from the site's root page; every request off localhost is refused and recorded."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.outside = []

    def route(r):
        if _local(r.request.url):
            r.continue_()
        else:
            page.outside.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    t0 = time.monotonic()
    target = "" if name == NOTEBOOKS[0] else f"lab/index.html?path=notebooks/{name}"   # the root opens the tour
    page.goto(f"{site['url']}/{target}")
    page.wait_for_function("() => [...document.querySelectorAll('span')].some("
                           "s => s.textContent.includes('Kernel status: Idle'))", timeout=300_000, polling=500)
    page.open_s = time.monotonic() - t0
    page.get_by_text(name).first.wait_for(state="attached", timeout=60_000)      # the notebook, not an empty lab
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
    assert errors.count() == 0, errors.first.inner_text()[-2000:]
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
