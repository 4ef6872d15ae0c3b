# SPDX-License-Identifier: MIT
"""Experiments: a grid or a seeded sample over the simulator's parameters, run on any executor.

What it is (docs/experiments.md): an :class:`Experiment` read from a TOML spec expands into
:class:`~vmaplab.contention.runs.RunSpec` records, one per run; :func:`run_experiment` sends them
to a ``concurrent.futures.Executor`` (a local process pool by default, Dask's through
``Client.get_executor()``) and writes a tidy table, one row per run, as CSV and JSON lines, with
every parameter and the package version in each row. Rows already in the output are not run
again, so an interrupted sweep resumes where it stopped.

Invariants: a row is a pure function of its run's parameters (every random choice comes from the
``seed`` parameter), so the same spec gives the same rows, byte for byte, on every executor and
with any number of workers; the files are rewritten in the spec's order when the sweep ends,
whatever order the runs finished in, merged with the rows of other specs already there (never
truncated; replaced by rename, see "the result files" below). A row kept on resume is exactly
what a fresh run with this model writes (:func:`row_problem`); anything else runs again. A spec is checked completely before anything runs: an
unknown parameter, a value out of range or an unknown cost constant is a :class:`SpecError`
naming the field.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import random
import signal
import sys
import threading
import tomllib
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

from ..formats.userfile import MAX_STEM, is_stem, read_user_file, write_atomically
from ..kernel.errors import InvariantError, VmallocError
from ..kernel.generations import AFTER, BEFORE, LETTER_VERSIONS, generation
from ..kernel.validate import check_real, shown
from ..workloads.test_vmalloc import TEST_NAMES, TestVmallocParams
from .costs import ContentionCosts
from .ranges import COST_RANGES, latin_hypercube
from .runs import RunSpec, map_unordered, run_spec
from .settings import SETTINGS, Check, choice, integer, test_mask
from .topology import LETTER_MACHINE, TOPOLOGIES


class SpecError(VmallocError):
    """A malformed experiment spec or output stem; the message names the table and the field (or ``out``)."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_experiment`: every finished run is in the files; running again resumes.

    ``recorded`` of the spec's ``total`` runs are in ``jsonl``.
    """

    def __init__(self, recorded: int, total: int, jsonl: Path):
        super().__init__(f"interrupted: {recorded} of {total} runs recorded in {jsonl}")
        self.recorded, self.total, self.jsonl = recorded, total, jsonl


def _shown(v, limit: int = 60) -> str:
    """``repr(v)``, cut to ``limit`` characters: a message echoes a value, never a megabyte of it."""
    return shown(v, limit)


def _key(k) -> str:
    """A spec key as a message names it: as written if printable and short, else its cut repr (one line, no NUL)."""
    return k if isinstance(k, str) and k.isprintable() and len(k) <= 60 else _shown(k)


def _spec(check: Check) -> Callable:
    """A settings.py check as a spec's: (label, value) -> value, its errors SpecErrors."""
    return lambda label, v: check(label, v, SpecError)


def _choice(*options):
    return _spec(choice(*options))


def _int(low: int, high: int, none_ok: bool = False):
    return _spec(integer(low, high, none_ok))


# parameter -> check; each is a RunSpec field (cost constants are "cost.NAME", checked by ContentionCosts)
LOOP_COUNT = TestVmallocParams().test_loop_count     # every run's test_loop_count (a spec cannot set it)


def _mask(name, v):
    """run_test_mask: a C int that selects at least one of the 11 tests (else every row measures 0 s)."""
    v = test_mask(name, v, SpecError)
    if not v & ((1 << len(TEST_NAMES)) - 1):
        raise SpecError(f"{name} = {v} selects none of the {len(TEST_NAMES)} tests (bits 0..{len(TEST_NAMES) - 1})")
    return v


# parameter -> check: every RunSpec setting (settings.py declares them), two narrowed for specs
PARAMS: dict[str, Callable] = {name: _spec(f.metadata["check"]) for name, f in SETTINGS.items()}
PARAMS["scale"] = _int(1, LOOP_COUNT)              # past test_loop_count no loop is left to scale
PARAMS["run_test_mask"] = _mask                    # and it must select a test
MAX_RUNS = 100_000


@dataclass(frozen=True)
class Experiment:
    """A parsed spec: fixed parameters, a grid (cartesian product) and/or a seeded random sample."""
    name: str
    base: dict
    grids: tuple                # each a dict parameter -> list of values; runs are the union of their products
    sample_n: int = 0           # runs drawn at random (0: none)
    sample_seed: int = 0
    ranges: dict | None = None  # parameter -> (low, high) for the sample: uniform, ints stay ints
    path: str = ""
    method: str = "random"      # "random" (independent uniform draws) or "lhs" (a Latin hypercube)
    report: str = ""            # "uncertainty": the CLI summarises the rows as intervals

    def runs(self) -> list[dict]:
        """Every run's parameters, in a fixed order: each grid's product in turn, each point with every sample."""
        grid = [dict(zip(g, values)) for g in self.grids for values in product(*g.values())] or [{}]
        samples: list[dict] = [{}]
        if self.sample_n:
            ranges = self.ranges
            if ranges is None:
                raise InvariantError(f"experiment {self.name!r}: sample_n {self.sample_n} without ranges to draw from")
            rng = random.Random(self.sample_seed)
            if self.method == "lhs":
                points = latin_hypercube(self.sample_n, ranges, rng)
            else:
                points = [{k: _draw(rng, lo, hi) for k, (lo, hi) in ranges.items()} for _ in range(self.sample_n)]
            # the sample's index pairs the runs that share a draw (6.8 and 6.9 of one set of constants)
            samples = [{"sample": i, **p} for i, p in enumerate(points)]
        runs, seen = [], set()
        for g in grid:                  # a union: a point two grid tables share runs once
            for smp in samples:
                params = {**self.base, **g, **smp}
                key = run_key(params)
                if key not in seen:
                    seen.add(key)
                    runs.append(params)
        return runs


def _draw(rng: random.Random, lo, hi):
    return rng.randint(lo, hi) if isinstance(lo, int) and isinstance(hi, int) else rng.uniform(lo, hi)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_value(name: str, value, label: str) -> object:
    """``value`` of parameter ``name``, checked; errors say ``label`` (e.g. grid.nr_threads)."""
    if name.startswith("cost."):
        if not isinstance(value, str):
            check_real(value, label, exc=SpecError)        # bools, huge ints, nan: refused here
        if isinstance(value, str) and _looks_numeric(value):      # "1e3" would run as 1000.0 under another key
            raise SpecError(f"{label} must be a number, not the string {value!r:.40}: write it without quotes")
        try:
            ContentionCosts().with_overrides([f"{name[5:]}={value}"])
        except ValueError as e:
            raise SpecError(f"{label}: {str(e).splitlines()[0][:600]}") from None
        return value
    if name not in PARAMS:
        raise SpecError(f"{label}: unknown parameter {_shown(name)}; known: {', '.join(PARAMS)}, cost.NAME")
    return PARAMS[name](label, value)


def parse_experiment(doc: dict, path: str = "") -> Experiment:
    """Check a decoded spec and return it; nothing runs."""
    where = path or "spec"
    unknown = set(doc) - {"name", "base", "grid", "sample", "report"}
    if unknown:
        raise SpecError(f"{where}: unknown table(s) {_shown(sorted(unknown), 200)}; a spec has name, report, base, grid, sample")
    report = doc.get("report", "")
    if report not in ("", "uncertainty"):
        raise SpecError(f"{where}: report must be 'uncertainty' (or absent), got {_shown(report)}")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: 'name' must be a non-empty string")
    check_name(name, where)
    base = doc.get("base", {})
    grids = doc.get("grid", {})
    grids = [grids] if isinstance(grids, dict) else grids      # [grid], or [[grid]] for a union
    if not isinstance(base, dict) or not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise SpecError(f"{where}: [base] must be a table and grid a table or an array of tables")
    base = {k: _check_value(k, v, f"base.{_key(k)}") for k, v in base.items()}
    checked_grids = []
    for i, grid in enumerate(grids):
        label = "grid" if len(grids) == 1 else f"grid[{i}]"
        checked = {}
        for k, values in grid.items():
            if not isinstance(values, list) or not values:
                raise SpecError(f"{where}: {label}.{_key(k)} must be a non-empty list")
            checked[k] = [_check_value(k, v, f"{label}.{_key(k)}") for v in values]
        checked_grids.append(checked)
    n, seed, ranges, method = 0, 0, None, "random"
    sample = doc.get("sample")
    if sample is not None:
        if not isinstance(sample, dict) or set(sample) - {"n", "seed", "ranges", "method"}:
            raise SpecError(f"{where}: [sample] has n, seed, method and ranges")
        n = _int(1, MAX_RUNS)("sample.n", sample.get("n"))
        seed = _int(0, (1 << 64) - 1)("sample.seed", sample.get("seed", 0))
        method = _choice("random", "lhs")("sample.method", sample.get("method", "random"))
        given = sample.get("ranges") or {}
        if given == "costs":                  # every cost constant within its documented range
            given = {f"cost.{k}": [r.low, r.high] for k, r in COST_RANGES.items()}
        if not isinstance(given, dict):
            raise SpecError(f"{where}: sample.ranges must be a table or \"costs\"")
        ranges = {}
        for k, bounds in given.items():
            if (not isinstance(bounds, list) or len(bounds) != 2
                    or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bounds)
                    or not bounds[0] <= bounds[1]):
                raise SpecError(f"{where}: sample.ranges.{_key(k)} must be [low, high] with low <= high")
            for b in bounds:
                _check_value(k, b, f"sample.ranges.{_key(k)}")
            ranges[k] = tuple(bounds)
        if not ranges:
            raise SpecError(f"{where}: [sample.ranges] names no parameter to sample")
    exp = Experiment(name, base, tuple(checked_grids), n, seed, ranges, path, method, report)
    # an upper bound (shared points count twice) before a single run is built: a huge grid is refused at once
    bound = sum(math.prod(len(v) for v in g.values()) for g in checked_grids) or 1
    if bound * max(1, n) > MAX_RUNS:
        raise SpecError(f"{where}: up to {bound * max(1, n)} runs, more than {MAX_RUNS}")
    runs = exp.runs()
    if len(runs) > MAX_RUNS:
        raise SpecError(f"{where}: {len(runs)} runs, more than {MAX_RUNS}")
    machines: set[tuple[str, int]] = set()
    for params in runs:                  # combinations the simulator would refuse, before anything runs
        spec = to_runspec(params)
        cpus = spec.nr_cpus or spec.nr_threads
        if not 1 <= spec.nr_threads <= cpus:
            raise SpecError(f"{where}: a run has nr_threads={spec.nr_threads} > nr_cpus={spec.nr_cpus}")
        if (spec.machine, cpus) not in machines:
            try:
                TOPOLOGIES[spec.machine](cpus)
            except ValueError as e:
                raise SpecError(f"{where}: a run has machine={spec.machine} nr_cpus={cpus}: {e}") from None
            machines.add((spec.machine, cpus))
        if spec.nr_vmap_nodes is not None and (not generation(spec.version).vmap_nodes or spec.nr_vmap_nodes > min(cpus, 128)):
            raise SpecError(f"{where}: a run has nr_vmap_nodes={spec.nr_vmap_nodes} with version {spec.version} and "
                            f"{cpus} CPUs (a 6.9 what-if, at most min(nr_cpus, 128))")
    return exp


# A name is a file-name stem: the default output is results/NAME.csv and .jsonl, nothing else
MAX_NAME = MAX_STEM
MAX_SPEC_BYTES = 1 << 20            # a spec is a few hundred bytes; /dev/zero is not a spec
MAX_NESTING = 32                    # tables and arrays inside each other; a spec needs 3


def check_name(name: str, where: str = "spec") -> str:
    """``name`` if it is a plain file-name stem (letters, digits, ``.``, ``_``, ``-``; starting with a
    letter or digit; at most 100 characters; not ending in .csv or .jsonl); else SpecError."""
    if not is_stem(name) or name.endswith((".csv", ".jsonl")):
        shown = repr(name[:40]) + ("..." if isinstance(name, str) and len(name) > 40 else "")
        raise SpecError(f"{where}: 'name' must be a file-name stem (letters, digits, '.', '_', '-', starting "
                        f"with a letter or digit, at most {MAX_NAME} characters, not ending in .csv or .jsonl), "
                        f"got {shown}")
    return name


def load_experiment(path: str | Path) -> Experiment:
    """Read and check a spec file: a regular file of at most 1 MiB, UTF-8, TOML nested at most 32 deep."""
    text = read_user_file(path, kind="spec", max_bytes=MAX_SPEC_BYTES, exc=SpecError, max_nesting=MAX_NESTING)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not TOML ({e})") from None
    except ValueError:          # an integer past Python's 4,300-digit limit: tomllib lets int() raise
        raise SpecError(f"{path}: an integer of more than {sys.get_int_max_str_digits()} digits; not a spec") from None
    except RecursionError:
        raise SpecError(f"{path}: nested too deeply") from None
    return parse_experiment(doc, str(path))


def to_runspec(params: dict) -> RunSpec:
    """The RunSpec of one run's parameters (cost.NAME entries become the costs' overrides)."""
    costs = [f"{k[5:]}={v}" for k, v in sorted(params.items()) if k.startswith("cost.")]
    fields = {k: v for k, v in params.items() if not k.startswith("cost.") and k != "sample"}
    spec = RunSpec(**fields)
    return replace(spec, costs=ContentionCosts().with_overrides(costs)) if costs else spec


def run_key(params: dict) -> str:
    """A run's identity in the output files: a hash of its parameters (resume compares these)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _package_version() -> str:
    try:
        from importlib.metadata import version
        return version("vmaplab")
    except Exception:                     # an uninstalled checkout
        return "unknown"


# The packages a run executes: a change to any of their sources may change a row.
MODEL_PACKAGES = ("kernel", "workloads", "contention")
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


@functools.cache
def model_identity() -> str:
    """A hash of the simulator's source (every .py of ``MODEL_PACKAGES``): which model made a row.

    The package version stays the same across model changes; this does not. Resume keeps a row
    only if its ``model`` is this one, so a sweep resumed after the model changed runs again
    instead of mixing rows of two models. Compiled speedups are built from the same sources and
    give the same results, so they share the identity.
    """
    h = hashlib.sha256()
    for sub in MODEL_PACKAGES:
        for path in sorted((_PACKAGE_DIR / sub).rglob("*.py")):
            h.update(path.relative_to(_PACKAGE_DIR).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _measure(params: dict) -> dict:
    """One run (a top-level function, so any executor can ship it): its row."""
    summary = run_spec(to_runspec(params))
    letter = letter_symbols()
    return {"key": run_key(params), **params, "wall_s": summary.wall_s,
            "slowpath_self_pct": summary.slowpath_self_pct, "vmaplab": _package_version(),
            "model": model_identity(),
            # the shares of the symbols the cover letter's tables show (JSON lines only, not the CSV)
            "profile": {sym: [c, s] for sym, c, s in summary.profile if sym in letter}}


def letter_symbols() -> frozenset:
    """Every symbol of the v3 cover letter's two perf tables."""
    from .published import published
    pub = published()
    return frozenset(r["symbol"] for v in LETTER_VERSIONS for r in pub[v]["profile"])


# -- the result files ---------------------------------------------------------------------------
# FILE.jsonl is the record: one JSON object per line, a row per run, possibly of several specs
# (two sweeps may share an --out). While a sweep runs, each finished row is appended (under a lock
# on the folder, after a newline if a cut line ends the file). When it ends or is interrupted,
# FILE.jsonl and FILE.csv are replaced whole: written to a temporary file in the same folder,
# fsynced, renamed over the old one, so a crash leaves the old file or the new one, never half.
# The new file is the old one merged: rows of other specs stay as they were, in their places;
# this spec's rows, in the spec's order, take the place of the first of them (the end if none).
ROW_FIELDS = ("key", "wall_s", "slowpath_self_pct", "vmaplab", "model", "profile")   # beside the parameters
MAX_WALL_S = 1e9                    # 31 years of real-equivalent time: anything above is not a result


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """``(FILE.csv, FILE.jsonl)`` of the stem ``out``, the suffixes appended: stem ``ok.v2`` is not ``ok``.

    Raises SpecError (naming ``out``) for a stem that cannot be one: empty, a directory, ending in
    / or .csv or .jsonl, in /proc, /sys or /dev, a NUL, a folder that is a file.
    """
    text = os.fspath(out)
    if not isinstance(text, str) or not text.strip():
        raise SpecError("out: the output stem is empty; give one such as results/NAME")
    if "\0" in text:
        raise SpecError(f"out: {text!r} contains a NUL")
    stem = Path(text)
    if text.endswith(("/", os.sep)) or stem.name in ("", ".", "..") or stem.is_dir():
        raise SpecError(f"out: {text} is a directory; give a stem such as {stem / 'NAME'} "
                        f"(NAME.csv and NAME.jsonl are written)")
    if stem.name.endswith((".csv", ".jsonl")):
        raise SpecError(f"out: {text} is a stem, FILE.csv and FILE.jsonl are written; drop the suffix")
    resolved = stem.resolve()
    if resolved.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise SpecError(f"out: {text} is under /{resolved.parts[1]}, not a place for results")
    for parent in resolved.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SpecError(f"out: {text}: {parent} is not a directory")
            break
    csv_path, jsonl = Path(f"{text}.csv"), Path(f"{text}.jsonl")
    for p in (csv_path, jsonl):
        if p.exists() and not p.is_file():
            raise SpecError(f"out: {p} exists and is not a regular file")
    return csv_path, jsonl


@contextmanager
def _folder_lock(folder: Path):
    """An exclusive flock on the results folder: appends and rewrites by two sweeps do not interleave."""
    try:
        import fcntl
        flock, exclusive = fcntl.flock, fcntl.LOCK_EX     # Pyodide's fcntl has neither: AttributeError
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except (ImportError, OSError, AttributeError):      # no flock here (a browser's file system): unlocked
        yield
        return
    try:
        with suppress(OSError):
            flock(fd, exclusive)
        yield
    finally:
        os.close(fd)


def _append_row(jsonl: Path, row: dict) -> None:
    """Append one finished row to the record (a newline first if the file ends in a cut line)."""
    with jsonl.open("a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write((json.dumps(row, sort_keys=True) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def _number(v, low: float, high: float) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and low <= v <= high


def row_problem(row: dict, params: dict) -> str | None:
    """Why ``row`` is not what a fresh run of ``params`` writes with this model (None: it is).

    Every field a run writes, with its type; the parameters equal, value and type; finite numbers
    in range (wall_s in [0, 1e9] s, percentages in [0, 100]); the same model.
    """
    expected = set(params) | set(ROW_FIELDS)
    if set(row) != expected:
        missing, extra = sorted(expected - set(row)), sorted(set(row) - expected)
        return "fields " + "; ".join(f"{what} {keys}" for what, keys in (("missing", missing), ("unexpected", extra))
                                     if keys)
    for k, v in params.items():
        if type(row[k]) is not type(v) or row[k] != v:
            return f"{k} is {row[k]!r}, the run's parameter is {v!r}"
    if not _number(row["wall_s"], 0.0, MAX_WALL_S):
        return f"wall_s {row['wall_s']!r} is not a number in 0..{MAX_WALL_S:g}"
    if not _number(row["slowpath_self_pct"], 0.0, 100.0):
        return f"slowpath_self_pct {row['slowpath_self_pct']!r} is not a number in 0..100"
    if not isinstance(row["vmaplab"], str) or not row["vmaplab"]:
        return "vmaplab is not a version string"
    if row["model"] != model_identity():
        return f"made by another model ({str(row['model'])[:16]}, now {model_identity()})"
    profile = row["profile"]
    if not isinstance(profile, dict) or not all(
            isinstance(sym, str) and isinstance(v, list) and len(v) == 2 and all(_number(x, 0.0, 100.0) for x in v)
            for sym, v in profile.items()):
        return "profile is not {symbol: [children %, self %]}"
    return None


@dataclass
class _Record:
    """What FILE.jsonl holds: each row by key, the order of the keys, and the lines that are not rows."""
    rows: dict                  # key -> (raw line, decoded row), the last line of each key
    order: list                 # keys in order of first appearance
    not_rows: list              # (line number, why)
    lines_of: dict              # key -> [line numbers]


def _read_record(jsonl: Path) -> _Record:
    rec = _Record({}, [], [], {})
    try:
        data = jsonl.read_bytes()
    except FileNotFoundError:
        return rec
    except OSError as e:
        raise SpecError(f"out: cannot read {jsonl} ({e.strerror})") from None
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            rec.not_rows.append((n, "not UTF-8"))
            continue
        except (ValueError, RecursionError):      # cut by an interrupt, edited, 5,000 digits, nested deep
            rec.not_rows.append((n, "not JSON"))
            continue
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            rec.not_rows.append((n, "not a row (a JSON object with a string key)"))
            continue
        key = row["key"]
        if key not in rec.rows:
            rec.order.append(key)
            rec.lines_of[key] = []
        rec.lines_of[key].append((n, raw.decode("utf-8"), row))
        rec.rows[key] = (raw.decode("utf-8"), row)
    return rec


@dataclass(frozen=True)
class ResumeState:
    """What a sweep finds in its output: the valid rows of its runs, and what it will not keep."""
    kept: dict                  # key -> row: what a fresh run would write, not run again
    problems: tuple             # one line each: "FILE.jsonl line N: why; ..."


def resume_state(exp: Experiment, out: str | Path) -> ResumeState:
    """Check every line of ``out``.jsonl: the spec's rows that may be kept, and every line that may not."""
    _, jsonl = output_paths(out)
    return _resume(exp.runs(), jsonl, _read_record(jsonl))


def _resume(runs: list[dict], jsonl: Path, rec: _Record) -> ResumeState:
    kept, problems = {}, []
    for params in runs:
        key = run_key(params)
        for n, _raw, row in rec.lines_of.get(key, ()):
            why = row_problem(row, params)
            if why is None:
                kept[key] = row                    # the last valid line of a key wins
            else:
                problems.append((n, f"{jsonl} line {n}: {why}; that run runs again"))
    for n, why in rec.not_rows:
        problems.append((n, f"{jsonl} line {n}: {why}; dropped"))
    return ResumeState(kept, tuple(p for _n, p in sorted(problems)))


def _merged(rec: _Record, ours: list[dict]) -> tuple[list[str], list[dict]]:
    """The new record's lines and rows: others' rows unchanged in place, ours as one block in spec order."""
    mine = {r["key"] for r in ours}
    lines, rows, placed = [], [], False
    for key in rec.order:
        if key in mine:
            if not placed:
                lines += [json.dumps(r, sort_keys=True) for r in ours]
                rows += ours
                placed = True
        else:
            raw, row = rec.rows[key]
            lines.append(raw)
            rows.append(row)
    if not placed:
        lines += [json.dumps(r, sort_keys=True) for r in ours]
        rows += ours
    return lines, rows


def _csv_text(rows: list[dict]) -> str:
    tail = ["wall_s", "slowpath_self_pct", "vmaplab", "model"]
    columns = sorted({c for r in rows for c in r} - {"key", "profile", *tail})
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["key", *columns, *tail], lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _write_merged(ours: list[dict], csv_path: Path, jsonl: Path) -> None:
    """Merge ``ours`` into the record as it is now (under the folder lock) and replace both files."""
    with _folder_lock(jsonl.parent):
        lines, rows = _merged(_read_record(jsonl), ours)
        write_atomically(jsonl, "".join(line + "\n" for line in lines))
        write_atomically(csv_path, _csv_text(rows))


def already_done(exp: Experiment, out: str | Path) -> int:
    """How many of ``exp``'s runs ``out``.jsonl already holds as valid rows (a resumed sweep skips them)."""
    return len(resume_state(exp, out).kept)


class _SigintGuard:
    """SIGINT raises KeyboardInterrupt, except inside :meth:`critical`, where it waits for the block's end.

    So a row is appended whole or not at all, and the final rewrite is not left half done. Installed
    only in the main thread over Python's default handler; elsewhere it does nothing.
    """

    def __init__(self):
        self.depth, self.pending, self.previous = 0, False, None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False

    def _handler(self, signum, frame):
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def critical(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:
            self.pending = False
            raise KeyboardInterrupt


def run_experiment(exp: Experiment, out: str | Path, executor: Executor | None = None, jobs: int = 1,
                   progress: Callable | None = None, report: Callable[[str], None] | None = None) -> list[dict]:
    """Run every run of ``exp`` not yet in ``out`` (.csv and .jsonl beside each other); return all rows.

    ``executor``: any ``concurrent.futures.Executor`` (a Dask client's ``get_executor()``); without
    one, ``jobs`` > 1 makes a local process pool and 1 runs here. ``progress(iterable, total=,
    desc=)`` wraps the stream of finished runs (tqdm). ``report(line)`` gets one line per line of
    the record that is not kept (see :func:`resume_state`).

    Postconditions: the files hold every row they held before that is not one of this spec's runs,
    unchanged, plus one valid row per run of this spec; each was replaced by a rename, never
    rewritten in place. Raises SpecError naming ``out`` before anything runs if ``out`` cannot be a
    stem; SweepInterrupted on Ctrl-C, after writing every finished row.
    """
    csv_path, jsonl = output_paths(out)
    try:
        jsonl.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpecError(f"out: cannot create {jsonl.parent} ({e.strerror})") from None
    if not os.access(jsonl.parent, os.W_OK):
        raise SpecError(f"out: cannot write in {jsonl.parent}")
    runs = exp.runs()
    state = _resume(runs, jsonl, _read_record(jsonl))
    for line in state.problems:
        if report:
            report(line)
    done = dict(state.kept)
    with _SigintGuard() as guard:
        for attempt in range(MAX_POOL_RESTARTS + 1):
            todo = [p for p in runs if run_key(p) not in done]
            try:
                for _i, row in map_unordered(_measure, todo, executor, jobs, progress, exp.name):
                    with guard.critical(), _folder_lock(jsonl.parent):
                        _append_row(jsonl, row)            # each finished run survives an interrupt
                        done[row["key"]] = row
                break
            except KeyboardInterrupt:
                with guard.critical():
                    _write_merged([done[run_key(p)] for p in runs if run_key(p) in done], csv_path, jsonl)
                raise SweepInterrupted(len(done), len(runs), jsonl) from None
            except Exception as e:          # a worker died: the local pool is broken, or Dask gave up on a task
                if not _worker_lost(e):
                    raise
                lost = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'a worker died'}"
                if executor is not None or attempt == MAX_POOL_RESTARTS:
                    with guard.critical():
                        _write_merged([done[run_key(p)] for p in runs if run_key(p) in done], csv_path, jsonl)
                    raise SweepWorkerLost(f"a worker was lost ({lost}); {len(done)} of {len(runs)} runs recorded "
                                          f"in {jsonl}: run the sweep again to finish") from None
                if report:                  # the local pool is ours: a fresh one runs what is left
                    report(f"a worker process died ({lost}); {len(done)} of {len(runs)} runs kept, "
                           f"the rest go to a fresh pool")
        rows = [done[run_key(p)] for p in runs]
        with guard.critical():
            _write_merged(rows, csv_path, jsonl)
    return rows


SCHEDULER_TIMEOUT_S = 10       # a scheduler that has not answered by then is not there
MAX_POOL_RESTARTS = 2          # local pools replaced after a worker dies, before the sweep stops


class SweepWorkerLost(VmallocError):
    """A worker died and the sweep stopped; every finished run is recorded, a rerun does the rest."""


def _worker_lost(e: BaseException) -> bool:
    """A dead worker: the local pool's BrokenExecutor, or Dask's KilledWorker (named: Dask is optional)."""
    return isinstance(e, BrokenExecutor) or type(e).__name__ == "KilledWorker"


@contextmanager
def dask_executor(n_workers: int | None = None, address: str | None = None):
    """A Dask executor: a ``LocalCluster(n_workers, threads_per_worker=1)`` or an existing scheduler.

    Yields ``(executor, client)``; the client's ``dashboard_link`` says where to watch. Raises
    SpecError naming the extra when Dask is not installed.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SpecError("Dask is not installed: pip install 'vmaplab[dask]'") from None
    # pure=False: every run is a task of its own; with Dask's default an identical run submitted
    # while an earlier one's result is still held came back at once, from memory (a benchmark saw it)
    if address:
        try:
            client = Client(address, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, ValueError, TypeError) as e:      # closed port, timeout, malformed address
            raise SpecError(f"--scheduler {address[:100]}: cannot connect ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:120] if str(e) else 'no reply'})") from None
        with client:
            yield client.get_executor(pure=False), client
        return
    # containers report the host's CPUs: the worker count and one thread each are set explicitly
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        yield client.get_executor(pure=False), client


# -- the uncertainty report (docs/experiments.md §3) ------------------------------------------------
METRICS = ("wall 6.8 (s)", "wall 6.9 (s)", "ratio 6.8/6.9", "slow path 6.8 (%)", "slow path 6.9 (%)")


@dataclass(frozen=True)
class Interval:
    """One metric of one point (e.g. nr_threads=8) over the samples: median and 5-95% interval."""
    point: str
    metric: str
    n: int
    median: float
    low: float                  # 5th percentile
    high: float                 # 95th percentile
    published: float | None
    params: tuple = ()          # the point's parameters, ((name, value), ...), for plotting

    @property
    def inside(self) -> bool | None:
        return None if self.published is None else self.low <= self.published <= self.high


def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    import statistics
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    cuts = statistics.quantiles(xs, n=20, method="inclusive")
    return statistics.median(xs), cuts[0], cuts[-1]


def uncertainty_report(rows: list[dict], published_values: dict | None = None) -> list[Interval]:
    """Pair each sample's 6.8 and 6.9 runs (same constants, same other parameters) and summarise.

    ``published_values``: point -> {metric: value} to print beside (None: nothing to compare).
    A point is the parameters other than version, sample and the sampled constants.
    """
    sampled = {k for r in rows for k in r if k.startswith("cost.")}
    skip = {"key", "version", "sample", "wall_s", "slowpath_self_pct", "vmaplab", "profile", *sampled}
    pairs: dict[tuple, dict] = {}
    for r in rows:
        point = tuple(sorted((k, r[k]) for k in r if k not in skip))
        pairs.setdefault((point, r.get("sample")), {})[r["version"]] = r
    by_point: dict[tuple, dict[str, list[float]]] = {}
    for (point, _sample), pair in pairs.items():
        if set(pair) != set(LETTER_VERSIONS):
            continue
        a, b = pair[BEFORE], pair[AFTER]
        values = (a["wall_s"], b["wall_s"], a["wall_s"] / b["wall_s"] if b["wall_s"] else float("inf"),
                  a["slowpath_self_pct"], b["slowpath_self_pct"])
        bucket = by_point.setdefault(point, {m: [] for m in METRICS})
        for m, v in zip(METRICS, values):
            bucket[m].append(v)
    out = []
    for point, metrics in by_point.items():
        label = " ".join(f"{k}={v}" for k, v in point if k in ("nr_threads", "nr_cpus", "machine")) or "all"
        pub = (published_values or {}).get(label, {})
        for m in METRICS:
            med, lo, hi = _quantiles(sorted(metrics[m]))
            out.append(Interval(label, m, len(metrics[m]), med, lo, hi, pub.get(m), point))
    return out


@dataclass(frozen=True)
class SymbolInterval:
    """One symbol's simulated share (one column) over the samples, beside the cover letter's table."""
    version: str
    symbol: str
    column: str                 # "children" or "self"
    n: int
    median: float
    low: float                  # 5th percentile
    high: float                 # 95th percentile
    letter: float | None        # the letter's value; None: not in its table, only bounded
    bound: float | None         # the table's last row (children) when the symbol is absent

    @property
    def inside(self) -> bool:
        """The letter's value inside [low, high]; for an absent symbol, some of the interval under the bound."""
        if self.letter is None:
            if self.bound is None:
                raise InvariantError(f"{self.version} {self.symbol}: neither the letter's value nor a bound")
            return self.low <= self.bound
        return self.low <= self.letter <= self.high


def profile_intervals(rows: list[dict]) -> list[SymbolInterval]:
    """Per-symbol 5-95% intervals of the letter's workload (64 threads, run_test_mask 7, the 3970X) over the samples.

    Every symbol of both letter tables, each version against its own table (contention-model.md
    §7.4); a symbol a run's profile lacks (under its 0.5% cut) counts 0. Rows without a profile
    (an older sweep's) are skipped.
    """
    from .compare import is_letter_workload
    from .published import published
    pub = published()
    out = []
    for version in LETTER_VERSIONS:
        runs = [r for r in rows if r.get("version") == version and "profile" in r and r.get("nr_cpus") in (None, 64)
                and is_letter_workload({"run_test_mask": r.get("run_test_mask", 7)}, r.get("nr_threads", 0),
                                       r.get("machine", LETTER_MACHINE))]
        if not runs:
            continue
        table = {row["symbol"]: row for row in pub[version]["profile"]}
        bound = pub[version]["profile"][-1]["children_pct"]
        symbols = [row["symbol"] for row in pub[version]["profile"]]
        other = AFTER if version == BEFORE else BEFORE
        symbols += [row["symbol"] for row in pub[other]["profile"] if row["symbol"] not in table]
        for sym in symbols:
            for i, column in enumerate(("children", "self")):
                med, lo, hi = _quantiles(sorted(r["profile"].get(sym, [0.0, 0.0])[i] for r in runs))
                letter = table[sym][f"{column}_pct"] if sym in table else None
                out.append(SymbolInterval(version, sym, column, len(runs), med, lo, hi, letter,
                                          None if sym in table else bound))
    return out


def published_for_report() -> dict:
    """The published numbers an uncertainty report compares with: the cover letter's headline
    (64 threads) and the v1 letter's "before" curve (its "after" is another design)."""
    from .published import V1_CURVE, published
    pub = published()
    out = {"nr_threads=64": {"wall 6.8 (s)": pub[BEFORE]["wall_s"], "wall 6.9 (s)": pub[AFTER]["wall_s"],
                             "ratio 6.8/6.9": pub["ratio"],
                             "slow path 6.8 (%)": pub[BEFORE]["slowpath_self_pct"],
                             "slow path 6.9 (%)": pub[AFTER]["slowpath_self_pct"]}}
    for jobs, (before, _after) in V1_CURVE.items():
        out[f"nr_cpus=64 nr_threads={jobs}"] = {"wall 6.8 (s)": before}     # µs per pair per job == wall_s
    return out
