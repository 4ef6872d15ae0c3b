# SPDX-License-Identifier: MIT
"""/proc/vmallocinfo text, mutated: every mutant is a line-numbered parse error, or a machine that
passes check() and re-emits the input.

Mutants (seeded): a few bytes flipped, a line duplicated, the text truncated, two lines swapped, of
two inputs: the shipped capture (hashed addresses) and vmaplab's own output (real addresses).
"""
from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from vmaplab import Vmalloc, VmallocInfoError, parse_vmallocinfo
from vmaplab.workloads import build_scenario

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = (ROOT / "data" / "vmallocinfo-linux-6.18-x86_64.txt").read_text()
CAPTURE_HEAD = "".join(CAPTURE.splitlines(keepends=True)[:150])      # small enough to rebuild 100s of times
OWN = build_scenario("mixed", "6.9", seed=0, nr_cpus=4).vmallocinfo()
ALPHABET = "0123456789abcdefx- =N\n\t\x0c\u2028\x85ípages"


def mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(4)
    lines = text.splitlines(keepends=True)
    if kind == 0:                                   # flip 1..3 characters
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
        return "".join(chars)
    if kind == 1:                                   # duplicate a line
        i = rng.randrange(len(lines))
        return "".join(lines[:i + 1] + [lines[i]] + lines[i + 1:])
    if kind == 2:                                   # truncate anywhere
        return text[:rng.randrange(len(text))]
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))   # swap two lines
    lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


def outcome(text: str, nr_cpus: int) -> str:
    """'parse error' (with a valid line number), 'rebuilt' (check passes, re-emission equal), or a failure."""
    nlines = text.count("\n") + (not text.endswith("\n") and bool(text))
    try:
        info = parse_vmallocinfo(text)
        vm = Vmalloc.from_vmallocinfo(text, nr_cpus=nr_cpus)
    except VmallocInfoError as e:
        m = re.match(r"line (\d+): ", str(e))
        if m and 1 <= int(m[1]) <= nlines:
            return "parse error"
        if m is None and ("mixed hashed" in str(e) or "ascending runs" in str(e) or "window" in str(e)):
            return "parse error"                    # a whole-file property, not one line's
        return f"error without a good line number: {e}"
    except Exception as e:                          # noqa: BLE001 - what escapes is the finding
        return f"{type(e).__name__}: {e}"
    vm.check()
    again = parse_vmallocinfo(vm.vmallocinfo())
    if info.hashed:
        same = Counter(line.key() for line in again) == info.counts()
    else:
        same = [line.format() for line in again] == [line.format() for line in info]
    return "rebuilt" if same else "rebuilt but re-emitted differently"


@pytest.mark.parametrize("name, text, nr_cpus", [("capture", CAPTURE_HEAD, 2), ("own", OWN, 4)])
def test_every_mutant_is_a_line_numbered_error_or_an_exact_rebuild(name, text, nr_cpus):
    rng = random.Random(f"parser-fuzz-{name}")
    results = Counter()
    bad = []
    for k in range(150):
        mutant = mutate(text, rng)
        got = outcome(mutant, nr_cpus)
        results[got if got in ("parse error", "rebuilt") else "bad"] += 1
        if got not in ("parse error", "rebuilt"):
            bad.append(f"mutant {k}: {got}")
    assert bad == [], "\n".join(bad[:20])
    assert results["parse error"] >= 10 and results["rebuilt"] >= 10      # both branches are exercised


@pytest.mark.parametrize("text, lineno", [
    ("0xffffc90000000000-0xffffc90000003000   12288 f+0x1/0x2 pages=1 vmalloc\n", 1),    # too few pages
    ("0xffffc90000000000-0xffffc90000002000 " + "9" * 5000 + " vmalloc\n", 1),           # > 4300 digits
    ("0xffffc90000000000-0xffffc90000002000    8192 vm\x0cap\n0x1-0x2 x\n", 1),
])
def test_bad_lines_are_line_numbered(text, lineno):
    with pytest.raises(VmallocInfoError, match=f"^line {lineno}: "):
        Vmalloc.from_vmallocinfo(text, nr_cpus=1)


def test_only_newline_ends_a_line():
    good = "0xffffc90000000000-0xffffc90000002000    8192 vmap\n"
    for sep in ("\x0c", "\x85", "\u2028", "\r"):
        with pytest.raises(VmallocInfoError, match="^line 2: "):
            parse_vmallocinfo(good + good.replace("vmap", "vm" + sep + "ap"))


def test_duplicated_unpurged_lines_are_refused():
    line = "0xffffc90000004000-0xffffc90000006000    8192 unpurged vm_area\n"
    with pytest.raises(VmallocInfoError, match="line 2: .*overlaps line 1"):
        Vmalloc.from_vmallocinfo(line * 2, nr_cpus=2)


def test_user_space_addresses_are_not_a_kaslr_base():
    with pytest.raises(VmallocInfoError, match="not a kernel address"):
        Vmalloc.from_vmallocinfo("0x00007f0000000000-0x00007f0000002000    8192 vmap\n", nr_cpus=1)


def test_an_area_printed_busy_and_unpurged_is_reported_as_a_live_race():
    # one read of a live system: an area freed between the busy walk and the purge-list walk
    from vmaplab import Vmalloc
    from vmaplab.formats.vmallocinfo import VmallocInfoError
    text = ("0xffffc90000000000-0xffffc90000002000    8192 foo+0x1/0x2 pages=1 vmalloc N0=1\n"
            "0xffffc90000000000-0xffffc90000002000    8192 unpurged vm_area\n")
    with pytest.raises(VmallocInfoError, match="printed busy and unpurged .*freed while the file was being read"):
        Vmalloc.from_vmallocinfo(text, nr_cpus=2)
