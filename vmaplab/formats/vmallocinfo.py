# SPDX-License-Identifier: MIT
"""Read a real ``/proc/vmallocinfo``: typed, line-numbered records.

Mirrors: the line grammar of ``vmalloc_info_show`` (kernel-model.md §4.10): every line
vmaplab prints and every line a Linux 6.x kernel prints match :data:`LINE_RE`. The tokens
(flag words, the caller as ``%pS`` prints it) come from the kernel model's printer,
``kernel/walks.py``, so printing and parsing share one grammar.

Invariants: :func:`parse_vmallocinfo` either returns one record per line or
raises :class:`VmallocInfoError` naming the first bad line and why, having
built nothing; ``VmallocInfoLine.format()`` re-emits the line byte for byte.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..kernel.config import PAGE_SIZE
from ..kernel.errors import VmallocError
from ..kernel.lines import CALLER_PATTERN, FLAG_WORDS, format_area_line, format_va_line

FLAG_BITS = {word: bit for bit, word in FLAG_WORDS}
LINE_RE = re.compile(
    r"^0x(?P<start>[0-9a-f]{16})-0x(?P<end>[0-9a-f]{16}) +(?P<size>\d+)"
    r"(?:"
    r" (?P<special>unpurged vm_area|vm_map_ram)"
    r"|"
    rf"(?: (?P<caller>{CALLER_PATTERN}))?"
    r"(?: pages=(?P<pages>\d+))?"
    r"(?: phys=0x(?P<phys>[0-9a-f]{16}))?"
    r"(?P<words>(?: ioremap)?(?: sparse)?(?: vmalloc)?(?: vmap)?(?: user)?(?: dma-coherent)?)"
    r"(?P<vpages> vpages)?"
    r"(?P<numa>(?: N\d+=\d+)*)"
    r")$")


class VmallocInfoError(VmallocError):
    """A line that is not /proc/vmallocinfo; the message has its number and the reason."""


@dataclass(frozen=True)
class VmallocInfoLine:
    """One parsed line. ``kind`` is ``vm`` (an area with a vm_struct), ``vm_map_ram`` or ``unpurged``."""
    lineno: int
    start: int
    end: int
    size: int
    kind: str
    caller: str | None = None
    pages: int = 0
    phys: int = 0
    words: tuple[str, ...] = ()
    vpages: bool = False
    numa: tuple[tuple[int, int], ...] = ()

    @property
    def hashed(self) -> bool:
        """True when the addresses are %pK hashes (or zeros), not real kernel addresses."""
        return self.start < 1 << 32 and self.end < 1 << 32

    @property
    def flags(self) -> int:
        return sum(FLAG_BITS[w] for w in self.words)

    def key(self) -> tuple:
        """Everything but the addresses: what an import must reproduce."""
        return (self.kind, self.size, self.caller, self.pages, self.phys, self.words, self.vpages, self.numa)

    def format(self) -> str:
        """The line as the kernel printed it (byte for byte)."""
        if self.kind != "vm":
            return format_va_line(self.start, self.end, self.size,
                                  "unpurged vm_area" if self.kind == "unpurged" else "vm_map_ram")
        return format_area_line(self.start, self.end, self.size, self.caller, self.pages, self.phys,
                                self.words, self.vpages, self.numa)


@dataclass
class VmallocInfo:
    """The parsed file: its lines, in order."""
    lines: list[VmallocInfoLine] = field(default_factory=list)

    @property
    def hashed(self) -> bool:
        return any(line.hashed for line in self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self):
        return iter(self.lines)

    def counts(self) -> Counter:
        return Counter(line.key() for line in self.lines)


MAX_DIGITS = 20          # a u64 in decimal; longer numbers are not the kernel's


def _parse_line(lineno: int, text: str) -> VmallocInfoLine:
    m = LINE_RE.match(text)
    if m is None:
        raise VmallocInfoError(f"line {lineno}: does not match the vmallocinfo grammar: {text[:200]!r}")
    long = [g for g in ("size", "pages") if m[g] and len(m[g]) > MAX_DIGITS] + \
        [n for n in re.findall(r"=(\d+)", m["numa"] or "") if len(n) > MAX_DIGITS]
    if long:
        raise VmallocInfoError(f"line {lineno}: a number longer than {MAX_DIGITS} digits: {text[:200]!r}")
    start, end, size = int(m["start"], 16), int(m["end"], 16), int(m["size"])
    if size <= 0 or size % PAGE_SIZE:
        raise VmallocInfoError(f"line {lineno}: size {size} is not a positive multiple of {PAGE_SIZE}: {text!r}")
    numa = tuple((int(a), int(b)) for a, b in re.findall(r"N(\d+)=(\d+)", m["numa"] or ""))
    if [nid for nid, _ in numa] != sorted({nid for nid, _ in numa}) or any(n == 0 for _, n in numa):
        raise VmallocInfoError(f"line {lineno}: N<node>= counts must be non-zero, in ascending node order: {text!r}")
    pages = int(m["pages"] or 0)
    if numa and sum(n for _, n in numa) != pages:
        raise VmallocInfoError(f"line {lineno}: N<node>= counts add up to {sum(n for _, n in numa)}, "
                               f"not pages={pages}: {text!r}")
    line = VmallocInfoLine(
        lineno, start, end, size,
        "unpurged" if m["special"] == "unpurged vm_area" else (m["special"] or "vm"),
        m["caller"], pages, int(m["phys"] or "0", 16), tuple((m["words"] or "").split()),
        bool(m["vpages"]), numa)
    real_start, real_end = start >= 1 << 32, end >= 1 << 32
    if real_start != real_end:
        raise VmallocInfoError(f"line {lineno}: one address is hashed and the other is not: {text!r}")
    if not line.hashed and (end - start != size or start % PAGE_SIZE):
        raise VmallocInfoError(f"line {lineno}: end - start = {end - start} does not match size {size} "
                               f"or the start is not page aligned: {text!r}")
    if pages * PAGE_SIZE > size:
        raise VmallocInfoError(f"line {lineno}: pages={pages} do not fit in {size} bytes: {text!r}")
    return line


def parse_vmallocinfo(text: str) -> VmallocInfo:
    """Parse /proc/vmallocinfo text into typed records; raise VmallocInfoError on the first bad line."""
    if not isinstance(text, str):
        raise VmallocInfoError(f"expected the text of /proc/vmallocinfo, got {type(text).__name__}")
    # the kernel ends every line with "\n" and nothing else: split there only (str.splitlines would
    # also split at \x0c, \x85, \u2028 ... and number the lines wrong)
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    info = VmallocInfo([_parse_line(i, line) for i, line in enumerate(rows, 1)])
    if info.lines and len({line.hashed for line in info.lines}) > 1:
        raise VmallocInfoError("mixed hashed and real addresses: the file is not from one read")
    return info
