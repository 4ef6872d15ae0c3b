# SPDX-License-Identifier: MIT
"""Issue 29: the browser site takes updates. JupyterLite serves a learner's stored copy of a notebook
in place of the site's, under a storage named in jupyter-lite.json; the build names that storage
after the course's content, so an updated course opens in a fresh storage (docs/lite.md)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
build_lite = pytest.importorskip("build_lite")


def test_the_storage_is_named_after_the_content(tmp_path):
    files = tmp_path / "files"
    (files / "notebooks").mkdir(parents=True)
    (files / "notebooks" / "00-tour.ipynb").write_text("{}")
    first = build_lite.storage_name(files)
    assert first.startswith("vmaplab ") and build_lite.storage_name(files) == first
    (files / "notebooks" / "00-tour.ipynb").write_text('{"cells": []}')
    changed = build_lite.storage_name(files)
    (files / "notebooks" / "00-tour.ipynb").write_text("{}")
    (files / "notebooks" / "01-free-tree.ipynb").write_text("{}")
    added = build_lite.storage_name(files)
    assert len({first, changed, added}) == 3


def test_the_site_config_carries_it(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("x")
    build_lite.write_config(tmp_path)
    config = json.loads((tmp_path / "jupyter-lite.json").read_text())["jupyter-config-data"]
    assert config["contentsStorageName"] == build_lite.storage_name(tmp_path / "files")
