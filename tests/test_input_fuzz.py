# SPDX-License-Identifier: MIT
"""Issue 26's fuzzers for the inputs added since the first bad-input sweep: oracle scenario files and the
exercises API. Every mutant is either accepted or refused with the module's own VmallocError subclass
(never another exception); counts are printed by ``python tests/test_input_fuzz.py``.

Scenario mutants (seeded): a value of one op or of the document replaced by a hostile value (a string, a
list, a huge or negative integer, a float, null, a nested object), a key dropped or added, the JSON text
cut short or with a byte flipped. Exercise calls: hostile kinds, seeds and answers.
"""
from __future__ import annotations

import json
import random

from vmaplab.course.exercises import KINDS, ExerciseError, make
from vmaplab.oracle.errors import ScenarioError
from vmaplab.oracle.scenario import load_scenario, shipped_scenarios

HOSTILE = ["", "x", "../../x", "a/b", "\x00", [], ["vmalloc"], {}, {"a": {"b": []}}, None, True, 1.5, -1, 0, 3,
           10 ** 30, 2 ** 64, "0x1000", "١٠", "vmalloc", "a", 4096]
SCENARIOS = [json.loads(p.read_text()) for p in shipped_scenarios()[:6]]


def mutate_doc(doc: dict, rng: random.Random) -> str:
    doc = json.loads(json.dumps(doc))
    kind = rng.randrange(5)
    target = rng.choice(doc["ops"]) if rng.random() < 0.7 else doc
    if kind == 0:
        target[rng.choice(sorted(target))] = rng.choice(HOSTILE)
    elif kind == 1 and len(target) > 1:
        del target[rng.choice(sorted(target))]
    elif kind == 2:
        target[rng.choice(["as", "ref", "align", "extra", "description", "smp"])] = rng.choice(HOSTILE)
    text = json.dumps(doc)
    if kind == 3:
        text = text[:rng.randrange(len(text))]
    elif kind == 4:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice('{}[]",:0a\\\x00é') + text[i + 1:]
    return text


def scenario_outcomes(n: int = 400, seed: int = 26) -> dict[str, int]:
    rng = random.Random(seed)
    out = {"accepted": 0, "refused": 0, "other": 0}
    bad = []
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.json"
        for _ in range(n):
            path.write_text(mutate_doc(rng.choice(SCENARIOS), rng), encoding="utf-8")
            try:
                load_scenario(path)
                out["accepted"] += 1
            except ScenarioError as e:
                out["refused"] += 1
                assert "\n" not in str(e)
            except Exception as e:      # noqa: BLE001 - counted, and the test shows them
                out["other"] += 1
                bad.append(f"{type(e).__name__}: {e}"[:200])
    out["examples"] = bad[:5]
    return out


def exercise_outcomes(seed: int = 26) -> dict[str, int]:
    out = {"accepted": 0, "refused": 0, "other": 0}
    bad = []
    calls = [lambda v=v: make(v, 1) for v in HOSTILE] + [lambda v=v: make("decay", v) for v in HOSTILE]
    ex = make("decay", seed)
    calls += [lambda v=v: ex.check(v) for v in HOSTILE + ["9" * 100_000, " 0 ", "0x", "1 2 3", "node 1"]]
    calls += [lambda k=k: make(k, 10 ** 5000) for k in KINDS]
    for call in calls:
        try:
            call()
            out["accepted"] += 1
        except ExerciseError:
            out["refused"] += 1
        except Exception as e:          # noqa: BLE001
            out["other"] += 1
            bad.append(f"{type(e).__name__}: {e}"[:200])
    out["examples"] = bad[:5]
    return out


def test_scenario_mutants_are_accepted_or_a_scenario_error():
    out = scenario_outcomes()
    assert out["other"] == 0, out
    assert out["accepted"] > 10 and out["refused"] > 100        # the mutants reach both sides


def test_hostile_exercise_calls_are_accepted_or_an_exercise_error():
    out = exercise_outcomes()
    assert out["other"] == 0, out
    assert out["refused"] > 30


if __name__ == "__main__":
    print("scenarios", scenario_outcomes())
    print("exercises", exercise_outcomes())
