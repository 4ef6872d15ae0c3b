# SPDX-License-Identifier: MIT
"""Where the browser site's update prompt puts a returning learner's earlier files (lite/update.js's
``plan``, docs/lite.md §3.1), run in node on hand-made cases and on 300 random ones.

The rules: a file goes to its own path if the course has no file there and this version's storage has
nothing there; else beside it as "NAME (my copy of DATE)", then "(my copy of DATE, TAG)", "TAG 2", ...;
no target is ever a path this version already holds (nothing of the learner's is overwritten) and no
two files get one target; a folder entry is copied only where neither the course nor this version has
it. The whole prompt is played in a browser by tests/test_lite.py (marker ``lite``). Without node the
module skips locally and fails under CI (``CI=true``), which installs it with npm.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "lite" / "update.js"
NODE = shutil.which("node")
if NODE is None:
    if os.environ.get("CI"):
        pytest.fail("CI must have node (Debian's npm brings it: scripts/_npm.sh)", pytrace=False)
    pytest.skip("no node here; CI has it", allow_module_level=True)

RUN = """const u = require(process.argv[1]);
let text = ''; process.stdin.on('data', d => text += d);
process.stdin.on('end', () => process.stdout.write(JSON.stringify(
  JSON.parse(text).map(c => u.plan(c.site, c.earlier, c.present)))));"""
SITE = {"storage": "vmaplab 0.3.0 cccccccccccc", "version": "0.3.0",
        "course": ["notebooks", "notebooks/00-tour.ipynb", "notebooks/01-free-tree.ipynb", "data", "data/x.txt"]}


def plans(cases: list[dict]) -> list[list[dict]]:
    done = subprocess.run([NODE, "-e", RUN, str(SCRIPT)], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def notebook(day: str, content: str) -> dict:
    return {"type": "notebook", "format": "json", "last_modified": f"{day}T10:00:00Z", "content": content}


def group(name: str, files: dict) -> dict:
    return {"name": name, "entries": [{"key": k, "value": v} for k, v in files.items()]}


def case(earlier: list[dict], present: dict | None = None) -> dict:
    return {"site": SITE, "earlier": earlier, "present": [{"key": k, "value": v} for k, v in (present or {}).items()]}


def test_a_course_notebook_goes_beside_the_new_one_with_its_content_and_names():
    [moves] = plans([case([group("vmaplab 0.2.0 aaaaaaaaaaaa",
                                 {"notebooks/01-free-tree.ipynb": notebook("2026-03-04", "MINE")})])])
    assert moves == [{"to": "notebooks/01-free-tree (my copy of 2026-03-04).ipynb",
                      "from": "notebooks/01-free-tree.ipynb",
                      "value": {**notebook("2026-03-04", "MINE"), "path": "notebooks/01-free-tree (my copy of 2026-03-04).ipynb",
                                "name": "01-free-tree (my copy of 2026-03-04).ipynb"}}]


def test_the_learners_own_files_and_folders_keep_their_paths():
    folder = {"type": "directory", "content": None}
    [moves] = plans([case([group("vmaplab 0.2.0 aaaaaaaaaaaa", {
        "mine": folder, "mine/notes.ipynb": notebook("2026-03-04", "N"), "notebooks": folder,
        "scratch.py": {"type": "file", "format": "text", "content": "print(1)"}})])])
    assert [(m["to"], m.get("from")) for m in moves] == [
        ("mine", None), ("mine/notes.ipynb", "mine/notes.ipynb"), ("scratch.py", "scratch.py")]


def test_two_earlier_versions_of_one_notebook_saved_the_same_day_both_arrive():
    day = "2026-05-06"
    [moves] = plans([case([group("vmaplab 0.1.0 aaaaaaaaaaaa", {"notebooks/00-tour.ipynb": notebook(day, "OLDEST")}),
                           group("vmaplab 0.2.0 bbbbbbbbbbbb", {"notebooks/00-tour.ipynb": notebook(day, "LATER")})])])
    assert [(m["to"], m["value"]["content"]) for m in moves] == [
        (f"notebooks/00-tour (my copy of {day}).ipynb", "OLDEST"),
        (f"notebooks/00-tour (my copy of {day}, bbbbbb).ipynb", "LATER")]


def test_copying_again_never_overwrites_what_this_version_holds():
    """?vmaplab-earlier, answered twice: the second copy finds the first one's files (perhaps edited
    since) in this version's storage and goes beside them."""
    earlier = [group("vmaplab 0.2.0 aaaaaaaaaaaa", {"notebooks/00-tour.ipynb": notebook("2026-05-06", "E"),
                                                    "own.ipynb": notebook("2026-05-06", "O")})]
    [first] = plans([case(earlier)])
    present = {m["to"]: {**m["value"], "content": "EDITED SINCE"} for m in first}
    [second] = plans([case(earlier, present)])
    assert [m["to"] for m in first] == ["notebooks/00-tour (my copy of 2026-05-06).ipynb", "own.ipynb"]
    assert [m["to"] for m in second] == ["notebooks/00-tour (my copy of 2026-05-06, aaaaaa).ipynb",
                                         "own (my copy of 2026-05-06).ipynb"]
    [third] = plans([case(earlier, {**present, **{m["to"]: m["value"] for m in second}})])
    assert [m["to"] for m in third] == ["notebooks/00-tour (my copy of 2026-05-06, aaaaaa 2).ipynb",
                                        "own (my copy of 2026-05-06, aaaaaa).ipynb"]


def test_random_cases_keep_the_rules():
    rng = random.Random(29)
    paths = SITE["course"] + ["own.ipynb", "mine", "mine/a.ipynb", "notebooks/own.ipynb", "x"]
    cases = []
    for _ in range(300):
        earlier = []
        for g in range(rng.randint(1, 3)):
            files = {}
            for p in rng.sample(paths, rng.randint(1, 5)):
                folder = p in ("notebooks", "data", "mine")
                files[p] = ({"type": "directory"} if folder else
                            notebook(rng.choice(["2026-01-01", "2026-01-02"]), f"{g}:{p}"))
            earlier.append(group(f"vmaplab 0.{g}.0 {g:x}{rng.getrandbits(44):011x}", files))
        present = {p: notebook("2026-02-02", "NOW") for p in rng.sample(paths, rng.randint(0, 4))}
        cases.append(case(earlier, present))
    for c, moves in zip(cases, plans(cases)):
        held = {e["key"] for e in c["present"]}
        targets = [m["to"] for m in moves]
        assert len(set(targets)) == len(targets), targets                 # one file per target
        assert not held & set(targets), (held, targets)                   # nothing this version holds
        files = [(g["name"], e["key"]) for g in c["earlier"] for e in g["entries"] if e["value"]["type"] != "directory"]
        assert [m["from"] for m in moves if "from" in m] == [k for _g, k in files]   # every file, in order
        for m in moves:
            if "from" not in m:                                           # a folder: only where nobody has it
                assert m["to"] not in SITE["course"] and m["to"] not in held
                continue
            assert m["value"]["path"] == m["to"] and m["to"].endswith(m["value"]["name"])
            if m["to"] != m["from"]:                                      # renamed: beside it, dated
                assert m["from"] in SITE["course"] or m["from"] in held or m["from"] in targets
                stem = m["from"].rsplit(".", 1)[0]
                assert m["to"].startswith(f"{stem} (my copy of {m['value']['last_modified'][:10]}")
