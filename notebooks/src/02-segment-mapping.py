# SPDX-License-Identifier: MIT
# %% [markdown]
# # 2 · Segment mapping: zones, nodes and `addr_to_node_id`
#
# **What you will learn:** how 6.9 decides which vmap node records a *busy* area: not by the CPU
# that asked, but by the **address**. The vmalloc space is cut into zones of 16 pages (a constant
# in the kernel); zone *z* belongs to node *z mod nr_nodes*:
#
# ```c
# addr_to_node_id(addr) = (addr / zone_size) % nr_vmap_nodes
# ```
#
# `nr_vmap_nodes` is the number of possible CPUs, capped at 128 on a 64-bit kernel (a 32-bit
# kernel has one node). A lazily freed area and a recycled one follow another rule, their
# *owner*, the node of the CPU that allocated them; the last section puts the three rules side
# by side.

# %%
import vmaplab
from vmaplab import PAGE_SIZE
from vmaplab.course import figures as viz
from vmaplab.course.lessons import busy_by_node, sharding_workload, zone_nodes
from vmaplab.course.widgets import SegmentApp

vmaplab.__version__

# %% [markdown]
# ## The first zones of an 8-CPU machine

# %%
# NBVAL_CHECK_OUTPUT
z = zone_nodes(nr_cpus=8, zone_pages=16, nr_zones=20)
print(f"nr_vmap_nodes = {z['nr_vmap_nodes']}, zone = {z['zone_size']:#x} bytes")
for i in range(0, 20, 5):
    addr = z["start"] + i * z["zone_size"]
    print(f"zone {i:3}  starts at {addr:#x}  -> node {z['node'][i]}")

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.zone_figure(zone_nodes(nr_cpus=8, zone_pages=16, nr_zones=64)))

# %% [markdown]
# ## Try it: CPUs, zone size, any address
# Drag **CPUs** past 128 to see the cap; type an address to see its node. The zone size control is
# a vmaplab what-if: the kernel's zone is always 16 pages; other sizes only change the arithmetic.

# %%
# NBVAL_IGNORE_OUTPUT
SegmentApp(nr_cpus=32)

# %% [markdown]
# ## The cap, in numbers
# (A 64-bit kernel; on a 32-bit one `vmap_init_nodes` keeps a single node whatever the CPUs.)

# %%
# NBVAL_CHECK_OUTPUT
for cpus in (1, 2, 8, 64, 128, 129, 256, 1024):
    print(f"{cpus:5} CPUs -> {zone_nodes(cpus, nr_zones=1)['nr_vmap_nodes']:4} vmap nodes")

# %% [markdown]
# ## Why shard by address? Balance.
# Let only **one CPU** of eight allocate 400 areas of 1..8 pages. If busy areas were recorded
# in the allocating CPU's node, node 0 would hold all of them and its lock would be as hot as the
# old global one. Sharded by address, they spread over all eight nodes, so the `vfree` calls
# that follow (from any CPU) take eight different *busy* locks to unlink them. (Their lazy frees
# do not spread: every one takes node 0's *lazy* lock, as the routing section below counts.)

# %%
# NBVAL_CHECK_OUTPUT
vm = sharding_workload(nr_cpus=8, nr_areas=400, seed=0, hot_cpus=1)
for row in busy_by_node(vm):
    print(f"node {row['node']}: {row['areas']:3} busy areas, {row['pages']:4} pages")

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.node_balance_figure(busy_by_node(vm)))

# %% [markdown]
# An area that spans zones is still recorded only by its start address. The kernel fixes the
# zone at 16 pages (64 KiB); other sizes exist only as vmaplab what-ifs: the control above, and
# notebook 4's what-if panel, which runs 64 threads with another zone size.
#
# ## The three routing rules, side by side
# An area meets three rules in its life (read in `mm/vmalloc.c` of 6.12 and 7.3; the model
# mirrors 6.9):
#
# 1. **Busy tree: by address.** `alloc_vmap_area` inserts the area into the busy tree of
#    `addr_to_node(va_start)`, whatever CPU asked. That balances the busy trees and their locks.
# 2. **Lazy tree and pool: by owner.** `node_alloc` records the allocating CPU's node in the
#    area's flags (only for requests that span the whole vmalloc window; others have no owner).
#    `free_vmap_area_noflush` puts the freed area into that node's lazy tree, whichever CPU frees
#    it, and the purge (`purge_vmap_node`) puts it into that node's pool: recycling goes back to
#    the CPU that asked for that size. Without an owner, the lazy tree is the address's node and
#    the purge returns the area to the free tree.
# 3. **Pool lookup: by the current CPU.** `node_alloc` looks only in the pools of the node of the
#    CPU that is allocating now.
#
# One run shows all three: CPU 0 of 8 allocates 64 areas, CPU 5 frees them all, a purge runs,
# then CPU 5 and CPU 0 each ask for eight of the same sizes.

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.course.lessons import routing_demo

d = routing_demo(nr_cpus=8, nr_areas=64, alloc_cpu=0, free_cpu=5, seed=0)
print("node  busy  vfree's busy-lock holds   lazy  vfree's lazy-lock holds   pooled")
for row in d["rows"]:
    print(f"{row['node']:4} {row['busy']:5} {row['busy_locks']:14} {row['lazy']:15} {row['lazy_locks']:14} "
          f"{row['pooled']:17}")
for cpu, look in d["lookups"].items():
    print(f"CPU {cpu} (node {look['node']}) asks for {look['asked']} areas: {look['hits']} from its node's pools")
probe = d["probe"]
print(f"find_vmap_area({probe['addr']:#x}): the area starts in node {probe['busy_node']}'s zone, the address "
      f"is in node {probe['addr_node']}'s; busy trees locked: {probe['probes']} ({', '.join(probe['locks'])})")

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.routing_figure(d))

# %% [markdown]
# What follows from the rules:
#
# - **One hot allocating CPU concentrates lazy-lock traffic on its node.** The vfrees' busy-lock
#   holds are spread over all eight nodes, but every lazy insert took node 0's lazy lock, because
#   CPU 0 allocated every area; which CPU freed them does not matter.
# - **The pools serve the CPU that asked for that size.** After the purge, CPU 0's requests come
#   from node 0's pools; CPU 5's node has none, so its requests go to the global free tree.
# - **Looking up an interior address may probe other nodes.** `find_vmap_area` starts at the node
#   of the address's zone and walks on node by node, each under its busy lock; an area's start
#   is the only address guaranteed to be found at the first probe. Above, the last byte of an
#   area that crosses into the next zone made the lookup walk all the way round.

# %% [markdown]
# ## Exercise: which node records this address?
# Work out `addr_to_node_id` by hand: the zone of the address, counted round the nodes. (Some
# problems use 8- or 32-page zones: a vmaplab what-if, to practise the arithmetic.)
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask. Every problem is made and checked by the real allocator (or simulator), and
# `vmaplab exercises --kind zone-node --answers` prints a seeded sheet with its answer key.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("zone-node", seed=3)

# %% [markdown]
# ## Exercise: busy, lazy, pool
# An area is allocated on one CPU and freed on another; a purge follows. Which node's busy tree held
# it, which node's lazy tree took it, which node's pool holds it now? The three rules above.
# `vmaplab exercises --kind routing --answers` prints a seeded sheet with its answer key.

# %%
ExerciseApp("routing", seed=5)

# %% [markdown]
# ## What you learned
# - 6.9 cuts the vmalloc space into zones of 16 pages (fixed in the kernel) dealt round the nodes in turn.
# - A busy area is recorded in the busy tree of the node owning its start address's zone.
# - The node count is the possible CPUs, capped at 128 (64-bit kernels); sharding by address balances the busy trees.
# - A lazily freed area goes to its owner's lazy tree and, at the purge, its owner's pool (the allocating
#   CPU's node); an allocation looks only in its own CPU's node's pools.
#
# **Next:** [03 · pools and decay](03-pools-and-decay.ipynb): where a freed area goes after the purge.
