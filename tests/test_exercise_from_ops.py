# SPDX-License-Identifier: MIT
"""Issue 28, item 5: a teacher's own list of calls is a problem (``trace`` exercises), the answer and the
explanation computed by the model; ``vmaplab exercises --from FILE``; bad input is one line, exit 2."""
from __future__ import annotations

import io
import sys

import pytest

from vmaplab import Vmalloc
from vmaplab.cli import main
from vmaplab.course.exercises import ExerciseError, from_ops

OPS = "a = vmalloc 8K cpu0\nvfree a cpu1\npurge\nb = vmalloc 8K cpu0\nc = vmalloc 8K cpu1\n"


def _expected(version: str) -> tuple[int, int]:
    """b's and c's addresses, computed here by calling the model directly (not through the explainer)."""
    vm = Vmalloc(nr_cpus=2, version=version, seed=0)
    a = vm.vmalloc(8192, cpu=0)
    vm.vfree(a, cpu=1)
    vm.purge(cpu=0)
    return vm.vmalloc(8192, cpu=0), vm.vmalloc(8192, cpu=1)


@pytest.mark.parametrize("version", ["6.8", "6.9", "7.3"])
def test_the_answer_is_what_the_model_returns_and_the_check_accepts_it(version):
    b, c = _expected(version)
    ex = from_ops(OPS, version, 2, 0)
    assert ex.kind == "trace" and ex.answer == f"{c:#x}" and "call 5 give c" in ex.question
    assert ex.check(hex(c)).correct and ex.check(str(c)).correct and not ex.check(hex(b + 4096)).correct
    asked = from_ops(OPS, version, 2, 0, ask="b")
    assert asked.answer == f"{b:#x}" and asked.check(f"{b:#X}".replace("0X", "0x")).correct
    # the explanation narrates every call, from the trace: the purge and the pool (6.9) or free tree (6.8)
    assert asked.explanation.count("=> ") == 3 and "purge_vmap_area_lazy" in asked.explanation
    assert ("pool hit" in asked.explanation) == (version != "6.8")


def test_a_failing_call_has_null_for_answer():
    ex = from_ops("a = vmalloc 64G cpu0\n", "6.9", 2, 0)
    assert ex.answer == "NULL" and ex.check("NULL").correct and ex.check("0").correct


@pytest.mark.parametrize("text, ask, match", [
    ("purge\n", None, "no allocating call"),
    (OPS, "zz", "ask: no allocating call is named 'zz'"),
    ("vmalloc 8K cpu9\n", None, "cpu9"),
    ("", None, "no calls"),
])
def test_bad_lists_are_refused_naming_the_problem(text, ask, match):
    with pytest.raises(ExerciseError, match=match):
        from_ops(text, "6.9", 2, 0, ask)


def test_cli_prints_the_problem_and_on_demand_the_answer(tmp_path, capsys):
    f = tmp_path / "ops.txt"
    f.write_text(OPS)
    _, c = _expected("6.9")
    assert main(["exercises", "--from", str(f)]) == 0
    out = capsys.readouterr().out
    assert "Which address does call 5 give c?" in out and f"{c:#x}" not in out
    assert main(["exercises", "--from", str(f), "--answers"]) == 0
    assert f"Answer: {c:#x}" in capsys.readouterr().out


def test_cli_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(OPS.encode())))
    assert main(["exercises", "--from", "-", "--answers", "--ask", "b"]) == 0
    b, _ = _expected("6.9")
    assert f"Answer: {b:#x}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["exercises", "--from", "/nonexistent/ops.txt"],
                                  ["exercises", "--ask", "b"],
                                  ["exercises", "--from", "/dev/zero"]])
def test_cli_bad_input_is_one_line_and_status_2(argv, capsys):
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("ARG")]
    assert len(err) == 1 and err[0].startswith("vmaplab: error:"), err


@pytest.mark.parametrize("kind", ["next-address", "pool-node", "decay", "routing", "vread-zeros"])
def test_the_allocator_kinds_solutions_narrate_every_call(kind):
    """Issue 28, item 3: a solution shows the steps, not only the end: every call of the problem, as the
    explainer narrates it from the trace, and the last one's result is the answer."""
    from vmaplab.course.exercises import make
    for seed in range(12):
        ex = make(kind, seed)
        heads = [line for line in ex.steps if line[:1].isdigit()]
        assert heads and heads[0].startswith("1. ") and "The calls, as the model ran them:" in ex.solution
        assert [int(h.split(".")[0]) for h in heads] == list(range(1, len(heads) + 1))
        if kind == "next-address":
            assert heads[-1].endswith(ex.answer.split("address ")[1].rstrip(")"))
        if kind == "decay":
            assert sum(h.split(". ", 1)[1].startswith("purge") for h in heads) == 2
        if kind == "routing":          # the purge that decides the pool is the last call; a non-whole request is said too
            assert heads[-1].split(". ", 1)[1].startswith("purge")
            assert ("none" in ex.answer) == any(line.startswith("(called directly) x = get_vm_area") for line in ex.steps)
        if kind == "vread-zeros":      # three vmallocs and the vfree narrated; the stores and the read said after
            assert [h.split(". ", 1)[1].split(" ")[0:3] for h in heads][:3] == [["A", "=", "vmalloc"], ["B", "=", "vmalloc"],
                                                                                 ["C", "=", "vmalloc"]]
            assert heads[-1].split(". ", 1)[1].startswith("vfree B")
            assert ex.steps[-1].startswith("(called directly) vread(") and ex.steps[-1].endswith(f"{ex.answer} non-zero bytes")
