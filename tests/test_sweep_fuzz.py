# SPDX-License-Identifier: MIT
"""Issue 26's fuzzers for the sweep: its spec files and its results files.

Spec mutants (seeded) start from the shipped specs (``experiments/*.toml``) and a tiny valid one: a
byte flipped, a line deleted, duplicated or cut, a value replaced by a hostile one (a wrong type, a
huge or 5,000-digit number, inf, a date, a deep array), an unknown key or table, a name that is a
path (``/``, ``..``, NUL, 300 characters), a quoted key with a newline, bytes that are not UTF-8,
brackets nested 1,000 deep. Each goes through the spec loader; nothing runs. Every mutant is a
valid Experiment or a SpecError of one line naming the file or the key; the CLI refuses the
refused ones with exit 2 and one line.

Results mutants (seeded) start from a real tiny sweep's ``.jsonl``: lines cut, bytes flipped (also
to bytes that are not UTF-8), fields dropped, retyped or set out of range, junk lines, a line
duplicated, a JSON object with a duplicated key, lines swapped. Then the sweep resumes (the
simulator replaced by the reference rows): every row kept passes ``row_problem``, exactly the runs
without an intact line run again, and the spec's rows in the files equal an uninterrupted run's,
byte for byte (0 lost rows). Counts print with ``pytest -s`` (the spec counts also with
``python tests/test_sweep_fuzz.py``).
"""
from __future__ import annotations

import contextlib
import json
import random
import tempfile
from pathlib import Path

import pytest

from vmaplab.cli import main
from vmaplab.contention import experiments as ex
from vmaplab.contention.experiments import Experiment, SpecError, load_experiment, parse_experiment, run_experiment

ROOT = Path(__file__).resolve().parents[1]
TINY_TOML = b'name = "tiny"\n[base]\nscale = 20000\nnr_cpus = 2\nnr_threads = 2\n[grid]\nversion = ["6.8", "6.9"]\nseed = [0, 1]\n'
SPECS = [p.read_bytes() for p in sorted((ROOT / "experiments").glob("*.toml"))] + [TINY_TOML]

# TOML values a user might write by mistake, or an attacker on purpose
HOSTILE_VALUES = [b'"x"', b'""', b"[]", b"[[1]]", b"{}", b"{a = 1}", b"true", b"1.5", b"-1", b"0", b"1e999",
                  b"inf", b"nan", b"-inf", b"18446744073709551616", b"9" * 5000, b"0x" + b"f" * 5000, b'"1e3"',
                  b"1979-05-27", b"07:32:00", b'"\\u0000"', b'"6.9"', b'["6.8", 6.9]', b"[1, 2.0]",
                  b"[" * 33 + b"]" * 33, b'"' + b"a" * 300 + b'"', b'"costs"', b"[0, 1]", b"[1, 0]", b'"' + b"\\\\" * 10 + b'"']
HOSTILE_NAMES = [b'"../../x"', b'"/abs/x"', b'"."', b'".."', b'"a/b"', b'"a\\u0000b"', b'"' + b"x" * 300 + b'"',
                 b'"ok.csv"', b'"a\\nb"', b'"-x"', b'" x"', b'"\xc3\xa9"', b"42", b'"ok.v2"', b'""']
HOSTILE_LINES = [b"bogus = 1", b"[bogus]", b"[[bogus]]", b'"a\\nb" = 1', b'"\\u0000" = 1', b'"cost." = 1',
                 b'"cost.nope" = 1', b"cost.t_mem_ns = 80", b"sample = 3", b"[sample]\nn = 100000\nranges = \"costs\"",
                 b"[sample]\nn = 3\nseed = -1", b'[sample.ranges]\nnr_threads = [1, 64]', b"x = " + b"[" * 1000 + b"]" * 1000,
                 b'report = "uncertainty"', b"report = 1", b"[[grid]]\nnr_threads = [1, 2, 4, 8, 16, 32, 64, 128, 256]",
                 b"name = 1", b"\xff\xfe", b"caf\xe9 = 1", b"\x00", b"[grid]", b"[[grid]]", b"grid = 5"]


def mutate_spec(spec: bytes, rng: random.Random) -> bytes:
    """One seeded mutant of the spec ``spec`` (bytes: it may not be UTF-8 afterwards)."""
    lines = spec.split(b"\n")
    kind = rng.randrange(9)
    i = rng.randrange(len(lines))
    if kind == 0:                           # a byte flipped
        data = bytearray(spec)
        data[rng.randrange(len(data))] = rng.choice([0, 0x22, 0x5b, 0x5d, 0x3d, 0x0a, 0x2e, 0xff, 0xc3, rng.randrange(256)])
        return bytes(data)
    if kind == 1 and len(lines) > 1:        # a line deleted
        del lines[i]
    elif kind == 2:                         # a line duplicated (a duplicate key or table)
        lines.insert(i, lines[i])
    elif kind == 3:                         # a value replaced
        candidates = [j for j, line in enumerate(lines) if b"=" in line and not line.startswith(b"#")]
        if candidates:
            j = rng.choice(candidates)
            lines[j] = lines[j].split(b"=")[0] + b"= " + rng.choice(HOSTILE_VALUES)
    elif kind == 4:                         # the name
        lines = [line for line in lines if not line.startswith(b"name")]
        lines.insert(0, b"name = " + rng.choice(HOSTILE_NAMES))
    elif kind == 5:                         # a hostile line somewhere
        lines.insert(i, rng.choice(HOSTILE_LINES))
    elif kind == 6:                         # cut short
        return spec[:rng.randrange(len(spec))]
    elif kind == 7:                         # a hostile value under [base] or [grid]
        table = rng.choice([b"[base]", b"[grid]"])
        key = rng.choice([b"nr_threads", b"nr_cpus", b"version", b"seed", b"scale", b"machine", b"pools",
                          b'"cost.t_mem_ns"', b'"cost.cache_model"', b"nr_vmap_nodes", b"run_test_mask"])
        lines += [table, key + b" = " + rng.choice(HOSTILE_VALUES)]
    else:                                   # two mutations
        return mutate_spec(mutate_spec(spec, rng), rng)
    return b"\n".join(lines)


@contextlib.contextmanager
def _replaced(module, name: str, value):
    """``module.name`` is ``value`` inside the block (the fuzzers also run outside pytest, without monkeypatch)."""
    real = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, real)


def _names_file_or_key(message: str, path: Path) -> bool:
    return str(path) in message or message.split(" ")[0].split(":")[0].startswith(("base.", "grid", "sample."))


def spec_outcomes(n: int = 600, seed: int = 26, cli_every: int = 10) -> dict:
    """Load ``n`` mutants; count accepted, refused (SpecError) and other. Every ``cli_every``-th refused
    mutant also goes through ``vmaplab sweep`` (with nothing able to run), which must exit 2 with one line."""
    rng = random.Random(seed)
    out = {"accepted": 0, "refused": 0, "other": 0, "cli": 0}
    bad: list[str] = []

    def no_run(*a, **k):
        raise AssertionError("a refused spec reached run_experiment")
    with _replaced(ex, "run_experiment", no_run), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.toml"
        for _ in range(n):
            data = mutate_spec(rng.choice(SPECS), rng)
            path.write_bytes(data)
            try:
                exp = load_experiment(path)
            except SpecError as e:
                out["refused"] += 1
                msg = str(e)
                if "\n" in msg or len(msg) > 800 or not _names_file_or_key(msg, path):
                    out["other"] += 1
                    bad.append(f"message {msg[:200]!r} for {data[:120]!r}")
                if out["refused"] % cli_every == 0:
                    out["cli"] += 1
                    code, err = _cli_sweep(path, Path(tmp) / "out")
                    if code != 2 or len(err) != 1 or not err[0].startswith("vmaplab: error: "):
                        out["other"] += 1
                        bad.append(f"cli exit {code}, stderr {err[:3]!r} for {data[:120]!r}")
            except Exception as e:      # noqa: BLE001 - counted, and the test shows them
                out["other"] += 1
                bad.append(f"{type(e).__name__}: {str(e)[:150]} for {data[:120]!r}")
            else:
                if isinstance(exp, Experiment) and exp.runs():
                    out["accepted"] += 1
                else:
                    out["other"] += 1
                    bad.append(f"accepted without runs: {data[:120]!r}")
    out["examples"] = bad[:5]
    return out


def _cli_sweep(spec: Path, out: Path) -> tuple[int, list[str]]:
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["sweep", str(spec), "--out", str(out), "--quiet", "--jobs", "1"])
    return code, [line for line in err.getvalue().splitlines() if not line.startswith("ARG")]


def test_spec_mutants_are_accepted_or_one_line_spec_errors():
    """Seed 26, 600 mutants: 107 accepted, 493 refused with a one-line SpecError naming the file or the
    key (49 of them also through the CLI: exit 2, one line), 0 other."""
    out = spec_outcomes()
    print("\nspec mutants:", out)
    assert out["other"] == 0, out
    assert out["accepted"] > 30 and out["refused"] > 300      # the mutants reach both sides


@pytest.mark.parametrize("text", [b"a = " + b"9" * 5000, b'name = "x"\n[base]\nseed = ' + b"1" * 4301,
                                  b'name = "x"\n[base]\nseed = 0x' + b"f" * 5000,
                                  b'name = "x"\n[base]\n"cost.t_mem_ns" = 0x' + b"f" * 5000])
def test_a_spec_with_a_5000_digit_integer_is_a_spec_error(text, tmp_path):
    """tomllib raises ValueError (past Python's 4,300-digit limit), not TOMLDecodeError; a huge hex integer
    parses, and then the message's repr() raised it: tracebacks before."""
    path = tmp_path / "big.toml"
    path.write_bytes(text)
    with pytest.raises(SpecError) as e:
        load_experiment(path)
    assert str(e.value).startswith((f"{path}: ", "base.")) and len(str(e.value)) < 200


@pytest.mark.parametrize("where", ["base", "grid", "sample.ranges"])
def test_a_key_with_a_newline_is_named_on_one_line(where, tmp_path):
    value = "[1, 2]" if where != "base" else "1"
    path = tmp_path / "nl.toml"
    path.write_text(f'name = "x"\n[{where}]\n"a\\nb\\u0000" = {value}\n'
                    + ('[sample]\nn = 2\n' if where == "sample.ranges" else ""))
    with pytest.raises(SpecError) as e:
        load_experiment(path)
    assert "\n" not in str(e.value) and "\0" not in str(e.value) and "a\\nb" in str(e.value)


def test_a_huge_value_is_not_echoed_whole():
    with pytest.raises(SpecError) as e:
        parse_experiment({"name": "x", "base": {"machine": "m" * 100_000}})
    assert len(str(e.value)) < 500


# -- the results files --------------------------------------------------------------------------

TINY = {"name": "tiny", "base": {"scale": 20000, "nr_cpus": 2, "nr_threads": 2},
        "grid": {"version": ["6.8", "6.9"], "seed": [0, 1]}}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One real tiny sweep: its folder, its .jsonl and .csv bytes, its rows."""
    stem = tmp_path_factory.mktemp("ref") / "tiny"
    rows = run_experiment(parse_experiment(TINY), stem, jobs=1)
    return Path(f"{stem}.jsonl").read_bytes(), Path(f"{stem}.csv").read_bytes(), rows


def _retyped(row: dict, rng: random.Random) -> dict:
    row = json.loads(json.dumps(row))
    field = rng.choice(sorted(row))
    choice = rng.randrange(6)
    if choice == 0:
        del row[field]
    elif choice == 1:
        row[field] = rng.choice([None, "x", [], {}, True, -1, 1e300, "2", 2.0])
    elif choice == 2:
        row[rng.choice(["wall_s", "slowpath_self_pct"])] = rng.choice([-1e300, float("nan"), float("inf"), 101.0, -0.5,
                                                                       "0.1", None, True])
    elif choice == 3:
        row["profile"] = rng.choice([[], {"x": [1.0]}, {"x": [1.0, 200.0]}, {"x": "y"}, {"x": [None, 1.0]}, 5])
    elif choice == 4:
        row[rng.choice(["extra", "Key", ""])] = 1
    else:
        row[rng.choice(["seed", "nr_threads", "version", "scale"])] = rng.choice([99, "6.8", 2.0, None, 20001, 1])
    return row


def mutate_results(lines: list[bytes], rows: list[dict], rng: random.Random) -> list[bytes]:
    """One to three seeded mutations of the record's lines."""
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(9)
        i = rng.randrange(len(lines)) if lines else 0
        if not lines:
            lines.append(b"")
        if kind == 0:                               # cut (an interrupted append)
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
        elif kind == 1:                             # a byte flipped, maybe to one that is not UTF-8
            b = bytearray(lines[i] or b" ")
            b[rng.randrange(len(b))] = rng.choice([0xff, 0xc3, 0x80, 0x00, 0x22, 0x7d, 0x2c, rng.randrange(256)])
            lines[i] = bytes(b)
        elif kind == 2:                             # a field dropped, retyped or out of range
            lines[i] = json.dumps(_retyped(rng.choice(rows), rng), sort_keys=True).encode()
        elif kind == 3:                             # a junk line
            lines.insert(i, rng.choice([b"42", b"{}", b"null", b"[]", b'"x"', b'{"key": 5}', b"\xff\xfe{}", b"[" * 5000,
                                        b"1" * 5000, b'{"key": "abc"', b"NaN", b"\x00" * 10, b" ", b"{" * 100 + b"}" * 100]))
        elif kind == 4:                             # a line duplicated
            lines.insert(i, lines[i])
        elif kind == 5:                             # a JSON object with a duplicated key
            row = rng.choice(rows)
            text = json.dumps(row, sort_keys=True)
            field = rng.choice(["key", "wall_s", "seed"])
            bad = {"key": json.dumps(rows[0]["key"]), "wall_s": "-1", "seed": "7"}[field]
            front, back = f'{{"{field}": {bad}, ', text[1:]
            lines[i] = (front + back if rng.random() < 0.5 else text[:-1] + f', "{field}": {bad}}}').encode()
        elif kind == 6:                             # lines swapped
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 7:                             # a line deleted
            del lines[i]
        else:                                       # a key that is another run's
            row = dict(rng.choice(rows))
            row["key"] = rng.choice(rows)["key"]
            lines[i] = json.dumps(row, sort_keys=True).encode()
    return lines


def _decoded(line: bytes):
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _key_of(row) -> str | None:
    """The key of a decoded line that is a row (a JSON object with a string key), else None."""
    return row["key"] if isinstance(row, dict) and isinstance(row.get("key"), str) else None


def results_outcomes(reference, n: int = 300, seed: int = 26) -> dict:
    """Resume ``n`` mutated records; count mutants, runs run again and rows lost."""
    ref_jsonl, ref_csv, ref_rows = reference
    ref_lines = ref_jsonl.splitlines()
    runs = parse_experiment(TINY).runs()
    params_of = {ex.run_key(p): p for p in runs}
    by_key = {r["key"]: r for r in ref_rows}
    canonical = {r["key"]: json.dumps(r, sort_keys=True) for r in ref_rows}
    rng = random.Random(seed)
    out = {"mutants": 0, "forgeries_skipped": 0, "rerun": 0, "kept": 0, "lost": 0, "wrong": 0, "other": 0}
    bad: list[str] = []
    ran: list[str] = []

    def measure(params: dict) -> dict:          # the simulator's row, from the reference run
        ran.append(ex.run_key(params))
        return by_key[ran[-1]]
    with _replaced(ex, "_measure", measure), tempfile.TemporaryDirectory() as tmp:
        for m in range(n):
            lines = mutate_results(ref_lines, ref_rows, rng)
            decoded = [_decoded(line) for line in lines]
            # a different row that passes every check (a wall_s digit flipped) cannot be told from a
            # real one: resume keeps it by design, so such a mutant is drawn again
            ours_decoded = [d for d in decoded if _key_of(d) in by_key]
            if any(json.dumps(d, sort_keys=True) != canonical[d["key"]] and ex.row_problem(d, params_of[d["key"]]) is None
                   for d in ours_decoded):
                out["forgeries_skipped"] += 1
                continue
            out["mutants"] += 1
            intact = {d["key"] for d in ours_decoded if json.dumps(d, sort_keys=True) == canonical[d["key"]]}
            foreign = [_key_of(d) for d in decoded if _key_of(d) is not None and _key_of(d) not in by_key]
            stem = Path(tmp) / f"m{m}"
            Path(f"{stem}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
            ran.clear()
            try:
                rows = run_experiment(parse_experiment(TINY), stem, jobs=1, report=lambda line: None)
            except Exception as e:      # noqa: BLE001 - counted, and the test shows them
                out["other"] += 1
                bad.append(f"{type(e).__name__}: {str(e)[:150]} for {lines!r:.200}")
                continue
            out["rerun"] += len(ran)
            out["kept"] += len(ref_rows) - len(ran)
            final = Path(f"{stem}.jsonl").read_bytes().splitlines()
            ours = [line for line in final if _key_of(_decoded(line)) in by_key]
            out["lost"] += len(set(by_key) - {_decoded(line)["key"] for line in ours})
            problems = [ex.row_problem(r, p) for r, p in zip(rows, runs)]
            wrong = (rows != ref_rows or sorted(ran) != sorted(set(by_key) - intact) or any(problems)
                     or b"".join(line + b"\n" for line in ours) != ref_jsonl
                     or len(final) - len(ours) != len(set(foreign))
                     or (not foreign and Path(f"{stem}.csv").read_bytes() != ref_csv))
            if wrong:
                out["wrong"] += 1
                bad.append(f"ran {len(ran)}, intact {len(intact)}, foreign {foreign} for {lines!r:.300}")
    out["examples"] = bad[:5]
    return out


def test_resume_of_mutated_results_reruns_the_bad_rows_and_loses_none(reference):
    """Seed 26, 150 drawn: 145 mutants resumed (5 skipped as undetectable forgeries), 150 runs run again,
    430 rows kept, 0 lost rows, 0 wrong outcomes, 0 other exceptions."""
    out = results_outcomes(reference, n=150)
    print("\nresults mutants:", out)
    assert out["other"] == 0 and out["wrong"] == 0 and out["lost"] == 0, out
    assert out["mutants"] > 100 and out["rerun"] > 50 and out["kept"] > 200


@pytest.mark.slow
def test_resume_of_many_mutated_results(reference):
    """Seed 2026, 2,000 drawn: 1,962 mutants resumed (38 forgeries skipped), 2,122 runs run again, 5,726
    rows kept, 0 lost rows, 0 wrong outcomes, 0 other exceptions."""
    out = results_outcomes(reference, n=2000, seed=2026)
    print("\nresults mutants:", out)
    assert out["other"] == 0 and out["wrong"] == 0 and out["lost"] == 0, out


if __name__ == "__main__":
    print("specs", spec_outcomes())
