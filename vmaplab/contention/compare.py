# SPDX-License-Identifier: MIT
"""The simulated perf profile against the cover letter's two tables, symbol by symbol.

Mirrors nothing in the kernel: it lines up ``SimResult.profile`` (``profile.Profile.table``: rows of
children_pct, self_pct, symbol) with one of the v3 cover letter's ``perf report --children`` tables
(``published()[version]["profile"]``) and says, for every symbol and for each of the two columns,
how far apart they are and whether that is within tolerance (contention-model.md §7.4).

The rules:

* every symbol of EITHER letter table is compared with THIS version's table, so 6.9 is also
  checked on the symbols only 6.8's table shows, and the other way round; the symbols are listed
  in this version's table order, then the other table's symbols in that table's order;
* a symbol absent from this version's table is "under its last row": the letter only bounds it,
  0 <= value <= the last row's children_pct, for children and self alike. Its difference is 0
  while the simulated value is within the bound, else simulated minus the bound;
* the tolerance is 5 points where the letter's value is 10% or more, 3 points under 10% (an absent
  symbol is under 10%: 3), for children and self separately; a difference equal to the tolerance
  is within (compared with 1e-9 to spare, so two-decimal values land on the side their decimals say);
* a symbol missing from the simulated rows (the table drops rows under its cut-off, 0.5% children)
  counts as 0.0 simulated, with ``in_sim`` False.

Invariants: one record per symbol of the two letter tables, each exactly once; a difference is
simulated minus letter (minus the bound for an absent symbol), so positive means the simulation
shows more; ``within_*`` is ``abs(diff_*) <= tolerance_*``.

Simplifications: the letter's dso column is not compared; simulated symbols that neither table
shows are not reported (the letter says nothing about them beyond the bound, which the 6.8 and 6.9
tables' own symbols already exercise).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..kernel.generations import LETTER_VERSIONS
from .errors import ContentionError
from .published import published
from .topology import LETTER_MACHINE

VERSIONS = LETTER_VERSIONS            # the letter profiled these two kernels
LARGE_FROM_PCT = 10.0        # a letter value of 10% or more gets the large tolerance
TOLERANCE_LARGE = 5.0        # points, where the letter's value is >= LARGE_FROM_PCT
TOLERANCE_SMALL = 3.0        # points, under it (and for a symbol the letter's table does not show)
_EPS = 1e-9                  # 14.51 - 19.51 is -5.000000000000002 in floats: a two-decimal tie is within
COLUMNS = ("children", "self")
LETTER_WORKLOAD = "run_test_mask=7 nr_threads=64 on the threadripper-3970x"


@dataclass(frozen=True)
class SymbolComparison:
    """One symbol: the letter's children and self (or their bound), the simulation's, and the verdicts.

    ``letter_children``/``letter_self`` are None when ``in_letter`` is False; ``letter_bound`` is
    then the last row's children_pct (the value is in [0, bound]), else None. ``sim_children``/
    ``sim_self`` are 0.0 when ``in_sim`` is False (the simulated table left the symbol out).
    """
    symbol: str
    in_letter: bool
    letter_children: float | None
    letter_self: float | None
    letter_bound: float | None
    in_sim: bool
    sim_children: float
    sim_self: float
    diff_children: float
    diff_self: float
    tolerance_children: float
    tolerance_self: float
    within_children: bool
    within_self: bool


@dataclass(frozen=True)
class Miss:
    """One symbol/column pair outside its tolerance."""
    symbol: str
    column: str                 # "children" or "self"
    diff: float
    tolerance: float


@dataclass(frozen=True)
class ComparisonSummary:
    """How many symbol/column pairs are within tolerance, and the ones that are not, in table order."""
    pairs: int
    within: int
    outside: int
    misses: tuple[Miss, ...]


def tolerance_for(letter_value: float | None) -> float:
    """The allowed difference in points: 5 where the letter shows 10% or more, else 3 (None: absent, 3).

    >>> tolerance_for(10.0), tolerance_for(9.99), tolerance_for(None)
    (5.0, 3.0, 3.0)
    """
    return TOLERANCE_LARGE if letter_value is not None and letter_value >= LARGE_FROM_PCT else TOLERANCE_SMALL


def bounded_diff(sim_value: float, bound: float) -> float:
    """Simulated minus the letter for a value the letter only bounds by [0, bound]: 0 inside, else past it.

    >>> bounded_diff(4.0, 4.47), bounded_diff(4.47, 4.47), round(bounded_diff(6.0, 4.47), 2)
    (0.0, 0.0, 1.53)
    """
    return sim_value - bound if sim_value > bound else 0.0


def _letter_rows(letter: dict, version: str) -> list[dict]:
    if version not in VERSIONS:
        raise ContentionError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
    rows = letter.get(version, {}).get("profile")
    if not rows:
        raise ContentionError(f"the letter has no {version} profile table (its last row bounds the absent symbols)")
    return rows


def _sim_index(simulated_rows: list[dict]) -> dict[str, dict]:
    """symbol -> row, after checking each row has a symbol and finite, non-negative shares, once."""
    index: dict[str, dict] = {}
    for n, row in enumerate(simulated_rows):
        try:
            symbol, children, self_ = row["symbol"], row["children_pct"], row["self_pct"]
        except (KeyError, TypeError):
            raise ContentionError(f"simulated row {n}: needs symbol, children_pct and self_pct, got {row!r}") from None
        for name, value in (("children_pct", children), ("self_pct", self_)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ContentionError(f"simulated row {n} ({symbol}): {name} must be a finite share >= 0, got {value!r}")
        if symbol in index:
            raise ContentionError(f"simulated row {n}: {symbol} appears twice")
        index[symbol] = row
    return index


def _compare_one(symbol: str, own: dict | None, bound: float, sim: dict | None) -> SymbolComparison:
    sim_children = float(sim["children_pct"]) if sim else 0.0
    sim_self = float(sim["self_pct"]) if sim else 0.0
    if own is not None:
        letter_children, letter_self = own["children_pct"], own["self_pct"]
        diff_children, diff_self = sim_children - letter_children, sim_self - letter_self
    else:
        letter_children = letter_self = None
        diff_children, diff_self = bounded_diff(sim_children, bound), bounded_diff(sim_self, bound)
    tol_children, tol_self = tolerance_for(letter_children), tolerance_for(letter_self)
    return SymbolComparison(
        symbol=symbol, in_letter=own is not None, letter_children=letter_children, letter_self=letter_self,
        letter_bound=None if own is not None else bound, in_sim=sim is not None,
        sim_children=sim_children, sim_self=sim_self, diff_children=diff_children, diff_self=diff_self,
        tolerance_children=tol_children, tolerance_self=tol_self,
        within_children=abs(diff_children) <= tol_children + _EPS, within_self=abs(diff_self) <= tol_self + _EPS)


def compare_profile(simulated_rows: list[dict], version: str, letter: dict | None = None) -> list[SymbolComparison]:
    """One record per symbol of either letter table, judged against ``version``'s table.

    ``letter`` is ``published()`` by default (any dict of that shape: version -> {"profile": rows}).
    Raises ValueError for an unknown version, a letter without that table, or a malformed
    simulated row (no symbol, a share that is negative or not finite, a symbol twice).

    >>> row = lambda c, s, sym: {"children_pct": c, "self_pct": s, "symbol": sym}
    >>> letter = {"6.8": {"profile": [row(40.0, 1.0, "a"), row(2.0, 0.5, "b")]},
    ...           "6.9": {"profile": [row(30.0, 12.0, "a"), row(4.0, 4.0, "c")]}}
    >>> out = compare_profile([row(33.0, 1.5, "a"), row(5.0, 1.0, "b")], "6.9", letter)
    >>> [(r.symbol, r.in_letter, r.in_sim, round(r.diff_children, 2), r.within_children) for r in out]
    [('a', True, True, 3.0, True), ('c', True, False, -4.0, False), ('b', False, True, 1.0, True)]
    >>> out[0].tolerance_children, out[0].tolerance_self, out[2].letter_bound
    (5.0, 5.0, 4.0)
    """
    letter = published() if letter is None else letter
    own_rows = _letter_rows(letter, version)
    other_rows = [r for v in VERSIONS if v != version for r in letter.get(v, {}).get("profile", [])]
    own = {r["symbol"]: r for r in own_rows}
    bound = own_rows[-1]["children_pct"]
    sim = _sim_index(simulated_rows)
    symbols = list(dict.fromkeys([r["symbol"] for r in own_rows] + [r["symbol"] for r in other_rows]))
    return [_compare_one(s, own.get(s), bound, sim.get(s)) for s in symbols]


def summarize_comparison(records: list[SymbolComparison]) -> ComparisonSummary:
    """Count the symbol/column pairs within tolerance; list the others (children before self per symbol).

    >>> row = lambda c, s, sym: {"children_pct": c, "self_pct": s, "symbol": sym}
    >>> letter = {"6.8": {"profile": [row(40.0, 1.0, "a")]}, "6.9": {"profile": [row(30.0, 12.0, "a")]}}
    >>> summarize_comparison(compare_profile([row(34.0, 1.0, "a")], "6.9", letter))
    ComparisonSummary(pairs=2, within=1, outside=1, misses=(Miss(symbol='a', column='self', diff=-11.0, tolerance=5.0),))
    """
    misses = tuple(Miss(r.symbol, column, getattr(r, f"diff_{column}"), getattr(r, f"tolerance_{column}"))
                   for r in records for column in COLUMNS if not getattr(r, f"within_{column}"))
    pairs = len(COLUMNS) * len(records)
    return ComparisonSummary(pairs=pairs, within=pairs - len(misses), outside=len(misses), misses=misses)


def comparison_as_dict(records: list[SymbolComparison]) -> dict:
    """The JSON form: {"rows": [record as dict], "pairs", "within", "outside", "misses": [{symbol, column, diff, tolerance}]}."""
    summary = summarize_comparison(records)
    return {"rows": [asdict(r) for r in records], "pairs": summary.pairs, "within": summary.within,
            "outside": summary.outside, "misses": [asdict(m) for m in summary.misses]}


@dataclass(frozen=True)
class SymbolSeconds:
    """One symbol of the letter's own table as time: its share times the run's wall, in seconds per CPU.

    A perf share is a fraction of all samples, taken on every CPU alike, so share x wall is the time
    an average CPU spent in the symbol (children: with its callees; self: in it alone). Where the
    shares agree but the walls differ, this says which symbols the missing time belongs to.
    """
    symbol: str
    letter_children_s: float
    letter_self_s: float
    sim_children_s: float
    sim_self_s: float
    diff_children_s: float        # simulated minus letter
    diff_self_s: float


def time_budget(records: list[SymbolComparison], letter_wall_s: float, sim_wall_s: float) -> list[SymbolSeconds]:
    """The symbols of this version's letter table (``in_letter``), each share turned into seconds per CPU.

    >>> row = lambda c, s, sym: {"children_pct": c, "self_pct": s, "symbol": sym}
    >>> letter = {"6.8": {"profile": [row(40.0, 1.0, "a")]}, "6.9": {"profile": [row(50.0, 10.0, "a")]}}
    >>> [b] = time_budget(compare_profile([row(50.0, 20.0, "a")], "6.9", letter), 40.0, 20.0)
    >>> b.letter_children_s, b.sim_children_s, b.diff_children_s, b.diff_self_s
    (20.0, 10.0, -10.0, 0.0)
    """
    for name, wall in (("letter_wall_s", letter_wall_s), ("sim_wall_s", sim_wall_s)):
        if not isinstance(wall, (int, float)) or not math.isfinite(wall) or wall < 0:
            raise ContentionError(f"{name} must be a finite time >= 0, got {wall!r}")
    out = []
    for r in records:
        if not r.in_letter:
            continue
        lc, ls = (r.letter_children or 0.0) * letter_wall_s / 100, (r.letter_self or 0.0) * letter_wall_s / 100
        sc, ss = r.sim_children * sim_wall_s / 100, r.sim_self * sim_wall_s / 100
        out.append(SymbolSeconds(r.symbol, lc, ls, sc, ss, sc - lc, ss - ls))
    return out


def format_time_budget(rows: list[SymbolSeconds], letter_wall_s: float, sim_wall_s: float) -> list[str]:
    """An aligned table of :func:`time_budget`, in the letter's order, with the two walls above it."""
    width = max([len("symbol")] + [len(r.symbol) for r in rows])
    out = [f"  seconds per CPU (share x wall): the letter's {letter_wall_s:.2f} s, the simulation's {sim_wall_s:.2f} s",
           f"  {'symbol':<{width}}  {'letter children':>15} {'self':>7}  {'simulated children':>18} {'self':>7}"
           f"  {'diff children':>13} {'self':>7}"]
    for r in rows:
        out.append(f"  {r.symbol:<{width}}  {r.letter_children_s:>15.2f} {r.letter_self_s:>7.2f}  "
                   f"{r.sim_children_s:>18.2f} {r.sim_self_s:>7.2f}  {r.diff_children_s:>+13.2f} {r.diff_self_s:>+7.2f}")
    return [line.rstrip() for line in out]


def is_letter_workload(params: dict, nr_threads: int, machine: str) -> bool:
    """Whether a run is the letter's: ``run_test_mask=7 nr_threads=64`` (no other module parameter
    changed) on the threadripper-3970x. ``params`` are the parameters given besides nr_threads;
    run_test_mask defaults to 7, as in ``ContentionSim``.

    >>> is_letter_workload({}, 64, "threadripper-3970x"), is_letter_workload({"run_test_mask": 1}, 64, "threadripper-3970x")
    (True, False)
    """
    others = {k: v for k, v in params.items() if k not in ("run_test_mask", "nr_threads")}
    return (params.get("run_test_mask", 7) == 7 and not others and nr_threads == 64
            and machine == LETTER_MACHINE)


def _letter_cell(value: float | None, bound: float | None) -> str:
    return f"{value:.2f}" if value is not None else f"<{bound:.2f}"


def _sim_cell(value: float, in_sim: bool) -> str:
    return f"{value:.2f}" if in_sim else "-"


def _diff_cell(diff: float, within: bool) -> str:
    return f"{diff:+.2f}" + (" " if within else "*")


def format_comparison(records: list[SymbolComparison]) -> list[str]:
    """An aligned table: symbol, the letter's children and self, the simulation's, the differences
    ('*' marks one outside its tolerance), then a line with the count and the legend."""
    width = max([len("symbol")] + [len(r.symbol) for r in records])
    out = [f"  {'symbol':<{width}}  {'letter children':>15} {'self':>7}  {'simulated children':>18} {'self':>7}"
           f"  {'diff children':>13}  {'self':>7}"]      # labels end over the digits, not the marks
    for r in records:
        out.append(f"  {r.symbol:<{width}}  {_letter_cell(r.letter_children, r.letter_bound):>15} "
                   f"{_letter_cell(r.letter_self, r.letter_bound):>7}  {_sim_cell(r.sim_children, r.in_sim):>18} "
                   f"{_sim_cell(r.sim_self, r.in_sim):>7}  {_diff_cell(r.diff_children, r.within_children):>14} "
                   f"{_diff_cell(r.diff_self, r.within_self):>8}")
    s = summarize_comparison(records)
    out.append(f"  within tolerance: {s.within} of {s.pairs} symbol/column pairs, {s.outside} outside ('*': "
               f"more than {TOLERANCE_LARGE:g} points off where the letter shows {LARGE_FROM_PCT:g}% or more, "
               f"{TOLERANCE_SMALL:g} under)")
    out.append("  '<x': not in this version's table, so under its last row x; "
               "'-': not in the simulated table (under its cut-off), counted as 0")
    return [line.rstrip() for line in out]
