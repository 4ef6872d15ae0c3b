# SPDX-License-Identifier: MIT
"""Experiment specs and sweeps: checked before anything runs, the same rows on every executor, resume.

The Dask tests use a ``LocalCluster(n_workers=2, threads_per_worker=1)``; they skip when Dask is not
installed, except under ``CI=true`` (the test extra installs it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vmaplab.cli import main
from vmaplab.contention import experiments as ex
from vmaplab.contention.experiments import SpecError, load_experiment, parse_experiment, run_experiment

REPO = Path(__file__).resolve().parents[1]
SMALL = {"name": "small", "base": {"scale": 20000, "nr_cpus": 4, "run_test_mask": 7},
         "grid": {"version": ["6.8", "6.9"], "nr_threads": [1, 4], "seed": [0, 3]}}


@pytest.mark.parametrize("doc, message", [
    ({"name": "x", "grid": {"nr_thread": [1]}}, "grid.nr_thread: unknown parameter 'nr_thread'"),
    ({"name": "x", "base": {"scale": 0}}, "base.scale must be an integer in 1..1000000, got 0"),
    ({"name": "x", "grid": {"version": ["6.10"]}}, "grid.version must be one of 6.1, 6.8, 6.9, 6.12, 7.3, got '6.10'"),
    ({"name": "x", "grid": {"cost.t_memory_ns": [1]}}, "grid.cost.t_memory_ns: unknown cost 't_memory_ns'"),
    ({"name": "x", "grid": {"cost.f_smt": [-1]}}, "grid.cost.f_smt: f_smt must be a number in 0..1e+09"),
    ({"name": "x", "grid": {"nr_threads": 4}}, "grid.nr_threads must be a non-empty list"),
    ({"name": "x", "grid": {"nr_threads": []}}, "grid.nr_threads must be a non-empty list"),
    ({"name": "x", "base": {"nr_cpus": 2}, "grid": {"nr_threads": [1, 4]}}, "nr_threads=4 > nr_cpus=2"),
    ({"name": "x", "sample": {"n": 4}}, "[sample.ranges] names no parameter"),
    ({"name": "x", "sample": {"n": 4, "ranges": {"cost.f_smt": [2.0, 1.0]}}}, "low <= high"),
    ({"name": "x", "sample": {"n": 0, "ranges": {"seed": [0, 1]}}}, "sample.n must be an integer in 1..100000"),
    ({"name": "x", "grid": {"pools": [1]}}, "grid.pools must be true or false, got 1"),
    ({"name": "x", "grids": {}}, "unknown table(s) ['grids']"),
    ({"grid": {}}, "'name' must be a non-empty string"),
    ({"name": "x", "grid": [{"seed": [0]}, 3]}, "grid a table or an array of tables"),
])
def test_bad_specs_name_the_field_before_anything_runs(doc, message):
    with pytest.raises(SpecError) as e:
        parse_experiment(doc)
    assert message in str(e.value)


def test_shipped_specs_parse():
    sizes = {p.stem: len(load_experiment(p).runs()) for p in (REPO / "experiments").glob("*.toml")}
    assert sizes["scale"] == 30 and sizes["threads"] == 14 and sizes["sensitivity"] == 28 and sizes["smoke"] >= 8


def test_union_of_grids_and_cost_constants():
    exp = parse_experiment({"name": "u", "base": {"nr_threads": 2, "scale": 20000},
                            "grid": [{"version": ["6.8"]}, {"version": ["6.9"], "cost.f_smt": [1.3, 2.0]}]})
    runs = exp.runs()
    assert [r.get("cost.f_smt") for r in runs] == [None, 1.3, 2.0]
    assert ex.to_runspec(runs[2]).costs.f_smt == 2.0 and ex.to_runspec(runs[0]).costs.f_smt == 1.6


def test_a_point_two_grid_tables_share_runs_once():
    exp = parse_experiment({"name": "u", "base": {"scale": 20000, "nr_cpus": 8},
                            "grid": [{"version": ["6.8", "6.9"], "nr_threads": [2]},
                                     {"version": ["6.9"], "nr_threads": [2, 4]}]})
    assert [(r["version"], r["nr_threads"]) for r in exp.runs()] == [("6.8", 2), ("6.9", 2), ("6.9", 4)]


def test_sample_is_seeded_and_stays_in_its_ranges():
    doc = {"name": "s", "sample": {"n": 50, "seed": 7, "ranges": {"cost.t_mem_ns": [70, 120.0], "seed": [0, 9]}}}
    a, b = parse_experiment(doc).runs(), parse_experiment(doc).runs()
    c = parse_experiment({**doc, "sample": {**doc["sample"], "seed": 8}}).runs()
    assert a == b and a != c and len(a) == 50
    assert all(70 <= r["cost.t_mem_ns"] <= 120 and isinstance(r["seed"], int) and 0 <= r["seed"] <= 9 for r in a)


def _files(stem: Path) -> tuple[str, str]:
    return stem.with_suffix(".csv").read_text(), stem.with_suffix(".jsonl").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "small"
    rows = run_experiment(parse_experiment(SMALL), out, jobs=1)
    return out, rows


def test_rows_are_tidy_and_carry_their_parameters(reference):
    out, rows = reference
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8
    first = rows[0]
    assert {"version", "nr_threads", "seed", "scale", "nr_cpus", "run_test_mask", "wall_s", "slowpath_self_pct",
            "vmaplab"} <= set(first)
    csv_text, jsonl = _files(out)
    assert csv_text.splitlines()[0].startswith("key,") and len(csv_text.splitlines()) == 9
    assert [json.loads(line)["key"] for line in jsonl.splitlines()] == [r["key"] for r in rows]
    # the seed matters with run_test_mask=7 (random sizes): two seeds, two results
    by = {(r["version"], r["nr_threads"], r["seed"]): r["wall_s"] for r in rows}
    assert by[("6.9", 4, 0)] != by[("6.9", 4, 3)]


def test_process_pool_gives_the_same_bytes(reference, tmp_path):
    out, _ = reference
    run_experiment(parse_experiment(SMALL), tmp_path / "pool", jobs=2)
    assert _files(tmp_path / "pool") == _files(out)


def test_resume_skips_finished_runs(reference, tmp_path, monkeypatch):
    out, rows = reference
    stem = tmp_path / "resumed"
    kept = out.with_suffix(".jsonl").read_text().splitlines()[:3]
    stem.with_suffix(".jsonl").write_text("\n".join(kept) + "\n" + kept[3 - 1][:20])   # an interrupted line
    ran = []
    real = ex._measure
    monkeypatch.setattr(ex, "_measure", lambda p: ran.append(p) or real(p))
    run_experiment(parse_experiment(SMALL), stem, jobs=1)
    assert len(ran) == 5
    assert _files(stem) == _files(out)


def _dask_or_skip():
    try:
        import distributed  # noqa: F401  (only whether it imports)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("Dask is not installed (pip install 'vmaplab[dask]')")


@pytest.fixture(scope="module")
def local_cluster():
    _dask_or_skip()
    with ex.dask_executor(2) as (executor, client):
        yield executor, client


def test_dask_local_cluster_gives_the_same_bytes(reference, local_cluster, tmp_path):
    out, _ = reference
    executor, client = local_cluster
    assert len(client.scheduler_info()["workers"]) == 2
    assert all(w["nthreads"] == 1 for w in client.scheduler_info()["workers"].values())
    run_experiment(parse_experiment(SMALL), tmp_path / "dask", executor=executor)
    assert _files(tmp_path / "dask") == _files(out)


def test_sweep_cli_and_its_bad_input(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "cli"\n[base]\nscale = 20000\nnr_threads = 2\n[grid]\nversion = ["6.8", "6.9"]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--quiet", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 runs (0 already" in out and (tmp_path / "o.csv").exists()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "2 runs (2 already" in capsys.readouterr().out
    spec.write_text('name = "cli"\n[grid]\nnr_threds = [1]\n')
    assert main(["sweep", str(spec)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ARG")]
    assert len(err) == 1 and "unknown parameter 'nr_threds'" in err[0]
    spec.write_text("name = [\n")
    assert main(["sweep", str(spec)]) == 2
    assert "not TOML" in capsys.readouterr().err


def test_latin_hypercube_puts_one_point_in_every_stratum():
    import random

    from vmaplab.contention.ranges import latin_hypercube
    pts = latin_hypercube(10, {"a": (0.0, 1.0), "b": (10.0, 20.0), "k": (10, 14)}, random.Random(3))
    assert sorted(int(p["a"] * 10) for p in pts) == list(range(10))
    assert sorted(int(p["b"] - 10) for p in pts) == list(range(10))
    assert all(isinstance(p["k"], int) and 10 <= p["k"] <= 14 for p in pts)
    assert pts == latin_hypercube(10, {"a": (0.0, 1.0), "b": (10.0, 20.0), "k": (10, 14)}, random.Random(3))


def test_every_cost_constant_has_a_range_around_its_default():
    from dataclasses import fields

    from vmaplab.contention.costs import ContentionCosts
    from vmaplab.contention.ranges import COST_RANGES
    from vmaplab.workloads.costs import CostModel
    costs = ContentionCosts()
    numeric = {f.name: getattr(costs, f.name) for f in fields(costs) if f.name not in ("calls", "cache_model", "cache_capacity")}
    numeric.update({f.name: getattr(costs.calls, f.name) for f in fields(CostModel) if f.name != "init_on_alloc"})
    assert set(numeric) == set(COST_RANGES)
    defaults = {**numeric, "f_smt_clear": costs.f_smt, "t_cross_ns": 94.0}    # None: what the model uses instead
    for name, r in COST_RANGES.items():
        assert r.low <= defaults[name] <= r.high and r.source, name


def test_uncertainty_spec_pairs_versions_by_sample_and_reports_intervals(tmp_path):
    doc = {"name": "u", "report": "uncertainty", "base": {"nr_threads": 2, "scale": 20000, "run_test_mask": 7},
           "grid": {"version": ["6.8", "6.9"]},
           "sample": {"n": 3, "seed": 5, "method": "lhs", "ranges": "costs"}}
    exp = parse_experiment(doc)
    runs = exp.runs()
    assert len(runs) == 6 and [r["sample"] for r in runs] == [0, 1, 2, 0, 1, 2]
    assert runs[0]["cost.t_mem_ns"] == runs[3]["cost.t_mem_ns"] != runs[1]["cost.t_mem_ns"]
    rows = run_experiment(exp, tmp_path / "u", jobs=1)
    report = ex.uncertainty_report(rows, {"nr_threads=2": {"ratio 6.8/6.9": 1.0}})
    assert [iv.metric for iv in report] == list(ex.METRICS) and all(iv.n == 3 for iv in report)
    ratio = next(iv for iv in report if iv.metric == "ratio 6.8/6.9")
    walls = {v: [r["wall_s"] for r in rows if r["version"] == v] for v in ("6.8", "6.9")}
    ratios = sorted(a / b for a, b in zip(walls["6.8"], walls["6.9"]))
    assert ratio.low == pytest.approx(ratios[0] + (ratios[1] - ratios[0]) * 0.1) and ratio.median == ratios[1]
    assert ratio.inside == (ratio.low <= 1.0 <= ratio.high)


def test_the_shipped_uncertainty_specs_meet_their_published_values():
    # every point of the two uncertainty specs finds its published numbers (labels and keys agree)
    pub = ex.published_for_report()
    for name, expected in (("uncertainty-headline", 1), ("uncertainty-v1", 6)):
        exp = load_experiment(REPO / "experiments" / f"{name}.toml")
        rows = [{**p, "key": ex.run_key(p), "wall_s": 1.0, "slowpath_self_pct": 1.0, "vmaplab": "x"}
                for p in exp.runs()[:: max(1, exp.sample_n // 2)]]
        report = ex.uncertainty_report(rows, pub)
        points = {iv.point for iv in report}
        assert len(points) == expected and all(iv.published is not None for iv in report if iv.metric == "wall 6.8 (s)")


def test_profile_intervals_line_up_each_symbol_with_the_letter():
    from vmaplab.contention.experiments import profile_intervals
    from vmaplab.contention.published import published
    pub = published()
    rows = [{"version": "6.9", "nr_threads": 64, "run_test_mask": 7, "sample": i,
             "profile": {"clear_page_rep": [20.0 + i, 20.0 + i], "fix_size_alloc_test": [4.0 + i, 0.0]}}
            for i in range(5)]
    rows.append({"version": "6.9", "nr_threads": 8, "run_test_mask": 7, "sample": 0,
                 "profile": {"clear_page_rep": [90.0, 90.0]}})          # not the letter's workload: ignored
    rows.append({"version": "6.9", "nr_threads": 64, "run_test_mask": 7, "sample": 0, "machine": "epyc-7713",
                 "nr_cpus": 128, "profile": {"clear_page_rep": [90.0, 90.0]}})   # nor the letter's machine
    got = {(iv.symbol, iv.column): iv for iv in profile_intervals(rows)}
    n69 = len(pub["6.9"]["profile"]) + len({r["symbol"] for r in pub["6.8"]["profile"]}
                                           - {r["symbol"] for r in pub["6.9"]["profile"]})
    assert len(got) == 2 * n69 and all(iv.version == "6.9" and iv.n == 5 for iv in got.values())
    clear = got[("clear_page_rep", "self")]
    assert (clear.median, clear.letter, clear.bound) == (22.0, 21.67, None)
    assert clear.low == pytest.approx(20.2) and clear.high == pytest.approx(23.8) and clear.inside
    fix = got[("fix_size_alloc_test", "children")]              # only in 6.8's table: bounded by 6.9's last row
    assert fix.letter is None and fix.bound == pub["6.9"]["profile"][-1]["children_pct"]
    assert fix.low == pytest.approx(4.2) and fix.inside          # 4.2 < 4.47: some of the interval under the bound
    slow = got[("native_queued_spin_lock_slowpath", "self")]    # missing from every run: 0
    assert (slow.low, slow.high, slow.inside) == (0.0, 0.0, False)
    assert profile_intervals([{k: v for k, v in r.items() if k != "profile"} for r in rows]) == []
