# %% [markdown]
# # 3 · Pools and decay
#
# **What you will learn:** how 6.9 recycles freed areas without the global free tree. Each node
# has 256 *pools*, one per size (1..256 pages, guard page included). At purge time, a freed area
# goes back to the pool of the node that allocated it; the next allocation of that size on that
# node's CPU takes it from the pool head, under the node's own lock. To keep pools from hoarding
# address space, each purge first **decays** every pool by 25% (pools shorter than 4 are
# emptied), and a shrinker drains them all under memory pressure.

# %%
import vmaplab
from vmaplab.course import figures as viz
from vmaplab.course.lessons import PoolsDemo
from vmaplab.course.widgets import PoolsApp

vmaplab.__version__

# %% [markdown]
# ## The script
# A 4-CPU 6.9 machine with pools of 1..8 pages (the kernel has 256; 8 fit on a screen):

# %%
# NBVAL_CHECK_OUTPUT
demo = PoolsDemo()
for f in demo.frames:
    total = f.hits + f.misses
    print(f"{f.step:2} {f.title:42} pooled {sum(map(sum, f.pools)):3}  hits {f.hits:3}/{total:3}  "
          f"lazy {f.lazy_pages:3}/{f.lazy_max}")

# %% [markdown]
# Here is the map after step 9: node 0's pool of 2-page areas (CPU 0's one-page allocations) and
# node 1's pool of 4-page areas, after the purge decayed the first by 25% and refilled both.

# %%
# NBVAL_IGNORE_OUTPUT
viz.pools_figure(demo.frames[9])

# %% [markdown]
# ## Step through it
# Each row is a node, each column a pool (VA size in pages). The log under the map shows the
# purge's work: `purge_vmap_node` moving lazy areas into their owners' pools, `decay` lines
# (25%, or everything for pools shorter than 4), the shrinker's full decay.

# %%
# NBVAL_IGNORE_OUTPUT
PoolsApp(demo)

# %% [markdown]
# ## The decay rule, read from the trace
# Every `decay` record says which pool, how long it was, how many went back to the free tree:

# %%
# NBVAL_CHECK_OUTPUT
for f in demo.frames:
    for node, idx, before, removed, full in f.decays:
        if before:
            rule = "full (shrinker)" if full else ("< 4: emptied" if before < 4 else "25%")
            print(f"step {f.step:2}: node {node} pool {idx + 1}: {before:2} -> {before - removed:2}   [{rule}]")

# %% [markdown]
# Note step 11: CPU 3's node has no pool of 4-page areas, so its allocations miss and go to the
# global free tree, even though node 1 has spare ones: pools are private to their node.
#
# ## Over the whole script

# %%
# NBVAL_IGNORE_OUTPUT
viz.pool_history_figure(demo.frames)

# %% [markdown]
# In the 64-thread benchmark the same mechanism serves most allocations from the pools: the
# simulator counts the allocator's pool hits (notebook 4 shows them with the contention).

# %% [markdown]
# ## Exercise: whose pool?
# An area is allocated on one CPU and freed on another: which node's pool gets it at the purge?
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask. Every problem is made and checked by the real allocator (or simulator), and
# `vmaplab exercises --kind pool-node --answers` prints a seeded sheet with its answer key.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("pool-node", seed=4)

# %% [markdown]
# ## What you learned
# - A purge puts each freed area of up to 256 pages into a size pool of the node it was allocated from.
# - Each purge decays every pool by a quarter (rounded down; 6.9 empties pools of 1-3 areas).
# - The shrinker and drop_caches empty the pools under memory pressure.
#
# **Next:** [04 · contention](04-contention.ipynb): what the nodes and pools do to 64 CPUs on the locks.
