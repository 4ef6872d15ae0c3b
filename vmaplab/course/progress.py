# SPDX-License-Identifier: MIT
"""A progress bar for long cells that leaves a finished line behind, not a frozen widget.

What it is for: a sweep or a simulation in a notebook shows a live bar while it runs; when the
stream ends the bar's output is replaced, through its display handle, by one plain line ("threads:
14/14 runs in 9.8 s"), so a notebook stored after running reads "done" where no kernel runs
(issue 14: no widget repr, no bar stuck at 0%). Outside a Jupyter kernel it is tqdm on stderr, or
nothing when tqdm is missing.

Invariants: every item of the stream is yielded once, in order; the final line is written even when
the consumer stops early or raises (it then says where it stopped).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator


class _Line:
    """One finished line, as text and as HTML (GitHub and nbviewer show the HTML)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<pre style='margin:0'>{self.text}</pre>"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    # ipykernel's shell has a kernel; so has the browser's (Pyodide) one, whose config is empty
    return shell is not None and (getattr(shell, "kernel", None) is not None
                                  or "IPKernelApp" in getattr(shell, "config", {}))


def progress(iterable: Iterable, total: int | None = None, desc: str = "runs", unit: str = "runs") -> Iterator:
    """Wrap ``iterable`` (the stream of finished runs) in a bar; the signature sweeps take as ``progress``."""
    if not _in_kernel():
        try:
            from tqdm import tqdm
        except ImportError:
            yield from iterable
            return
        yield from tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr)
        return
    import ipywidgets as w
    from IPython.display import display
    bar = w.IntProgress(value=0, min=0, max=total or 1, description=desc,
                        layout=w.Layout(width="420px"), style={"description_width": "initial"})
    label = w.Label(f"0/{total if total is not None else '?'} {unit}")
    handle = display(w.HBox([bar, label]), display_id=True)
    start, done = time.monotonic(), 0
    try:
        for item in iterable:
            done += 1
            bar.value = done
            label.value = f"{done}/{total if total is not None else '?'} {unit}"
            yield item
    finally:
        took = time.monotonic() - start
        stopped = "" if total is None or done == total else " (stopped early)"
        handle.update(_Line(f"{desc}: {done}/{total if total is not None else done} {unit} in {took:.1f} s{stopped}"))
