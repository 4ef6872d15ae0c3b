# SPDX-License-Identifier: MIT
# %% [markdown]
# # 3 · Pools and decay
#
# **What you will learn:** how 6.9 recycles freed areas without the global free tree. Each node
# has 256 *pools*, one per size (1..256 pages, guard page included). At purge time, a freed area
# goes back to the pool of its owner, the node of the CPU that allocated it; the next allocation
# of that size on that node's CPU takes it from the pool head, under the node's own lock. To keep
# pools from hoarding address space, each purge first **decays** every pool by 25% (in 6.9 to
# 6.12 pools shorter than 4 are emptied; 7.3 leaves them), and a shrinker drains them all under
# memory pressure. First, what a `vfree` leaves for the purge to do.

# %%
import vmaplab
from vmaplab.course import figures as viz
from vmaplab.course.lessons import PoolsDemo
from vmaplab.course.widgets import PoolsApp

vmaplab.__version__

# %% [markdown]
# ## What lazy freeing defers
# `vfree` does most of its work at once: it unlinks the area from its busy tree, unmaps its page
# tables (without a TLB flush), parks the address range in its owner's lazy tree and frees the
# pages. Only two things wait for a purge: the **TLB flush** (other CPUs may still hold stale
# translations of the range) and the **reuse of the address range**, which must not be handed out
# while such translations may exist. One 8-page area on a 4-CPU 6.9 machine, allocated on CPU 1
# and freed on CPU 2:

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.course.lessons import lazy_free_demo, purge_triggers

d = lazy_free_demo(pages=8, alloc_cpu=1, free_cpu=2)
print(f"pages given back by the vfree itself: {d['pages_back_at_vfree']} of {d['pages']}")
print(f"still a busy area after the vfree: {d['mapped_after_vfree']}; vread of it: {d['read_after_vfree'].hex()}")
print(f"its range waits in node {d['lazy_node']}'s lazy tree: vmap_lazy_nr = {d['vmap_lazy_nr']} "
      f"(lazy_max_pages = {d['lazy_max_pages']})")
print(f"TLB flushes so far: {d['flushes_at_vfree']}; the same size on CPU 1 gets the old range back: "
      f"{d['reused_before_purge']}")
print(f"after a purge: {d['flushes_at_purge']} TLB flush; the same size on CPU 1 gets the old range back: "
      f"{d['reused_after_purge']}")

# %% [markdown]
# A purge runs from three places, each under `vmap_purge_lock`: the **drain work**, which a lazy
# free queues once `vmap_lazy_nr` passes `lazy_max_pages()` (it hands one node to a helper worker
# for each further `lazy_max_pages()` of lazy pages); **`vm_unmap_aliases`**, when a caller needs
# every stale alias gone now; and **an allocation that finds no room**, through
# `reclaim_and_purge_vmap_areas`, which purges with a full decay and pools nothing. Each on a
# small 4-CPU machine:

# %%
# NBVAL_CHECK_OUTPUT
for row in purge_triggers():
    print(f"{row['trigger']:19} lazy {row['lazy']:3} pages (lazy_max_pages {row['lazy_max_pages']:5}): "
          f"purges {row['purges']}, helpers {row['helpers']}, pooled after {row['pooled']:2}, "
          f"reclaim_and_purge {row['reclaims']}")

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
viz.show(viz.pools_figure(demo.frames[9]))

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
# ## The same rule on three real kernels
# "Shorter than 4: emptied" is what 6.9 to 6.15 do, and not by design: the decay computes how many
# areas to keep by subtracting from the pool's length in an unsigned count, which wraps for a short
# pool, so every area goes back to the free tree. Later kernels keep a short pool. Here is one
# scenario as three real kernels answered it, booted under QEMU by `vmaplab oracle` and recorded
# (`vmaplab oracle run all --kernel SERIES --record ...`: the answers ship with vmaplab, so this
# cell needs no QEMU), beside each kernel's own model: CPU 0 pools two 7-page areas, two purges
# run, then CPU 1 and CPU 0 each ask for two more.

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.course.lessons import recorded_generations

series, rows = recorded_generations("short-pool-across-purges")
print(f"{'#':>2} {'cpu':>3}  {'call':24}" + "".join(f"  {'Linux ' + s + ' (kernel = model)':32}" for s in series))
for r in rows:
    cells = [k[-5:] if k == m else f"{k[-5:]} but model {m[-5:]}" for k, m in (r.answers[s] for s in series)]
    print(f"{r.index:2} {r.cpu:3}  {r.call[:24]:24}" + "".join(f"  {c:32}" for c in cells))

# %% [markdown]
# (Addresses are shortened to their last five hex digits.) On 6.12 CPU 1 gets the two freed
# addresses: the second purge emptied CPU 0's pool of two into the free tree, where the lowest
# addresses go to whoever asks first. On 7.3 the pool survives, and CPU 0 gets its two areas back,
# newest first. 6.1 has no pools at all (the series came in 6.9): the first purge already returned
# both areas to the free tree. In every column the model of that kernel agrees with it, op for op;
# `tests/test_oracle_records.py` replays every recorded scenario this way on every test run.
#
# Note step 11: CPU 3's node has no pool of 4-page areas, so its allocations miss and go to the
# global free tree, even though node 1 has spare ones: pools are private to their node.
#
# ## Over the whole script

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.pool_history_figure(demo.frames))

# %% [markdown]
# In the 64-thread benchmark the same mechanism serves most allocations from the pools: the
# simulator counts the allocator's pool hits (notebook 4 shows them with the contention).
#
# ## The guard page, and the price of pooling address space
# Every vm_struct area (vmalloc, vmap, ioremap) gets one more page than asked, its **guard page**,
# which is never mapped: a write that runs past the end of the area faults there instead of
# silently landing in the next area. Two kinds of area have none: `vm_map_ram` mappings (a large
# one gets an area of exactly its size; small ones share per-CPU vmap blocks) and areas made with
# `VM_NO_GUARD`. With no guard, two areas can touch:

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.course.lessons import guard_demo, pool_price_demo

g = guard_demo()
print(f"vmalloc(1 page): a {g['vmalloc_va_pages']}-page VA; a write one byte past the page faults: {g['overrun_faults']}")
print(f"vm_map_ram({g['map_ram_pages']} pages): a {g['map_ram_va_pages']}-page VA; the next one starts right after it: "
      f"{g['adjacent']}; a write one byte past the first lands in the second: {g['overrun_lands_in_next']}")
print(f"get_vm_area(3 pages, VM_NO_GUARD): a {g['no_guard_va_pages']}-page VA")

# %% [markdown]
# Pooling has a price too: a pooled area is address space taken out of the free tree, where only
# its own node's CPUs at its own size can use it. A request of another size, or on another node,
# cannot, however many areas are pooled. That is why pools decay at every purge, why an allocation
# that finds no room purges with a **full decay** (every pool of every node back to the free tree)
# before it retries, and why the **shrinker** offers the pools to memory reclaim. A 64-page window
# on a 2-CPU machine, filled with one-page areas by CPU 0, freed and purged, then a 16-page request
# on CPU 1:

# %%
# NBVAL_CHECK_OUTPUT
p = pool_price_demo()
print(f"{p['areas']} areas pooled in node 0 ({p['pooled_pages']} of {p['window_pages']} pages); largest free block "
      f"left: {p['largest_free_pages']} page(s); the shrinker counts {p['shrinker_count']} pooled VAs")
print(f"16-page vmalloc on CPU 1: reclaim_and_purge_vmap_areas ran {p['reclaims']} time(s), the retry succeeded: "
      f"{p['retry_succeeded']}, pooled VAs left: {p['pooled_after']}")

# %% [markdown]
# ## Try your own calls
# Type calls, one per line (`a = vmalloc 8K cpu0`, `vfree a cpu1`, `purge`, `drop_caches`, `vmap 16K`,
# `vm_map_ram 8K`, `ioremap 8K`, ...; hover over the box for the grammar), pick a kernel, press
# **run**, then move **call** to step through them. Each call is narrated from the model's trace:
# which pool was tried and why it hit or missed, which free block the area was carved from and how,
# what a free left lazy, what a purge moved, decayed or merged; the figure shows the address space
# after that call. `vmaplab explain "..."` prints the same narration in a terminal, and
# `vmaplab exercises --from FILE` turns a list of calls into a problem with its answer.

# %%
from vmaplab.course.widgets import ExplainApp

ExplainApp()

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
# - `vfree` unmaps and frees the pages at once; the TLB flush and the reuse of the range wait for a purge,
#   which the drain work, `vm_unmap_aliases` or an allocation that finds no room starts.
# - A drain-work purge puts each freed area of up to 256 pages that has an owner into a size pool of its
#   owner node (the allocating CPU's); areas without an owner (requests that do not span the whole
#   window, e.g. modules) go back to the free tree, and so does everything on the allocation-failure purge.
# - Each purge first decays every pool by a quarter (rounded down; 6.9 to 6.12 empty pools of 1-3 areas).
# - Pooled address space is out of the free tree: a full decay on allocation failure and the shrinker
#   (and drop_caches) give it back.
#
# **Next:** [04 · contention](04-contention.ipynb): what the nodes and pools do to 64 CPUs on the locks.
