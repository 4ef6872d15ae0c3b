# SPDX-License-Identifier: MIT
"""Issue 27, items 3 and 4: the lint (ruff) and the type checker (mypy) that CI runs, configured in
pyproject.toml. ruff must find nothing; mypy must find nothing in any module of vmaplab (none is
exempt), and vmaplab/kernel is checked with the strict flags (every definition typed)."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(module: str) -> list[str]:
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return [sys.executable, "-m", module]


def test_ruff_finds_nothing():
    p = subprocess.run(_tool("ruff") + ["check", "vmaplab", "tests", "scripts", "benchmarks", "site"], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-1000:]


@pytest.mark.slow
def test_mypy_finds_nothing_in_the_modules_it_checks():
    p = subprocess.run(_tool("mypy") + ["vmaplab"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-1000:]


def test_no_module_is_exempt_and_the_kernel_is_strict():
    """Every module is checked (no ``ignore_errors`` override is left), and vmaplab/kernel with the
    per-module flags of ``mypy --strict``: a new untyped definition there fails the test above."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    overrides = conf.get("overrides", [])
    assert [o["module"] for o in overrides if o.get("ignore_errors")] == []
    kernel = [o for o in overrides if "vmaplab.kernel.*" in o["module"]]
    assert len(kernel) == 1
    for flag in ("disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_calls",
                 "disallow_any_generics", "warn_return_any", "check_untyped_defs"):
        assert kernel[0].get(flag) is True, flag
