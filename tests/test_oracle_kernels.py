# SPDX-License-Identifier: MIT
"""Issue 25, items 1 and 4 without a boot: ``--kernel`` is checked before anything is fetched, a
scenario's "kernels" list is validated and refuses, in one line, a kernel it excludes; each kernel
series is compared with its own model; a user's own build is found (or refused) by its files."""
from __future__ import annotations

import json

import pytest

from vmaplab.cli import main
from vmaplab.kernel.generations import ORACLE_SERIES
from vmaplab.oracle import ScenarioError, parse_scenario
from vmaplab.oracle.debian import KernelTree, own_build
from vmaplab.oracle.errors import OracleUnavailable
from vmaplab.oracle.run import check_kernel_spec, own_model

ONE = {"name": "k", "smp": 2, "ops": [{"op": "vmalloc", "cpu": 0, "size": 4096}]}


def _err_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("ARG")]


def test_a_scenario_applies_to_every_kernel_unless_it_says_otherwise():
    scn = parse_scenario(ONE)
    assert scn.kernels == ORACLE_SERIES and all(scn.applies_to(k) for k in ORACLE_SERIES)
    only = parse_scenario({**ONE, "kernels": ["7.3", "6.12"]})
    assert only.kernels == ("6.12", "7.3")                  # in the generations' order
    assert not only.applies_to("6.1") and only.applies_to("")      # a user's build takes every scenario


@pytest.mark.parametrize("bad", [[], "6.12", ["6.9"], ["6.12", "6.12"], [6.12], None])
def test_a_bad_kernels_list_is_refused_naming_the_key(bad):
    with pytest.raises(ScenarioError, match="'kernels' must be a non-empty list"):
        parse_scenario({**ONE, "kernels": bad})


def test_a_named_scenario_on_a_kernel_it_excludes_is_refused_before_any_boot(tmp_path, capsys):
    f = tmp_path / "k.json"
    f.write_text(json.dumps({**ONE, "kernels": ["7.3"]}))
    assert main(["oracle", "run", str(f), "--kernel", "6.1"]) == 2
    err = _err_lines(capsys)
    assert err == ["vmaplab: error: scenario k applies to Linux 7.3 only, not 6.1"], err


@pytest.mark.parametrize("spec", ["6.9", "5.10", "all-of-them", ""])
def test_an_unknown_kernel_is_bad_input(spec, capsys):
    with pytest.raises(ScenarioError, match="--kernel must be one of 6.1, 6.12, 7.3, all, or a kernel build"):
        check_kernel_spec(spec)
    assert main(["oracle", "vmallocinfo", "--kernel", spec]) == 2
    assert len(_err_lines(capsys)) == 1


def test_each_series_is_compared_with_its_own_generation(tmp_path):
    for series in ORACLE_SERIES:
        tree = KernelTree("x", tmp_path, None, tmp_path, tmp_path, series=series)
        assert own_model(tree).name == series
    assert own_model(KernelTree("6.10.3-mine", tmp_path, None, tmp_path, tmp_path)).name == "6.12"


def test_a_users_build_is_found_by_its_files(tmp_path):
    with pytest.raises(OracleUnavailable, match="needs a bzImage"):
        own_build(tmp_path)
    (tmp_path / "arch" / "x86" / "boot").mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "boot" / "bzImage").write_bytes(b"\0")
    (tmp_path / "include" / "config").mkdir(parents=True)
    (tmp_path / "include" / "config" / "kernel.release").write_text("6.13.0-rc1-dev\n")
    k = own_build(tmp_path)
    assert (k.release, k.series, k.headers, k.source_tarball) == ("6.13.0-rc1-dev", "", tmp_path.resolve(), None)
    assert k.vmlinuz.name == "bzImage" and own_model(k).name == "6.12"


def test_7_3_summary_lines_carry_xfailed_and_its_init_is_adapted():
    """7.3's Summary line has an xfailed column, which must agree too; its module init fails unless
    built in, and the oracle's build makes it succeed as for 6.1 and 6.12."""
    from vmaplab.oracle.guest import adapt_test_vmalloc
    from vmaplab.oracle.run import parse_summaries
    rows = parse_summaries("Summary: align_shift_alloc_test passed: 0 failed: 0 xfailed: 1 repeat: 1 loops: 10 "
                           "avg: 3 usec\nSummary: fix_size_alloc_test passed: 1 failed: 0 repeat: 1 loops: 10 avg: 5 usec\n")
    assert [(r.test, r.verdict, r.avg_usec) for r in rows] == [("align_shift_alloc_test", (0, 0, 1), 3),
                                                                ("fix_size_alloc_test", (1, 0, 0), 5)]
    src = b"/* t */\n#include <a.h>\nstatic int init(void)\n{\n\treturn IS_BUILTIN(CONFIG_TEST_VMALLOC) ? 0:-EAGAIN;\n}\n"
    out = adapt_test_vmalloc(src)
    assert b"return 0;" in out and b"EAGAIN" not in out and b"vmalloc_node_fn" in out


def test_the_text_report_says_which_free_tree_a_comparison_started_from(capsys):
    """A recorded run printed as `oracle run` prints it: the guest's tree adopted, the final trees equal;
    names longer than the old 28-character column keep the table aligned."""
    from vmaplab.oracle.cli import _print_kernel
    from vmaplab.oracle.records import load_all
    from vmaplab.oracle.run import ScenarioRun
    recs = [r for r in load_all() if r.series == "6.12" and r.scenario.name in ("alignment", "aligned-misses-pool-unplugged")]
    runs = [ScenarioRun(r.scenario, r.release, r.boot_seconds, {"6.12": r.replay()}, r.run.dmesg, "6.12") for r in recs]
    _print_kernel(runs)
    out = capsys.readouterr().out
    assert out.count("free tree: the guest's, final trees the same node for node") == 2
    rows = [ln for ln in out.splitlines() if ln.startswith(("alignment ", "aligned-misses-pool-unplugged "))]
    assert len(rows) == 2 and len({ln.index(" 2 ") for ln in rows}) == 1, rows
