# SPDX-License-Identifier: MIT
"""A learner's score card: what each exercise asked, what was answered, right or wrong, in how many
attempts, and whether the solution was shown first; kept as ``progress.json``, verified by recomputing.

What it does: the notebooks' ExerciseApps record every check and every reveal in one card per
kernel session (``CARD``); ``Scorecard.to_json`` is the ``progress.json`` a learner downloads (a
link in the notebook works natively and in the browser site); ``verify`` (``vmaplab exercises
--verify progress.json``) remakes every problem from its kind and seed, checks every recorded answer
again and gives the score, refusing a card whose recorded verdicts do not match their problems.

Invariants: an entry is keyed by (kind, seed): a learner who returns to a problem adds attempts to
its entry; "correct" is the last check's verdict; "solution_first" is set once the solution was
shown before any right answer and never cleared. Verification recomputes everything but the
learner's answers and attempt counts, which it cannot know.

Simplifications: a card proves what was answered, not who answered it or when; it is a record a
learner hands in, not an exam.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .exercises import KINDS, ExerciseError, _check_seed, make

FORMAT = "vmaplab-progress/1"
MAX_BYTES = 1 << 20
MAX_ENTRIES = 1000


@dataclass
class Entry:
    """One problem's record."""
    kind: str
    seed: int
    answer: str = ""
    correct: bool = False
    attempts: int = 0
    solution_first: bool = False


@dataclass
class Scorecard:
    """Every exercise a learner checked or revealed in this session, in the order first met."""
    entries: dict[tuple[str, int], Entry] = field(default_factory=dict)

    def _entry(self, kind: str, seed: int) -> Entry:
        return self.entries.setdefault((kind, seed), Entry(kind, seed))

    def checked(self, kind: str, seed: int, answer: str, correct: bool) -> None:
        e = self._entry(kind, seed)
        e.answer, e.correct, e.attempts = answer, correct, e.attempts + 1

    def revealed(self, kind: str, seed: int) -> None:
        e = self._entry(kind, seed)
        if not e.correct:
            e.solution_first = True

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "entries": [asdict(e) for e in self.entries.values()]}, indent=1) + "\n"


CARD = Scorecard()          # the session's card: every ExerciseApp of a kernel session writes here


@dataclass(frozen=True)
class Score:
    """What ``verify`` found: counts over the card's entries."""
    total: int
    right: int
    right_without_solution: int
    attempts: int
    lines: tuple[str, ...]      # one line per entry, for the CLI


def parse(text: str, where: str = "progress.json") -> list[Entry]:
    """The entries of a card's text, each field checked (ExerciseError naming the file and the entry)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ExerciseError(f"{where}: not JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("entries"), list):
        raise ExerciseError(f"{where}: not a {FORMAT} document (a notebook's 'save progress' writes one)")
    if len(doc["entries"]) > MAX_ENTRIES:
        raise ExerciseError(f"{where}: {len(doc['entries'])} entries, more than {MAX_ENTRIES}")
    out = []
    types = {"kind": str, "seed": int, "answer": str, "correct": bool, "attempts": int, "solution_first": bool}
    for i, raw in enumerate(doc["entries"]):
        if not isinstance(raw, dict) or set(raw) != set(types):
            raise ExerciseError(f"{where}: entry {i} must have exactly the fields {', '.join(types)}")
        for key, kind in types.items():
            v = raw[key]
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                raise ExerciseError(f"{where}: entry {i}: {key!r} must be {kind.__name__}, got {v!r:.40}")
        if raw["kind"] not in KINDS:
            raise ExerciseError(f"{where}: entry {i}: kind {raw['kind']!r:.40} is not one of {', '.join(KINDS)}")
        if raw["attempts"] < 0 or (raw["correct"] and raw["attempts"] == 0):
            raise ExerciseError(f"{where}: entry {i}: attempts {raw['attempts']} cannot give that verdict")
        try:
            _check_seed(raw["seed"])
        except ExerciseError as e:
            raise ExerciseError(f"{where}: entry {i}: {e}") from None
        out.append(Entry(**raw))
    if len({(e.kind, e.seed) for e in out}) != len(out):
        raise ExerciseError(f"{where}: an exercise appears twice")
    return out


def verify(text: str, where: str = "progress.json") -> Score:
    """Remake every problem, check every answer again: the score, or ExerciseError if a recorded verdict
    is not what the problem gives for the recorded answer (the card was edited)."""
    entries = parse(text, where)
    lines, right = [], 0
    for i, e in enumerate(entries):
        verdict = make(e.kind, e.seed).check(e.answer).correct if e.attempts else False
        if verdict != e.correct:
            raise ExerciseError(f"{where}: entry {i} ({e.kind}, seed {e.seed}) records the answer {e.answer!r:.40} "
                                f"as {'right' if e.correct else 'wrong'}, but it is {'right' if verdict else 'wrong'}: "
                                "the card does not match its problems")
        right += verdict
        mark = "right" if verdict else ("no answer" if not e.attempts else "wrong")
        lines.append(f"{e.kind:14s} seed {e.seed:<10d} {mark:9s} attempts {e.attempts:<3d}"
                     + (" (solution shown first)" if e.solution_first else ""))
    clean = sum(1 for e in entries if e.correct and not e.solution_first)
    return Score(len(entries), right, clean, sum(e.attempts for e in entries), tuple(lines))


def save(card: Scorecard, path: str | Path = "progress.json") -> Path:
    """Write the card atomically (the notebook's 'save progress' button)."""
    from ..formats.userfile import write_atomically
    path = Path(path)
    write_atomically(path, card.to_json())
    return path
