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
whatever order the runs finished in. A spec is checked completely before anything runs: an
unknown parameter, a value out of range or an unknown cost constant is a :class:`SpecError`
naming the field.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import tomllib
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

from ..kernel.errors import VmallocError
from .costs import ContentionCosts
from .ranges import COST_RANGES, latin_hypercube
from .runs import RunSpec, map_unordered, run_spec
from .topology import TOPOLOGIES


class SpecError(VmallocError):
    """A malformed experiment spec; the message names the table and the field."""


def _choice(*options):
    def check(name, v):
        if v not in options:
            raise SpecError(f"{name} must be one of {list(options)}, got {v!r}")
        return v
    return check


def _int(low: int, high: int, none_ok: bool = False):
    def check(name, v):
        if v is None and none_ok:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise SpecError(f"{name} must be an integer in {low}..{high}, got {v!r}")
        return v
    return check


def _bool(name, v):
    if not isinstance(v, bool):
        raise SpecError(f"{name} must be true or false, got {v!r}")
    return v


# parameter -> check; each is a RunSpec field (cost constants are "cost.NAME", checked by ContentionCosts)
PARAMS: dict[str, Callable] = {
    "version": _choice("6.8", "6.9"),
    "nr_threads": _int(1, 65535),
    "nr_cpus": _int(1, 65535, none_ok=True),
    "machine": _choice(*TOPOLOGIES),
    "scale": _int(1, 10 ** 9),
    "seed": _int(0, (1 << 64) - 1),
    "run_test_mask": _int(1, (1 << 31) - 1),
    "policy": _choice("fifo", "tas"),
    "pools": _bool,
    "nr_vmap_nodes": _int(1, 128, none_ok=True),
    "vmap_zone_size_pages": _int(1, 1 << 20),
    "max_va_size_pages": _int(1, 4096),
    "drain": _choice("inline", "kworker"),
    "placement": _choice("spread", "packed"),
    "warm_start": _bool,
}
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
        samples = [{}]
        if self.sample_n:
            rng = random.Random(self.sample_seed)
            if self.method == "lhs":
                points = latin_hypercube(self.sample_n, self.ranges, rng)
            else:
                points = [{k: _draw(rng, lo, hi) for k, (lo, hi) in self.ranges.items()} for _ in range(self.sample_n)]
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


def _check_value(name: str, value, label: str) -> object:
    """``value`` of parameter ``name``, checked; errors say ``label`` (e.g. grid.nr_threads)."""
    if name.startswith("cost."):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SpecError(f"{label} must be a number, got {value!r}")
        try:
            ContentionCosts().with_overrides([f"{name[5:]}={value}"])
        except ValueError as e:
            raise SpecError(f"{label}: {e}") from None
        return value
    if name not in PARAMS:
        raise SpecError(f"{label}: unknown parameter {name!r}; known: {', '.join(PARAMS)}, cost.NAME")
    return PARAMS[name](label, value)


def parse_experiment(doc: dict, path: str = "") -> Experiment:
    """Check a decoded spec and return it; nothing runs."""
    where = path or "spec"
    unknown = set(doc) - {"name", "base", "grid", "sample", "report"}
    if unknown:
        raise SpecError(f"{where}: unknown table(s) {sorted(unknown)}; a spec has name, report, base, grid, sample")
    report = doc.get("report", "")
    if report not in ("", "uncertainty"):
        raise SpecError(f"{where}: report must be 'uncertainty' (or absent), got {report!r}")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: 'name' must be a non-empty string")
    base = doc.get("base", {})
    grids = doc.get("grid", {})
    grids = [grids] if isinstance(grids, dict) else grids      # [grid], or [[grid]] for a union
    if not isinstance(base, dict) or not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise SpecError(f"{where}: [base] must be a table and grid a table or an array of tables")
    base = {k: _check_value(k, v, f"base.{k}") for k, v in base.items()}
    checked_grids = []
    for i, grid in enumerate(grids):
        label = "grid" if len(grids) == 1 else f"grid[{i}]"
        checked = {}
        for k, values in grid.items():
            if not isinstance(values, list) or not values:
                raise SpecError(f"{where}: {label}.{k} must be a non-empty list")
            checked[k] = [_check_value(k, v, f"{label}.{k}") for v in values]
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
                raise SpecError(f"{where}: sample.ranges.{k} must be [low, high] with low <= high")
            for b in bounds:
                _check_value(k, b, f"sample.ranges.{k}")
            ranges[k] = tuple(bounds)
        if not ranges:
            raise SpecError(f"{where}: [sample.ranges] names no parameter to sample")
    exp = Experiment(name, base, tuple(checked_grids), n, seed, ranges, path, method, report)
    runs = exp.runs()
    if len(runs) > MAX_RUNS:
        raise SpecError(f"{where}: {len(runs)} runs, more than {MAX_RUNS}")
    for params in runs:                  # combinations the simulator would refuse, before anything runs
        spec = to_runspec(params)
        if not 1 <= spec.nr_threads <= (spec.nr_cpus or spec.nr_threads):
            raise SpecError(f"{where}: a run has nr_threads={spec.nr_threads} > nr_cpus={spec.nr_cpus}")
    return exp


def load_experiment(path: str | Path) -> Experiment:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise SpecError(f"{path}: cannot read ({e.strerror})") from None
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: not TOML ({e})") from None
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


def _measure(params: dict) -> dict:
    """One run (a top-level function, so any executor can ship it): its row."""
    summary = run_spec(to_runspec(params))
    letter = letter_symbols()
    return {"key": run_key(params), **params, "wall_s": summary.wall_s,
            "slowpath_self_pct": summary.slowpath_self_pct, "vmaplab": _package_version(),
            # the shares of the symbols the cover letter's tables show (JSON lines only, not the CSV)
            "profile": {sym: [c, s] for sym, c, s in summary.profile if sym in letter}}


def letter_symbols() -> frozenset:
    """Every symbol of the v3 cover letter's two perf tables."""
    from .published import published
    pub = published()
    return frozenset(r["symbol"] for v in ("6.8", "6.9") for r in pub[v]["profile"])


def _read_rows(jsonl: Path) -> dict[str, dict]:
    rows = {}
    if jsonl.exists():
        for line in jsonl.read_text().splitlines():
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:       # a line cut by an interrupt: that run runs again
                    continue
                rows[row["key"]] = row
    return rows


def _write_tables(rows: list[dict], out: Path) -> None:
    columns = sorted({c for r in rows for c in r} - {"key", "wall_s", "slowpath_self_pct", "vmaplab", "profile"})
    columns = ["key", *columns, "wall_s", "slowpath_self_pct", "vmaplab"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    out.with_suffix(".csv").write_text(buf.getvalue())
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def already_done(exp: Experiment, out: str | Path) -> int:
    """How many of ``exp``'s runs ``out``.jsonl already holds (a resumed sweep skips them)."""
    done = _read_rows(Path(out).with_suffix(".jsonl"))
    return sum(run_key(p) in done for p in exp.runs())


def run_experiment(exp: Experiment, out: str | Path, executor: Executor | None = None, jobs: int = 1,
                   progress: Callable | None = None) -> list[dict]:
    """Run every run of ``exp`` not yet in ``out`` (.csv and .jsonl beside each other); return all rows.

    ``executor``: any ``concurrent.futures.Executor`` (a Dask client's ``get_executor()``); without
    one, ``jobs`` > 1 makes a local process pool and 1 runs here. ``progress(iterable, total=,
    desc=)`` wraps the stream of finished runs (tqdm).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    jsonl = out.with_suffix(".jsonl")
    runs = exp.runs()
    done = _read_rows(jsonl)
    todo = [p for p in runs if run_key(p) not in done]
    with jsonl.open("a") as log:
        for _i, row in map_unordered(_measure, todo, executor, jobs, progress, exp.name):
            done[row["key"]] = row
            log.write(json.dumps(row, sort_keys=True) + "\n")      # each finished run survives an interrupt
            log.flush()
    rows = [done[run_key(p)] for p in runs]
    _write_tables(rows, out)
    return rows


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
        with Client(address) as client:
            yield client.get_executor(pure=False), client
        return
    # containers report the host's CPUs: the worker count and one thread each are set explicitly
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
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
        if set(pair) != {"6.8", "6.9"}:
            continue
        a, b = pair["6.8"], pair["6.9"]
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
    for version in ("6.8", "6.9"):
        runs = [r for r in rows if r.get("version") == version and "profile" in r and r.get("nr_cpus") in (None, 64)
                and is_letter_workload({"run_test_mask": r.get("run_test_mask", 7)}, r.get("nr_threads"),
                                       r.get("machine", "threadripper-3970x"))]
        if not runs:
            continue
        table = {row["symbol"]: row for row in pub[version]["profile"]}
        bound = pub[version]["profile"][-1]["children_pct"]
        symbols = [row["symbol"] for row in pub[version]["profile"]]
        other = "6.9" if version == "6.8" else "6.8"
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
    out = {"nr_threads=64": {"wall 6.8 (s)": pub["6.8"]["wall_s"], "wall 6.9 (s)": pub["6.9"]["wall_s"],
                             "ratio 6.8/6.9": pub["ratio"],
                             "slow path 6.8 (%)": pub["6.8"]["slowpath_self_pct"],
                             "slow path 6.9 (%)": pub["6.9"]["slowpath_self_pct"]}}
    for jobs, (before, _after) in V1_CURVE.items():
        out[f"nr_cpus=64 nr_threads={jobs}"] = {"wall 6.8 (s)": before}     # µs per pair per job == wall_s
    return out
