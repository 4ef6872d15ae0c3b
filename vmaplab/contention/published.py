# SPDX-License-Identifier: MIT
"""The cover letter's own numbers, read from its text: the targets the simulator is compared with.

Mirrors nothing in the kernel: it parses ``vmaplab/data/cover-letter-v3.txt`` (Uladzislau Rezki,
"mm: vmalloc: Mitigate a vmap lock contention", v3), shipped with vmaplab, so every
published number a notebook or report shows comes from that text, not from a constant typed in.

Invariants: the two perf tables keep the letter's row order; times are seconds.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .errors import ContentionError

COVER_LETTER = Path(__file__).resolve().parents[1] / "data" / "cover-letter-v3.txt"
_ROW = re.compile(r"(\d+\.\d+)%\s+(\d+\.\d+)%\s+\[([\w]+)\]\s+\[k\]\s+(\S+)")
_REAL = re.compile(r"real\s+(\d+)m(\d+\.\d+)s")


def parse_cover_letter(text: str) -> dict:
    """{"6.8": {"wall_s", "slowpath_self_pct", "profile"}, "6.9": {...}, "ratio"} from the letter's text.

    >>> d = published()
    >>> d["6.8"]["wall_s"], d["6.9"]["wall_s"], d["6.9"]["slowpath_self_pct"]
    (651.271, 51.301, 16.51)
    """
    try:
        head, rest = text.split("<default perf> vs <patch-series perf>", 1)
        before = head.split("<default perf>", 1)[1]
        after = rest.split("<patch-series perf> confirms", 1)[0]
    except (ValueError, IndexError):
        raise ContentionError("not the v3 cover letter: its two '<default perf>' / '<patch-series perf>' tables are missing") from None
    walls = [int(m) * 60 + float(s) for m, s in _REAL.findall(text)]
    if len(walls) != 2:
        raise ContentionError(f"expected two 'real XmY.YYYs' timings in the cover letter, found {len(walls)}")
    out = {}
    for version, table, wall in (("6.8", before, walls[0]), ("6.9", after, walls[1])):
        rows = [{"children_pct": float(c), "self_pct": float(s), "dso": dso, "symbol": sym}
                for c, s, dso, sym in _ROW.findall(table)]
        slow = next(r["self_pct"] for r in rows if r["symbol"] == "native_queued_spin_lock_slowpath")
        out[version] = {"wall_s": wall, "slowpath_self_pct": slow, "profile": rows}
    out["ratio"] = out["6.8"]["wall_s"] / out["6.9"]["wall_s"]
    return out


@lru_cache(maxsize=1)
def published() -> dict:
    """The shipped cover letter, parsed once."""
    return parse_cover_letter(COVER_LETTER.read_text())


V1_CURVE = {1: (0.576131, 0.555889), 2: (2.68376, 1.07895), 4: (6.04306, 1.28924), 8: (10.4609, 2.15964),
            16: (14.3687, 3.0285), 32: (21.0865, 3.82904)}
"""The v1 cover letter (22 May 2023, 6.3 base; contention-model.md table T7): µs per 1-page
vmalloc/vfree pair per job, for 1..32 jobs, (before, after the v1 design). v1 sharded by CPU
zones, not v3's nodes and pools, so the "after" column is a different design: a reference
shape, not a target."""
