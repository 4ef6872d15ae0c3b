# SPDX-License-Identifier: MIT
# %% [markdown]
# # 1 · The free tree: lowest match, `subtree_max_size`, and the four fit types
#
# **What you will learn:** how `alloc_vmap_area` finds the *lowest* free block that fits in
# O(log n), why every node stores `subtree_max_size`, how `va_clip` cuts the request out of the
# block (FL, LE, RE, NE), and how a freed range merges with its neighbours.
#
# This tree is global in both 6.8 and 6.9 (`free_vmap_area_root` under `free_vmap_area_lock`):
# the series did not shard it; it made most allocations *avoid* it (notebook 3).

# %%
import vmaplab
from vmaplab.course import figures as viz
from vmaplab.course.lessons import TREE_SCRIPT_128, FreeTreeDemo, free_tree_quiz
from vmaplab.course.widgets import FreeTreeApp, QuizApp

vmaplab.__version__

# %% [markdown]
# ## A 128-page window and a script
# The lesson runs the allocator's own free tree (`FreeSpace`: the augmented red-black tree,
# `find_vmap_lowest_match`, `va_clip`, `merge_or_add_vmap_area`) on a window of 128 pages.
# Each step is an allocation (pages, alignment) or a free: twenty areas, every other one freed
# (the tree grows to ten free blocks), then each fit type and merges:

# %%
# NBVAL_CHECK_OUTPUT
demo = FreeTreeDemo(128, TREE_SCRIPT_128)
for f in demo.frames:
    print(f"{f.step:2}  {f.title:32}  {f.outcome:30}  nodes read: {len(f.path)}")

# %% [markdown]
# The four fit types (from `va_clip`'s comment in mm/vmalloc.c, in our words):
#
# ```
#  FL  |<------- free block ------->|   the request takes it all: the block leaves the tree
#  LE  |<- request ->|<-- rest ---->|   left edge: the block's start moves up
#  RE  |<---- rest -->|<- request ->|   right edge: the block's end moves down
#  NE  |<-rest->|<- request ->|<rest>|   no edge: the block splits in two (needs a spare object)
# ```
#
# ## The picture of one step
# Step 33 asks for 2 pages aligned to 4: the search (orange) walks from the root, entering a
# subtree only if its `subtree_max_size` can hold `size + align - 1` (the adjusted length, used
# only because the alignment exceeds a page; a page-aligned request searches for its size); the chosen block (green) is
# split in two (NE), and the green box on the address line is where the request lands.

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.free_tree_figure(demo.frames[33], demo.pages, "before"))

# %% [markdown]
# ## Now step through it yourself
# Press **play**, or **step ▶**; switch between the search (the tree before the step, with the
# path) and the result (the tree after it). Frees show how `merge_or_add_vmap_area` coalesces.

# %%
# NBVAL_IGNORE_OUTPUT
FreeTreeApp(demo)

# %% [markdown]
# ## Why the lowest match is O(log n)
# Without `subtree_max_size`, finding the lowest block that fits needs a linear scan. Before
# Linux 5.2 (2019) there was no free tree or free list at all: `alloc_vmap_area` walked the list
# of *busy* areas looking for a hole big enough, starting from a cached hint. With the augmented
# free tree, the search descends left whenever the left subtree *can* hold the request, so it
# reads at most about two root-to-leaf paths. The benchmark
# `python benchmarks/bench_freetree.py` measures both on up to 10^6 areas; here is the number of
# tree nodes one search reads as the tree grows (the allocator's own counter):

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.course.lessons import lowest_match_cost

# n free holes of 1..3 pages: n 4-page slots allocated, a random part of each freed; then 3 pages asked for
for n in (10, 100, 1000, 10000):
    c = lowest_match_cost(n)
    print(f"{c['free_blocks']:6} free blocks: one lowest-match search read {c['visits']} nodes")

# %% [markdown]
# ## Quiz (OSTEP style)
# A seed makes a problem: a free window and a request. Work out where it lands and which fit type
# it is, then press **reveal answer**. Try other seeds: some requests *fail even though a block
# could hold them*; the answer explains why.

# %%
# NBVAL_CHECK_OUTPUT
q = free_tree_quiz(seed=1)
print(q.question)
print("(the answer: q.answer, or the reveal button below)")

# %%
# NBVAL_IGNORE_OUTPUT
QuizApp(seed=2)

# %% [markdown]
# ## Exercise: which address comes next?
# The same machinery on a 256-page space: the free tree's lowest fit, the guard page, and 6.9's pools in front of it.
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask. Every problem is made and checked by the real allocator (or simulator), and
# `vmaplab exercises --kind next-address --answers` prints a seeded sheet with its answer key.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("next-address", seed=2)

# %% [markdown]
# ## What you learned
# - The free tree finds the lowest fitting block in O(log n) by following `subtree_max_size`.
# - `va_clip` cuts a block four ways (FL, LE, RE, NE fit), and a free merges neighbours back.
# - An alignment above one page makes the search skip subtrees that cannot hold size + align - 1.
#
# **Next:** [02 · segment mapping](02-segment-mapping.ipynb): how 6.9 spreads the busy areas over its nodes.
