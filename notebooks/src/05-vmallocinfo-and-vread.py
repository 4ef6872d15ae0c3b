# SPDX-License-Identifier: MIT
# %% [markdown]
# # 5 · `/proc/vmallocinfo` and `vread`
#
# **What you will learn:** how to read `/proc/vmallocinfo`, how 6.9 prints it node by node (busy
# areas, then lazily freed "unpurged" ones), and how `vread` (what `/proc/kcore` uses) copies
# bytes out of vmalloc space across areas, holes and guard pages. The file used here is a
# real capture from a Linux 6.18 machine, shipped in `data/`.

# %%
from pathlib import Path

import vmaplab
from vmaplab import PAGE_SIZE, Vmalloc, parse_vmallocinfo
from vmaplab.course import figures as viz

vmaplab.__version__

# %% [markdown]
# ## Parse the real capture

# %%
# NBVAL_CHECK_OUTPUT
from collections import Counter

text = Path("../data/vmallocinfo-linux-6.18-x86_64.txt").read_text()
info = parse_vmallocinfo(text)
print(f"{len(info.lines)} lines")
print(dict(Counter(ln.kind for ln in info.lines)))
callers = Counter(ln.caller.split("+")[0] for ln in info.lines if ln.caller)
print("most frequent callers:", callers.most_common(5))

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.vmallocinfo_callers_figure(info))

# %% [markdown]
# The many `unpurged vm_area` lines are lazily freed areas waiting for a purge: on a quiet
# machine they can sit there a long time, because the drain work runs only when `lazy_max_pages`
# worth of them piles up; otherwise only `vm_unmap_aliases` or an allocation that finds no room
# (`reclaim_and_purge_vmap_areas`) purges them (notebook 3).
#
# ## Rebuild a machine from it, and print it again
# `Vmalloc.from_vmallocinfo` builds a 6.9 machine whose areas reproduce the file's lines; its own
# `vmallocinfo()` must print the same lines (addresses aside: this capture's are hashed by `%pK`).

# %%
# NBVAL_CHECK_OUTPUT
vm = Vmalloc.from_vmallocinfo(text, nr_cpus=2)
again = vm.vmallocinfo()


def fields(line):
    return line.split(None, 2)[1:]          # drop the address range


same = Counter(map(tuple, map(fields, text.splitlines()))) == Counter(map(tuple, map(fields, again.splitlines())))
print(f"re-emitted {len(again.splitlines())} lines; same lines as a multiset, addresses aside: {same}")

# %% [markdown]
# ## vread across areas and holes
# A seeded scenario with recognisable page contents: each vmalloc area is filled with one letter.
# Reading across the start of an area shows zeros (the previous area's guard page, or a hole),
# then the area's bytes. To find the next area, `vread` scans every node's busy tree for the
# lowest area ending above the address (the areas of one stretch of addresses are spread over all
# nodes), then locks that area's node again to read it; hover over a byte in the figure to see
# which area (and node) it came from.

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.workloads.scenarios import build_scenario

vm = build_scenario("mixed", "6.9", seed=0, nr_cpus=4)
area = [va for va in vm.busy_areas() if va.vm is not None and va.vm.nr_pages][1]
addr = area.va_start - 32                                  # 32 bytes before the area starts
data = vm.vread(addr, 64)
print(f"vread({addr:#x}, 64):")
for off in range(0, 64, 16):
    print(f"  {addr + off:#x}  {data[off:off + 16].hex(' ')}")

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.vread_figure(vm, addr, 64))

# %% [markdown]
# ## This machine's own vmallocinfo
# The first lines of the seeded scenario's `/proc/vmallocinfo`, as 6.9 prints it. Note the order:
# 6.8 prints one sorted busy list, but 6.9 walks the vmap nodes one after the other (node 0's
# busy tree, then node 1's, ...), each in address order, so the addresses jump back down at each
# new node; the unpurged areas follow, node by node again. A tool that assumes a sorted file
# breaks on 6.9.

# %%
# NBVAL_CHECK_OUTPUT
print("\n".join(vm.vmallocinfo().splitlines()[:12]))

# %% [markdown]
# ## Exercise: what does vread return?
# A read across two live areas, a freed one and the guard pages between them: how many bytes come back non-zero?
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask. Every problem is made and checked by the real allocator (or simulator), and
# `vmaplab exercises --kind vread-zeros --answers` prints a seeded sheet with its answer key.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("vread-zeros", seed=6)

# %% [markdown]
# ## What you learned
# - `/proc/vmallocinfo` lists every area with its size, caller, pages and flags; vmaplab parses, rebuilds and re-emits it line for line.
# - In 6.9 the listing walks the nodes one by one, so it is not in address order across nodes.
# - `vread` copies only mapped pages of live areas: holes, guard pages and freed areas read as zeros.
#
# **Next:** [06 · experiments](06-experiments.ipynb): many runs, on Dask, with intervals.
