# SPDX-License-Identifier: MIT
"""The contention simulator: N simulated CPUs running the kernel's test module on the kernel model.

What it is, module by module: ``engine`` (a heap of (time, sequence) events), ``locks`` (FIFO queued
and test-and-set spinlocks, a shared counter's line), ``topology`` (which CPUs share a core or a
complex, and a line's transfer time between them), ``cachelines`` (the cache-line model, attached to
the kernel's trees through ``RBTree.observer``), ``recorder`` (the event sink that turns lock events
into named critical-section records), ``costs`` and ``pricing`` (every constant, and the hold time of
a section), ``warm`` (the warm start of a scaled 6.9 run), ``sim`` (the CPU processes and results),
``runs`` (pairs and sweeps shared by notebooks, benchmarks and widgets), ``profile`` (the perf-like
tables), ``theory`` and ``synthetic`` (the analytical models and a one-lock workload they check),
``published`` (the cover letter's numbers), ``compare`` (a simulated profile against the letter's two
tables, symbol by symbol). docs/contention-model.md states the model.

What it may import: the standard library, :mod:`vmaplab.kernel` and :mod:`vmaplab.workloads`, public
names only (tests/test_layers.py). Never the course or Jupyter.
"""
from .engine import Engine
from .locks import FifoLock, LockStats, TasLock
from .synthetic import OneLockResult, one_lock
from .theory import amdahl_speedup, machine_repairman, mva, usl_throughput
from .topology import TOPOLOGIES, Topology, generic, threadripper_3970x

__all__ = ["Engine", "FifoLock", "TasLock", "LockStats", "Topology", "TOPOLOGIES", "generic",
           "threadripper_3970x", "machine_repairman", "mva", "amdahl_speedup", "usl_throughput", "one_lock",
           "OneLockResult"]
