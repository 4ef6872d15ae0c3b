# SPDX-License-Identifier: MIT
"""An intrusive red-black tree of VmapArea keyed by ``va_start``, with its sorted list.

Mirrors: the kernel's ``struct rb_list`` pairing (an rb-tree plus an address-
sorted ``list_head``), ``find_va_links``/``link_va``/``unlink_va``,
``__find_vmap_area``, and for the augmented free tree
``augment_tree_propagate_from`` and the ``free_vmap_area_rb_augment_cb``
rotate callback (kernel-model.md §2.6).

Invariants (checked by :meth:`RBTree.check`):
  * binary-search order by ``va_start``, no two ranges overlap;
  * the root is black, no red node has a red child, every root-to-leaf path
    has the same number of black nodes (so depth <= 2*log2(n+1));
  * the ``prev``/``next`` list visits the nodes in tree order;
  * if ``augmented``: ``subtree_max_size`` = max(own size, children's values).

Counters: ``ops`` (searches started), ``visits`` (nodes read while searching)
and ``writes`` (nodes whose links, colour or cached value changed) accumulate
forever; the contention model prices critical sections from their deltas.

Observer (not a kernel mechanism): while ``observer`` is set, every node the
tree reads while searching is passed to ``observer.read(nodes)`` and every node
whose links, colour or cached value it changes to ``observer.write(*nodes)``.
The contention simulator attaches its cache-line model here for one lock hold
(``vmaplab.contention.cachelines``); the tree never interprets what the observer
does, and with ``observer`` None (the default) nothing is called.

Adopting a shape (not a kernel operation): :meth:`RBTree.adopt_shape` relinks the tree's own
nodes into a red-black tree given as a pre-order listing with colours, the shape a real kernel's
tree has (docs/oracle.md §4: the oracle reads it from the guest, since aligned searches depend
on it). It checks everything first and raises :class:`TreeShapeError` naming the problem,
changing nothing; the counters and the observer are left alone.

Simplifications: ``None`` leaves instead of a sentinel; no RCU-safe
publication of links.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from .area import VmapArea
from .errors import InvariantError, VmallocError


class TreeObserver(Protocol):
    """What ``RBTree.observer`` takes (the module docstring says when each is called)."""

    def read(self, nodes: Sequence[VmapArea]) -> None: ...

    def write(self, *nodes: VmapArea | None) -> None: ...


# A node the red-black rules guarantee is there (a rotated node's child, a red node's parent, a
# sibling on a path short of black nodes): RBTree.check proves the rules after every step of the
# property tests. Typed Any so the checker does not ask for a None test that lib/rbtree.c does not
# make either, and that would cost time in the tree's hottest code.
Node = Any


class OverlapError(InvariantError):
    """Raised by find_insert_pos when a range overlaps an existing one (carries both).

    Uncaught, it is an invariant violation: the trees never hold overlapping ranges.
    """

    def __init__(self, new: VmapArea, old: VmapArea):
        super().__init__(new, old)
        self.new, self.old = new, old


class TreeShapeError(VmallocError):
    """adopt_shape refused a shape (not the tree's nodes, not a search-tree pre-order, not red-black,
    or a cached subtree_max_size that disagrees): the message names the first problem; nothing changed."""


class NodeShape(NamedTuple):
    """One node of a shape given to :meth:`RBTree.adopt_shape`, in pre-order."""
    va: VmapArea
    red: bool
    subtree_max_size: int | None = None    # the value the shape's source cached, checked when given


def _sms(node: VmapArea | None) -> int:
    return node.subtree_max_size if node is not None else 0


def compute_subtree_max_size(node: VmapArea) -> int:
    """max(own size, left's and right's cached values) (compute_subtree_max_size)."""
    size = node.va_end - node.va_start
    left, right = node.left, node.right
    if left is not None and left.subtree_max_size > size:
        size = left.subtree_max_size
    if right is not None and right.subtree_max_size > size:
        size = right.subtree_max_size
    return size


class RBTree:
    """Red-black tree + sorted list of non-overlapping areas. O(log n) per operation."""

    __slots__ = ("root", "head", "tail", "count", "augmented", "name", "visits", "writes", "ops",
                 "observer")

    def __init__(self, name: str = "", augmented: bool = False):
        self.root: VmapArea | None = None
        self.head: VmapArea | None = None     # lowest address
        self.tail: VmapArea | None = None     # highest address
        self.count = 0
        self.augmented = augmented
        self.name = name
        self.visits = 0
        self.writes = 0
        self.ops = 0          # searches started (lookups, insert positions, lowest matches)
        self.observer: TreeObserver | None = None     # told of every node access (None: off)

    def note_write(self, *nodes: VmapArea) -> None:
        """Code outside the tree changed these nodes in place (a range clipped or merged, ``va->vm``
        bound): count them among the tree's writes and tell the observer, if any."""
        self.writes += len(nodes)
        if self.observer is not None:
            self.observer.write(*nodes)

    # -- reading ------------------------------------------------------------------
    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count != 0

    def __iter__(self) -> Iterator[VmapArea]:
        """Areas in ascending address order (walks the list). O(n)."""
        node = self.head
        while node is not None:
            nxt = node.next
            yield node
            node = nxt

    def __repr__(self) -> str:
        largest = _sms(self.root) if self.augmented else max((v.size for v in self), default=0)
        return f"<RBTree {self.name} areas={self.count} largest={largest:#x}>"

    def find(self, addr: int) -> VmapArea | None:
        """The area containing ``addr``, or None (__find_vmap_area). O(log n)."""
        self.ops += 1
        node = self.root
        observer = self.observer
        path: list[VmapArea] | None = [] if observer is not None else None
        visits = 0
        while node is not None:
            visits += 1
            if path is not None:
                path.append(node)
            if addr < node.va_start:
                node = node.left
            elif addr >= node.va_end:
                node = node.right
            else:
                break
        self.visits += visits
        if path and observer is not None:
            observer.read(path)
        return node

    def find_exceed(self, addr: int) -> VmapArea | None:
        """The lowest area with ``va_end > addr`` (find_vmap_area_exceed_addr). O(log n)."""
        self.ops += 1
        node, best = self.root, None
        while node is not None:
            self.visits += 1
            if self.observer is not None:
                self.observer.read((node,))
            if node.va_end > addr:
                best = node
                if node.va_start <= addr:
                    break
                node = node.left
            else:
                node = node.right
        return best

    # -- linking ------------------------------------------------------------------
    def find_insert_pos(self, va: VmapArea, start: VmapArea | None = None) -> tuple[VmapArea | None, bool]:
        """Where ``va`` would be linked: (parent, is_left). Raises OverlapError (find_va_links).

        ``start`` begins the descent at a subtree instead of the root; the caller
        guarantees ``va`` belongs below it (the NE-fit split does this).
        """
        self.ops += 1
        node = start if start is not None else self.root
        parent, is_left = None, False
        observer = self.observer
        path: list[VmapArea] | None = [] if observer is not None else None
        visits = 0
        while node is not None:
            visits += 1
            if path is not None:
                path.append(node)
            parent = node
            if va.va_end <= node.va_start:
                node, is_left = node.left, True
            elif va.va_start >= node.va_end:
                node, is_left = node.right, False
            else:
                self.visits += visits
                raise OverlapError(va, node)
        self.visits += visits
        if path and observer is not None:
            observer.read(path)
        return parent, is_left

    def link(self, va: VmapArea, parent: VmapArea | None, is_left: bool) -> None:
        """Link ``va`` at a position from find_insert_pos, rebalance, update the list."""
        va.parent, va.left, va.right, va.red = parent, None, None, True
        if self.observer is not None:
            self.observer.write(va, parent, parent.prev if is_left and parent is not None else
                       (parent.next if parent is not None else None))
        if parent is None:
            self.root = va
            va.prev = va.next = None
            self.head = self.tail = va
        elif is_left:
            parent.left = va
            prev = parent.prev
            va.prev, va.next = prev, parent
            parent.prev = va
            if prev is None:
                self.head = va
            else:
                prev.next = va
        else:
            parent.right = va
            nxt = parent.next
            va.prev, va.next = parent, nxt
            parent.next = va
            if nxt is None:
                self.tail = va
            else:
                nxt.prev = va
        self.count += 1
        self.writes += 2
        if self.augmented:
            va.subtree_max_size = va.va_end - va.va_start
            if parent is not None:
                self.propagate_from(parent)
        self._insert_fixup(va)

    def insert(self, va: VmapArea, start: VmapArea | None = None) -> None:
        """Link ``va`` in address order; OverlapError if it overlaps (insert_vmap_area)."""
        parent, is_left = self.find_insert_pos(va, start)
        self.link(va, parent, is_left)

    def erase(self, z: VmapArea) -> None:
        """Unlink ``z`` from tree and list, rebalance (unlink_va[_augment]). O(log n)."""
        prev, nxt = z.prev, z.next
        if self.observer is not None:
            self.observer.write(z, prev, nxt, z.parent, z.left, z.right)
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        # y is the node physically removed: z itself, or its in-order successor.
        y: Node = z if (z.left is None or z.right is None) else nxt
        x = y.left if y.left is not None else y.right
        xp = y.parent
        if x is not None:
            x.parent = xp
        if xp is None:
            self.root = x
        elif xp.left is y:
            xp.left = x
        else:
            xp.right = x
        y_was_red = y.red
        if y is not z:
            if xp is z:
                xp = y
            zp = z.parent
            y.parent, y.left, y.right, y.red = zp, z.left, z.right, z.red
            if zp is None:
                self.root = y
            elif zp.left is z:
                zp.left = y
            else:
                zp.right = y
            if y.left is not None:
                y.left.parent = y
            if y.right is not None:
                y.right.parent = y
        self.count -= 1
        self.writes += 3
        if self.augmented:
            # Every node whose subtree lost z lies on the path from xp to the root.
            node = xp
            while node is not None:
                node.subtree_max_size = compute_subtree_max_size(node)
                node = node.parent
        if not y_was_red:
            self._erase_fixup(x, xp)
        z.left = z.right = z.parent = z.prev = z.next = None

    def propagate_from(self, node: VmapArea | None) -> None:
        """Recompute subtree_max_size upwards, stopping when unchanged (augment_tree_propagate_from)."""
        while node is not None:
            new = compute_subtree_max_size(node)
            if node.subtree_max_size == new:
                break
            node.subtree_max_size = new
            self.writes += 1
            if self.observer is not None:
                self.observer.write(node)
            node = node.parent

    # -- red-black balancing ---------------------------------------------------------
    def _rotate_left(self, x: VmapArea) -> None:
        y: Node = x.right
        x.right = y.left
        if y.left is not None:
            y.left.parent = x
        xp = y.parent = x.parent
        if xp is None:
            self.root = y
        elif xp.left is x:
            xp.left = y
        else:
            xp.right = y
        y.left = x
        x.parent = y
        self.writes += 2
        if self.observer is not None:
            self.observer.write(x, y, x.right, xp)
        if self.augmented:
            # y now spans exactly the set x spanned; x lost y's right subtree.
            y.subtree_max_size = x.subtree_max_size
            x.subtree_max_size = compute_subtree_max_size(x)

    def _rotate_right(self, x: VmapArea) -> None:
        y: Node = x.left
        x.left = y.right
        if y.right is not None:
            y.right.parent = x
        xp = y.parent = x.parent
        if xp is None:
            self.root = y
        elif xp.right is x:
            xp.right = y
        else:
            xp.left = y
        y.right = x
        x.parent = y
        self.writes += 2
        if self.observer is not None:
            self.observer.write(x, y, x.left, xp)
        if self.augmented:
            y.subtree_max_size = x.subtree_max_size
            x.subtree_max_size = compute_subtree_max_size(x)

    def _insert_fixup(self, z: VmapArea) -> None:
        while True:
            p = z.parent
            if p is None or not p.red:
                break
            g: Node = p.parent
            if p is g.left:
                u = g.right
                if u is not None and u.red:
                    p.red = u.red = False
                    g.red = True
                    if self.observer is not None:
                        self.observer.write(p, u, g)
                    z = g
                    continue
                if z is p.right:
                    self._rotate_left(p)
                    z, p = p, z
                p.red = False
                g.red = True
                self._rotate_right(g)
            else:
                u = g.left
                if u is not None and u.red:
                    p.red = u.red = False
                    g.red = True
                    if self.observer is not None:
                        self.observer.write(p, u, g)
                    z = g
                    continue
                if z is p.left:
                    self._rotate_right(p)
                    z, p = p, z
                p.red = False
                g.red = True
                self._rotate_left(g)
        root: Node = self.root              # not None: z is in the tree
        root.red = False

    def _erase_fixup(self, x: VmapArea | None, xp: Node) -> None:
        while x is not self.root and (x is None or not x.red):
            if self.observer is not None:
                self.observer.write(xp, xp.left if x is xp.right else xp.right)
            if x is xp.left:
                w = xp.right
                if w.red:
                    w.red = False
                    xp.red = True
                    self._rotate_left(xp)
                    w = xp.right
                if (w.left is None or not w.left.red) and (w.right is None or not w.right.red):
                    w.red = True
                    x, xp = xp, xp.parent
                else:
                    if w.right is None or not w.right.red:
                        w.left.red = False
                        w.red = True
                        self._rotate_right(w)
                        w = xp.right
                    w.red = xp.red
                    xp.red = False
                    w.right.red = False
                    self._rotate_left(xp)
                    x = self.root
                    break
            else:
                w = xp.left
                if w.red:
                    w.red = False
                    xp.red = True
                    self._rotate_right(xp)
                    w = xp.left
                if (w.left is None or not w.left.red) and (w.right is None or not w.right.red):
                    w.red = True
                    x, xp = xp, xp.parent
                else:
                    if w.left is None or not w.left.red:
                        w.right.red = False
                        w.red = True
                        self._rotate_left(w)
                        w = xp.left
                    w.red = xp.red
                    xp.red = False
                    w.left.red = False
                    self._rotate_right(xp)
                    x = self.root
                    break
        if x is not None:
            x.red = False

    # -- adopting a shape (not a kernel operation) ------------------------------------
    def adopt_shape(self, preorder: Sequence[NodeShape]) -> None:
        """Relink this tree's own nodes into the red-black tree ``preorder`` lists (docs/oracle.md §4). O(n).

        ``preorder`` names every node of the tree exactly once, in pre-order (a node, then its left
        subtree, then its right), with its colour. Since a binary search tree's pre-order fixes its
        shape, the links follow; the colours must make it a red-black tree (root black, no red node
        with a red child, one black height). For an augmented tree ``subtree_max_size`` is recomputed
        and, where a node gives one, must equal it. Any problem raises :class:`TreeShapeError` before
        anything changes. The in-order sequence, hence the sorted list, is unchanged; the counters
        (``ops``, ``visits``, ``writes``) and the observer are not touched.
        """
        name = self.name or "tree"
        if len(preorder) != self.count:
            raise TreeShapeError(f"{name}: the shape has {len(preorder)} nodes, the tree {self.count}")
        mine = {id(va) for va in self}
        seen: set[int] = set()
        for i, ns in enumerate(preorder):
            if id(ns.va) not in mine:
                raise TreeShapeError(f"{name}: pre-order node {i} {ns.va!r} is not in the tree")
            if id(ns.va) in seen:
                raise TreeShapeError(f"{name}: pre-order node {i} {ns.va!r} is listed twice")
            seen.add(id(ns.va))
        # Links from the pre-order (the stack construction): a node is the right child of the last
        # node popped for being smaller, else the left child of the stack's top; every later node
        # must lie above the last one popped.
        left: dict[int, VmapArea] = {}
        right: dict[int, VmapArea] = {}
        parent: dict[int, VmapArea | None] = {}
        stack: list[VmapArea] = []
        floor: VmapArea | None = None
        for i, ns in enumerate(preorder):
            va = ns.va
            if floor is not None and va.va_start <= floor.va_start:
                raise TreeShapeError(f"{name}: not a search-tree pre-order: node {i} {va!r} comes after "
                                     f"{floor!r}'s right subtree began, but lies below it")
            popped = None
            while stack and stack[-1].va_start < va.va_start:
                popped = stack.pop()
            if popped is not None:
                right[id(popped)] = va
                parent[id(va)] = popped
                floor = popped
            elif stack:
                left[id(stack[-1])] = va
                parent[id(va)] = stack[-1]
            else:
                parent[id(va)] = None          # only the first node can have an empty stack and no pop
            stack.append(va)
        red = {id(ns.va): bool(ns.red) for ns in preorder}
        if preorder and red[id(preorder[0].va)]:
            raise TreeShapeError(f"{name}: the root {preorder[0].va!r} is red")
        # Red-black properties and the cached sizes, children before parents (reverse pre-order).
        black_height: dict[int, int] = {}
        sms: dict[int, int] = {}
        for ns in reversed(preorder):
            va, k = ns.va, id(ns.va)
            lc, rc = left.get(k), right.get(k)
            heights = {black_height[id(c)] if c is not None else 0 for c in (lc, rc)}
            if len(heights) != 1:
                raise TreeShapeError(f"{name}: unequal black heights {sorted(heights)} below {va!r}")
            if red[k] and any(c is not None and red[id(c)] for c in (lc, rc)):
                raise TreeShapeError(f"{name}: red node {va!r} has a red child")
            black_height[k] = heights.pop() + (0 if red[k] else 1)
            if self.augmented:
                size = va.va_end - va.va_start
                sms[k] = max(size, sms[id(lc)] if lc is not None else 0, sms[id(rc)] if rc is not None else 0)
                if ns.subtree_max_size is not None and ns.subtree_max_size != sms[k]:
                    raise TreeShapeError(f"{name}: {va!r} gives subtree_max_size {ns.subtree_max_size:#x}, "
                                         f"its subtree's largest block is {sms[k]:#x}")
        for ns in preorder:
            va, k = ns.va, id(ns.va)
            va.left, va.right, va.parent, va.red = left.get(k), right.get(k), parent[k], red[k]
            if self.augmented:
                va.subtree_max_size = sms[k]
        self.root = preorder[0].va if preorder else None

    def shape(self) -> list[NodeShape]:
        """The tree in pre-order with colours (and cached sizes when augmented): what adopt_shape takes. O(n)."""
        out: list[NodeShape] = []
        stack = [self.root] if self.root is not None else []
        while stack:
            va = stack.pop()
            out.append(NodeShape(va, va.red, va.subtree_max_size if self.augmented else None))
            if va.right is not None:
                stack.append(va.right)
            if va.left is not None:
                stack.append(va.left)
        return out

    # -- bulk --------------------------------------------------------------------------
    def detach_all(self) -> list[VmapArea]:
        """Empty the tree and return its areas in address order (list_replace_init). O(n)."""
        out = list(self)
        for va in out:
            va.left = va.right = va.parent = va.prev = va.next = None
        self.root = self.head = self.tail = None
        self.count = 0
        return out

    # -- verification ------------------------------------------------------------------
    def check(self) -> list[str]:
        """Every invariant of the module docstring; returns problems as text. O(n)."""
        problems: list[str] = []
        if self.root is not None and (self.root.red or self.root.parent is not None):
            problems.append(f"{self.name}: root is red or has a parent")
        inorder: list[VmapArea] = []
        black_heights: set[int] = set()
        stack: list[tuple[VmapArea, int, int]] = []   # (node, black count above, state)
        if self.root is not None:
            stack.append((self.root, 0, 0))
        while stack:
            node, blacks, state = stack.pop()
            if state == 0:
                blacks_here = blacks + (0 if node.red else 1)
                for child in (node.left, node.right):
                    if child is None:
                        black_heights.add(blacks_here)
                    elif child.parent is not node:
                        problems.append(f"{self.name}: bad parent link at {node!r}")
                    elif node.red and child.red:
                        problems.append(f"{self.name}: red node {node!r} has a red child")
                if self.augmented and node.subtree_max_size != compute_subtree_max_size(node):
                    problems.append(f"{self.name}: subtree_max_size {node.subtree_max_size:#x} "
                                    f"!= {compute_subtree_max_size(node):#x} at {node!r}")
                if node.va_end <= node.va_start:
                    problems.append(f"{self.name}: empty or inverted area {node!r}")
                stack.append((node, blacks, 1))
                if node.left is not None:
                    stack.append((node.left, blacks_here, 0))
            else:
                inorder.append(node)
                if node.right is not None:
                    stack.append((node.right, blacks + (0 if node.red else 1), 0))
            if len(problems) > 20:
                break
        if len(black_heights) > 1:
            problems.append(f"{self.name}: unequal black heights {sorted(black_heights)}")
        listed = list(self)
        if len(inorder) != self.count or len(listed) != self.count:
            problems.append(f"{self.name}: count {self.count}, tree {len(inorder)}, list {len(listed)}")
        elif any(a is not b for a, b in zip(inorder, listed)):
            problems.append(f"{self.name}: list order differs from tree order")
        for a, b in zip(listed, listed[1:]):
            if a.va_end > b.va_start:
                problems.append(f"{self.name}: {a!r} overlaps or precedes {b!r}")
                break
        if listed and (self.head is not listed[0] or self.tail is not listed[-1]):
            problems.append(f"{self.name}: head/tail pointers are stale")
        return problems
