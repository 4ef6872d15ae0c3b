# SPDX-License-Identifier: MIT
"""Every subcommand with malformed values: one line on stderr naming the problem, exit status 2, no traceback."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from vmaplab.cli import main

_BAD = Path(tempfile.mkdtemp(prefix="vmaplab-fuzz-"))
for _name, _text in {"notoml.toml": "name = [", "badparam.toml": 'name = "x"\n[grid]\nthreads = [1]\n',
                     "badcost.toml": 'name = "x"\n[grid]\n"cost.nope" = [1]\n', "notjson.json": "{", "noops.json": '{"name": "x", "smp": 2, "ops": []}',
                     "badcpu.json": json.dumps({"name": "x", "smp": 2, "ops": [{"op": "vmalloc", "cpu": 9, "size": 1}]}),
                     "array.json": "[1, 2]"}.items():
    (_BAD / _name).write_text(_text)

BAD_NUMBERS = ["x", "", "1.5", "1e5", "-1", "0x", "99999999999999999999999", "1²", "١"]
OPTIONS = {          # subcommand -> option -> bad values (beyond BAD_NUMBERS where numeric)
    "demo": {"--cpus": ["0", "70000"], "--seed": [], "--version": ["7.0", "6"]},
    "test-vmalloc": {"--cpus": ["0"], "--seed": [], "--version": ["5"], "--interleave": ["sideways"]},
    "vmallocinfo": {"--cpus": ["0"], "--seed": [], "--workload": ["nope"], "--version": ["x"]},
    "vread": {"--cpus": ["0"], "--seed": [], "--workload": ["nope"]},
    "simulate": {"--cpus": ["0", "100000", "128"], "--scale": ["0", "-5"], "--jobs": ["0", "-3"],
                 "--top": ["-1"], "--seed": [], "--machine": ["vax"], "--policy": ["random"],
                 "--drain": ["never"], "--placement": ["random"]},
    "oracle run": {"--smp": ["0", "65"], "--model": ["6.10"]},
    "sweep": {"--jobs": ["0", "257"], "--dask-local": ["0"]},
    "oracle vmallocinfo": {"--smp": ["0", "65"]},
    "exercises": {"--seed": ["18446744073709551616"], "--count": ["0", "51"], "--kind": ["nope"]},
    "speedups": {"--jobs": ["0", "257"]},
}
NUMERIC = {"--cpus", "--seed", "--scale", "--jobs", "--top", "--smp", "--dask-local", "--count"}
POSITIONAL = {       # subcommand -> whole bad argument lists
    "test-vmalloc": [["nr_threads=0"], ["nr_threads=x"], ["test_loop_count=1²"], ["run_test_mask"], ["bogus=1"],
                     ["use_huge=1"], ["nr_threads=-1"], ["run_test_mask=１"], ["smoke", "extra"],
                     ["run_test_mask=4294967296"], ["test_loop_count=100000000000000000000"],
                     ["sequential_test_order=2"], ["test_repeat_count=1000000000"]],
    "vread": [["0xzz", "16"], ["0xffffc90000000000", "abc"], ["1e5", "16"], ["0xffffc90000000000", "0x100000000000"],
              ["-1", "16"], ["0x10000000000000000", "16"], ["0xffffc90000000000"]],
    "vmallocinfo": [["--from", "/nonexistent/vmallocinfo"], ["--from", "/"], ["--from", "/dev/zero"],
                    ["--from", "/bin/sh"]],
    "simulate": [["nr_threads=65"], ["nr_threads=100000"], ["--cpus", "1", "nr_threads=2"],
                 ["--cost", "clear_page_ns=1e308"], ["--cost", "nope=1"], ["--cost", "f_smt"],
                 ["--cost", "f_smt=nan"], ["--cost", "cache_model=psychic"], ["run_test_mask=0"],
                 ["--machine", "threadripper-3970x", "--cpus", "65"], ["run_test_mask=2048"],
                 ["test_loop_count=1000", "--scale", "1001"], ["--cost", "t_mem_ns=١٠"],
                 ["nr_threads=300", "--cpus", "300", "--machine", "generic"]],
    "speedups": [["nope"], ["build", "extra"]],
    "exercises": [["extra"]],
    "sweep": [[], [str(_BAD / "notoml.toml")], [str(_BAD / "badparam.toml")], [str(_BAD / "badcost.toml")],
              [str(_BAD / "missing.toml")], ["/"], ["x.toml", "--jobs", "2", "--dask-local", "2"]],
    # every scenario is read and checked before any guest boots
    "oracle": [["run"], ["run", "nosuch"], ["run", "all", "nosuch"], ["nosuch"], [],
               *(["run", str(_BAD / n)] for n in ("notjson.json", "noops.json", "badcpu.json", "array.json")),
               ["run", str(_BAD / "missing.json")], ["run", "pool-reuse-same-cpu", "--smp", "1"]],
}


def _cases():
    for cmd, opts in OPTIONS.items():
        for opt, extra in opts.items():
            values = (BAD_NUMBERS if opt in NUMERIC else []) + extra
            for v in values:
                yield [*cmd.split(), opt, v] + (["0xffffc90000000000", "16"] if cmd == "vread" else
                                                ["all"] if cmd == "oracle run" else
                                                ["experiments/smoke.toml"] if cmd == "sweep" else [])
    for cmd, lists in POSITIONAL.items():
        yield from ([cmd, *args] for args in lists)
    yield ["nope"]
    yield []


CASES = [list(c) for c in dict.fromkeys(tuple(c) for c in _cases())]     # each case once


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(a) or "(none)" for a in CASES])
def test_bad_command_line_is_one_line_and_status_2(argv, capsys):
    rc = main(argv + (["--quiet"] if argv[:1] in (["simulate"], ["test-vmalloc"]) else []))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if not line.startswith("ARG ")]
    assert rc == 2, (rc, out[-300:], err[-300:])
    assert len(errors) == 1 and "error" in errors[0], err


def test_the_fuzz_is_large_enough():
    assert len(CASES) > 100
    assert len({tuple(c[:1]) for c in CASES}) == len({cmd.split()[0] for cmd in OPTIONS}) + 2
