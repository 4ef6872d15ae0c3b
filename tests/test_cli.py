"""Golden output of the CLI (SimPy's habit: examples run against stored .out files)."""
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
    import pytest
    with pytest.raises(SystemExit) as e:
        main(["demo", "--version", "7.0"])
    assert e.value.code == 2
    assert main(["demo", "--cpus", "0"]) == 2
    assert "nr_cpus must be" in capsys.readouterr().err
