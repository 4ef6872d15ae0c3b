# SPDX-License-Identifier: MIT
"""The per-symbol comparison of a simulated profile with the cover letter's two tables
(vmaplab/contention/compare.py, contention-model.md §7.4).

The simulated rows are built by hand and every expected difference is worked out here from the
letter's printed numbers (6.9's table ends at free_vmap_area_noflush 4.47%, 6.8's at 2.34%).
"""
import json

import pytest

from vmaplab.cli import main
from vmaplab.contention.compare import (
    compare_profile,
    comparison_as_dict,
    format_comparison,
    is_letter_workload,
    summarize_comparison,
    time_budget,
)
from vmaplab.contention.published import published


def row(children, self_, symbol):
    return {"children_pct": children, "self_pct": self_, "symbol": symbol}


def by_symbol(records):
    return {r.symbol: r for r in records}


def test_a_symbol_at_10_percent_or_more_has_5_points():
    # 6.9 vmalloc: 63.36 children (>= 10: 5 points), 0.02 self (< 10: 3 points)
    r = by_symbol(compare_profile([row(67.36, 0.02, "vmalloc")], "6.9"))["vmalloc"]
    assert (r.in_letter, r.in_sim, r.letter_children, r.letter_self) == (True, True, 63.36, 0.02)
    assert (r.tolerance_children, r.tolerance_self) == (5.0, 3.0)
    assert r.diff_children == pytest.approx(4.00) and r.diff_self == pytest.approx(0.0)
    assert r.within_children and r.within_self
    # 6.9 clear_page_rep: 21.72 / 21.67, both columns 5 points; 15.00 / 15.00 is 6.72 and 6.67 under
    r = by_symbol(compare_profile([row(15.0, 15.0, "clear_page_rep")], "6.9"))["clear_page_rep"]
    assert (r.tolerance_children, r.tolerance_self) == (5.0, 5.0)
    assert r.diff_children == pytest.approx(-6.72) and r.diff_self == pytest.approx(-6.67)
    assert not r.within_children and not r.within_self
    # 6.9 remove_vm_area: 10.62, just over 10, still 5 points: 14.62 is +4.00, within
    r = by_symbol(compare_profile([row(14.62, 0.01, "remove_vm_area")], "6.9"))["remove_vm_area"]
    assert r.tolerance_children == 5.0 and r.diff_children == pytest.approx(4.0) and r.within_children


def test_a_difference_equal_to_the_tolerance_is_within():
    # 6.9 _raw_spin_lock 19.51 children: 14.51 - 19.51 is -5.000000000000002 in floats, still within 5;
    # 14.50 is not. 6.9 purge_vmap_node 5.30: 8.30 - 5.30 is 3.000000000000001, within 3
    assert 14.51 - 19.51 < -5.0 and 8.30 - 5.30 > 3.0             # the ties really are past in floats
    out = by_symbol(compare_profile([row(14.51, 2.43, "_raw_spin_lock"), row(8.30, 4.73, "purge_vmap_node")], "6.9"))
    assert out["_raw_spin_lock"].within_children and out["purge_vmap_node"].within_children
    out = by_symbol(compare_profile([row(14.50, 2.43, "_raw_spin_lock"), row(8.31, 4.73, "purge_vmap_node")], "6.9"))
    assert not out["_raw_spin_lock"].within_children and not out["purge_vmap_node"].within_children


def test_a_symbol_under_10_percent_has_3_points():
    # 6.9 insert_vmap_area 9.02 / 8.73: 11.50 / 6.00 is +2.48 / -2.73, within 3
    r = by_symbol(compare_profile([row(11.50, 6.00, "insert_vmap_area")], "6.9"))["insert_vmap_area"]
    assert (r.tolerance_children, r.tolerance_self) == (3.0, 3.0)
    assert r.diff_children == pytest.approx(2.48) and r.diff_self == pytest.approx(-2.73)
    assert r.within_children and r.within_self
    # 6.9 purge_vmap_node 5.30 / 4.73: 9.00 / 8.00 is +3.70 / +3.27, both outside 3
    r = by_symbol(compare_profile([row(9.00, 8.00, "purge_vmap_node")], "6.9"))["purge_vmap_node"]
    assert r.diff_children == pytest.approx(3.70) and r.diff_self == pytest.approx(3.27)
    assert not r.within_children and not r.within_self


def test_children_and_self_of_one_symbol_have_their_own_tolerance():
    # 6.9 _raw_spin_lock 19.51 / 2.43: the same +4.00 is within 5 (children) and outside 3 (self)
    r = by_symbol(compare_profile([row(23.51, 6.43, "_raw_spin_lock")], "6.9"))["_raw_spin_lock"]
    assert (r.tolerance_children, r.tolerance_self) == (5.0, 3.0)
    assert r.diff_children == pytest.approx(4.0) and r.diff_self == pytest.approx(4.0)
    assert r.within_children and not r.within_self


def test_a_symbol_absent_from_the_letter_is_under_its_last_row():
    sim = [row(4.00, 0.50, "find_unlink_vmap_area"),      # 6.8 only: under 6.9's 4.47, difference 0
           row(9.00, 5.00, "fix_size_alloc_test"),        # 6.8 only: 4.53 past the bound (> 3), self 0.53 (<= 3)
           row(7.00, 4.47, "full_fit_alloc_test")]        # in 6.9's table (7.81 / 0.05): not bounded
    out = by_symbol(compare_profile(sim, "6.9"))
    inside, past = out["find_unlink_vmap_area"], out["fix_size_alloc_test"]
    for r in (inside, past):
        assert not r.in_letter and r.letter_children is None and r.letter_self is None
        assert r.letter_bound == 4.47 and (r.tolerance_children, r.tolerance_self) == (3.0, 3.0)
    assert (inside.diff_children, inside.diff_self, inside.within_children, inside.within_self) == (0.0, 0.0, True, True)
    assert past.diff_children == pytest.approx(4.53) and not past.within_children
    assert past.diff_self == pytest.approx(0.53) and past.within_self
    assert out["full_fit_alloc_test"].in_letter and out["full_fit_alloc_test"].diff_self == pytest.approx(4.42)


def test_past_the_bound_but_within_3_points_is_within():
    # 6.8's table ends at 2.34: clear_page_rep (6.9 only) at 5.00 / 5.50 is +2.66 (within) / +3.16 (outside)
    r = by_symbol(compare_profile([row(5.00, 5.50, "clear_page_rep")], "6.8"))["clear_page_rep"]
    assert r.letter_bound == 2.34
    assert r.diff_children == pytest.approx(2.66) and r.within_children
    assert r.diff_self == pytest.approx(3.16) and not r.within_self


def test_a_symbol_missing_from_the_simulated_rows_counts_as_zero():
    out = by_symbol(compare_profile([], "6.9"))
    r = out["long_busy_list_alloc_test"]                   # 6.9: 82.32 / 0.22
    assert (r.in_sim, r.sim_children, r.sim_self) == (False, 0.0, 0.0)
    assert r.diff_children == pytest.approx(-82.32) and not r.within_children
    assert r.diff_self == pytest.approx(-0.22) and r.within_self
    gone = out["find_unlink_vmap_area"]                    # in neither the simulation nor 6.9's table
    assert (gone.in_sim, gone.in_letter, gone.diff_children, gone.diff_self) == (False, False, 0.0, 0.0)


@pytest.mark.parametrize("version", ["6.8", "6.9"])
def test_every_symbol_of_both_tables_is_compared_once_this_versions_first(version):
    tables = {v: [r["symbol"] for r in published()[v]["profile"]] for v in ("6.8", "6.9")}
    other = "6.9" if version == "6.8" else "6.8"
    out = compare_profile([row(1.0, 1.0, "not_in_any_table")], version)
    symbols = [r.symbol for r in out]
    assert len(symbols) == len(set(symbols)) == len(set(tables["6.8"]) | set(tables["6.9"]))
    assert symbols[:len(tables[version])] == tables[version]
    assert symbols[len(tables[version]):] == [s for s in tables[other] if s not in tables[version]]
    assert all(r.in_letter == (r.symbol in tables[version]) for r in out)


def test_summary_counts_pairs_and_lists_the_misses_in_order():
    sim = [row(23.51, 6.43, "_raw_spin_lock"), row(67.36, 0.02, "vmalloc")]
    out = compare_profile(sim, "6.9")
    s = summarize_comparison(out)
    assert s.pairs == 2 * len(out) and s.within + s.outside == s.pairs
    misses = [(m.symbol, m.column) for m in s.misses]
    assert ("_raw_spin_lock", "self") in misses and ("_raw_spin_lock", "children") not in misses
    assert ("vmalloc", "children") not in misses and ("long_busy_list_alloc_test", "children") in misses
    expected = [(r.symbol, c) for r in out for c in ("children", "self") if not getattr(r, f"within_{c}")]
    assert misses == expected
    doc = comparison_as_dict(out)
    assert [d["symbol"] for d in doc["rows"]] == [r.symbol for r in out]
    assert (doc["within"], doc["outside"], doc["pairs"]) == (s.within, s.outside, s.pairs)
    json.dumps(doc)                                        # plain JSON types only


def test_the_printed_table_marks_each_miss_and_shows_bounds():
    out = compare_profile([row(23.51, 6.43, "_raw_spin_lock"), row(4.00, 0.50, "find_unlink_vmap_area")], "6.9")
    lines = format_comparison(out)
    assert len(lines) == 1 + len(out) + 2 and lines[0].split()[0] == "symbol"
    body = {line.split()[0]: line for line in lines[1:1 + len(out)]}
    assert body["find_unlink_vmap_area"].split()[1:3] == ["<4.47", "<4.47"]
    assert body["long_busy_list_alloc_test"].split()[3:5] == ["-", "-"]     # not simulated
    assert body["_raw_spin_lock"].split()[5:] == ["+4.00", "+4.00*"]
    assert sum(line.count("*") for line in body.values()) == summarize_comparison(out).outside
    # aligned: every row is as long as the header, but for the self column's mark (or its blank, stripped)
    assert {len(line) + (not line.endswith("*")) for line in body.values()} == {len(lines[0]) + 1}


def test_bad_input_raises():
    with pytest.raises(ValueError, match="version must be one of"):
        compare_profile([], "7.0")
    with pytest.raises(ValueError, match="appears twice"):
        compare_profile([row(1.0, 1.0, "vmalloc"), row(2.0, 1.0, "vmalloc")], "6.9")
    with pytest.raises(ValueError, match="finite share"):
        compare_profile([row(-1.0, 1.0, "vmalloc")], "6.9")
    with pytest.raises(ValueError, match="needs symbol"):
        compare_profile([{"symbol": "vmalloc"}], "6.9")


def test_the_letters_workload_is_mask_7_64_threads_on_the_threadripper():
    assert is_letter_workload({}, 64, "threadripper-3970x")
    assert is_letter_workload({"run_test_mask": 7}, 64, "threadripper-3970x")
    assert not is_letter_workload({"run_test_mask": 7}, 32, "threadripper-3970x")
    assert not is_letter_workload({"run_test_mask": 7}, 64, "generic")
    assert not is_letter_workload({"run_test_mask": 7, "test_loop_count": 10}, 64, "threadripper-3970x")


TINY = ["simulate", "run_test_mask=1", "nr_threads=2", "--cpus", "2", "--machine", "generic", "--scale", "50000",
        "--jobs", "1", "--quiet"]


def test_cli_compare_profile_json_and_text(capsys):
    assert main(TINY + ["--json"]) == 0
    assert all("profile_comparison" not in v for v in json.loads(capsys.readouterr().out).values()
               if isinstance(v, dict))
    assert main(TINY + ["--json", "--compare-profile"]) == 0
    doc = json.loads(capsys.readouterr().out)
    union = {r["symbol"] for v in ("6.8", "6.9") for r in published()[v]["profile"]}
    for version in ("6.8", "6.9"):
        cmp_ = doc[version]["profile_comparison"]
        assert set(cmp_) == {"rows", "pairs", "within", "outside", "misses", "letter_workload", "seconds"}
        assert cmp_["letter_workload"] is False
        assert {r["symbol"] for r in cmp_["rows"]} == union
        assert cmp_["pairs"] == 2 * len(cmp_["rows"]) == cmp_["within"] + cmp_["outside"] == \
            cmp_["within"] + len(cmp_["misses"])
        seconds = cmp_.pop("seconds")
        assert cmp_ == {**comparison_as_dict(compare_profile(doc[version]["profile"], version)),
                        "letter_workload": False}
        # the time budget: the letter's own symbols, each share times its wall
        own = {r["symbol"]: r for r in published()[version]["profile"]}
        assert [b["symbol"] for b in seconds] == list(own)
        for b in seconds:
            assert b["letter_children_s"] == pytest.approx(own[b["symbol"]]["children_pct"] *
                                                           published()[version]["wall_s"] / 100)
            assert b["diff_self_s"] == pytest.approx(b["sim_self_s"] - b["letter_self_s"])

    assert main(TINY + ["--compare-profile"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("note: the cover letter's tables are for run_test_mask=7 nr_threads=64 on the "
                               "threadripper-3970x") for line in text) == 1
    for version in ("6.8", "6.9"):
        head = text.index(f"== profile vs the cover letter's {version} table (every symbol of its 6.8 and 6.9 tables)")
        table = text[head + 1:head + 2 + len(union)]
        assert table[0].split()[:3] == ["symbol", "letter", "children"]
        assert {line.split()[0] for line in table[1:]} == union
        assert text[head + 2 + len(union)].startswith("  within tolerance: ")
        budget = head + 4 + len(union)
        assert text[budget].startswith("  seconds per CPU (share x wall): the letter's "
                                       f"{published()[version]['wall_s']:.2f} s")
        assert text[budget + 1].split()[:3] == ["symbol", "letter", "children"]
        assert [line.split()[0] for line in text[budget + 2:budget + 2 + len(published()[version]["profile"])]] == \
            [r["symbol"] for r in published()[version]["profile"]]


def test_time_budget_by_hand_and_bad_walls():
    row = lambda c, s, sym: {"children_pct": c, "self_pct": s, "symbol": sym}  # noqa: E731
    letter = {"6.8": {"profile": [row(40.0, 1.0, "a"), row(2.0, 2.0, "b")]},
              "6.9": {"profile": [row(80.0, 0.0, "a"), row(25.0, 25.0, "c")]}}
    records = compare_profile([row(50.0, 5.0, "a"), row(30.0, 30.0, "b")], "6.9", letter)
    a, c = time_budget(records, 50.0, 30.0)          # "b" is not in 6.9's table: no time budget for it
    assert (a.symbol, a.letter_children_s, a.sim_children_s, a.diff_children_s) == ("a", 40.0, 15.0, -25.0)
    assert (a.letter_self_s, a.sim_self_s) == (0.0, 1.5)
    assert (c.symbol, c.letter_self_s, c.sim_self_s, c.diff_self_s) == ("c", 12.5, 0.0, -12.5)
    for bad in (-1.0, float("nan"), "51"):
        with pytest.raises(ValueError, match="letter_wall_s"):
            time_budget(records, bad, 30.0)
