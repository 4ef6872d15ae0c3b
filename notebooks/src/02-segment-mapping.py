# %% [markdown]
# # 2 · Segment mapping: zones, nodes and `addr_to_node_id`
#
# **What you will learn:** how 6.9 decides which vmap node records a busy (or lazily freed)
# area: not by the CPU that asked, but by the **address**. The vmalloc space is cut into zones
# of 16 pages; zone *z* belongs to node *z mod nr_nodes*:
#
# ```c
# addr_to_node_id(addr) = (addr / zone_size) % nr_vmap_nodes
# ```
#
# `nr_vmap_nodes` is the number of possible CPUs, capped at 128.

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
viz.zone_figure(zone_nodes(nr_cpus=8, zone_pages=16, nr_zones=64))

# %% [markdown]
# ## Try it: CPUs, zone size, any address
# Drag **CPUs** past 128 to see the cap; change the zone size; type an address to see its node.

# %%
# NBVAL_IGNORE_OUTPUT
SegmentApp(nr_cpus=32)

# %% [markdown]
# ## The cap, in numbers

# %%
# NBVAL_CHECK_OUTPUT
for cpus in (1, 2, 8, 64, 128, 129, 256, 1024):
    print(f"{cpus:5} CPUs -> {zone_nodes(cpus, nr_zones=1)['nr_vmap_nodes']:4} vmap nodes")

# %% [markdown]
# ## Why shard by address? Balance.
# Let only **one CPU** of eight allocate 400 areas of 1..8 pages. If busy areas were recorded
# in the allocating CPU's node, node 0 would hold all of them and its lock would be as hot as the
# old global one. Sharded by address, they spread over all eight nodes, so the `vfree` calls
# that follow (from any CPU) take eight different locks:

# %%
# NBVAL_CHECK_OUTPUT
vm = sharding_workload(nr_cpus=8, nr_areas=400, seed=0, hot_cpus=1)
for row in busy_by_node(vm):
    print(f"node {row['node']}: {row['areas']:3} busy areas, {row['pages']:4} pages")

# %%
# NBVAL_IGNORE_OUTPUT
viz.node_balance_figure(busy_by_node(vm))

# %% [markdown]
# The zone size is a trade-off: large zones keep a multi-page area within one node (an area
# spanning zones is still recorded only by its start address), small zones interleave finer.
# 16 pages (64 KiB) holds most vmalloc areas whole. Notebook 4's what-if panel lets you change
# the zone size under 64 threads and see what it does to contention.

# %% [markdown]
# ## Exercise: which node records this address?
# Work out `addr_to_node_id` by hand: the zone of the address, counted round the nodes.
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask. Every problem is made and checked by the real allocator (or simulator), and
# `vmaplab exercises --kind zone-node --answers` prints a seeded sheet with its answer key.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("zone-node", seed=3)

# %% [markdown]
# ## What you learned
# - 6.9 cuts the vmalloc space into zones (16 pages by default) dealt round the nodes in turn.
# - An area is recorded in the busy tree of the node owning its start address's zone.
# - The node count is the possible CPUs, capped at 128; sharding by address balances the busy trees.
#
# **Next:** [03 · pools and decay](03-pools-and-decay.ipynb): where a freed area goes after the purge.
