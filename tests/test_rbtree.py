# SPDX-License-Identifier: MIT
"""The intrusive red-black tree against a sorted-list oracle (sortedcontainers' habit)."""
import bisect
import random

import pytest

from vmaplab import VmapArea
from vmaplab.kernel.rbtree import OverlapError, RBTree


@pytest.mark.parametrize("augmented", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_random_inserts_and_erases_keep_every_invariant(augmented, seed):
    r = random.Random(seed)
    tree, keys, by_key = RBTree("t", augmented=augmented), [], {}
    for step in range(4000):
        k = r.randrange(3000) * 16
        if k in by_key:
            tree.erase(by_key.pop(k))
            keys.remove(k)
        else:
            va = VmapArea(k, k + r.randint(1, 16))
            tree.insert(va)
            by_key[k] = va
            bisect.insort(keys, k)
        if step % 400 == 0:
            assert tree.check() == []
    assert tree.check() == []
    assert [v.va_start for v in tree] == keys and len(tree) == len(keys)
    for k in keys[:50]:
        assert tree.find(k) is by_key[k] and tree.find(k + by_key[k].size) is not by_key[k]
    probe = keys[len(keys) // 2] - 1
    assert tree.find_exceed(probe) is by_key[keys[len(keys) // 2 - 1]] or tree.find_exceed(probe).va_end > probe


def test_depth_is_logarithmic():
    tree = RBTree("t")
    for k in range(1 << 14):                         # sorted inserts: the worst case for a plain BST
        tree.insert(VmapArea(k * 2, k * 2 + 1))

    def depth(n):
        return 0 if n is None else 1 + max(depth(n.left), depth(n.right))
    assert depth(tree.root) <= 2 * 15


def test_overlap_is_refused_and_nothing_changes():
    tree = RBTree("t")
    tree.insert(VmapArea(10, 20))
    with pytest.raises(OverlapError):
        tree.insert(VmapArea(15, 25))
    assert [(v.va_start, v.va_end) for v in tree] == [(10, 20)]


def test_check_reports_a_corrupted_cache():
    tree = RBTree("t", augmented=True)
    for k in range(10):
        tree.insert(VmapArea(k * 10, k * 10 + 5))
    tree.root.subtree_max_size = 99
    assert any("subtree_max_size" in p for p in tree.check())
