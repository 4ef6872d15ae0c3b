# SPDX-License-Identifier: MIT
"""The /proc/vmallocinfo line format: what ``vmalloc_info_show`` prints for each area.

Mirrors: the ``seq_printf`` calls of ``vmalloc_info_show``, ``show_numa_info`` and
``show_purge_info`` (kernel-model.md §4.10): the address range and size, the caller as ``%pS``
prints it, ``pages=``, ``phys=``, the flag words in the kernel's order, ``vpages``, the ``N<node>=``
counts; ``vm_map_ram`` and ``unpurged vm_area`` lines for VAs without a vm_struct.

One grammar for both directions: ``walks.py`` prints with these functions, and
``vmaplab.formats`` parses with the same tokens (:data:`FLAG_WORDS`, :data:`CALLER_PATTERN`).

Simplifications: addresses print as ``%pK`` does for root with ``kptr_restrict=1`` (the real
address, 16 hex digits).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .config import VM_ALLOC, VM_DMA_COHERENT, VM_IOREMAP, VM_MAP, VM_SPARSE, VM_USERMAP

if TYPE_CHECKING:
    from .area import VmStruct

# The flag words of a vmallocinfo line, in the order the kernel prints them (§4.10).
FLAG_WORDS = ((VM_IOREMAP, "ioremap"), (VM_SPARSE, "sparse"), (VM_ALLOC, "vmalloc"), (VM_MAP, "vmap"),
              (VM_USERMAP, "user"), (VM_DMA_COHERENT, "dma-coherent"))


def format_area_line(start: int, end: int, size: int, caller: str | None, nr_pages: int, phys_addr: int,
                     words: Iterable[str], vpages: bool, numa_counts: Iterable[tuple[int, int]]) -> str:
    """One ``/proc/vmallocinfo`` line of an area with a vm_struct, tokens in the kernel's order (§4.10)."""
    parts = [f"0x{start:016x}-0x{end:016x} {size:7d}"]
    if caller:
        parts.append(caller)
    if nr_pages:
        parts.append(f"pages={nr_pages}")
    if phys_addr:
        parts.append(f"phys=0x{phys_addr:016x}")
    parts.extend(words)
    if vpages:
        parts.append("vpages")
    parts.extend(f"N{nid}={n}" for nid, n in numa_counts if n)
    return " ".join(parts)


def format_vm_line(vm_struct: VmStruct, numa_counts: dict[int, int] | None) -> str:
    """The line of a live vm_struct (vm->addr, vm->addr + vm->size, vm->size, ...)."""
    v = vm_struct
    return format_area_line(v.addr, v.addr + v.size, v.size, v.caller, v.nr_pages, v.phys_addr,
                            [word for bit, word in FLAG_WORDS if v.flags & bit], v.vpages,
                            sorted(numa_counts.items()) if numa_counts else ())


def format_va_line(va_start: int, va_end: int, size: int, what: str) -> str:
    """A line of a VA without vm_struct: ``vm_map_ram`` or ``unpurged vm_area``."""
    return f"0x{va_start:016x}-0x{va_end:016x} {size:7d} {what}"


# A caller as %pS prints it: one token (symbol+0xoff/0xsize, or a raw address), then an
# optional " [module]"; never a word the rest of the line uses.
_KEYWORD = r"(?:pages=|phys=|(?:ioremap|sparse|vmalloc|vmap|user|dma-coherent|vpages|unpurged|vm_map_ram)(?:\s|$)|N\d+=)"
CALLER_PATTERN = rf"(?!{_KEYWORD})\S+(?: \[[^\]\s]+\])?"
CALLER_RE = re.compile(f"^{CALLER_PATTERN}$")
