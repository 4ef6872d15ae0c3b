# SPDX-License-Identifier: MIT
"""vmaplab explain (issue 28 item 3): every narrated fact equals what the trace and the model say.

Each op list is also replayed on an independent machine with plain API calls; the explainer's
records must equal the replay's, and its facts are checked against the replay's records and state.
"""
from __future__ import annotations

import json

import pytest

from vmaplab.cli import main
from vmaplab.course.explain import ExplainError, as_json, explain, parse_ops
from vmaplab.kernel.errors import VmallocError
from vmaplab.kernel.vmalloc import Vmalloc

VERSIONS = ("6.8", "6.9")
SCRIPT = ("vmalloc 4K cpu0; vfree a cpu1; purge; vmalloc 4K cpu0; x = vmap 8K cpu1; vunmap x; "
          "r = vm_map_ram 16K cpu1; vm_unmap_ram r cpu1; big = vm_map_ram 1M; vm_unmap_ram big; "
          "i = ioremap 64K; iounmap i; purge cpu1; vmalloc 8K; drop_caches; vmalloc 8K cpu1")
KINDS = {"vmalloc", "vfree", "vmap", "vunmap", "vm_map_ram", "vm_unmap_ram", "ioremap", "iounmap",
         "purge", "drop_caches"}


def _replay(text, version, cpus=2, seed=0):
    """The same calls as plain API calls: per op, (records, vmap_lazy_nr, pooled VAs before, machine)."""
    vm = Vmalloc(cpus, version, seed)
    tr = vm.start_trace()
    live, out = {}, []
    for op in parse_ops(text, cpus):
        mark, pooled = len(tr.records), sum(vn.pool_total() for vn in vm.nodes)
        c = op.cpu
        if op.kind == "vmalloc":
            live[op.name] = (vm.vmalloc(op.size, cpu=c), op.size)
        elif op.kind == "vmap":
            live[op.name] = (vm.vmap(vm.alloc_pages(op.size // 4096), cpu=c), op.size)
        elif op.kind == "vm_map_ram":
            live[op.name] = (vm.vm_map_ram(vm.alloc_pages(op.size // 4096), cpu=c), op.size)
        elif op.kind == "ioremap":
            live[op.name] = (vm.ioremap(1 << 32, op.size, cpu=c), op.size)
        elif op.kind == "purge":
            vm.purge(cpu=c)
        elif op.kind == "drop_caches":
            vm.shrinker.count(cpu=c)
            vm.shrinker.scan(cpu=c)
        elif op.kind == "vm_unmap_ram":
            addr, size = live.pop(op.name)
            vm.vm_unmap_ram(addr, size // 4096, cpu=c)
        else:
            getattr(vm, op.kind)(live.pop(op.name)[0], cpu=c)
        out.append((tr.records[mark:], vm.vmap_lazy_nr, pooled, vm))
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_every_fact_equals_the_trace_and_the_model(version):
    steps = explain(SCRIPT, version)
    replay = _replay(SCRIPT, version)
    assert {s.op.kind for s in steps} == KINDS
    for st, (recs, lazy_nr, pooled, vm) in zip(steps, replay, strict=True):
        assert [r.as_dict() for r in st.records] == [r.as_dict() for r in recs]
        f, kind = st.facts, st.op.kind
        assert f["vmap_lazy_nr"] == lazy_nr
        pools = [r for r in recs if r.event == "pool" and r.op != "add"]
        assert f["pools_tried"] == [{"node": r.node, "idx": r.idx, "op": r.op} for r in pools]
        if version == "6.8":
            assert not pools
        if kind in ("vmalloc", "vmap", "vm_map_ram", "ioremap"):
            api = [r for r in recs if r.event == "vmalloc"]
            assert f["addr"] == api[-1].addr != 0
            got = [r for r in recs if r.event == "alloc_vmap_area" and not r.failed]
            if kind == "vm_map_ram" and not got:          # carved from an existing vmap block
                assert any(r.event == "vmap_block" and r.addr == f["addr"] for r in recs)
                continue
            va = got[-1]
            assert f["node"] == vm.addr_to_node_id(va.va_start)
            hit = any(r.event == "pool" and r.op == "hit" and r.va_start == va.va_start for r in recs)
            assert f["hit"] is hit
            if hit:
                assert f["fit_type"] is None
            else:
                s, e = f["free_block"]
                start, end = va.va_start, va.va_start + va.size
                assert s <= start < end <= e
                want = ("FL_FIT_TYPE" if (s, e) == (start, end) else "LE_FIT_TYPE" if s == start
                        else "RE_FIT_TYPE" if e == end else "NE_FIT_TYPE")
                assert f["fit_type"] == want
            if kind != "vm_map_ram":
                assert f["addr"] == va.va_start
                assert any(line.endswith(f"= {f['addr']:#x}") for line in st.lines)
        elif kind in ("vfree", "vunmap", "iounmap"):
            (rec,) = [r for r in recs if r.event == "free_vmap_area_noflush"]
            lazy = f["lazy"]
            assert (lazy["va_start"], lazy["vmap_lazy_nr"]) == (rec.va_start, rec.nr_lazy)
            vn = vm.nodes[lazy["node"]]
            assert lazy["tree"] == vn.lazy.name
        elif kind == "purge":
            nodes = [r for r in recs if r.event == "purge_node"]
            assert f.get("purged", []) == [{"node": r.node, "nr_purged": r.nr_purged, "to_pool": r.to_pool,
                                            "to_global": r.to_global} for r in nodes]
            total = [r for r in recs if r.event == "purge_vmap_area_lazy"]
            if total:
                assert f["npurged"] == total[0].npurged == sum(r.nr_purged for r in nodes)
        elif kind == "drop_caches":
            (count,) = [r for r in recs if r.event == "shrinker" and r.op == "count"]
            assert f["shrinker_count"] == count.value == pooled
            decays = [r for r in recs if r.event == "decay"]
            assert f.get("decayed", []) == [{"node": r.node, "idx": r.idx, "before": r.before,
                                             "removed": r.removed} for r in decays]


def test_the_lazy_tree_named_holds_the_freed_va():
    """Right after a vfree (no purge yet) the named node's lazy tree holds the VA."""
    for version in VERSIONS:
        text = "vmalloc 4K; vmalloc 8K cpu1; vfree b cpu1"
        steps = explain(text, version)
        vm = _replay(text, version)[-1][3]
        lazy = steps[-1].facts["lazy"]
        assert vm.nodes[lazy["node"]].lazy.find(lazy["va_start"]) is not None


def test_the_6_9_pool_hit_after_a_purge():
    steps = explain("vmalloc 4K cpu0; vfree a cpu1; purge; vmalloc 4K cpu0", "6.9")
    assert steps[3].facts["hit"] is True and steps[3].facts["addr"] == steps[0].facts["addr"]
    old = explain("vmalloc 4K cpu0; vfree a cpu1; purge; vmalloc 4K cpu0", "6.8")
    assert old[3].facts["hit"] is False and old[3].facts["fit_type"] is not None


def test_json_shape(capsys):
    assert main(["explain", "vmalloc 4K; vfree a; purge", "--json", "--version", "6.8", "--cpus", "3",
                 "--seed", "5"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["version"], doc["cpus"], doc["seed"]) == ("6.8", 3, 5)
    assert [s["pos"] for s in doc["steps"]] == [1, 2, 3]
    for s in doc["steps"]:
        assert set(s) == {"pos", "op", "kind", "cpu", "name", "facts", "narration", "events"}
        assert all("event" in e and "seq" in e for e in s["events"])
        assert s["narration"][0].startswith(f"{s['pos']}. ")
    assert doc["steps"][0]["name"] == "a"


def test_same_seed_same_output(capsys):
    args = ["explain", SCRIPT, "--cpus", "4", "--seed", "3"]
    outs = []
    for _ in range(2):
        assert main(args) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    a = as_json(explain(SCRIPT, "6.9", 4, 3), "6.9", 4, 3)
    assert a == as_json(explain(SCRIPT, "6.9", 4, 3), "6.9", 4, 3)


def test_a_file_of_calls(tmp_path, capsys):
    f = tmp_path / "ops.txt"
    f.write_text("# a comment\nvmalloc 4K cpu0\nvfree a cpu1\n\npurge\n")
    assert main(["explain", str(f)]) == 0
    out = capsys.readouterr().out
    assert "3. purge" in out
    f.write_bytes(b"\xff\xfe")
    assert main(["explain", str(f)]) == 2


@pytest.mark.parametrize("ops,pos,words", [
    ("vmalloc 4K; frob 4K", 2, "unknown op"),
    ("vmalloc 4Q", 1, "bad size"),
    ("vmalloc 0", 1, "bad size"),
    ("vmap 100", 1, "multiple of 4K"),
    ("vmalloc 4K; vfree z", 2, "unknown name"),
    ("vmalloc 4K; vfree a; vfree a", 3, "unknown name"),
    ("vmalloc 4K cpu2", 1, "out of range"),
    ("vmalloc 4K cpux", 1, "bad cpu"),
    ("x = vmalloc 4K; vunmap x", 2, "came from vmalloc"),
    ("x = purge", 1, "nothing to name"),
    ("purge 4K", 1, "only [cpuN]"),
    ("1x = vmalloc 4K", 1, "bad name"),
])
def test_bad_input_is_one_line_and_exit_2(ops, pos, words, capsys):
    with pytest.raises(ExplainError) as e:
        explain(ops, "6.9", 2)
    assert isinstance(e.value, VmallocError) and f"op {pos} " in str(e.value) and words in str(e.value)
    assert main(["explain", ops]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vmaplab: error: op ") and "Traceback" not in "".join(err)
    assert err[-1] == f"vmaplab: error: {e.value}"


def test_empty_list_is_refused(capsys):
    assert main(["explain", " ; # nothing"]) == 2
    assert "no calls" in capsys.readouterr().err


def test_a_release_called_without_the_area_s_name_is_refused_and_changes_nothing():
    """Explainer.call("vfree", 0) names no area: an ExplainError (bad input) naming name=, not a KeyError
    or an InvariantError, and no step is added."""
    from vmaplab.course.explain import Explainer
    ex = Explainer("6.9", 2, 0)
    ex.call("vmalloc", 0, 8192, "a")
    for bad in (None, "", 5):
        with pytest.raises(ExplainError, match="name="):
            ex.call("vfree", 0, name=bad)
    assert len(ex.steps) == 1
    ex.call("vfree", 1, name="a")
    assert len(ex.steps) == 2
