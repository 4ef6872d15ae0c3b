# SPDX-License-Identifier: MIT
"""Which kernel lock: one record for a lock's identity, and the one place its printed name is made and read.

Mirrors the locks of mm/vmalloc.c a vmalloc or vfree takes (kernel-model.md §2.7): before 6.9 the
global ``vmap_area_lock`` (the busy tree), ``purge_vmap_area_lock`` (the lazy tree) and
``free_vmap_area_lock`` (the free space); from 6.9 each vmap node's ``busy.lock``, ``lazy.lock``
and ``pool_lock`` in place of the first two; in every version the ``vmap_purge_lock`` mutex around
a purge.

Lock events, the simulator's tables and ``--json`` carry a lock as its printed name (``vn[3].busy.lock``,
as a reader of the kernel source would write it). Code that needs to know *what* a lock is (its
kind, its node, the group its per-node siblings add up in) asks :meth:`LockId.parse`, which
refuses a name it does not know instead of guessing.

Invariants: ``LockId.parse(lock.name) == lock`` for every lock; a per-node lock has a node >= 0,
a global one none.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .errors import InvalidArgumentError
from .validate import check_int, shown

GLOBAL_LOCKS = ("vmap_area_lock", "purge_vmap_area_lock", "free_vmap_area_lock", "vmap_purge_lock")
NODE_LOCKS = {"busy": "busy.lock", "lazy": "lazy.lock", "pool": "pool_lock"}     # kind -> field of struct vmap_node


@dataclass(frozen=True)
class LockId:
    """A kernel lock: ``kind`` is a global lock's name or a per-node kind ("busy", "lazy", "pool");
    ``node`` is the vmap node of a per-node lock (None for a global one)."""
    kind: str
    node: int | None = None

    def __post_init__(self) -> None:
        if self.kind in GLOBAL_LOCKS:
            if self.node is not None:
                raise InvalidArgumentError(f"LockId: {self.kind} is global, so node must be None, got {shown(self.node)}")
        elif self.kind in NODE_LOCKS:
            check_int(self.node, f"LockId: node of a {self.kind} lock", 0)
        else:
            raise InvalidArgumentError(f"LockId: kind must be one of {', '.join(GLOBAL_LOCKS + tuple(NODE_LOCKS))}, "
                                       f"got {shown(self.kind)}")

    @property
    def name(self) -> str:
        """As the kernel source names it: ``vmap_area_lock``, ``vn[3].busy.lock``."""
        return self.kind if self.node is None else f"vn[{self.node}].{NODE_LOCKS[self.kind]}"

    @property
    def group(self) -> str:
        """The name with the node starred, so a table adds the per-node locks up: ``vn[*].busy.lock``."""
        return self.kind if self.node is None else f"vn[*].{NODE_LOCKS[self.kind]}"

    @property
    def family(self) -> str:
        """The name without its node: ``busy.lock``, ``pool_lock``, or a global lock's name."""
        return self.kind if self.node is None else NODE_LOCKS[self.kind]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def parse(name: str) -> LockId:
        """The lock a printed name means; an InvalidArgumentError for a name that is no lock of ours."""
        return _parse(name) if isinstance(name, str) else _refuse(name)


_BY_FIELD = {field: kind for kind, field in NODE_LOCKS.items()}


def _refuse(name: object) -> LockId:
    raise InvalidArgumentError(f"not a kernel lock's name: {shown(name)} (vmap_area_lock, vn[3].busy.lock, ...)")


@lru_cache(maxsize=4096)
def _parse(name: str) -> LockId:
    if name in GLOBAL_LOCKS:
        return LockId(name)
    head, _, field = name.partition("].")
    if head.startswith("vn[") and head[3:].isascii() and head[3:].isdigit() and field in _BY_FIELD \
            and str(int(head[3:])) == head[3:]:
        return LockId(_BY_FIELD[field], int(head[3:]))
    return _refuse(name)
