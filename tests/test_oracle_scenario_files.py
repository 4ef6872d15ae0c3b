# SPDX-License-Identifier: MIT
"""Issue 26, items 9 and 12: an oracle scenario file goes through the one reader for user files, and a
scenario is checked whole before anything is downloaded or booted. Nothing here boots a guest: each bad
file is refused by ``vmaplab oracle run`` with one line on stderr and exit status 2."""
import json
import os

import pytest

from vmaplab.cli import main
from vmaplab.oracle.errors import ScenarioError
from vmaplab.oracle.scenario import load_scenario, parse_scenario

GOOD = {"name": "ok", "smp": 2, "description": "fine",
        "ops": [{"op": "vmalloc", "cpu": 0, "size": 4096, "as": "a"}, {"op": "vfree", "cpu": 0, "ref": "a"}]}


def _refused(capsys, path, *words):
    assert main(["oracle", "run", str(path)]) == 2
    cap = capsys.readouterr()
    err = [ln for ln in cap.err.splitlines() if not ln.startswith("ARG ")]
    assert len(err) == 1 and "Traceback" not in cap.err, cap.err
    for word in words:
        assert word in err[0], err[0]
    # the reader's own error, not wrapped again ("PosixPath('...'): cannot read (...)")
    assert err[0].startswith(f"vmaplab: error: {path}: ") and "PosixPath" not in err[0], err[0]


def _file(tmp_path, data, name="s.json"):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return p


@pytest.mark.parametrize("data, words", [
    (b"\x00\x01\x02\xff\xfe" * 10, ["not UTF-8"]),
    ('{"name": "caf\xe9"}'.encode("latin-1"), ["not UTF-8 (line 1)"]),
    (b"[" * 1000 + b"]" * 1000, ["nested too deeply"]),
    (b'{"name": "x", "smp": 2, "ops": [{"op": ["vmalloc"]}]}', ["'op' must be one of"]),
    (b'{"name": "x", "smp": 2, "ops": [{"op": "vmalloc", "size": ' + b"9" * 5000 + b"}]}", ["not JSON"]),
    (b" " * (2 << 20), ["larger than"]),
])
def test_bad_files_are_one_line(capsys, tmp_path, data, words):
    _refused(capsys, _file(tmp_path, data), str(tmp_path / "s.json"), *words)


def test_special_files_are_refused_at_once(capsys, tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    _refused(capsys, fifo, "not a regular file")          # would block forever
    _refused(capsys, "/dev/zero", "not a regular file")   # would read until memory runs out
    _refused(capsys, tmp_path, "Is a directory")


@pytest.mark.parametrize("change, words", [
    (lambda d: d["ops"][0].update(op="vmalloc_node", align=3), ["align", "power of two"]),
    (lambda d: d["ops"][0].update({"as": 0}), ["'as'"]),
    (lambda d: d["ops"][0].update({"as": ""}), ["'as'"]),
    (lambda d: d.update(description=5), ["description"]),
    (lambda d: d.update(name="../../x"), ["'name'"]),
    (lambda d: d.update(name="a/b"), ["'name'"]),
    (lambda d: d.update(name="x" * 300), ["'name'"]),
    (lambda d: d.update(name="."), ["'name'"]),
])
def test_a_scenario_is_checked_whole_before_anything_runs(capsys, tmp_path, change, words):
    doc = json.loads(json.dumps(GOOD))
    change(doc)
    with pytest.raises(ScenarioError):
        parse_scenario(doc, "s.json")
    _refused(capsys, _file(tmp_path, doc), *words)


def test_the_good_scenario_and_every_shipped_one_still_load(tmp_path):
    from vmaplab.oracle.scenario import shipped_scenarios
    assert load_scenario(_file(tmp_path, GOOD)).name == "ok"
    doc = json.loads(json.dumps(GOOD))
    doc["ops"][0].update(op="vmalloc_node", align=1 << 20)
    assert load_scenario(_file(tmp_path, doc)).ops[0].align == 1 << 20
    assert len([load_scenario(p) for p in shipped_scenarios()]) >= 25
