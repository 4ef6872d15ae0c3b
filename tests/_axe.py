# SPDX-License-Identifier: MIT
"""axe-core for the browser tests (the book's pages in tests/test_site.py, the browser site's update prompt
in tests/test_lite.py): the npm registry's package, fetched once with ``npm pack`` and cached in
``~/.cache/vmaplab/npm`` (``$XDG_CACHE_HOME/vmaplab/npm``). Without npm a test skips here and fails under CI.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

AXE_VERSION = "4.14.1"
# axe's serious and critical findings in a page (or in the part that ``selector`` names), as
# [{id, impact, nodes: the first three targets}]
SERIOUS_JS = """async selector => (await axe.run(selector || document, {resultTypes: ['violations']})).violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""


def axe_source() -> str:
    """axe.min.js of AXE_VERSION."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vmaplab" / "npm"
    tgz = cache / f"axe-core-{AXE_VERSION}.tgz"
    if not tgz.is_file():
        if shutil.which("npm") is None:
            if os.environ.get("CI"):
                pytest.fail("CI must have npm (scripts/_npm.sh) to fetch axe-core", pytrace=False)
            pytest.skip("no npm here to fetch axe-core; CI has it")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(cache)], check=True,
                       stdout=subprocess.DEVNULL, timeout=300)
    with tarfile.open(tgz) as t:
        member = t.extractfile("package/axe.min.js")
        if member is None:
            raise RuntimeError(f"{tgz} has no package/axe.min.js")
        return member.read().decode()


def serious(page, selector: str | None = None) -> list[dict]:
    """axe-core run in ``page`` (injected first): its serious and critical findings."""
    page.add_script_tag(content=axe_source())
    return page.evaluate(SERIOUS_JS, selector)
