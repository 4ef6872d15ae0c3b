# SPDX-License-Identifier: MIT
"""Issue 26, item 14: simulate and test-vmalloc take the module's parameters as the kernel does (C ints),
refuse runs that would measure nothing, and say so before a run of hours. Each bad call: one line on
stderr, exit status 2, and nothing run."""
import pytest

from vmaplab.cli import main


def _error(capsys, argv, *words):
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if not ln.startswith("ARG ")]
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    for word in words:
        assert word in lines[0], lines[0]
    assert "== Linux" not in cap.out
    return lines[0]


@pytest.mark.parametrize("cmd", ["simulate", "test-vmalloc"])
@pytest.mark.parametrize("param", ["run_test_mask=4294967296", "test_loop_count=100000000000000000000",
                                   "test_repeat_count=2147483648", "nr_threads=2147483648", "nr_pages=2147483648",
                                   "sequential_test_order=2"])
def test_parameters_are_c_ints(capsys, cmd, param):
    _error(capsys, [cmd, param, "--cpus", "2", "--quiet"], param.split("=")[0])


def test_the_largest_c_int_is_taken(capsys):
    assert main(["test-vmalloc", "run_test_mask=2147483647", "test_loop_count=2", "nr_threads=1", "--cpus", "1",
                 "--version", "6.9", "--quiet"]) == 0


def test_a_scale_that_leaves_no_loop_is_refused(capsys):
    _error(capsys, ["simulate", "test_loop_count=1000", "--scale", "1001", "--cpus", "2", "--machine", "generic"],
           "--scale", "test_loop_count")
    _error(capsys, ["simulate", "--scale", "1000000000", "--cpus", "2", "--machine", "generic"], "--scale")


def test_a_mask_that_selects_no_test_is_refused(capsys):
    _error(capsys, ["simulate", "run_test_mask=2048", "--cpus", "2", "--machine", "generic"], "run_test_mask")


def test_cost_values_are_ascii(capsys):
    _error(capsys, ["simulate", "--cost", "t_mem_ns=\u0661\u0660", "--cpus", "2"], "t_mem_ns")
    _error(capsys, ["simulate", "--cost", "t_mem_ns=\uff11\uff10", "--cpus", "2"], "t_mem_ns")


def test_a_preset_with_extra_words_is_a_usage_error(capsys):
    assert _error(capsys, ["test-vmalloc", "smoke", "extra"], "extra").startswith("vmaplab: error:")


def test_too_many_threads_blames_nr_threads(capsys):
    line = _error(capsys, ["simulate", "nr_threads=300", "--cpus", "300", "--machine", "generic"], "nr_threads")
    assert "nr_ram_pages" not in line


class Started(Exception):
    pass


def test_a_run_of_hours_says_so_first(capsys, monkeypatch):
    from vmaplab.contention.sim import ContentionSim

    def run(self):
        raise Started
    monkeypatch.setattr(ContentionSim, "run", run)
    with pytest.raises(Started):
        main(["simulate", "--scale", "1", "--cpus", "64", "--version", "6.9", "--jobs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert "192,000,000 test loop iterations" in err and "--scale" in err
    with pytest.raises(Started):                 # the default scale: no note
        main(["simulate", "--cpus", "64", "--version", "6.9", "--jobs", "1", "--quiet"])
    assert "note" not in capsys.readouterr().err


def test_test_vmalloc_says_so_too_and_refuses_years(capsys, monkeypatch):
    from vmaplab.workloads.test_vmalloc import TestVmallocRun

    def run(self):
        raise Started
    monkeypatch.setattr(TestVmallocRun, "run", run)
    with pytest.raises(Started):
        main(["test-vmalloc", "run_test_mask=7", "nr_threads=64", "--cpus", "64", "--version", "6.9", "--quiet"])
    assert "192,000,000 test loop iterations" in capsys.readouterr().err
    _error(capsys, ["test-vmalloc", "test_repeat_count=1000000000", "--cpus", "2", "--quiet"], "test_repeat_count")


def test_from_goes_through_the_one_reader(capsys, tmp_path):
    """Issue 26: `--from` is read as the sweep spec and the oracle scenario are: a FIFO is refused, not waited on."""
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _error(capsys, ["vmallocinfo", "--from", str(fifo)], "not a regular file")
    bad = tmp_path / "latin1"
    bad.write_bytes(b"caf\xe9\n")
    _error(capsys, ["vmallocinfo", "--from", str(bad)], "not UTF-8 (line 1)")
