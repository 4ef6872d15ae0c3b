# SPDX-License-Identifier: MIT
"""Where the course runs: a Jupyter kernel on a machine, or Pyodide in a browser (the JupyterLite site).

In the browser Python runs in WebAssembly, about half as fast, on one thread: no process pool,
no Dask. Long cells ask :func:`scaled` for their size and say so with :func:`note`, so the same
notebook runs top to bottom in both places (docs/lite.md).
"""
from __future__ import annotations

import sys

IN_BROWSER = sys.platform == "emscripten"


def scaled(native, browser):
    """``browser`` in Pyodide, ``native`` elsewhere."""
    return browser if IN_BROWSER else native


def note(what: str) -> None:
    """Say, in the browser only, what a cell does differently there."""
    if IN_BROWSER:
        print(f"(in the browser: {what})")
