# SPDX-License-Identifier: MIT
"""Issue 25, item 6: the real kernels' recorded answers referee today's model without QEMU.

``vmaplab/data/oracle-records/SERIES/NAME.json`` were made by ``vmaplab oracle run all --kernel
SERIES --record vmaplab/data/oracle-records`` (the command is in each record). Every record is
replayed on its kernel's own model generation, as the live oracle compares: every op and the final
/proc/vmallocinfo must agree. A model change that a real kernel contradicts fails here, on every
machine, before anyone boots a guest.
"""
from __future__ import annotations

import json

import pytest

from vmaplab.kernel.generations import ORACLE_SERIES
from vmaplab.oracle import ScenarioError
from vmaplab.oracle.records import FORMAT, load, load_all, record_doc, save, shipped_dir

RECORDS = load_all()
IDS = [f"{r.series}/{r.scenario.name}" for r in RECORDS]


def test_records_are_shipped_for_every_series_and_every_scenario_that_applies():
    from vmaplab.oracle import shipped_scenarios
    from vmaplab.oracle.scenario import load_scenario
    have = {(r.series, r.scenario.name) for r in RECORDS}
    recorded_series = sorted({r.series for r in RECORDS}, key=ORACLE_SERIES.index)
    assert recorded_series[:2] == ["6.1", "6.12"], recorded_series
    for series in recorded_series:
        for p in shipped_scenarios():
            scn = load_scenario(p)
            if scn.applies_to(series):
                assert (series, scn.name) in have, f"no record of {scn.name} on {series}: rerun the command above"


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_the_recorded_kernel_agrees_with_its_own_model(record):
    cmp = record.replay()
    bad = [f"#{o.index} cpu{o.cpu} {o.call}: kernel {o.kernel} vmaplab {o.vmaplab}" for o in cmp.ops if not o.match]
    assert not bad, f"{record.scenario.name} on Linux {record.release} against {record.own_model}: " + "; ".join(bad)
    assert cmp.final.match, f"{record.scenario.name} on {record.release}: {cmp.final.first_difference}"
    # a record that carries the guest's final free tree must match it node for node ("" = none recorded)
    assert cmp.free_tree_after in ("same", ""), f"{record.scenario.name}: final free tree: {cmp.free_tree_after}"


def test_a_record_round_trips_and_merges(tmp_path):
    src = RECORDS[0]
    doc = json.loads(open(src.path).read())
    other = {**doc, "scenario": {**doc["scenario"], "name": "another"}}
    save(tmp_path, other)
    path = save(tmp_path, doc)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([f"{src.scenario.name}.json", "another.json"])
    back = load(path)
    assert back.run == src.run and back.replay().to_json() == src.replay().to_json()
    assert record_doc(doc["scenario"], src.series, src.release, doc["probe_output"], doc["dmesg"],
                      src.boot_seconds, src.command) == doc


@pytest.mark.parametrize("damage, match", [
    (lambda d: {**d, "format": "x"}, f"not a {FORMAT}"),
    (lambda d: {k: v for k, v in d.items() if k != "release"}, "field 'release' is missing"),
    (lambda d: {**d, "boot_seconds": True}, "field 'boot_seconds'"),
    (lambda d: {**d, "series": "6.9"}, "series '6.9' is not one of"),
    (lambda d: {**d, "probe_output": "nothing"}, "the recorded answer is damaged"),
])
def test_a_damaged_record_is_refused_naming_the_file(tmp_path, damage, match):
    doc = json.loads(open(RECORDS[0].path).read())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(damage(doc)))
    with pytest.raises(ScenarioError, match=match) as e:
        load(bad)
    assert str(bad) in str(e.value)


def test_the_shipped_records_live_in_the_package():
    assert shipped_dir().is_dir() and shipped_dir().name == "oracle-records"


def test_the_short_pool_scenario_tells_the_generations_apart_as_notebook_03_says():
    """NB03 "The same rule on three real kernels": 6.1 (no pools) and 6.12 (a pool of two emptied by
    the second purge's decay) give CPU 1 the two freed addresses; 7.3 keeps the pool and gives them
    back to CPU 0, newest first. These are the kernels' recorded answers, not the model's."""
    from vmaplab.course.lessons import recorded_generations
    series, rows = recorded_generations("short-pool-across-purges")
    assert series == list(ORACLE_SERIES)

    def kernel(s, i):
        return rows[i].answers[s][0]
    for s in ("6.1", "6.12"):
        assert [kernel(s, 6), kernel(s, 7)] == [kernel(s, 0), kernel(s, 1)], s
    assert [kernel("7.3", 8), kernel("7.3", 9)] == [kernel("7.3", 1), kernel("7.3", 0)]
    assert all(k == m for r in rows for k, m in r.answers.values())
