# SPDX-License-Identifier: MIT
"""Golden output of the CLI (SimPy's habit: examples run against stored .out files)."""
import json
import pathlib
import subprocess
import sys

from vmaplab.cli import main

GOLDEN = pathlib.Path(__file__).parent / "golden"


def test_demo_matches_golden(capsys):
    assert main(["demo", "--cpus", "4"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "demo_cpus4.out").read_text()


def test_python_dash_m_runs_the_same_cli():
    out = subprocess.run([sys.executable, "-m", "vmaplab", "demo", "--cpus", "4"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == (GOLDEN / "demo_cpus4.out").read_text()


def test_bad_arguments_exit_nonzero(capsys):
    assert main(["demo", "--version", "7.0"]) == 2
    assert main(["demo", "--cpus", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("vmaplab demo: error: argument --version: invalid choice: '7.0'")
    assert err[1] == "vmaplab demo: error: argument --cpus: must be an integer in 1..65536, got 0"


CASES = {
    "test_vmalloc_mask7": ["test-vmalloc", "run_test_mask=7", "nr_threads=2", "test_loop_count=20", "--cpus", "2",
                           "--quiet"],
    "test_vmalloc_random": ["test-vmalloc", "run_test_mask=1064", "nr_threads=3", "test_loop_count=15",
                            "--cpus", "4", "--version", "6.9", "--interleave", "random", "--seed", "5", "--quiet"],
    "test_vmalloc_usage": ["test-vmalloc"],
    "vmallocinfo_mixed": ["vmallocinfo", "--workload", "mixed", "--seed", "2", "--version", "6.8"],
    "vmallocinfo_capture": ["vmallocinfo", "--from", "data/vmallocinfo-linux-6.18-x86_64.txt", "--cpus", "2",
                            "--compare"],
    "vread_mixed": ["vread", "0xffffc9000005eff0", "0x40"],
}


def _run_cli(argv, capsys, monkeypatch):
    monkeypatch.chdir(pathlib.Path(__file__).parents[1])
    rc = main(argv)
    return rc, capsys.readouterr().out


import pytest  # noqa: E402


@pytest.mark.parametrize("name", sorted(CASES))
def test_subcommand_golden(name, capsys, monkeypatch):
    rc, out = _run_cli(CASES[name], capsys, monkeypatch)
    assert rc == 0
    assert out == (GOLDEN / f"cli_{name}.out").read_text()


def test_test_vmalloc_bad_parameter_is_the_scripts_error(capsys):
    assert main(["test-vmalloc", "nr_threads=0"]) == 2
    assert capsys.readouterr().err == "vmaplab: error: Error: key or value is not correct: nr_threads 0\n"


def test_unreadable_vmallocinfo_is_a_clear_message(capsys, tmp_path):
    assert main(["vmallocinfo", "--from", str(tmp_path / "missing")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.write_text("not vmallocinfo\n")
    assert main(["vmallocinfo", "--from", str(bad)]) == 2
    assert "line 1: does not match the vmallocinfo grammar" in capsys.readouterr().err


def test_simulate_json_is_one_document_for_a_json_parser():
    """`vmaplab simulate ... --json | python -m json.tool` works: nothing but the document on stdout."""
    cli = subprocess.run([sys.executable, "-m", "vmaplab", "simulate", "run_test_mask=1", "nr_threads=2", "--cpus", "2",
                          "--scale", "50000", "--version", "6.9", "--json", "--quiet"],
                         capture_output=True, text=True, check=True)
    tool = subprocess.run([sys.executable, "-m", "json.tool"], input=cli.stdout, capture_output=True, text=True)
    assert tool.returncode == 0, tool.stderr
    assert list(json.loads(cli.stdout)) == ["6.9"]
    assert cli.stderr.splitlines()[0] == "ARG simulate run_test_mask=1 nr_threads=2 --cpus 2 --scale 50000 " \
                                         "--version 6.9 --json --quiet"


def test_simulate_on_a_128_cpu_epyc_lists_its_machines_and_runs():
    """Every preset is named in --help; a 128-CPU EPYC 7713 runs both kernels (a tiny scale: the run's
    wall time is not checked here, only that 128 workers ran and 6.9 finished first)."""
    help_text = subprocess.run([sys.executable, "-m", "vmaplab", "simulate", "--help"], capture_output=True,
                               text=True, check=True).stdout
    for name in ("threadripper-3970x", "epyc-7702", "epyc-7713", "xeon-8375c-2s", "generic"):
        assert name in help_text
    cli = subprocess.run([sys.executable, "-m", "vmaplab", "simulate", "run_test_mask=1", "--machine", "epyc-7713",
                          "--cpus", "128", "--scale", "200000", "--json", "--quiet"],
                         capture_output=True, text=True, check=True)
    doc = json.loads(cli.stdout)
    assert doc["6.8"]["nr_threads"] == doc["6.9"]["nr_threads"] == 128
    assert doc["6.8"]["machine"] == "epyc-7713" and doc["6.9"]["nr_cpus"] == 128
    assert doc["ratio"] > 2                    # 6.9 faster; at this scale both still spin most of the time


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--cpus", "128", "--quiet"], "vmaplab simulate: error: the threadripper-3970x machine has 1..64 CPUs, got 128 (machine 'generic' takes any count)"),
    (["simulate", "--machine", "epyc-7713", "--cpus", "129", "--quiet"], "vmaplab simulate: error: the epyc-7713 machine has 1..128 CPUs, got 129 (machine 'generic' takes any count)"),
    (["simulate", "nr_threads=8", "--cpus", "4", "--quiet"], "vmaplab simulate: error: need 1 <= nr_threads (8) <= nr_cpus (4)"),
    (["simulate", "--scale", "0", "--quiet", "--json"], "vmaplab simulate: error: argument --scale: must be an integer in 1..1000000000, got 0"),
    (["simulate", "--cost", "nope=1", "--quiet"], None),
])
def test_simulate_bad_input_is_one_line_and_status_2(argv, message):
    out = subprocess.run([sys.executable, "-m", "vmaplab", *argv], capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ("" if "--json" in argv else out.stdout)
    errors = [line for line in out.stderr.splitlines() if not line.startswith("ARG ")]
    assert len(errors) == 1 and "Traceback" not in out.stderr
    if message is not None:
        assert errors[0] == message


SIMULATE_CASES = {
    # every float of a small run, both versions: a refactor of the simulator must leave these bytes alone
    "simulate_small": ["simulate", "--version", "both", "--cpus", "16", "--scale", "20000", "--jobs", "1",
                       "--json", "--quiet"],
    "simulate_tas_kworker": ["simulate", "--version", "6.9", "--cpus", "8", "--scale", "20000", "--policy", "tas",
                             "--drain", "kworker", "--machine", "epyc-7713", "--json", "--quiet"],
}


@pytest.mark.parametrize("name", sorted(SIMULATE_CASES))
def test_simulate_json_is_byte_identical_to_the_stored_run(name, capsys, monkeypatch):
    """The same bytes on every Python from 3.11 (contention/numeric.py's plain_sum where results are summed).

    Regenerate after an intended model change: python -m vmaplab <the case's arguments> > tests/golden/<name>.json
    """
    rc, out = _run_cli(SIMULATE_CASES[name], capsys, monkeypatch)
    assert rc == 0
    assert out == (GOLDEN / f"{name}.json").read_text()


def test_vmallocinfo_from_standard_input_is_the_file_itself(capsys, monkeypatch):
    """``--from -`` reads a pipe (the one reader refuses FIFOs given as paths): the same output as the file."""
    import io
    capture = pathlib.Path(__file__).resolve().parents[1] / "data/vmallocinfo-linux-6.18-x86_64.txt"
    args = ["vmallocinfo", "--cpus", "2", "--compare"]
    assert main(args + ["--from", str(capture)]) == 0
    from_file = capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(capture.read_bytes())))
    assert main(args + ["--from", "-"]) == 0
    from_pipe = capsys.readouterr().out
    # the echo and the "read ... from NAME" line name the source; everything after is the same
    assert from_pipe.splitlines()[1].startswith("read 1987 lines from - (")
    assert from_pipe.splitlines()[2:] == from_file.splitlines()[2:] and len(from_file.splitlines()) > 3
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe")))
    assert main(args + ["--from", "-"]) == 2
    assert capsys.readouterr().err.strip().endswith("standard input: not UTF-8 (line 1)")


def test_version_flag_prints_the_package_version_and_subcommands_keep_their_own(capsys):
    """Issue 27: ``vmaplab --version`` (and -V) print the package's version; after a subcommand,
    --version still picks a kernel model."""
    import vmaplab
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vmaplab {vmaplab.__version__}"
    assert main(["-V"]) == 0 and capsys.readouterr().out.strip() == f"vmaplab {vmaplab.__version__}"
    assert main(["explain", "vmalloc 4K", "--version", "7.3"]) == 0
    assert "--version 7.3" in capsys.readouterr().out


def test_assignment_is_a_subcommand(tmp_path, capsys):
    """Issue 28, item 1: ``vmaplab assignment`` is wired into the main CLI (vmaplab.course.assignment)."""
    roster = tmp_path / "roster.csv"
    roster.write_text("id\ns01\ns02\n")
    assert main(["assignment", "--students", str(roster), "--kinds", "decay", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "source" / "vmalloc" / "vmalloc.ipynb").is_file()
    assert main(["assignment", "--students", str(tmp_path / "none.csv"), "--kinds", "decay",
                 "--out", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "d").exists()
