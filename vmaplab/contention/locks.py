# SPDX-License-Identifier: MIT
"""Kernel spinlocks as servers: the queued (MCS, FIFO) spinlock and the unfair test-and-set one.

Mirrors (contention-model.md §2): ``queued_spin_lock`` — waiters are granted in
arrival order, each handover costs one line transfer from the releaser plus the
``set_locked`` store; ``virt_spin_lock`` — the test-and-set loop a KVM guest
without PV_UNHALT runs, where any waiter may win.

Invariants: a lock is held by at most one CPU at a time; a FIFO lock grants in
request order, so its grant time is known at request time (the Lindley
recursion ``grant = max(t_req + fast, previous release + handover)``) and one
heap event per acquisition suffices; spin time is grant minus request for a
contended acquisition and 0 otherwise.

Simplifications: the lock word is one cache line whose last owner is the last
holder (waiters' reads do not move it); the hold time is fixed at request time.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..kernel.locks import LockId


def lock_group(name: str) -> str:
    """A lock's name with its node index starred, so the 6.9 per-node locks add up: vn[3].busy.lock -> vn[*].busy.lock."""
    return LockId.parse(name).group


@dataclass
class LockStats:
    """Per-lock totals a report prints."""
    name: str
    acquisitions: int = 0
    contended: int = 0
    spin_ns: float = 0.0       # waiting in the slow path
    fast_ns: float = 0.0       # uncontended acquire (the fast-path atomic, maybe a remote line)
    hold_ns: float = 0.0

    @property
    def contended_share(self) -> float:
        return self.contended / self.acquisitions if self.acquisitions else 0.0

    @property
    def mean_wait_ns(self) -> float:
        return self.spin_ns / self.contended if self.contended else 0.0

    @property
    def mean_hold_ns(self) -> float:
        return self.hold_ns / self.acquisitions if self.acquisitions else 0.0

    def as_dict(self) -> dict:
        return {"lock": self.name, "acquisitions": self.acquisitions, "contended": self.contended,
                "contended_share": self.contended_share, "spin_ns": self.spin_ns,
                "mean_wait_ns": self.mean_wait_ns, "hold_ns": self.hold_ns, "mean_hold_ns": self.mean_hold_ns,
                "fast_ns": self.fast_ns}


class _Lock:
    def __init__(self, name: str, engine, topology, c_lock_ns: float = 15.0, c_set_ns: float = 10.0):
        self.name = name
        self.engine = engine
        self.topology = topology
        self._xfer_to = topology.xfer_rows()      # _xfer_to[cpu][src] = xfer_ns(src, cpu), without a call
        self.c_lock_ns = c_lock_ns        # [E] §2.3/§6.3: uncontended lock+unlock, line local
        self.c_set_ns = c_set_ns          # [E] §6.3: set_locked after a contended handover
        self.last_owner: int | None = None
        self.stats = LockStats(name)

    def _xfer(self, cpu: int) -> float:
        return 0.0 if self.last_owner is None else self._xfer_to[cpu][self.last_owner]

    def _account(self, t_req: float, grant: float, hold_ns: float, contended: bool) -> None:
        s = self.stats
        s.acquisitions += 1
        s.hold_ns += hold_ns
        if contended:
            s.contended += 1
            s.spin_ns += grant - t_req
        else:
            s.fast_ns += grant - t_req


class FifoLock(_Lock):
    """qspinlock (MCS): grants in arrival order; ``request`` costs one engine event."""

    def __init__(self, name, engine, topology, c_lock_ns: float = 15.0, c_set_ns: float = 10.0):
        super().__init__(name, engine, topology, c_lock_ns, c_set_ns)
        self.free_at = 0.0

    def acquire(self, cpu: int, hold_ns: float) -> tuple[float, float, float, bool]:
        """CPU ``cpu`` asks now for ``hold_ns``: (request, grant, release, contended), the lock's state updated.

        The caller runs the release itself, at the returned time (``request`` schedules it).
        """
        t = self.engine.now_ns
        prev = self.last_owner
        xfer = 0.0 if prev is None or prev == cpu else self._xfer_to[cpu][prev]
        st = self.stats                        # _account, inlined: this is the engine's hot path
        st.acquisitions += 1
        st.hold_ns += hold_ns
        contended = t < self.free_at
        if contended:
            grant = self.free_at + xfer + self.c_set_ns
            st.contended += 1
            st.spin_ns += grant - t
        else:
            grant = t + self.c_lock_ns + xfer
            st.fast_ns += grant - t
        release = grant + hold_ns
        self.free_at = release
        self.last_owner = cpu
        return t, grant, release, contended

    def request(self, cpu: int, hold_ns: float, done) -> None:
        """CPU ``cpu`` asks now; ``done(t_req, grant, release, contended)`` runs when it releases."""
        t, grant, release, contended = self.acquire(cpu, hold_ns)
        self.engine.schedule(release, lambda: done(t, grant, release, contended))


class TasLock(_Lock):
    """virt_spin_lock: on release a uniformly random waiter wins (seeded), two events per acquisition."""

    def __init__(self, name, engine, topology, seed: int = 0, c_lock_ns: float = 15.0, c_set_ns: float = 10.0):
        super().__init__(name, engine, topology, c_lock_ns, c_set_ns)
        self.rng = random.Random(f"tas/{name}/{seed}")
        self.held = False
        self.waiters: list[tuple[int, float, float, object]] = []

    def request(self, cpu: int, hold_ns: float, done) -> None:
        t = self.engine.now_ns
        if self.held:
            self.waiters.append((cpu, t, hold_ns, done))
        else:
            self._grant(cpu, t, t + self.c_lock_ns + self._xfer(cpu), hold_ns, done, False)

    def _grant(self, cpu, t_req, grant, hold_ns, done, contended) -> None:
        self.held = True
        self.last_owner = cpu
        self._account(t_req, grant, hold_ns, contended)
        release = grant + hold_ns

        def on_release():
            done(t_req, grant, release, contended)
            self._release()
        self.engine.schedule(release, on_release)

    def _release(self) -> None:
        if not self.waiters:
            self.held = False
            return
        cpu, t_req, hold_ns, done = self.waiters.pop(self.rng.randrange(len(self.waiters)))
        grant = self.engine.now_ns + self._xfer(cpu) + self.c_set_ns
        self._grant(cpu, t_req, grant, hold_ns, done, True)


class SharedLine:
    """A counter every CPU updates with a locked RMW (``vmap_lazy_nr``): one cache line, no lock.

    Each RMW first fetches the line from its last writer (topology distance; nothing if this
    CPU wrote it last), then spends ``rmw_ns``. RMWs are not queued behind one another: the
    cover letter's after profile rules a line served one transfer at a time out (fix_size is
    missing from its table, whose last row has 4.47 % children: under 2.3 µs per iteration,
    while each iteration of the two 1-page tests would wait for the ~40 threads running them,
    40 × 94 ns = 3.8 µs); presumably the hardware serves a core complex's requests while the
    line is there. contention-model.md §4.2 prices it as "t_x per free".
    """

    def __init__(self, name: str, topology, rmw_ns: float = 5.0):
        self.name = name
        self.topology = topology
        self._xfer_to = topology.xfer_rows()
        self.rmw_ns = rmw_ns
        self.last_owner: int | None = None
        self.rmws = 0
        self.transfers = 0
        self.stall_ns = 0.0

    def rmw(self, cpu: int) -> float:
        """CPU ``cpu`` updates the counter: returns its stall (ns)."""
        prev, self.last_owner = self.last_owner, cpu
        xfer = 0.0 if prev is None else self._xfer_to[cpu][prev]      # 0 for the same CPU
        self.rmws += 1
        self.transfers += xfer > 0
        ns = xfer + self.rmw_ns
        self.stall_ns += ns
        return ns

    def as_dict(self) -> dict:
        return {"line": self.name, "rmws": self.rmws, "transfers": self.transfers, "stall_ns": self.stall_ns,
                "mean_stall_ns": self.stall_ns / self.rmws if self.rmws else 0.0}
