# SPDX-License-Identifier: MIT
"""Issue 28, item 2: a learner's progress.json, written by the notebooks' ExerciseApps and scored by
``vmaplab exercises --verify``, which remakes every problem and refuses a card edited to claim more."""
from __future__ import annotations

import json

import pytest

from vmaplab.cli import main
from vmaplab.course.exercises import ExerciseError, make
from vmaplab.course.scorecard import Scorecard, parse, verify


def _right(ex) -> str:
    """A text a learner could type that the exercise accepts."""
    return next(t for t in [ex.answer, *sorted(ex.accepted)] if ex.check(t).correct)


def _card() -> tuple[Scorecard, dict]:
    """Three problems: one right at the second try, one wrong, one right after the solution was shown."""
    card = Scorecard()
    a, b, c = make("next-address", 3), make("decay", 5), make("zone-node", 7)
    card.checked(a.kind, a.seed, "0x1", False)
    card.checked(a.kind, a.seed, _right(a), True)
    card.checked(b.kind, b.seed, "999999", False)
    card.revealed(c.kind, c.seed)
    card.checked(c.kind, c.seed, _right(c), True)
    return card, {"a": a, "b": b, "c": c}


def test_a_card_records_attempts_verdicts_and_solutions_shown_first():
    card, ex = _card()
    doc = json.loads(card.to_json())
    assert [(e["kind"], e["correct"], e["attempts"], e["solution_first"]) for e in doc["entries"]] == [
        ("next-address", True, 2, False), ("decay", False, 1, False), ("zone-node", True, 1, True)]
    score = verify(card.to_json())
    assert (score.total, score.right, score.right_without_solution, score.attempts) == (3, 2, 1, 4)


def test_a_reveal_after_a_right_answer_is_not_solution_first():
    card = Scorecard()
    ex = make("decay", 1)
    card.checked(ex.kind, ex.seed, _right(ex), True)
    card.revealed(ex.kind, ex.seed)
    assert not next(iter(card.entries.values())).solution_first


def test_a_card_edited_to_claim_a_wrong_answer_right_is_refused():
    card, _ = _card()
    doc = json.loads(card.to_json())
    doc["entries"][1]["correct"] = True
    with pytest.raises(ExerciseError, match="entry 1 .* records the answer '999999' as right, but it is wrong"):
        verify(json.dumps(doc))


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format="x"), "not a vmaplab-progress/1"),
    (lambda d: d["entries"][0].pop("attempts"), "exactly the fields"),
    (lambda d: d["entries"][0].update(seed=True), "'seed' must be int"),
    (lambda d: d["entries"][0].update(kind="nope"), "kind 'nope' is not one of"),
    (lambda d: d["entries"][0].update(attempts=0), "attempts 0 cannot give that verdict"),
    (lambda d: d["entries"][0].update(seed=-1), "seed must be an integer >= 0"),
    (lambda d: d["entries"].append(dict(d["entries"][0])), "appears twice"),
])
def test_a_malformed_card_is_refused_naming_the_entry(edit, match):
    card, _ = _card()
    doc = json.loads(card.to_json())
    edit(doc)
    with pytest.raises(ExerciseError, match=match):
        parse(json.dumps(doc))


def test_the_cli_scores_a_card_and_refuses_a_tampered_one(tmp_path, capsys):
    card, _ = _card()
    good = tmp_path / "progress.json"
    good.write_text(card.to_json())
    assert main(["exercises", "--verify", str(good)]) == 0
    assert "score: 2/3 right (1 without showing the solution first), 4 attempts" in capsys.readouterr().out
    doc = json.loads(card.to_json())
    doc["entries"][1]["correct"] = True
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    assert main(["exercises", "--verify", str(bad)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("ARG")]
    assert len(err) == 1 and "does not match its problems" in err[0]


def test_the_exercise_app_writes_the_card_it_keeps(tmp_path, monkeypatch):
    pytest.importorskip("ipywidgets")
    from vmaplab.course import scorecard
    from vmaplab.course.widgets import ExerciseApp
    monkeypatch.setattr(scorecard, "CARD", Scorecard())
    app = ExerciseApp("decay", seed=2)
    app.answer.value = "12345"                      # Enter: a wrong check
    app.reveal()
    app.answer.value = _right(app.exercise)
    app.seed.value = 3                              # a new problem clears the box: not an attempt
    text = app.save(str(tmp_path / "progress.json"))
    assert (tmp_path / "progress.json").read_text() == text
    assert "download progress.json" in app.saved.value and "base64," in app.saved.value
    score = verify(text)
    assert (score.total, score.right, score.right_without_solution, score.attempts) == (1, 1, 0, 2)
