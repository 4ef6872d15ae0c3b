# SPDX-License-Identifier: MIT
"""vmap nodes: the per-CPU shards of the 6.9 design (and the one global "node" of 6.8).

Mirrors: ``struct vmap_node``, ``struct vmap_pool``, ``struct rb_list``
(kernel-model.md §2.4), ``addr_to_node_id``/``id_to_node`` (§3.4) and the pool index
(§3.5).

Invariants:
  * a busy VA sits in ``nodes[addr_to_node_id(va_start)].busy``;
  * a lazy VA sits in the lazy tree of its owner node (``decode_vn_id``), or of
    its address node when it has no owner;
  * ``pool[i]`` holds only VAs of exactly ``i+1`` pages, owned by this node;
    ``pool[i].len`` equals the number of VAs on its list between operations.

In 6.8 (no series) there is one pseudo-node: its ``busy`` is the global
``vmap_area_root`` under ``vmap_area_lock``, its ``lazy`` the global
``purge_vmap_area_root`` (where lazily freed VAs *merge*), and it has no pools.

Simplifications: the pool's ``len`` is a plain int (READ_ONCE/WRITE_ONCE in
the kernel); ``purge_work`` is not an object: helpers are recorded in traces.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from .area import VmapArea
from .locks import LockId
from .rbtree import RBTree


class VmapPool:
    """struct vmap_pool: a LIFO list of same-size VAs (head = most recently added)."""

    __slots__ = ("va_list", "len")

    def __init__(self) -> None:
        self.va_list: deque[VmapArea] = deque()
        self.len = 0

    def __len__(self) -> int:
        return len(self.va_list)

    def __iter__(self) -> Iterator[VmapArea]:
        return iter(self.va_list)

    def __bool__(self) -> bool:
        return bool(self.va_list)

    def __repr__(self) -> str:
        return f"<VmapPool len={self.len}>"


class VmapNode:
    """struct vmap_node: busy and lazy trees, size-segregated pools, purge state."""

    def __init__(self, node_id: int, nr_pools: int, per_node: bool):
        self.id = node_id
        if not per_node:            # before 6.9: the one global busy tree and purge tree
            self.busy = RBTree("vmap_area_root")
            self.lazy = RBTree("purge_vmap_area_root")
            self.busy_lock = LockId("vmap_area_lock").name
            self.lazy_lock = LockId("purge_vmap_area_lock").name
        else:
            self.busy = RBTree(f"vn[{node_id}].busy")
            self.lazy = RBTree(f"vn[{node_id}].lazy")
            self.busy_lock = LockId("busy", node_id).name
            self.lazy_lock = LockId("lazy", node_id).name
        self.pool_lock = LockId("pool", node_id).name
        self.pool = [VmapPool() for _ in range(nr_pools)]
        self.skip_populate = False
        self.purge_list: list[VmapArea] = []
        self.nr_purged = 0

    def pool_total(self) -> int:
        """Sum of the pools' ``len`` (what the shrinker counts for this node)."""
        return sum(p.len for p in self.pool)

    def __repr__(self) -> str:
        return (f"<VmapNode {self.id} busy={len(self.busy)} lazy={len(self.lazy)} "
                f"pooled={self.pool_total()}>")
