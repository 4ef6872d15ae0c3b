# SPDX-License-Identifier: MIT
"""Which licence covers what, kept by a test (README, "Licences"): the MIT text at the root, the GPL-2.0
text beside the probe module, both declared in pyproject.toml, and an SPDX line at the top of every
source file (after a shebang): MIT everywhere, GPL-2.0 in vmaplab/oracle/module/."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "vmaplab" / "oracle" / "module"
SOURCES = ["vmaplab/**/*.py", "tests/*.py", "benchmarks/*.py", "scripts/*.py", "scripts/*.sh",
           "notebooks/src/*.py", "experiments/*.toml", "pyproject.toml", "binder/postBuild",
           "vmaplab/oracle/module/*.c", "vmaplab/oracle/module/Kbuild"]
# Files another change was editing when the SPDX lines went in (issue 27): they get theirs when that
# change lands; a file listed here that has its line fails the test, so the list only shrinks.
PENDING: frozenset[str] = frozenset()


def _sources() -> list[Path]:
    return sorted({p for pattern in SOURCES for p in ROOT.glob(pattern) if "__pycache__" not in p.parts})


def _spdx(path: Path) -> str | None:
    lines = path.read_text().splitlines()[:2]
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    m = re.fullmatch(r"(?:#|//) SPDX-License-Identifier: (\S+)", lines[0]) if lines else None
    return m and m[1]


def test_every_source_file_names_its_licence():
    wrong, done = [], []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        expected = "GPL-2.0" if path.parent == MODULE else "MIT"
        found = _spdx(path)
        if rel in PENDING:
            if found:
                done.append(rel)
        elif found != expected:
            wrong.append(f"{rel}: {found or 'no SPDX line'}, expected {expected}")
    assert len(_sources()) > 130
    assert wrong == []
    assert done == [], f"remove from PENDING: {done}"


def test_the_licence_texts_and_the_metadata_agree():
    mit = (ROOT / "LICENSE").read_text()
    assert mit.startswith("MIT License\n") and "Copyright (c) 2026 the vmaplab authors" in mit
    gpl = (MODULE / "COPYING").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in gpl and "Version 2, June 1991" in gpl
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT AND GPL-2.0-only"
    assert project["license-files"] == ["LICENSE", "vmaplab/oracle/module/COPYING"]
    readme = (ROOT / "README.md").read_text()
    for link in ("(LICENSE)", "(vmaplab/oracle/module/COPYING)", "(CHANGELOG.md)", "(CONTRIBUTING.md)"):
        assert link in readme
