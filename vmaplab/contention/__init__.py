"""The contention simulator's foundations: a discrete-event engine, queued spinlocks, topologies
and the analytical models they are checked against (docs/contention-model.md).

Part of the core: standard library only. The allocator-driven kernel scripts build on these.
"""
from .engine import Engine
from .locks import FifoLock, LockStats, TasLock
from .synthetic import OneLockResult, one_lock
from .theory import amdahl_speedup, machine_repairman, mva, usl_throughput
from .topology import TOPOLOGIES, Topology, generic, threadripper_3970x

__all__ = ["Engine", "FifoLock", "TasLock", "LockStats", "Topology", "TOPOLOGIES", "generic",
           "threadripper_3970x", "machine_repairman", "mva", "amdahl_speedup", "usl_throughput", "one_lock",
           "OneLockResult"]
