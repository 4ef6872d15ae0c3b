# SPDX-License-Identifier: MIT
"""Issue 26, item 11: the exercises API refuses bad input with an ExerciseError naming the argument,
and an answer is read as the learner wrote it (leading zeros kept out of the way, separators kept)."""
import pytest

from vmaplab import VmallocError
from vmaplab.course.exercises import KINDS, ExerciseError, make, problem_set


class Index:
    """An integral type that is not int, as numpy.int64 is."""

    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


@pytest.mark.parametrize("bad", [None, 1.5, [], ["5"], b"5", object(), True])
def test_check_refuses_what_is_not_an_answer(bad):
    ex = make("decay", 1)
    with pytest.raises(ExerciseError, match="response"):
        ex.check(bad)


def test_check_takes_an_int_answer_right_or_wrong():
    ex = make("decay", 1)
    right = int(ex.answer)
    assert ex.check(right).correct and ex.check(Index(right)).correct
    wrong = ex.check(right + 1)
    assert not wrong.correct and repr(str(right + 1)) in wrong.message


@pytest.mark.parametrize("kind", [["decay"], None, 5, b"decay", ("decay",)])
def test_make_names_a_bad_kind(kind):
    with pytest.raises(ExerciseError, match="kind"):
        make(kind, 1)


@pytest.mark.parametrize("seed", [10 ** 5000, 2 ** 64, -1, 1.0, "3", None, True],
                         ids=["10**5000", "2**64", "-1", "1.0", "'3'", "None", "True"])
def test_make_names_a_bad_seed(seed):
    with pytest.raises(ExerciseError, match="seed"):
        make("decay", seed)


def test_any_integral_seed_is_a_seed():
    assert make("decay", Index(3)) == make("decay", 3)
    assert make("decay", Index(3)).seed == 3 and type(make("decay", Index(3)).seed) is int


def test_problem_set_names_its_bad_arguments():
    for kw, arg in ((dict(seed=10 ** 5000), "seed"), (dict(seed=0, count=0), "count"),
                    (dict(seed=0, count="2"), "count"), (dict(seed=0, kinds=["nope"]), "kind"),
                    (dict(seed=0, kinds="decay"), "kinds")):
        with pytest.raises(ExerciseError, match=arg):
            problem_set(**kw)
    assert len(problem_set(0, 1, ("decay",))) == 1


def test_leading_zeros_and_separators():
    for seed in range(40):
        ex = make("decay", seed)
        if int(ex.answer) >= 10:
            break
    n = int(ex.answer)
    assert ex.check(f"0{n}").correct and ex.check(f" 00{n} ").correct and ex.check(hex(n)).correct
    spaced = " ".join(str(n))               # "1 2" is two numbers, not 12
    assert not ex.check(spaced).correct
    ex = make("routing", 1)
    busy, lazy, pool = ex.answer.split(",")
    for form in (ex.answer, f"{busy} {lazy} {pool}", f"{busy}, {lazy}, {pool}", f"0{busy},{lazy},{pool}"):
        assert ex.check(form).correct, form
    assert not ex.check(f"{busy}{lazy}{pool}").correct
    ex = make("zone-node", 2)
    assert ex.check(ex.answer).correct and ex.check(ex.answer.replace(" ", " 0")).correct


def test_a_huge_answer_is_not_echoed_whole():
    ex = make("decay", 1)
    verdict = ex.check("9" * 10_000_000)
    assert not verdict.correct and len(verdict.message) < 300


def test_exercise_error_is_a_vmalloc_error():
    assert issubclass(ExerciseError, VmallocError) and set(KINDS)
