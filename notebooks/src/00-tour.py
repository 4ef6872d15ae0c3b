# SPDX-License-Identifier: MIT
# %% [markdown]
# # 0 · A tour of vmalloc, before and after the vmap nodes
#
# **What you will see in ten minutes:** how the kernel hands out virtual address ranges with
# `vmalloc`, why freeing is *lazy*, what a purge does, and how Linux 6.9's *vmap nodes* changed
# where a freed range goes next. Every number below is computed by vmaplab's allocator, a
# faithful model of `mm/vmalloc.c` in both versions; nothing is drawn by hand.
#
# The story: before 6.9, every `vmalloc` and `vfree` on every CPU went through global spinlocks,
# three of them: `vmap_area_lock` (the busy tree, taken twice by each vmalloc), `free_vmap_area_lock`
# (the free tree) and `purge_vmap_area_lock` (the lazy tree, taken by every lazy free). With 64
# threads the series' base kernel, 6.7-rc8 (the design 6.8 shipped), spent 93% of its time spinning
# on them. Uladzislau Rezki's series "mm: vmalloc: Mitigate a vmap lock contention" split the
# allocator into *vmap nodes*, one per possible CPU up to 128: the busy trees are split by address
# range (each node holds the areas that start in its share of the zones), while each node's lazy
# tree and pools of recycled ranges serve the areas its CPUs allocated; the same benchmark went
# from 10m51s to 51s. (These numbers are the cover letter's, parsed and printed further down.)
#
# Every notebook opens the same way: import the package, show its version.

# %%
import vmaplab
from vmaplab import PAGE_SIZE, Vmalloc
from vmaplab.course import figures as viz

vmaplab.__version__

# %% [markdown]
# ## Two machines, one workload
# Build the same 4-CPU machine twice: once as Linux 6.8 (global trees and locks), once as 6.9
# (one vmap node per possible CPU). Then allocate a few areas on different CPUs.

# %%
# NBVAL_CHECK_OUTPUT
machines = {v: Vmalloc(nr_cpus=4, version=v, seed=0) for v in ("6.8", "6.9")}
addrs = {}
for v, vm in machines.items():
    # 15 pages + the guard page = 64 KiB, exactly one zone; then a small one
    addrs[v] = [vm.vmalloc(n * PAGE_SIZE, cpu=i % 4, caller=f"tour+{i:#x}/0x40") for i, n in enumerate((1, 15, 15, 15, 15, 2))]
    print(f"Linux {v}: nr_vmap_nodes={vm.nr_vmap_nodes}, lazy_max_pages={vm.lazy_max_pages()}")
    for a in addrs[v]:
        print(f"   {a:#x}  ->  busy tree of node {vm.addr_to_node_id(a)}")

# %% [markdown]
# Both versions hand out the **same addresses**: the free space is one tree in both, searched
# for the lowest fit. What differs is *where the busy area is recorded*: in 6.8 one global busy
# tree (node 0 is the only one), in 6.9 the busy tree of the node that owns the address's
# 16-page (64 KiB) zone: consecutive zones belong to consecutive nodes. That spreads the
# busy-tree lock over all nodes.
#
# ## Free, lazily; purge; reuse
# `vfree` frees the pages at once but does not give the address range back: it parks it in a
# *lazy* tree, because making the range reusable needs a TLB flush on every CPU, which is
# expensive (notebook 3 shows what waits and what does not). When enough lazy pages pile
# up (`lazy_max_pages`), a purge flushes once and recycles them all.

# %%
# NBVAL_CHECK_OUTPUT
for v, vm in machines.items():
    a = addrs[v][0]
    vm.vfree(a, cpu=1)
    print(f"Linux {v}: after vfree, vmap_lazy_nr = {vm.vmap_lazy_nr} pages (waiting for a purge)")
    vm.purge(cpu=1)
    pooled = {vn.id: vn.pool_total() for vn in vm.nodes if vn.pool_total()}
    print(f"   after purge: lazy {vm.vmap_lazy_nr}, pooled VAs per node: {pooled or 'none: back in the free tree'}")
    again = vm.vmalloc(PAGE_SIZE, cpu=0)
    print(f"   vmalloc(PAGE_SIZE) on CPU 0 -> {again:#x}; pool hits so far: {vm.stats.pool_hits}")

# %% [markdown]
# The area was allocated on CPU 0 and freed on CPU 1. In 6.9 the purge put it into the pool of
# 2-page areas (one page plus the guard page) of **node 0, the node of the CPU that allocated it**
# ("a VA is returned to a node that did an alloc request", says the cover letter), and the next
# one-page `vmalloc` on CPU 0 took it straight from there: no global lock at all. In 6.8 it merged back into the global free tree, under the global `free_vmap_area_lock`.
#
# ## The address space, drawn
# Busy, lazy and pooled areas, coloured and numbered by node. Hover for addresses.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.workloads.scenarios import build_scenario

viz.show(viz.address_space_figure(build_scenario("mixed", "6.9", seed=0, nr_cpus=4)))

# %% [markdown]
# The same scenario in 6.8: one colour, because there is one (global) node.

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.address_space_figure(build_scenario("mixed", "6.8", seed=0, nr_cpus=4)))

# %% [markdown]
# ## Why it matters: 64 threads
# The cover letter ran `test_vmalloc.sh run_test_mask=7 nr_threads=64` on a 32-core Threadripper,
# before the series on its base, 6.7-rc8, which the course labels "6.8" (the same design).
# vmaplab's contention simulator runs the same workload on 64 simulated CPUs, through this very
# allocator, with FIFO queued spinlocks. Here, scaled down 20000× so it takes a few seconds (6 s
# on our 2-core test machine; machines and days vary by 2x). Notebook 4 goes step by step:

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.published import published
from vmaplab.contention.runs import run_pair
from vmaplab.course.browser import note, scaled

note("scaled down 40000x instead of 20000x: half the loops, a rougher sketch")
results = run_pair(nr_threads=64, scale=scaled(20000, 40000))
pub = published()
for v, r in results.items():
    print(f"Linux {v}: simulated {r.wall_s:7.1f} s, {r.slowpath_self_pct:5.1f}% in the spinlock slow path"
          f"   (cover letter{' on 6.7-rc8' if v == '6.8' else ''}: {pub[v]['wall_s']:.1f} s, "
          f"{pub[v]['slowpath_self_pct']:.2f}%)")
viz.show(viz.wall_figure(results, pub))

# %% [markdown]
# This run is scaled down 20000× (50 turns of each test loop instead of 10^6), so it is a
# sketch: its results move with the scale and the seed (the README has a table over scales and
# seeds; 6.8 comes closer to the published time at smaller scales). Nothing in the model was
# tuned to the cover letter: the costs come from hardware latencies and single-CPU timings, and
# each tree access is priced by whether another CPU wrote that cache line since. The direction
# and the size of the effect are already visible: notebook 4 shows where the time goes.

# %% [markdown]
# ## Exercise: which address comes next?
# Follow a few calls on a small 6.9 machine and predict where the next vmalloc lands: from a pool, or from the free tree.
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask. Every problem is made and checked by the real allocator (or simulator), and
# `vmaplab exercises --kind next-address --answers` prints a seeded sheet with its answer key.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("next-address", seed=1)

# %% [markdown]
# ## Where next
# 1. [`01-free-tree`](01-free-tree.ipynb): how the lowest fit is found in O(log n), and the four ways a block is cut.
# 2. [`02-segment-mapping`](02-segment-mapping.ipynb): zones, nodes and `addr_to_node_id`.
# 3. [`03-pools-and-decay`](03-pools-and-decay.ipynb): the pools, the 25% decay, the shrinker.
# 4. [`04-contention`](04-contention.ipynb): the 32-core contention, step by step.
# 5. [`05-vmallocinfo-and-vread`](05-vmallocinfo-and-vread.ipynb): a real `/proc/vmallocinfo`, imported and read back.
# 6. [`06-experiments`](06-experiments.ipynb): sweeps on a process pool and on Dask, predictions with intervals, other machines.
