# SPDX-License-Identifier: MIT
"""Nodes read per search per doubling of a tree, on vmaplab's trees (the [M] constants of ContentionCosts).

    python benchmarks/tree_visits.py

A scaled contention run prices each tree search as if the tree had its unscaled size: it adds
``per_level`` node reads per doubling. This prints that slope, measured between pairs of sizes,
next to the constants the model uses.
"""
from vmaplab.contention.costs import ContentionCosts, visits_per_level

if __name__ == "__main__":
    c = ContentionCosts()
    for tree, const in (("busy", c.busy_visits_per_level), ("interior", c.busy_private_visits_per_level),
                        ("free", c.free_visits_per_level)):
        for small, large in ((1000, 8000), (2000, 16000), (4000, 32000)):
            print(f"{tree:5s} {small:6d} -> {large:6d}: {visits_per_level(tree, small, large):5.2f} "
                  f"nodes per doubling (model: {const})")
