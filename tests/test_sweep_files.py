# SPDX-License-Identifier: MIT
"""Issue 26, first group: the sweep's result files. Nothing lost, nothing written where it should not be.

One writer (temporary file beside the target, fsync, rename) that merges with the rows already
there; a spec name that is a file-name stem; resume that keeps only rows a fresh run would have
written (same parameters, same model); Ctrl-C that keeps every finished row and exits 130.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmaplab.cli import main
from vmaplab.contention import experiments as ex
from vmaplab.contention.experiments import SpecError, SweepInterrupted, parse_experiment, run_experiment

TINY = {"name": "tiny", "base": {"scale": 20000, "nr_cpus": 2, "nr_threads": 2},
        "grid": {"version": ["6.8", "6.9"], "seed": [0, 1]}}
OTHER = {"name": "other", "base": {"scale": 20000, "nr_threads": 1}, "grid": {"version": ["6.9"]}}


def _files(stem: Path) -> tuple[str, str]:
    return Path(f"{stem}.csv").read_text(), Path(f"{stem}.jsonl").read_text()


def _err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ARG")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    stem = tmp_path_factory.mktemp("ref") / "tiny"
    rows = run_experiment(parse_experiment(TINY), stem, jobs=1)
    return stem, rows


@pytest.fixture
def counted(monkeypatch):
    """The runs that actually ran, in order."""
    ran = []
    real = ex._measure
    monkeypatch.setattr(ex, "_measure", lambda p: ran.append(p) or real(p))
    return ran


# -- item 1: two specs with the same --out ------------------------------------------------------

def test_two_specs_sharing_an_output_keep_each_others_rows(reference, tmp_path, counted):
    ref_stem, ref_rows = reference
    stem = tmp_path / "shared"
    run_experiment(parse_experiment(TINY), stem, jobs=1)
    other_rows = run_experiment(parse_experiment(OTHER), stem, jobs=1)
    lines = Path(f"{stem}.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [r["key"] for r in ref_rows + other_rows]
    assert len(Path(f"{stem}.csv").read_text().splitlines()) == 1 + 5
    # the first spec again: nothing runs, nothing moves
    before = _files(stem)
    counted.clear()
    assert run_experiment(parse_experiment(TINY), stem, jobs=1) == ref_rows
    assert counted == [] and _files(stem) == before
    # and its own block is byte for byte an uninterrupted run's
    assert "".join(line + "\n" for line in lines[:4]) == _files(ref_stem)[1]



def test_a_platform_whose_fcntl_has_no_flock_runs_unlocked(reference, tmp_path, monkeypatch):
    """Pyodide (the JupyterLite site, notebook 06) has an fcntl module without flock: the sweep runs
    unlocked and writes the same bytes, where it raised AttributeError."""
    import types
    monkeypatch.setitem(sys.modules, "fcntl", types.ModuleType("fcntl"))
    stem = tmp_path / "tiny"
    run_experiment(parse_experiment(TINY), stem, jobs=1)
    assert _files(stem) == _files(reference[0])

def test_a_sweep_that_finishes_during_another_keeps_its_rows(reference, tmp_path, monkeypatch):
    # OTHER runs to the end, into the same files, while TINY's first run is on: TINY's final
    # rewrite must merge with the file as it is then, not as it was when TINY started
    _, ref_rows = reference
    stem = tmp_path / "both"
    real = ex._measure
    other_rows = []

    def first_run_meanwhile(p):
        if not other_rows:
            monkeypatch.setattr(ex, "_measure", real)
            other_rows.extend(run_experiment(parse_experiment(OTHER), stem, jobs=1))
        return real(p)
    monkeypatch.setattr(ex, "_measure", first_run_meanwhile)
    assert run_experiment(parse_experiment(TINY), stem, jobs=1) == ref_rows
    keys = [json.loads(line)["key"] for line in Path(f"{stem}.jsonl").read_text().splitlines()]
    assert keys == [r["key"] for r in other_rows + ref_rows]


def test_a_failed_write_leaves_the_old_files_whole(reference, tmp_path, monkeypatch):
    stem = tmp_path / "w"
    run_experiment(parse_experiment(OTHER), stem, jobs=1)
    before = _files(stem)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ex.os, "replace", broken_replace)
    with pytest.raises(OSError):
        run_experiment(parse_experiment(TINY), stem, jobs=1)
    monkeypatch.undo()
    csv_text, jsonl = _files(stem)
    assert csv_text == before[0] and jsonl.startswith(before[1])      # the log grew; nothing was cut
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.csv", "w.jsonl"]   # no temporary file left


# -- item 2: a name is a name, not a path --------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "/abs/x", ".", "..", "a/b", "a\\b", "a\0b", "x" * 300, " ok",
                                  "-ok", "ok.csv", "ok.jsonl", "ok\n"])
def test_a_spec_name_must_be_a_file_name_stem(name):
    with pytest.raises(SpecError, match="'name' must be a file-name stem"):
        parse_experiment({**OTHER, "name": name})


def test_a_dotted_name_does_not_take_another_specs_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("ok", "ok.v2"):
        Path(f"{name}.toml").write_text(f'name = "{name}"\n[base]\nscale = 20000\nnr_threads = 1\n'
                                        f'[grid]\nversion = ["6.9"]\nseed = [{0 if name == "ok" else 1}]\n')
        assert main(["sweep", f"{name}.toml", "--quiet", "--jobs", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "ok.csv", "ok.jsonl", "ok.v2.csv", "ok.v2.jsonl"]
    assert json.loads((tmp_path / "results" / "ok.jsonl").read_text())["seed"] == 0


@pytest.mark.parametrize("where", ["directory", "under_a_file", "proc", "empty", "csv_suffix", "slash"])
def test_an_output_that_cannot_be_a_stem_is_refused_before_anything_runs(where, tmp_path, capsys, counted):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("keep me\n")
    out = {"directory": str(tmp_path / "d"), "under_a_file": str(tmp_path / "f" / "x"),
           "proc": "/proc/vmaplab-x", "empty": "", "csv_suffix": str(tmp_path / "x.csv"),
           "slash": str(tmp_path / "d") + "/"}[where]
    with pytest.raises(SpecError, match="^out: "):
        run_experiment(parse_experiment(OTHER), out, jobs=1)
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\n[base]\nscale = 20000\nnr_threads = 1\n')
    assert main(["sweep", str(spec), "--out", out, "--quiet", "--jobs", "1"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("vmaplab: error: out: ")
    assert counted == [] and (tmp_path / "f").read_text() == "keep me\n" and list((tmp_path / "d").iterdir()) == []


# -- item 3: resume keeps only rows a fresh run would have written -------------------------------

def _edit(row: dict, **changes) -> str:
    return json.dumps({**row, **changes}, sort_keys=True)


BAD_LINES = {
    "negative wall": lambda r: _edit(r, wall_s=-1e300),
    "nan wall": lambda r: _edit(r, wall_s=float("nan")),
    "percent over 100": lambda r: _edit(r, slowpath_self_pct=250.0),
    "key only": lambda r: json.dumps({"key": r["key"]}),
    "missing profile": lambda r: json.dumps({k: v for k, v in r.items() if k != "profile"}),
    "string parameter": lambda r: _edit(r, nr_threads="2"),
    "other parameters": lambda r: _edit(r, seed=99),
    "extra field": lambda r: _edit(r, extra=1),
    "bool wall": lambda r: _edit(r, wall_s=True),
    "bad profile": lambda r: _edit(r, profile={"clear_page_rep": [1.0]}),
    "another model": lambda r: _edit(r, model="0" * 16),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_resume_reruns_a_row_that_is_not_what_a_run_writes(kind, reference, tmp_path, counted):
    ref_stem, ref_rows = reference
    stem = tmp_path / "r"
    good = Path(f"{ref_stem}.jsonl").read_text().splitlines()
    Path(f"{stem}.jsonl").write_text("\n".join([good[0], BAD_LINES[kind](ref_rows[1]), good[2]]) + "\n")
    notes = []
    rows = run_experiment(parse_experiment(TINY), stem, jobs=1, report=notes.append)
    assert [p["seed"] for p in counted] == [ex.parse_experiment(TINY).runs()[i]["seed"] for i in (1, 3)]
    assert rows == ref_rows and _files(stem) == _files(ref_stem)
    assert len(notes) == 1 and "line 2" in notes[0] and "runs again" in notes[0]


@pytest.mark.parametrize("line", [b"42", b"{}", b"null", b"[]", b'"x"', b'{"key": 5}', b"\xff\xfe{}",
                                  b"[" * 100000, b"1" * 5000, b'{"key": "abc"'])
def test_resume_survives_lines_that_are_not_rows(line, reference, tmp_path, counted):
    ref_stem, ref_rows = reference
    stem = tmp_path / "g"
    good = Path(f"{ref_stem}.jsonl").read_bytes().splitlines()
    Path(f"{stem}.jsonl").write_bytes(b"\n".join([good[0], line, good[1]]) + b"\n")
    notes = []
    assert ex.already_done(parse_experiment(TINY), stem) == 2
    rows = run_experiment(parse_experiment(TINY), stem, jobs=1, report=notes.append)
    assert len(counted) == 2 and rows == ref_rows and _files(stem) == _files(ref_stem)
    assert len(notes) == 1 and "line 2" in notes[0] and "dropped" in notes[0]


def test_a_cut_last_line_does_not_swallow_the_next_row(reference, tmp_path, counted):
    ref_stem, ref_rows = reference
    stem = tmp_path / "cut"
    good = Path(f"{ref_stem}.jsonl").read_text().splitlines()
    Path(f"{stem}.jsonl").write_text(good[0] + "\n" + good[1][:30])        # no newline: cut by an interrupt
    notes = []
    run_experiment(parse_experiment(TINY), stem, jobs=1, report=notes.append)
    assert len(counted) == 3 and _files(stem) == _files(ref_stem)


def test_rows_record_the_model_and_a_model_change_reruns_them(reference, tmp_path, counted, monkeypatch):
    ref_stem, ref_rows = reference
    assert all(r["model"] == ex.model_identity() for r in ref_rows)
    assert "model" in Path(f"{ref_stem}.csv").read_text().splitlines()[0].split(",")
    stem = tmp_path / "m"
    Path(f"{stem}.jsonl").write_text(Path(f"{ref_stem}.jsonl").read_text())
    monkeypatch.setattr(ex, "model_identity", lambda: "f" * 16)
    assert ex.already_done(parse_experiment(TINY), stem) == 0
    rows = run_experiment(parse_experiment(TINY), stem, jobs=1)
    assert len(counted) == 4 and all(r["model"] == "f" * 16 for r in rows)


def test_the_model_identity_follows_the_simulators_source(monkeypatch, tmp_path):
    ex.model_identity.cache_clear()
    a = ex.model_identity()
    assert len(a) == 16 and a == ex.model_identity()
    pkg = tmp_path / "vmaplab"
    for sub in ex.MODEL_PACKAGES:
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "m.py").write_text("X = 1\n")
    monkeypatch.setattr(ex, "_PACKAGE_DIR", pkg)
    ex.model_identity.cache_clear()
    b = ex.model_identity()
    (pkg / ex.MODEL_PACKAGES[0] / "m.py").write_text("X = 2\n")
    ex.model_identity.cache_clear()
    assert len({a, b, ex.model_identity()}) == 3
    monkeypatch.undo()
    ex.model_identity.cache_clear()
    assert ex.model_identity() == a


def _failing_run(monkeypatch, nth: int, exc):
    """Runs go through the real ``_measure`` but the ``nth``, which raises ``exc``; returns the real one."""
    real, calls = ex._measure, []

    def measure(p):
        calls.append(p)
        if len(calls) == nth:
            raise exc
        return real(p)
    monkeypatch.setattr(ex, "_measure", measure)
    return real


# -- item 4: Ctrl-C -------------------------------------------------------------------------------

def test_ctrl_c_keeps_finished_rows_and_says_how_to_resume(reference, tmp_path, monkeypatch, capsys):
    ref_stem, _ = reference
    real = _failing_run(monkeypatch, 3, KeyboardInterrupt)
    spec = tmp_path / "tiny.toml"
    spec.write_text('name = "tiny"\n[base]\nscale = 20000\nnr_cpus = 2\nnr_threads = 2\n'
                    '[grid]\nversion = ["6.8", "6.9"]\nseed = [0, 1]\n')
    out = str(tmp_path / "o")
    assert main(["sweep", str(spec), "--out", out, "--quiet", "--jobs", "1"]) == 130
    err = _err_lines(capsys)
    assert len(err) == 1 and "interrupted: 2 of 4 runs recorded" in err[0]
    assert f"vmaplab sweep {spec} --out {out}" in err[0]
    assert len(Path(f"{out}.jsonl").read_text().splitlines()) == 2
    monkeypatch.setattr(ex, "_measure", real)
    assert main(["sweep", str(spec), "--out", out, "--quiet", "--jobs", "1"]) == 0
    assert "4 runs (2 already" in capsys.readouterr().out
    assert _files(Path(out)) == _files(ref_stem)


def test_the_api_raises_sweep_interrupted_with_the_count(tmp_path, monkeypatch):
    _failing_run(monkeypatch, 2, KeyboardInterrupt)
    with pytest.raises(SweepInterrupted) as e:
        run_experiment(parse_experiment(TINY), tmp_path / "a", jobs=1)
    assert (e.value.recorded, e.value.total) == (1, 4) and isinstance(e.value, KeyboardInterrupt)


def test_sigint_with_two_jobs_stops_soon(tmp_path):
    spec = tmp_path / "slow.toml"
    # runs of about a second each: 12 of them on 2 workers would take several seconds more
    spec.write_text('name = "slow"\n[base]\nscale = 800\nnr_threads = 2\nversion = "6.8"\n'
                    '[grid]\nseed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n')
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "vmaplab", "sweep", str(spec), "--out", str(out),
                             "--jobs", "2", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)        # a terminal's Ctrl-C hits the group
    jsonl = Path(f"{out}.jsonl")
    deadline = time.monotonic() + 60
    while not (jsonl.exists() and jsonl.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 3.0
    assert proc.returncode == 130
    err = [line for line in stderr.splitlines() if not line.startswith("ARG")]
    assert len(err) == 1 and "interrupted:" in err[0] and "resumes" in err[0], stderr
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    exp = ex.load_experiment(spec)
    assert 1 <= len(rows) < 12 and ex.already_done(exp, out) == len(rows)
    assert [r["seed"] for r in rows] == sorted(r["seed"] for r in rows)    # rewritten in the spec's order


# -- item 8, the sweep's files: one line and exit 2 ------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b'name = "caf\xe9"\n', "not UTF-8 (line 1)"),
    (b"a = " + b"[" * 1000 + b"]" * 1000 + b"\n", "nested too deeply"),
    (b"x" * (ex.MAX_SPEC_BYTES + 1), "larger than"),
])
def test_a_spec_file_that_is_not_a_spec_is_one_line(content, message, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_bytes(content)
    with pytest.raises(SpecError, match="s.toml: "):
        ex.load_experiment(spec)
    assert main(["sweep", str(spec), "--quiet"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and message in err[0]


def test_a_fifo_as_the_spec_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "vmaplab", "sweep", str(fifo)], capture_output=True, text=True,
                          timeout=20)
    err = [line for line in proc.stderr.splitlines() if not line.startswith("ARG")]
    assert proc.returncode == 2 and len(err) == 1 and "not a regular file" in err[0]


# ---- issue 26, item 13: what the sweep took silently

@pytest.mark.parametrize("argv, word", [
    (["--scheduler", ""], "--scheduler"),
    (["--dask-local", "2", "--jobs", "2"], "--jobs"),            # --jobs 3 was refused, 2 (the default) not
    (["--jobs", "2", "--dask-local", "2"], "--dask-local"),
])
def test_options_that_were_ignored_are_refused(argv, word, tmp_path, capsys, counted):
    spec = tmp_path / "tiny.toml"
    spec.write_text('name = "tiny"\n[base]\nscale = 20000\nnr_threads = 1\nversion = "6.9"\n')
    assert main(["sweep", str(spec), "--quiet", *argv]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and word in err[0], err
    assert counted == []


@pytest.mark.parametrize("base, word", [
    ({"run_test_mask": 2048}, "run_test_mask"),                 # selects none of the 11 tests: 0 s rows
    ({"cost.t_mem_ns": "1e3"}, "cost.t_mem_ns"),                 # a string: another key than 1000.0
    ({"cost.t_mem_ns": "nan"}, "cost.t_mem_ns"),
    ({"scale": 2_000_000}, "scale"),                              # past test_loop_count: no loop left
    ({"nr_threads": 300, "machine": "generic"}, "nr_threads"),  # the simulator's RAM: 256 threads at most
])
def test_spec_values_that_measure_nothing_or_twice_are_refused(base, word):
    with pytest.raises(SpecError, match=word):
        parse_experiment({"name": "x", "base": {"scale": 20000, "nr_threads": 1, **base}})


def test_a_word_cost_stays_a_word():
    assert parse_experiment({"name": "x", "base": {"cost.cache_model": "depth"}}).base["cost.cache_model"] == "depth"


def test_the_dask_dashboard_listens_where_the_cli_says(monkeypatch):
    distributed = pytest.importorskip("distributed")
    seen = {}

    class Stop(Exception):
        pass

    def cluster(**kw):
        seen.update(kw)
        raise Stop
    monkeypatch.setattr(distributed, "LocalCluster", cluster)
    with pytest.raises(Stop):
        with ex.dask_executor(1):
            pass
    assert seen["dashboard_address"].startswith("127.0.0.1:")


# ---- issue 26, item 8 (the rest): refused up front, not after other rows were recorded

@pytest.mark.parametrize("base, word", [
    ({"machine": "epyc-7713", "nr_cpus": 300}, "epyc-7713"),
    ({"version": "6.8", "nr_vmap_nodes": 2, "nr_cpus": 4}, "nr_vmap_nodes"),
    ({"version": "6.9", "nr_vmap_nodes": 8, "nr_cpus": 4}, "nr_vmap_nodes"),
])
def test_a_run_the_simulator_would_refuse_is_a_spec_error(base, word):
    doc = {"name": "x", "base": {"scale": 20000, "nr_threads": 2}, "grid": {"seed": [0, 1]}}
    doc["grid"].update({k: [v] for k, v in base.items()})
    with pytest.raises(SpecError, match=word):
        parse_experiment(doc)


def test_a_huge_grid_is_refused_before_its_runs_are_built():
    doc = {"name": "x", "grid": {"nr_threads": list(range(1, 65)), "seed": list(range(1000)),
                                 "scale": list(range(1, 1601))}}
    t0 = time.monotonic()
    with pytest.raises(SpecError, match="102400000 runs"):
        parse_experiment(doc)
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("address", ["closed", "tcp://", "not an address", "tcp://127.0.0.1:99999"])
def test_a_scheduler_that_cannot_be_reached_is_one_line(address, monkeypatch, tmp_path, capsys, counted):
    pytest.importorskip("distributed")
    import socket
    if address == "closed":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setattr(ex, "SCHEDULER_TIMEOUT_S", 2)
    spec = tmp_path / "tiny.toml"
    spec.write_text('name = "tiny"\n[base]\nscale = 20000\nnr_threads = 1\nversion = "6.9"\n')
    t0 = time.monotonic()
    assert main(["sweep", str(spec), "--quiet", "--scheduler", address, "--out", str(tmp_path / "o")]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "--scheduler" in err[0], err
    assert time.monotonic() - t0 < 15 and counted == []


# ---- issue 26: a fault test: a worker killed in the middle of a sweep

def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:                 # a thread that ended meanwhile
            pass
    return out


def _slow_sweep(tmp_path, *options: str):
    """A six-run spec, its uninterrupted reference files, and the same sweep started with ``options``."""
    spec = tmp_path / "slow.toml"
    spec.write_text('name = "slow"\n[base]\nscale = 800\nnr_threads = 2\nversion = "6.8"\n'
                    '[grid]\nseed = [0, 1, 2, 3, 4, 5]\n')
    ref = tmp_path / "ref"
    run_experiment(ex.load_experiment(spec), ref, jobs=1)
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "vmaplab", "sweep", str(spec), "--out", str(out), *options,
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return ref, out, proc


def test_a_killed_worker_process_costs_nothing(tmp_path):
    """The pool loses its workers (SIGKILL) after the first row: the sweep replaces the pool and finishes; the
    files equal an uninterrupted run's, byte for byte."""
    ref, out, proc = _slow_sweep(tmp_path, "--jobs", "2")
    jsonl = Path(f"{out}.jsonl")
    deadline = time.monotonic() + 60
    while not (jsonl.exists() and jsonl.read_text().count("\n") >= 1 and _children(proc.pid)):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    for child in _children(proc.pid):             # every worker of the pool: it breaks, as with one
        os.kill(child, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    assert "a worker process died" in stdout
    assert _files(out) == _files(ref)


def test_a_lost_worker_on_an_executor_stops_cleanly_and_a_rerun_finishes(reference, tmp_path, monkeypatch):
    """An executor that is not ours (Dask) loses a worker: the finished rows are kept, SweepWorkerLost says
    so, and a rerun completes the files as an uninterrupted run writes them."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    stem, _rows = reference
    real = _failing_run(monkeypatch, 3, BrokenProcessPool("a worker died"))
    out = tmp_path / "o"
    with ThreadPoolExecutor(1) as pool, pytest.raises(ex.SweepWorkerLost, match="2 of 4 runs recorded"):
        run_experiment(parse_experiment(TINY), out, executor=pool)
    monkeypatch.setattr(ex, "_measure", real)
    run_experiment(parse_experiment(TINY), out, jobs=1)
    assert _files(out) == _files(stem)


@pytest.mark.slow                   # a LocalCluster's start and a rerun task: half a minute
def test_a_killed_dask_worker_costs_nothing(tmp_path):
    """A LocalCluster worker killed (SIGKILL) after the first row: Dask reruns its task elsewhere and the
    sweep finishes with the bytes of an uninterrupted run."""
    pytest.importorskip("distributed")
    ref, out, proc = _slow_sweep(tmp_path, "--dask-local", "2")
    jsonl = Path(f"{out}.jsonl")
    deadline = time.monotonic() + 90

    def cmdline(pid):
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    def workers():          # the nannies' worker processes, spawned by multiprocessing
        return [c for c in _children(proc.pid) if b"spawn_main" in cmdline(c)]
    while not (jsonl.exists() and jsonl.read_text().count("\n") >= 1 and workers()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(workers()[0], signal.SIGKILL)
    _stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr[-2000:]
    assert _files(out) == _files(ref)
