# SPDX-License-Identifier: MIT
# %% [markdown]
# # 6 · Experiments: many runs, on a cluster engine, with intervals
#
# **What you will learn:** how to describe a sweep of simulator runs once (a *spec*), run it on
# this machine's cores or on a Dask cluster with the same results byte for byte, resume it after
# an interrupt, and turn the model's single numbers into **intervals**: every cost constant is
# known only within a range, so the honest answer to "how much faster is 6.9?" is a median and a
# spread, set beside what the cover letters measured. Last, the same benchmark on other machines.
#
# Everything here is `vmaplab.contention.experiments`, the module behind `vmaplab sweep`
# (docs/experiments.md). Running the whole notebook takes about a minute on a 2-core machine;
# the cells that take more than a few seconds say so. In the browser (the JupyterLite site) the
# runs go one at a time, Dask is skipped and the samples are smaller; each such cell says so.

# %%
import vmaplab
from vmaplab.course import figures as viz

vmaplab.__version__

# %% [markdown]
# ## A spec is a grid
# A spec names the parameters every run shares (`base`) and the lists to combine (`grid`). This is
# `experiments/smoke.toml`, the small one: 2 kernels × 2 thread counts × 2 seeds = 8 runs of
# `fix_size_alloc_test` (one-page vmalloc/vfree pairs) on an 8-CPU machine, at 1/20000 of the
# real loop count. The whole spec is checked before anything runs.

# %%
# NBVAL_CHECK_OUTPUT
import tempfile
from pathlib import Path

from vmaplab.contention.experiments import load_experiment, parse_experiment, run_experiment

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
smoke = load_experiment(ROOT / "experiments" / "smoke.toml")
print((ROOT / "experiments" / "smoke.toml").read_text())
print(f"{len(smoke.runs())} runs; the first: {smoke.runs()[0]}")

# %% [markdown]
# A mistake in a spec is one error naming the field, and nothing runs:

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.contention.experiments import SpecError

for bad in ({"name": "x", "grid": {"nr_thread": [2]}},
            {"name": "x", "base": {"scale": 0}},
            {"name": "x", "base": {"cost.t_warp_ns": 1.0}}):
    try:
        parse_experiment(bad)
    except SpecError as e:
        print(f"SpecError: {e}")

# %% [markdown]
# ## Run it on this machine's cores
# `run_experiment` sends the runs to a `concurrent.futures` executor (here a pool of 2
# processes), writes one row per run to a CSV and a JSON-lines file as each finishes, and returns
# the rows in the spec's order. Each row carries every parameter and the package version.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.course.browser import IN_BROWSER, note, scaled
from vmaplab.course.progress import progress

JOBS = scaled(2, 1)          # a browser tab has one thread and no processes: the runs go one by one
note("one run at a time, no process pool")
work = Path(tempfile.mkdtemp(prefix="vmaplab-06-"))
rows_pool = run_experiment(smoke, work / "pool" / "smoke", jobs=JOBS, progress=progress)

# %%
viz.show(viz.table_figure(rows_pool, {"version": "kernel", "nr_threads": "threads", "seed": "seed",
                             "wall_s": "µs per pair per job", "slowpath_self_pct": "slow path %"},
                 "smoke: one row per run (the simulated wall time of 10^6 pairs is µs per pair)",
                 formats={"wall_s": ".3f", "slowpath_self_pct": ".2f"}))

# %% [markdown]
# Run the same command again and nothing runs: every run's key (a hash of its parameters) is
# already in the JSON-lines file. That is how an interrupted sweep resumes.

# %%
# NBVAL_CHECK_OUTPUT
from vmaplab.contention.experiments import already_done

print(f"{already_done(smoke, work / 'pool' / 'smoke')} of {len(smoke.runs())} runs already done")
again = run_experiment(smoke, work / "pool" / "smoke", jobs=JOBS)
print("the same rows:", again == rows_pool)

# %% [markdown]
# ## The same spec on a Dask cluster
# With the `[dask]` extra, the executor can be a Dask cluster's. Here a `LocalCluster` of 2
# worker processes with one thread each (set explicitly: a container reports its host's CPU
# count, not its own); on a real cluster, `dask_executor(address="tcp://HOST:8786")` or
# `vmaplab sweep SPEC --scheduler tcp://HOST:8786`. The dashboard link opens Dask's own view of
# the tasks (its progress page and task stream) while the sweep runs. Starting the cluster takes a
# few seconds.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.experiments import dask_executor

rows_dask = None
if IN_BROWSER:
    note("no Dask: it needs processes and sockets; open the notebook in Jupyter to run this cell")
else:
    with dask_executor(n_workers=2) as (executor, client):
        print(f"Dask: {len(client.scheduler_info()['workers'])} workers, dashboard {client.dashboard_link}")
        rows_dask = run_experiment(smoke, work / "dask" / "smoke", executor=executor, progress=progress)

# %% [markdown]
# A row is a pure function of its parameters (every random choice comes from the `seed`
# parameter), so the files are identical, byte for byte, whichever executor ran them:

# %%
# NBVAL_CHECK_OUTPUT
for suffix in (".csv", ".jsonl"):
    if rows_dask is None:
        print(f"smoke{suffix}: Dask did not run here")
        continue
    same = (work / "pool" / f"smoke{suffix}").read_bytes() == (work / "dask" / f"smoke{suffix}").read_bytes()
    print(f"smoke{suffix}: process pool and Dask identical: {same}")

# %% [markdown]
# ## Every constant has a range
# The model's cost constants (what a tree node visit, a cache-line transfer, a page clear cost)
# are known only within a range. Each has one, with where it comes from: "sensitivity" (the range
# the sensitivity table already moves it over), "measured", "vendor", or "estimate" (our
# judgement, stated so it can be argued with). No range was chosen by looking at what it does to
# the results it is then compared with.

# %%
from vmaplab.contention.costs import ContentionCosts
from vmaplab.contention.ranges import COST_RANGES

defaults = ContentionCosts()
viz.show(viz.table_figure([{"name": k, "low": r.low, "default": "the machine's" if defaults.value(k) is None else defaults.value(k), "high": r.high, "source": r.source}
                  for k, r in COST_RANGES.items()],
                 {"name": "constant", "low": "low", "default": "default", "high": "high", "source": "source"},
                 f"the {len(COST_RANGES)} cost constants and their ranges (vmaplab/contention/ranges.py)", height=760))

# %% [markdown]
# ## The v1 curve with its band
# An uncertainty spec draws points of a seeded **Latin hypercube** over all the ranges at once
# (each range cut into n strata, one point in each) and runs every point on both kernels. Here
# 16 samples of the v1 cover letter's curve (1..32 jobs of one-page pairs on the 64-CPU machine,
# at 1/32000 of the loops): 192 runs, about 15 seconds on 2 cores. The docs' table
# (docs/experiments.md §4) is 64 samples at 1/16000, `vmaplab sweep experiments/uncertainty-v1.toml`.
# The y axis is logarithmic: the curves span two decades.

# %%
# NBVAL_IGNORE_OUTPUT
from vmaplab.contention.experiments import published_for_report, uncertainty_report

v1_spec = parse_experiment({
    "name": "uncertainty-v1-small", "report": "uncertainty",
    "base": {"nr_cpus": 64, "run_test_mask": 1, "scale": 32000, "seed": 0},
    "grid": {"nr_threads": [1, 2, 4, 8, 16, 32], "version": ["6.8", "6.9"]},
    "sample": {"n": scaled(16, 4), "seed": 1, "method": "lhs", "ranges": "costs"}})
note("4 samples instead of 16, so the band is rougher")
v1_rows = run_experiment(v1_spec, work / "v1", jobs=JOBS, progress=progress)

# %%
v1 = uncertainty_report(v1_rows, published_for_report())
viz.show(viz.interval_band_figure(v1, "nr_threads", {"wall 6.8 (s)": "6.8 model", "wall 6.9 (s)": "6.9 model"},
                         "µs per vmalloc/vfree pair per job: the model's band and the v1 letter's 'before'",
                         "µs per pair per job (log)", published_name="v1 letter: before (6.8)"))

# %% [markdown]
# Read it as: the shaded band is where the model's answer lands for 90% of the plausible
# constants; a black diamond outside the red band is a point the model cannot reach with any
# plausible constants (within this sample), which says something about the model's structure,
# not about one constant. The same numbers as a table:

# %%
viz.show(viz.table_figure([{"jobs": dict(i.params)["nr_threads"], "median": i.median, "low": i.low, "high": i.high,
                   "published": i.published, "inside": {True: "yes", False: "no", None: ""}[i.inside]}
                  for i in v1 if i.metric == "wall 6.8 (s)"],
                 {"jobs": "jobs", "published": "v1 letter", "median": "median", "low": "5%", "high": "95%",
                  "inside": "inside"},
                 "6.8, µs per pair per job", formats={"median": ".3f", "low": ".3f", "high": ".3f"}))

# %% [markdown]
# ## The headline with its intervals
# The cover letter's benchmark: 64 threads, `run_test_mask=7` (three tests), 8 samples at 1/32000
# of the loops (the docs use 64 samples at 1/8000): 16 runs, about 20 seconds on 2 cores. Five
# numbers, each with its interval, beside the cover letter's.

# %%
# NBVAL_IGNORE_OUTPUT
head_spec = parse_experiment({
    "name": "uncertainty-headline-small", "report": "uncertainty",
    "base": {"nr_threads": 64, "run_test_mask": 7, "scale": scaled(32000, 128000), "seed": 0},
    "grid": {"version": ["6.8", "6.9"]},
    "sample": {"n": scaled(8, 4), "seed": 1, "method": "lhs", "ranges": "costs"}})
note("4 samples at 1/128000 of the loops instead of 8 at 1/32000")
head_rows = run_experiment(head_spec, work / "headline", jobs=JOBS, progress=progress)

# %%
headline = uncertainty_report(head_rows, published_for_report())
viz.show(viz.interval_points_figure(headline, "64 threads: the model's median and 5-95% interval (8 samples) "
                                     "beside the cover letter", published_name="cover letter"))

# %% [markdown]
# With 8 samples the "5-95%" interval is nearly the whole spread of the sample; the docs' 64
# samples give the table to quote. Where the cover letter's value falls outside (in the docs' run:
# 6.8's wall and slow path a little too high, so the ratio too, and 6.9's slow path a point too
# low), the model misses something the constants cannot make up for: docs/results.md ("Issue 23")
# names each miss with its evidence, symbol by symbol.
#
# ## The same benchmark on other machines
# The topology presets (`vmaplab simulate --help` lists them) change which CPUs share a core and an
# L3 and what moving a cache line between them costs, with the published latencies they come from
# (docs/contention-model.md §2.5). Every other constant stays the 3970X's, so this asks what the
# cache-line distances alone do. 64 threads on each, both kernels: 8 runs, about 10 seconds.

# %%
# NBVAL_IGNORE_OUTPUT
machines_spec = parse_experiment({
    "name": "machines", "base": {"nr_threads": 64, "nr_cpus": 64, "run_test_mask": 7, "scale": scaled(32000, 128000),
                                 "seed": 0},
    "grid": {"machine": ["threadripper-3970x", "epyc-7702", "epyc-7713", "xeon-8375c-2s"], "version": ["6.8", "6.9"]}})
note("1/128000 of the loops instead of 1/32000")
machine_rows = run_experiment(machines_spec, work / "machines", jobs=JOBS, progress=progress)

# %%
viz.show(viz.machines_figure(machine_rows))

# %% [markdown]
# ## Exercise: how many runs?
# A spec's grid tables are products, several tables a union, a sample multiplies every point.
# Type your answer and press **check**; change **problem** for a new one. The solution shows
# only when you ask; `vmaplab exercises --kind sweep-runs --answers` prints a seeded sheet.

# %%
from vmaplab.course.widgets import ExerciseApp

ExerciseApp("sweep-runs", seed=7)

# %% [markdown]
# ## What you learned
# - A sweep is a spec (a grid, and optionally a seeded sample); `vmaplab sweep SPEC.toml` runs it
#   with `--jobs N`, `--dask-local N` or `--scheduler ADDR`, and resumes where it stopped.
# - The same seeds give the same rows on every executor, byte for byte.
# - A prediction is a median and an interval over the plausible constants; a published value
#   outside the interval points at the model's structure, not at a constant to tune.
# - Cache-line distances matter: the same code on another machine's topology spins differently.
#
# **Next:** back to the [tour](00-tour.ipynb), or the tables in `docs/experiments.md` and
# `docs/results.md`, each one `vmaplab sweep` command.
