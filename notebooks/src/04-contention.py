# SPDX-License-Identifier: MIT
# %% [markdown]
# # 4 · The 32-core contention, step by step
#
# **What you will learn:** what 64 threads of `test_vmalloc` actually do on the cover letter's
# 32-core Threadripper, CPU by CPU and nanosecond by nanosecond, before and after the series; why
# 93% of the time went into `native_queued_spin_lock_slowpath` before and about 16% after; and
# which knobs matter.
#
# How the simulator works, in one paragraph: 64 simulated CPUs run `lib/test_vmalloc.c` workers
# (`run_test_mask=7`: fix_size, full_fit, long_busy). Each allocator call runs through vmaplab's
# real allocator; the locks it takes, and the tree nodes it visits and writes, become critical
# sections priced by a documented cost model (`vmaplab.contention.costs`, each constant with its
# source): a node whose cache line this CPU holds costs a cache hit, one another CPU wrote since
# costs a cache-line transfer across the chip. A discrete-event engine replays them on FIFO queued spinlocks. The run is scaled down
# by a factor *s* (1/s of the loops); times are reported in real-equivalent seconds.

# %%
import vmaplab
from vmaplab.course import figures as viz
from vmaplab.contention.published import published
from vmaplab.contention.runs import run_pair
from vmaplab.course.widgets import ContentionApp, WhatIfApp, profile_tables

vmaplab.__version__

# %% [markdown]
# ## Run both versions, recording a window of the timeline
# 32 threads on the 32-core machine model, scale 20000, with every CPU's state recorded between
# 100 and 130 µs of simulated time:

# %%
# NBVAL_IGNORE_OUTPUT
window = (100, 130)
results = run_pair(nr_threads=32, scale=20000, window_us=window)
for v, r in results.items():
    print(f"Linux {v}: {r.wall_s:6.1f} s real-equivalent, slow path {r.slowpath_self_pct:4.1f}% of CPU time, "
          f"{len(r.timeline)} timeline records")

# %% [markdown]
# ## The timeline
# One row per CPU. Light grey is allocator work outside locks, dark grey page work (allocating,
# clearing, mapping pages), black a TLB-flush IPI. Each lock has its own colour: **hatched** while
# a CPU spins on it, **solid** while the CPU holds it (its critical section, "cs" for short). In 6.8
# nearly every CPU waits in one queue for `vmap_area_lock` or `free_vmap_area_lock`: each holder
# passes the lock on (FIFO), and the next one spins until then. In 6.9 the waits are short and
# spread over many per-node locks, and most time is page work.

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.timeline_figure(results, window[0] * 1e3, window[1] * 1e3))

# %% [markdown]
# ### Step by step
# The cursor starts a quarter of the way in. Press **play** to reveal the rest as it happens (drag
# **time** back to the start to replay from there), or **step ▶** to advance the cursor by a
# quarter of a microsecond; the line above the figure counts what the CPUs are doing at the
# cursor. **window µs** zooms onto the last part of the timeline before the cursor.

# %%
# NBVAL_IGNORE_OUTPUT
app = ContentionApp(results, window_us=window)
app.go(len(app.times) // 4)
app

# %% [markdown]
# ## The perf-like tables, next to the cover letter's
# The simulator keeps a profile by static call path (the kernel's symbol names), so it can print
# `perf report --children`-style tables. The cover letter's tables are parsed from its text
# (`vmaplab/data/cover-letter-v3.txt`).

# %%
# NBVAL_IGNORE_OUTPUT
tables = profile_tables(results)
viz.show(tables["6.8"])

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(tables["6.9"])

# %% [markdown]
# ## The locks
# Which locks the CPUs wait for: acquisitions (real-equivalent), how many found the lock taken,
# the mean wait of those, the mean hold; and the slow path's share split by lock (6.9's 64
# nodes × 3 locks, busy, lazy and pool, added up by kind). The last line is not a lock: every lazy free adds its pages to the
# global counter `vmap_lazy_nr` with one atomic instruction, which must first bring that cache
# line over from the CPU that updated it last. 6.9 did not change that counter.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.profile import format_atomics, format_spin_split

viz.show(viz.locks_table_figure(results))

# %%
# NBVAL_IGNORE_OUTPUT
for v, r in results.items():
    print(f"Linux {v}: {format_spin_split(r.locks, r.busy_ns)}")
    print("   " + "\n   ".join(format_atomics(r.atomics, r.busy_ns)))

# %% [markdown]
# ## Why a critical section is long
# Each critical section's hold time comes from the tree nodes it read and wrote, and from where
# their cache lines were: a line this CPU already holds costs a few ns, a line another CPU wrote
# since must travel to this one (94 ns between the 3970X's core complexes). In 6.8 every CPU
# writes the same global trees, so most lines a holder touches were just written elsewhere;
# in 6.9 the busy trees are split over the nodes and most allocations never touch the free tree.

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(viz.sections_table_figure(results))

# %% [markdown]
# ## Threads: from 1 to 64
# The v1 cover letter measured µs per 1-page vmalloc/vfree pair per job (`fix_size_alloc_test`) for
# 1..32 jobs. The simulator, same workload (`run_test_mask=1`), scale 2000, n jobs on the 64-CPU
# machine where an idle machine's scheduler puts them (one per core complex first, so two jobs
# already pass every cache line across the chip). v1's "after" is an
# older design (per-CPU zones), so it is a reference shape, not a target. At this scale a 64-job
# run holds a single purge, whose locked work (returning decayed pool areas to the free tree)
# delays the one CPU that runs it, so 6.9's last point is high; the README's sweep at scale 500
# (four times longer) is flatter there. The sweep is 14 runs, about 25 s on our 2-core test machine;
# the bar shows how far it is.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.runs import threads_sweep
from vmaplab.course.browser import note, scaled
from vmaplab.course.progress import progress

note("scale 8000 instead of 2000: a quarter of the loops, so the points are noisier")
rows = [{"threads": p.jobs, **p.us_per_pair, "v1 before": p.v1_before, "v1 after": p.v1_after}
        for p in threads_sweep(scale=scaled(2000, 8000), progress=progress)]
viz.show(viz.sweep_figure(rows, "threads", {"6.8": "6.8 simulated", "6.9": "6.9 simulated", "v1 before": "v1 letter: before",
                                   "v1 after": "v1 letter: after (v1 design)"},
                 "µs per vmalloc/vfree pair per job, 1 to 64 jobs", "µs", log_y=True))

# %% [markdown]
# ## What if?
# Change one thing and run both versions again (scale 20000: about 4 s a run on our 2-core test
# machine; the button is disabled while it runs): the number of 6.9
# nodes (1 node: 6.9 behaves like 6.8), the zone size, the pools (off: most of the gain goes) and
# the largest size they keep, the cost of clearing a page, or test-and-set spinlocks instead of
# queued ones.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.course.browser import note, scaled

note("the what-if runs at scale 40000 instead of 20000")
whatif = WhatIfApp(scale=scaled(20000, 40000), nr_threads=32)
whatif.run()
whatif

# %% [markdown]
# The result of the default settings, as a static figure (what the panel above shows before you
# change anything):

# %%
# NBVAL_IGNORE_OUTPUT
viz.show(whatif.static())

# %% [markdown]
# ## How close is it? The published numbers
# The headline comparison at scale 1000 takes about half a minute on two cores with the compiled
# speedups that `scripts/lab.sh` builds, under a minute from source (`vmaplab simulate
# run_test_mask=7 nr_threads=64 --jobs 2`; docs/results.md gives the times of
# `benchmarks/bench_contention.py`); the README gives its results, over scales and seeds,
# with their error against these published values:

# %%
# NBVAL_CHECK_OUTPUT
pub = published()
for v in ("6.8", "6.9"):
    print(f"Linux {v}: {pub[v]['wall_s']:.3f} s, native_queued_spin_lock_slowpath self {pub[v]['slowpath_self_pct']}%")
print(f"ratio {pub['ratio']:.2f}x")

# %% [markdown]
# ## What is left after the series
# The letter's 6.9 profile still spends about a sixth of its time in the slow path. Which locks?
# The letter cannot say: it has no call graph, and its stacks are cut short (its
# `long_busy_list_alloc_test` has 82% children under a `test_func` with 8%, which no complete
# stack allows). What it does show: `_raw_spin_lock`'s children (19.51% minus its 2.43% self)
# cover the whole slow path, so the spinning is on locks taken with plain `spin_lock`, vmalloc's
# own (the page allocator's `zone->lock` is taken with `spin_lock_irqsave`). And `insert_vmap_area`
# alone has 8.7% self time: inserting into a busy tree is slow.
#
# The model's answer, from one 6.9 run (64 threads, scale 8000, a few seconds): the slow path
# split by lock, and why a busy-tree section is long. A busy tree of the real run holds about
# 15,000 areas per node, and the areas a CPU recycles through its pools sit among them. Each
# `long_busy_list_alloc_test` iteration clears 101 pages, 404 KiB, through its core's 512 KiB L2,
# and its complex's 8 CPUs push about 3 MiB an iteration through their 16 MiB L3. So when a CPU
# inserts an area it last used a purge interval ago (about nine iterations: a purge comes every
# 57,344 lazily freed pages, and each of the 64 CPUs frees 103 an iteration), the part of the tree
# on that area's own path has left its caches: those nodes come from memory, one after the other
# (contention-model.md §6.4, §6.5). The lookup in `vfree` comes a few hundred KiB later and finds
# them still in the L2. The columns: the mean hold; per hold, the tree nodes the scaled run read and
# how many came from another CPU; and, per hold, how many searches had their own path still in the
# L2, in the L3, or only in memory (the levels the scaled tree lacks, priced that way).

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.compare import compare_profile, format_comparison
from vmaplab.contention.sim import ContentionSim

after = ContentionSim("6.9", nr_threads=64, scale=scaled(8000, 40000), seed=1).run()
print(f"Linux 6.9: {after.wall_s:.1f} s real-equivalent, slow path {after.slowpath_self_pct:.2f}%")
print(format_spin_split(after.locks, after.busy_ns))
print("  section (lock)                             mean hold ns  nodes  other CPU   own path: L2    L3  memory")
for sec in after.sections[:5]:
    own = sec["own_path"]
    print(f"  {sec['section'] + ' (' + sec['lock'] + ')':<42} {sec['mean_hold_ns']:>12.0f} {sec['nodes_read']:>6.1f} "
          f"{sec['lines_from_other_cpus']:>10.1f} {own['l2']:>14.2f} {own['l3']:>5.2f} {own['memory']:>7.2f}")

# %% [markdown]
# ### Symbol by symbol
# The same run against the letter's after table, every symbol of both tables: the letter's
# children and self, the model's, and the difference, starred where it is more than 5 points off
# (3 under 10%). `vmaplab simulate run_test_mask=7 nr_threads=64 --compare-profile` prints it for
# the headline run; docs/results.md keeps it with the intervals of the uncertainty runs. Read the
# stars as what the model still lacks: the thread-entry rows (`kthread`, `test_func`) are the
# letter's cut stacks, the rest are the model's own misses, listed with their evidence in
# docs/results.md.
#
# How sure is the model? docs/results.md also gives each of these numbers as a 5-95% interval over
# 64 samples of every cost constant in its documented range (`vmaplab sweep
# experiments/uncertainty-headline.toml`), and what the model predicts for 64 and 128 threads on the
# 128-CPU EPYC 7713 preset (`experiments/uncertainty-epyc.toml`), where 6.9 still has one global
# lock, `free_vmap_area_lock`, for every pool miss and every decayed area.

# %%
# NBVAL_IGNORE_OUTPUT
print("\n".join(format_comparison(compare_profile(after.profile, "6.9"))))

# %% [markdown]
# ### In seconds: which symbols the missing time belongs to
# Shares can agree while the walls do not. Multiply each share by its run's wall and you get the
# seconds an average CPU spent there: the letter's (its share times 51.30 s) beside the model's.
# The column to read is the difference. In the model the one-page tests take about the letter's
# time; what 6.9 lacks sits inside `long_busy_list_alloc_test`, in the page work (clearing,
# freeing) and in spinning. docs/results.md ("Where the missing time is") has the same table for
# the headline run, and what could explain it: the model prices a page from one CPU's timing, times
# the SMT factor; the letter's 64 threads pay more per page.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.compare import format_time_budget, time_budget

records = compare_profile(after.profile, "6.9")
budget = time_budget(records, pub["6.9"]["wall_s"], after.wall_s)
print("\n".join(format_time_budget(budget, pub["6.9"]["wall_s"], after.wall_s)))
by = {b.symbol: b for b in budget}
page_work = [s for s in ("clear_page_rep", "free_unref_page") if s in by]
print(f"\nmissing: {pub['6.9']['wall_s'] - after.wall_s:.1f} s of wall; in long_busy_list_alloc_test "
      f"{-by['long_busy_list_alloc_test'].diff_children_s:.1f} s; in " +
      ", ".join(f"{s} {-by[s].diff_children_s:.1f} s" for s in page_work + ["native_queued_spin_lock_slowpath"]) +
      " (children: a symbol with its callees)")

# %% [markdown]
# ## After 6.9: what 6.10 and 7.3 change (a prediction)
# The kernel did not stop at the series. vmaplab models two later kernels as well, each read in its
# own source (docs/kernel-model.md §8) and refereed by the real kernel under QEMU (notebook 3 shows
# one scenario on three kernels). Two changes reach this benchmark. Since 6.10, `alloc_vmap_area`
# binds the new area's `vm_struct` before it inserts the area, in the same hold of the node's busy
# lock, so a vmalloc takes that lock once instead of twice. And 7.3 keeps pools shorter than four
# areas across a purge (6.9 to 6.15 empty them), and looks areas up in the nodes from the other end.
# The same workload on the three models (64 threads; scale 20000, a few seconds):

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.locks import lock_group

print(f"{'model':6} {'wall s':>7} {'slow path %':>11} {'busy-lock takes':>15}  slow path by lock "
      "(takes: in the scaled run)")
for version in ("6.9", "6.12", "7.3"):
    r = ContentionSim(version, nr_threads=64, scale=scaled(20000, 100000), seed=1).run()
    takes = sum(lk["acquisitions"] for lk in r.locks if lock_group(lk["lock"]) == "vn[*].busy.lock")
    print(f"{version:6} {r.wall_s:7.1f} {r.slowpath_self_pct:11.2f} {takes:15,d} {format_spin_split(r.locks, r.busy_ns)[21:]}")

# %% [markdown]
# A fix_size pair took the busy locks three times (insert, bind, and the vfree's lookup); from 6.10
# twice. So a third of the busy-lock acquisitions go, and with them about a third of the time
# spinning on the busy locks; the wall moves by a few percent, because spinning was already a small
# part of it, and `free_vmap_area_lock` (every pool miss) is untouched. Read this as a **prediction**: nobody has published
# this benchmark on 6.12 or 7.3, so there is nothing to check it against, and the model's 6.9 is
# itself short of the letter's wall (above). `vmaplab simulate run_test_mask=7 nr_threads=64
# --version 7.3` runs the full-size headline on the newest model; docs/results.md has the numbers.

# %% [markdown]
# ## Exercise: who is spinning on what?
# A short simulated run: at a given time a CPU spins in the slow path. On which lock?
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask. Every problem is made and checked by the real allocator (or simulator), and
# `vmaplab exercises --kind spinning-lock --answers` prints a seeded sheet with its answer key.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("spinning-lock", seed=5)

# %% [markdown]
# ## What you learned
# - In 6.8 every vmalloc and vfree takes the same global locks; with 64 threads they spin most of the time.
# - 6.9's per-node trees and pools move the traffic onto per-node locks; the global free lock is left to pool misses.
# - The simulator's profile reads like perf's: self time in `native_queued_spin_lock_slowpath` is the spinning.
# - After the series the spinning left is on vmalloc's own locks, mostly the per-node busy locks: inserting a
#   recycled area walks a path the pages cleared since have pushed out of the caches.
#
# **Next:** [05 · vmallocinfo and vread](05-vmallocinfo-and-vread.ipynb): reading a real machine's areas back.
