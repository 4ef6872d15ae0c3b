# SPDX-License-Identifier: MIT
"""The browser tests' view of JupyterLab's app object (``window.jupyterapp``).

The status bar's "Idle" is not the kernel: in JupyterLite it shows while the Pyodide kernel is
still initializing (no kernel yet behind the session). So the tests wait for the open notebook's
panel, then for its kernel to answer a request to run code with the marker that code prints.
JupyterLab exposes the app when its page option ``exposeAppInBrowser`` is true: the server's
``--LabApp.expose_app_in_browser=True``; for JupyterLite, the test serves ``jupyter-lite.json``
with the option added (tests/test_lite.py).
"""
from __future__ import annotations

# true once JupyterLab's current widget is the notebook at ``path`` with its file read
PANEL_JS = """path => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                        return !!(w && w.context && w.context.path === path && w.context.isReady); }"""
# the current notebook's kernel runs code; its marker is built from two halves, so the code's own
# text (which a kernel may echo) cannot pass for its output
KERNEL_UP_JS = """async ([timeoutMs]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const run = (async () => {
    await panel.sessionContext.ready;
    const future = panel.sessionContext.session.kernel.requestExecute(
      {code: "print('vmaplab-kernel-' + 'up')", silent: false, store_history: false});
    let printed = '';
    future.onIOPub = msg => { if (msg.header.msg_type === 'stream') printed += msg.content.text; };
    const reply = await future.done;
    return {status: reply.content.status, printed: printed};
  })();
  const late = new Promise(done => setTimeout(() => done({status: 'no answer in ' + timeoutMs + ' ms', printed: ''}),
                                              timeoutMs));
  return Promise.race([run, late]);
}"""
KERNEL_MARKER = "vmaplab-kernel-up\n"


def wait_for_notebook(page, path: str, timeout_ms: int = 120_000) -> None:
    """Wait until JupyterLab has the notebook at ``path`` (relative to its root) open and read."""
    page.wait_for_function(PANEL_JS, arg=path, timeout=timeout_ms, polling=200)


def wait_for_kernel(page, timeout_ms: int = 300_000) -> None:
    """Wait until the current notebook's kernel has run code and printed the marker."""
    answer = page.evaluate(KERNEL_UP_JS, [timeout_ms])
    assert answer == {"status": "ok", "printed": KERNEL_MARKER}, f"the kernel did not run code: {answer}"


def progress_round_trip(page, ex, kind: str, seed: int, dest) -> dict:
    """Issue 28's progress.json round trip in a browser: in the ExerciseApp ``ex`` (a locator), answer
    its problem wrong, then right, save the progress and download it through the page's link into
    ``dest``; then ``vmaplab exercises --verify`` must score it, and refuse a copy whose recorded
    verdict was changed. Returns {"score": the verify line, "tampered": its one-line refusal}."""
    import json
    import subprocess
    import sys

    from vmaplab.course.exercises import make
    right = make(kind, seed).answer
    box = ex.locator("input[type='text']").first
    box.fill("123456789")
    ex.locator("button", has_text="check").click()
    ex.get_by_text("Not '123456789'").wait_for(timeout=30_000)
    box.fill(right)
    ex.locator("button", has_text="check").click()
    ex.get_by_text("Right:").first.wait_for(timeout=30_000)
    ex.locator("button", has_text="save progress").click()
    link = ex.get_by_text("download progress.json")
    link.wait_for(timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        link.click()
    download.value.save_as(dest)
    card = json.loads(dest.read_text())
    mine = [e for e in card["entries"] if e["kind"] == kind and e["seed"] == seed]
    assert mine and mine[-1]["correct"] is True and mine[-1]["attempts"] >= 2, mine
    ok = subprocess.run([sys.executable, "-m", "vmaplab", "exercises", "--verify", str(dest)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    score = next(line for line in ok.stdout.splitlines() if line.startswith("score:"))
    for e in card["entries"]:
        e["correct"] = not e["correct"]                        # a learner's edit: every verdict turned round
    tampered = dest.with_name("tampered-" + dest.name)
    tampered.write_text(json.dumps(card))
    bad = subprocess.run([sys.executable, "-m", "vmaplab", "exercises", "--verify", str(tampered)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stdout + bad.stderr
    return {"score": score, "tampered": bad.stderr.strip().splitlines()[-1]}
