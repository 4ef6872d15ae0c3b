# SPDX-License-Identifier: MIT
"""The two descriptors of a vmalloc area: ``struct vmap_area`` and ``struct vm_struct``.

Mirrors: struct vmap_area (kernel-model.md §2.1) and struct vm_struct (kernel-model.md §2.2),
get_vm_area_size(), encode_vn_id()/decode_vn_id() (kernel-model.md §3.4).

Invariants: a VmapArea is in exactly one container at a time (the free tree, a
node's busy or lazy tree, a pool, a purge/decay list, or none while in flight).
Its tree links (``left``/``right``/``parent``/``red``) and list links
(``prev``/``next``) are intrusive, as in the kernel, and belong to whichever
tree holds it.

Simplifications: the kernel overlays ``subtree_max_size`` and ``vm`` in a
union; here they are two fields, but the code still never reads one in the
other's context. ``VmStruct.pages`` holds page frame numbers (ints) and also
stands in for the page tables: it lists what is mapped even for vmap() areas
whose kernel ``nr_pages`` is 0.
"""
from __future__ import annotations

from .config import PAGE_SIZE, VM_FLAG_NAMES, VM_NO_GUARD


class VmapArea:
    """struct vmap_area: the range ``[va_start, va_end)`` plus tree/list links."""

    __slots__ = ("va_start", "va_end", "flags", "vm", "subtree_max_size",
                 "left", "right", "parent", "red", "prev", "next", "line")

    def __init__(self, va_start: int = 0, va_end: int = 0, flags: int = 0):
        self.va_start = va_start
        self.va_end = va_end
        self.flags = flags
        self.vm: VmStruct | None = None
        self.subtree_max_size = 0
        self.left: VmapArea | None = None
        self.right: VmapArea | None = None
        self.parent: VmapArea | None = None
        self.red = False
        self.prev: VmapArea | None = None
        self.next: VmapArea | None = None
        # The struct's cache line, as an observer of the trees models it (RBTree.observer); None
        # until one does. The kernel model never reads it: the struct's memory, not its contents.
        self.line: object = None

    @property
    def size(self) -> int:
        return self.va_end - self.va_start

    def __repr__(self) -> str:
        return f"VmapArea(va_start={self.va_start:#x}, va_end={self.va_end:#x}, flags={self.flags:#x})"


class VmStruct:
    """struct vm_struct: what was mapped, why, and by whom."""

    __slots__ = ("addr", "size", "flags", "pages", "nr_pages", "phys_addr", "caller",
                 "pages_array_addr", "vpages", "requested_size")

    def __init__(self, flags: int, caller: str | None):
        self.addr = 0
        self.size = 0            # includes the guard page unless VM_NO_GUARD
        self.flags = flags
        self.pages: list[int] = []
        self.nr_pages = 0
        self.phys_addr = 0
        self.caller = caller
        self.pages_array_addr: int | None = None   # the nested vmalloc holding the page array
        self.vpages = False                        # the page array lies in vmalloc space
        # the size the caller asked for (6.12 and 7.3 keep it for vrealloc, kernel-model.md §8);
        # None until __get_vm_area_node or setup_vmalloc_vm sets it
        self.requested_size: int | None = None

    def get_vm_area_size(self) -> int:
        """get_vm_area_size(): the usable size, i.e. without the guard page (§2.2)."""
        return self.size if self.flags & VM_NO_GUARD else self.size - PAGE_SIZE

    def flag_names(self) -> list[str]:
        return [name for bit, name in VM_FLAG_NAMES.items() if self.flags & bit]

    def __repr__(self) -> str:
        return (f"VmStruct(addr={self.addr:#x}, size={self.size:#x}, flags={'|'.join(self.flag_names()) or 0}, "
                f"nr_pages={self.nr_pages}, caller={self.caller!r})")


def encode_vn_id(node_id: int, nr_vmap_nodes: int) -> int:
    """encode_vn_id(): owner node id into va->flags bits 8+; 0 means "no owner" (§3.4)."""
    if node_id < nr_vmap_nodes:
        return (node_id + 1) << 8
    return 0


def decode_vn_id(flags: int, nr_vmap_nodes: int) -> int:
    """decode_vn_id(): owner node id, or nr_vmap_nodes when there is none (§3.4).

    The kernel subtracts 1 in 32-bit unsigned arithmetic, so an encoded 0 wraps
    to UINT_MAX and reads as "invalid" silently.
    """
    node_id = ((flags >> 8) - 1) & 0xFFFFFFFF
    return node_id if node_id < nr_vmap_nodes else nr_vmap_nodes
