# SPDX-License-Identifier: MIT
"""The oracle: scenario files, the probe protocol, the initramfs, and (marked ``oracle``) the real kernel.

The fast tests need nothing but Python. The ``oracle`` tests boot Debian's Linux 6.1, 6.12 and 7.3
under QEMU (docs/oracle.md), each against its own model generation: they skip, saying why, when a
prerequisite is missing, except under ``CI=true``, where a missing prerequisite fails them. A
failed boot's console is kept under test-artifacts/oracle/.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from vmaplab import Vmalloc
from vmaplab.kernel.errors import InvariantError
from vmaplab.kernel.generations import ORACLE_SERIES, for_series
from vmaplab.oracle import ScenarioError, parse_scenario, shipped_scenarios
from vmaplab.oracle.errors import OracleUnavailable
from vmaplab.oracle.guest import Job, _Cpio, _init_script, pack_initramfs
from vmaplab.oracle.run import boot_batches
from vmaplab.oracle.scenario import compare_vmallocinfo, load_scenario, parse_probe_output, probe_script, replay

REPO = Path(__file__).resolve().parents[1]
P = 4096
os.environ.setdefault("VMAPLAB_ORACLE_CONSOLES", str(REPO / "test-artifacts" / "oracle"))


def _doc(*ops, smp=2):
    return {"name": "t", "smp": smp, "ops": list(ops)}


# -- scenario files ------------------------------------------------------------------------
def test_shipped_scenarios_parse_and_cover_the_issue():
    scns = [load_scenario(p) for p in shipped_scenarios()]
    assert len(scns) >= 20
    assert len({s.name for s in scns}) == len(scns)
    kinds = {op.op for s in scns for op in s.ops}
    assert {"vmalloc", "vmalloc_node", "vfree", "vmap", "vunmap", "vm_map_ram", "vm_unmap_ram", "ioremap",
            "iounmap", "vm_unmap_aliases", "drop_caches", "vrealloc"} <= kinds
    assert any(op.gfp == "GFP_NOWAIT" for s in scns for op in s.ops)
    assert all(s.kernels == ("6.12", "7.3") for s in scns if any(op.op == "vrealloc" for op in s.ops))
    assert {s.smp for s in scns} >= {1, 2, 3, 4, 8}


@pytest.mark.parametrize("doc, message", [
    ([], "must be a JSON object"),
    ({"name": "t", "smp": 2, "ops": [], "extra": 1}, "unknown key"),
    (_doc(), "'ops' must be a list"),
    (_doc({"op": "kmalloc", "size": 1}), "op 0: 'op' must be one of"),
    (_doc({"op": "vmalloc", "size": 0}), "op 0: 'size' must be an integer in 1..17179869184, got 0"),
    (_doc({"op": "vmalloc", "size": "4096"}), "op 0: 'size' must be an integer"),
    (_doc({"op": "vmalloc", "size": True}), "op 0: 'size' must be an integer"),
    (_doc({"op": "vmalloc", "size": 1, "cpu": 2}), "op 0: 'cpu' must be an integer in 0..1, got 2"),
    (_doc({"op": "vfree", "ref": "a"}), "op 0: 'ref' 'a' names no earlier allocation"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vunmap", "ref": "a"}), "op 1: vunmap cannot free 'a'"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vfree", "ref": "a"}, {"op": "vfree", "ref": "a"}),
     "op 2: 'a' is already freed"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vmalloc", "size": 1, "as": "a"}), "already taken"),
    (_doc({"op": "vm_map_ram", "pages": 1025}), "'pages' must be an integer in 1..1024, got 1025"),
    (_doc({"op": "vmalloc", "size": 1, "align": 8}), "vmalloc takes"),
    (_doc({"op": "vfree", "ref": "a", "as": "b"}), "names no earlier allocation"),
    (_doc({"op": "ioremap", "phys": 0, "size": 1, "as": "a"}, {"op": "fill", "ref": "a", "value": 1}),
     "fill cannot use 'a' (a ioremap)"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "fill", "ref": "a", "value": 256}), "'value' must be an integer in 0..255, got 256"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vread", "ref": "a", "offset": 0, "count": 65537}),
     "'count' must be an integer in 1..65536, got 65537"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vfree", "ref": "a"},
          {"op": "vread", "ref": "a", "offset": 0, "count": 1}), "'a' is already freed"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vfree", "ref": ["a"]}), "names no earlier"),
    (_doc({"op": "vmalloc", "size": 1, "gfp": "GFP_ATOMIC"}), "op 0: 'gfp' must be one of GFP_KERNEL, GFP_NOWAIT"),
    (_doc({"op": "vmalloc_node", "size": 1, "align": 1, "gfp": "GFP_NOWAIT"}), "vmalloc_node takes"),
    (_doc({"op": "ioremap", "phys": 0, "size": 1, "as": "a"}, {"op": "vrealloc", "ref": "a", "size": 1}),
     "op 1: vrealloc cannot reallocate 'a' (a ioremap)"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vrealloc", "ref": "a", "size": 2, "as": "b"},
          {"op": "vfree", "ref": "a"}), "op 2: 'a' is already freed"),
    (_doc({"op": "vmalloc", "size": 1, "as": "a"}, {"op": "vrealloc", "ref": "a", "size": 0}), "'size' must be an integer in 1.."),
])
def test_bad_scenarios_name_the_op_and_the_field(doc, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario(doc)


def test_smp_override_is_checked_against_the_ops():
    doc = _doc({"op": "vmalloc", "cpu": 3, "size": P}, smp=4)
    assert parse_scenario(doc).smp == 4
    with pytest.raises(ScenarioError, match="'cpu' must be an integer in 0..1, got 3"):
        parse_scenario(doc, smp=2)


def test_fill_and_vread_use_an_allocation_without_freeing_it():
    scn = parse_scenario(_doc({"op": "vmalloc", "size": 2 * P, "as": "a"}, {"op": "fill", "ref": "a", "value": 0x41},
                              {"op": "vread", "ref": "a", "offset": P - 2, "count": 4}, {"op": "vfree", "ref": "a"}))
    assert probe_script(scn).splitlines()[1:3] == ["fill 0 0x0 0x41", "vread 0 0x0 0xffe 0x4"]
    from vmaplab.oracle.scenario import run_length
    assert run_length(b"AAB") == "41*2 42*1" and run_length(b"") == ""
    vm = Vmalloc(nr_cpus=2, version="6.12")
    run = parse_probe_output(_fake_probe_output(scn, vm, [0] * 4), scn)
    results, _ = replay(scn, run.before, "6.12")
    assert results[1:] == ("ok", "41*2 42*2", "ok")


def test_vrealloc_and_gfp_in_the_line_protocol():
    """vrealloc names its result; the old name is gone (docs/oracle.md §3); a vmalloc's gfp is its B field."""
    scn = parse_scenario(_doc({"op": "vmalloc", "size": P, "gfp": "GFP_NOWAIT", "as": "a"},
                              {"op": "vmalloc", "size": P, "gfp": "GFP_KERNEL", "as": "k"},
                              {"op": "vrealloc", "cpu": 1, "ref": "a", "size": 3 * P, "as": "b"},
                              {"op": "fill", "ref": "b", "value": 7}, {"op": "vfree", "ref": "b"}))
    assert probe_script(scn).splitlines() == [
        "vmalloc 0 0x1000 0x1", "vmalloc 0 0x1000 0x0", "vrealloc 1 0x0 0x3000", "fill 0 0x2 0x7", "vfree 0 0x2 0x0"]
    assert [op.describe() for op in scn.ops[:3]] == ["vmalloc(4096, GFP_NOWAIT) a", "vmalloc(4096) k",
                                                     "vrealloc(#0, 12288) b"]


def test_probe_script_is_the_line_protocol():
    scn = parse_scenario(_doc({"op": "vmalloc", "cpu": 1, "size": 3 * P, "as": "a"},
                              {"op": "vmalloc_node", "size": P, "align": 0x10000},
                              {"op": "ioremap", "phys": 0xd0000123, "size": 0x100},
                              {"op": "vfree", "cpu": 1, "ref": "a"}, {"op": "drop_caches"}))
    assert probe_script(scn).splitlines() == [
        "vmalloc 1 0x3000 0x0", "vmalloc_node 0 0x1000 0x10000", "ioremap 0 0xd0000123 0x100",
        "vfree 1 0x0 0x0", "drop_caches 0 -0x1 0x0"]


# -- the model's side, on a snapshot the model itself printed ---------------------------------
def _fake_probe_output(scn, vm_before: Vmalloc, results: list[int]) -> str:
    lines = ["BEGIN-BEFORE", *vm_before.vmallocinfo().splitlines(), "END-BEFORE"]
    lines += [f"R {i} {op.op} {r:#x}" for i, (op, r) in enumerate(zip(scn.ops, results))]
    lines += ["BEGIN-AFTER", "END-AFTER"]
    return "\n".join(lines) + "\n"


def test_replay_starts_from_the_snapshot_and_reuses_the_pool():
    # A machine with three busy areas; on 6.12 a freed and purged area comes back to its CPU.
    vm = Vmalloc(nr_cpus=2, version="6.12")
    for i in range(3):
        vm.vmalloc(2 * P, cpu=i % 2, caller=f"boot+{i:#x}/0x10")
    scn = parse_scenario(_doc({"op": "vmalloc", "cpu": 0, "size": 3 * P, "as": "a"},
                              {"op": "vfree", "ref": "a"}, {"op": "vm_unmap_aliases"},
                              {"op": "vmalloc", "cpu": 1, "size": 3 * P}, {"op": "vmalloc", "cpu": 0, "size": 3 * P}))
    run = parse_probe_output(_fake_probe_output(scn, vm, [0] * 5), scn)
    results, model = replay(scn, run.before, "6.12")
    first = int(results[0], 16)
    assert first == vm.VMALLOC_START + 3 * 3 * P      # after three 2-page areas with their guard pages
    assert results[1:3] == ("ok", "ok")
    assert int(results[3], 16) == first + 4 * P       # CPU 1 cannot see CPU 0's pool
    assert int(results[4], 16) == first                # CPU 0 gets its area back
    model.check()


# -- the free tree's shape (docs/oracle.md §2.2, §4) ----------------------------------------------
def _with_free_trees(text: str, before, after=None) -> str:
    """A probe answer with BEGIN-FREE-* sections, as the probe prints them, after each snapshot."""
    def section(tag, blocks):
        rows = [f"F {b.va_start:#x} {b.va_end:#x} {'r' if b.red else 'b'} {b.subtree_max_size:#x}" for b in blocks]
        return "\n".join([f"BEGIN-FREE-{tag}", *rows, f"END-FREE-{tag}"]) + "\n"
    text = text.replace("END-BEFORE\n", "END-BEFORE\n" + section("BEFORE", before))
    return text + (section("AFTER", after) if after is not None else "")


def _two_cpu_machine():
    vm = Vmalloc(nr_cpus=2, version="6.12")
    for i in range(3):
        vm.vmalloc((i + 1) * P, cpu=0, caller=f"boot+{i:#x}/0x10")
    return vm


def test_the_free_tree_sections_are_parsed_and_adopted():
    from vmaplab.oracle.scenario import compare
    vm = _two_cpu_machine()
    scn = parse_scenario(_doc({"op": "vmalloc_node", "size": P, "align": 0x10000}))
    shape = vm.free_space.shape()
    plain = _fake_probe_output(scn, vm, [0])
    run = parse_probe_output(_with_free_trees(plain, shape, shape), scn)
    assert run.free_before == tuple(shape) == run.free_after and run.before == parse_probe_output(plain, scn).before
    assert parse_probe_output(plain, scn).free_before is None
    cmp = compare(scn, run, "test", "6.12")
    assert cmp.free_tree == "kernel" and cmp.to_json()["free_tree"]["before"] == "kernel"
    assert cmp.free_tree_after.startswith("pre-order node")         # the model allocated; the "kernel" did not
    assert compare(scn, parse_probe_output(plain, scn), "test", "6.12").free_tree == "rebuilt"


def test_a_free_tree_that_is_not_the_snapshots_is_refused_and_the_rebuilt_shape_kept():
    from vmaplab.oracle.scenario import rebuild
    vm = _two_cpu_machine()
    scn = parse_scenario(_doc({"op": "vmalloc", "size": P}))
    shape = vm.free_space.shape()
    other = [shape[0]._replace(va_end=shape[0].va_end - P), *shape[1:]]
    run = parse_probe_output(_with_free_trees(_fake_probe_output(scn, vm, [0]), other), scn)
    model, how = rebuild(scn, run.before, "6.12", run.free_before)
    assert how.startswith("refused: free tree: free block") and "in the shape" in how
    model.check()


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.replace("END-FREE-BEFORE\n", ""), "free tree BEFORE is cut short"),
    (lambda t: t.replace(" b 0x", " black 0x", 1), "line 1 of the probe's free tree BEFORE is not"),
    (lambda t: t.replace("\nF 0x", "\nF zz", 1), "line 1 of the probe's free tree BEFORE"),
])
def test_a_damaged_free_tree_section_is_a_guest_error(damage, message):
    from vmaplab.oracle.errors import GuestError
    vm = _two_cpu_machine()
    scn = parse_scenario(_doc({"op": "vmalloc", "size": P}))
    text = damage(_with_free_trees(_fake_probe_output(scn, vm, [0]), vm.free_space.shape()))
    with pytest.raises(GuestError, match=re.escape(message)):
        parse_probe_output(text, scn)


def test_init_passes_the_free_tree_its_lock_and_vrealloc_by_address():
    init = _init_script([Job("scenario", "s")], {"vmaplab_probe": "p.ko"})
    for symbol in ("free_vmap_area_root", "free_vmap_area_lock", "vrealloc_noprof"):
        assert f"grep -m1 ' {symbol}$' /proc/kallsyms" in init
    insmod = next(line for line in init.splitlines() if line.startswith("insmod /p.ko"))
    assert "free_root=0x${fr:-0} free_lock=0x${fl:-0} vrealloc_fn=0x${vr:-0}" in insmod
    probe = (REPO / "vmaplab/oracle/module/vmaplab_probe.c").read_text()
    for param in ("free_root", "free_lock", "vrealloc_fn", "vmalloc_node_fn"):
        assert f"module_param({param}, ulong, 0400);" in probe


def test_compare_vmallocinfo_ignores_callers_only():
    a = "0xffffc90000000000-0xffffc90000003000   12288 foo+0x1/0x2 pages=2 vmalloc N0=2\n"
    b = "0xffffc90000000000-0xffffc90000003000   12288 bar+0x9/0x9 [mod] pages=2 vmalloc N0=2\n"
    c = "0xffffc90000000000-0xffffc90000004000   16384 foo+0x1/0x2 pages=3 vmalloc N0=3\n"
    assert compare_vmallocinfo(a, b).match
    assert compare_vmallocinfo(a, b).lines[0] == (a.strip(), b.strip(), True)
    cmp = compare_vmallocinfo(a, c)
    assert not cmp.match and cmp.first_difference.startswith("line 1:")
    longer = compare_vmallocinfo(a, a + c)
    assert not longer.match and longer.lines[1] == ("", c.strip(), False) and longer.matched == 1
    assert not compare_vmallocinfo(a, a + a.replace("0000000000-", "0000004000-").replace("0003000", "0007000")).match


def test_vm_map_ram_scenarios_end_their_boot():
    scns = [load_scenario(p) for p in shipped_scenarios()]
    two = [s for s in scns if s.smp == 2]
    batches = boot_batches(two)
    assert [s for b in batches for s in b] == two
    for b in batches:
        assert all(not any(op.op == "vm_map_ram" for op in s.ops) for s in b[:-1])


# -- the initramfs ------------------------------------------------------------------------------
def _read_cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    out, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        f = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize, mode = f[11], f[6], f[1]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        body = data[pos: pos + filesize]
        pos = (pos + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body)


def test_initramfs_is_a_newc_archive_with_init_console_and_jobs(tmp_path):
    ko = tmp_path / "vmaplab_probe.ko"
    ko.write_bytes(b"\x7fELF fake")
    if not Path("/bin/busybox").exists():
        pytest.skip("no /bin/busybox to pack")
    jobs = [Job("vmallocinfo", "info"), Job("scenario", "s", "vmalloc 0 0x1000 0x0\n")]
    files = _read_cpio(gzip.decompress(pack_initramfs(jobs, {"vmaplab_probe": ko})))
    assert files["dev/console"][0] == 0o020600
    assert files["init"][0] == 0o100755 and files["init"][1].startswith(b"#!/bin/busybox sh")
    assert files["jobs/1"][1] == b"vmalloc 0 0x1000 0x0\n"
    assert files["vmaplab_probe.ko"][1] == b"\x7fELF fake"
    init = files["init"][1].decode()
    assert init.index("insmod /vmaplab_probe.ko") < init.index("begin 0") < init.index("begin 1")
    assert "poweroff -f" in init.splitlines()[-1]


def test_cpio_pads_names_and_data_to_four_bytes():
    c = _Cpio()
    c.file("a", b"xyz")
    data = c.finish()
    assert len(data) % 4 == 0 and _read_cpio(data) == {"a": (0o100644, b"xyz")}


def test_the_probe_is_the_only_c_and_says_its_license():
    """The only C the repository holds (its tracked files; build products such as build/ or the
    speedups' generated C are not ours to license)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: what the repository holds is git's list")
    listed = subprocess.run(["git", "ls-files", "-z", "--", "*.c", "*.h"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    c_files = [REPO / name for name in listed if name]
    assert [p.relative_to(REPO).as_posix() for p in c_files] == ["vmaplab/oracle/module/vmaplab_probe.c"]
    text = c_files[0].read_text()
    assert text.startswith("// SPDX-License-Identifier: GPL-2.0\n") and 'MODULE_LICENSE("GPL")' in text


def test_a_missing_prerequisite_is_one_line_and_status_3(monkeypatch, capsys):
    from vmaplab.cli import main
    from vmaplab.oracle import guest
    monkeypatch.setattr(guest, "QEMU", "qemu-system-vmaplab-missing")
    assert main(["oracle", "run", "pool-reuse-same-cpu"]) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ARG")]
    assert len(err) == 1 and "qemu-system-vmaplab-missing not found: apt-get install qemu-system-x86" in err[0]


def test_no_kernel_in_the_archive_is_reported(monkeypatch):
    from vmaplab.oracle import debian
    monkeypatch.setattr(debian, "run_tool", lambda cmd, what, cwd=None: "")
    with pytest.raises(OracleUnavailable, match="no linux-image-6.12.*bookworm-security"):
        debian.newest_abi()


def test_init_script_rejects_unknown_jobs():
    with pytest.raises(InvariantError, match="unknown job kind"):
        _init_script([Job("reboot", "x")], {"vmaplab_probe": "p.ko"})


# -- the real kernel ---------------------------------------------------------------------------------
def _kernel_or_skip(series: str = "6.12"):
    from vmaplab.oracle.run import kernel_and_probe
    try:
        from vmaplab.oracle.guest import require_tools
        require_tools()
        return kernel_and_probe(progress=lambda msg: None, spec=series)
    except OracleUnavailable as e:
        if os.environ.get("CI") == "true":
            raise                               # CI must run the oracle
        pytest.skip(f"the real-kernel oracle is unavailable here: {e}")


def _agrees(run) -> bool:
    cmp = run.comparisons[run.model]
    return cmp.matched == len(cmp.ops) and cmp.final.match


@pytest.fixture(scope="module", params=ORACLE_SERIES)
def oracle_runs(request):
    """Every shipped scenario once; one that disagrees runs once more in a boot of its own.

    The guest's own threads can allocate while a script runs, a rare disagreement that a new boot
    does not repeat (docs/oracle.md §2.3); the free tree's shape no longer is one, since the model
    takes the guest's (§4). A model error disagrees in both boots.
    """
    series = request.param
    _kernel_or_skip(series)
    from vmaplab.oracle.run import run_scenarios
    quiet = lambda msg: None                                    # noqa: E731
    scns = [scn for p in shipped_scenarios() if (scn := load_scenario(p)).applies_to(series)]
    runs = {r.scenario.name: [r] for r in run_scenarios(scns, progress=quiet, kernel_spec=series)}
    for name, (first,) in list(runs.items()):
        if not _agrees(first):
            runs[name] += run_scenarios([first.scenario], progress=quiet, kernel_spec=series)
    return runs


SCENARIO_NAMES = [load_scenario(p).name for p in shipped_scenarios()]


@pytest.mark.oracle
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_the_real_kernel_agrees_with_its_own_model(oracle_runs, name):
    if name not in oracle_runs:
        pytest.skip(f"{name}: its \"kernels\" exclude this kernel")
    tries = oracle_runs[name]
    run = tries[-1]
    if len(tries) > 1:
        first = tries[0].comparisons[run.model]
        print(f"{name}: the first boot disagreed ({first.matched}/{len(first.ops)} ops); a second boot ran")
    cmp = run.comparisons[run.model]
    bad = [f"#{o.index} cpu{o.cpu} {o.call}: kernel {o.kernel} vmaplab {o.vmaplab}" for o in cmp.ops if not o.match]
    assert not bad, f"{name} on Linux {run.release} against model {run.model}: " + "; ".join(bad[:5])
    assert cmp.final.match, f"{name}: final /proc/vmallocinfo: {cmp.final.first_difference}"


@pytest.mark.oracle
def test_oracle_json_document(tmp_path, capsys):
    _kernel_or_skip()
    from vmaplab.cli import main
    rc = main(["oracle", "run", "pool-reuse-same-cpu", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert doc["kernel"].startswith("6.12.") and doc["smp"] == 2
    assert doc["matched"] == doc["total"] == len(doc["ops"]) == 6
    assert all(set(o) >= {"op", "kernel", "vmaplab", "match"} for o in doc["ops"])
    assert doc["vmallocinfo"]["match"] is True
    lines = doc["vmallocinfo"]["lines"]
    assert len(lines) == doc["vmallocinfo"]["kernel_lines"] > 30
    assert all(set(line) == {"kernel", "vmaplab", "match"} and line["match"] for line in lines)


@pytest.mark.oracle
@pytest.mark.parametrize("series", ORACLE_SERIES)
@pytest.mark.parametrize("smp", [2, 4, 8])
def test_guest_vmallocinfo_reemits_line_for_line(smp, series):
    _kernel_or_skip(series)
    from vmaplab.formats.vmallocinfo import VmallocInfoError
    from vmaplab.oracle.run import capture_vmallocinfo
    # A live kernel may free an area while /proc/vmallocinfo is being read (its busy and lazy lists are
    # walked one after the other): the reader says so and asks for another read, as a user would do.
    for attempt in range(3):
        release, text = capture_vmallocinfo(smp, progress=lambda msg: None, kernel_spec=series)
        assert text.count("\n") > 30 and "vmalloc" in text
        try:
            vm = Vmalloc.from_vmallocinfo(text, nr_cpus=smp, version=for_series(series))
            break
        except VmallocInfoError as e:
            if "freed while the file was being read" not in str(e) or attempt == 2:
                raise
    assert vm.vmallocinfo() == text


def test_summary_lines_are_numbered_by_worker():
    from vmaplab.oracle.run import parse_summaries
    text = ("[  1.0] Summary: fix_size_alloc_test passed: 1 failed: 0 repeat: 1 loops: 10 avg: 5 usec\n"
            "[  1.1] All test took worker0=100 cycles\n"
            "[  1.2] Summary: fix_size_alloc_test passed: 0 failed: 1 repeat: 1 loops: 10 avg: 7 usec\n")
    rows = parse_summaries(text)
    assert [(r.worker, r.test, r.passed, r.failed, r.avg_usec) for r in rows] == [
        (0, "fix_size_alloc_test", 1, 0, 5), (1, "fix_size_alloc_test", 0, 1, 7)]


def test_test_vmalloc_adaptation_inserts_the_shim_and_keeps_init_from_failing():
    from vmaplab.oracle.errors import GuestError
    from vmaplab.oracle.guest import adapt_test_vmalloc
    src = (b"#include <a.h>\n#include <b.h>\nint x;\nstatic int init(void)\n{\n"
           b"\treturn -EAGAIN; /* Fail will directly unload the module */\n}\n")
    out = adapt_test_vmalloc(src).decode()
    assert out.index("#include <b.h>") < out.index("vmalloc_node_fn") < out.index("int x;")
    assert "return 0;" in out and "EAGAIN" not in out
    with pytest.raises(GuestError):
        adapt_test_vmalloc(b"int main(void) { return 0; }\n")


@pytest.mark.oracle
@pytest.mark.parametrize("series", ORACLE_SERIES)
def test_the_real_test_vmalloc_agrees_pass_for_fail(capsys, series):
    _kernel_or_skip(series)
    from vmaplab.cli import main
    rc = main(["oracle", "test-vmalloc", "nr_threads=2", "test_loop_count=200", "--json", "--kernel", series])
    doc = json.loads(capsys.readouterr().out)
    assert doc["kernel"].startswith(series + ".")
    # two workers, each the tests its kernel's module runs by default (kernel-model.md §5): 6.1 has ten
    # (no vm_map_ram_test), 6.12 eleven, 7.3 runs the first three (its run_test_mask defaults to 7)
    expected = {"6.1": (20, {"pcpu_alloc_test"}), "6.12": (22, {"vm_map_ram_test", "pcpu_alloc_test"}),
                "7.3": (6, {"long_busy_list_alloc_test"})}[series]
    assert len(doc["tests"]) == expected[0] and {t["test"] for t in doc["tests"]} >= expected[1]
    assert doc["agree"] and rc == 0, [t for t in doc["tests"] if not t["agree"]]


def _function_body(source: str, name: str) -> str:
    """The text of C function ``name`` in ``source``, from its definition line to the next closing brace at column 0."""
    m = re.search(rf"^(?:[\w*]+[ \t]+)*\**{name}\([^;{{]*\)\s*\{{", source, re.M)
    assert m, f"{name} not defined here"
    end = source.index("\n}", m.end())
    return source[m.end():end]


@pytest.mark.oracle
def test_claims_about_who_takes_which_lock_hold_in_the_kernel_source():
    """What profile.CALLER_LOCKED and contention-model.md §7.5 say, read in Debian's 6.12 source.

    alloc_vmap_area and free_vmap_area_noflush take the node's lock themselves and then call
    insert_vmap_area, so perf puts the waiting under them; find_unlink_vmap_area takes its own;
    the page allocator takes zone->lock with spin_lock_irqsave (not under _raw_spin_lock).
    """
    from vmaplab.contention.profile import CALLER_LOCKED
    from vmaplab.oracle.debian import source_files
    kernel, _probe = _kernel_or_skip()
    files = source_files(kernel, ["mm/vmalloc.c", "mm/page_alloc.c"])
    vmalloc = files["mm/vmalloc.c"].read_text()
    page_alloc = files["mm/page_alloc.c"].read_text()
    locked_insert = r"spin_lock\(&vn->{tree}\.lock\);\s*insert_vmap_area\(va, &vn->{tree}\.root"
    assert re.search(locked_insert.format(tree="busy"), _function_body(vmalloc, "alloc_vmap_area"))
    assert re.search(locked_insert.format(tree="lazy"), _function_body(vmalloc, "free_vmap_area_noflush"))
    assert "spin_lock(&vn->busy.lock)" in _function_body(vmalloc, "find_unlink_vmap_area")
    assert "spin_lock" not in _function_body(vmalloc, "insert_vmap_area")
    assert {"insert_vmap_area", "free_vmap_area_noflush"} <= CALLER_LOCKED
    for fn in ("free_pcppages_bulk", "rmqueue_bulk"):
        assert "spin_lock_irqsave(&zone->lock" in _function_body(page_alloc, fn)
