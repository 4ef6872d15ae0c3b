# SPDX-License-Identifier: MIT
"""The README's Python examples run as written (SimPy's habit: documentation cannot drift)."""
import pathlib
import re

ROOT = pathlib.Path(__file__).parents[1]


def test_python_blocks_run_in_order(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    ns: dict = {}
    for block in blocks:
        exec(block, ns)                  # the usage example asserts the pool reuse itself
    assert len(ns["info"]) == 1987 and len(ns["vm"].vmallocinfo().splitlines()) == 1987
