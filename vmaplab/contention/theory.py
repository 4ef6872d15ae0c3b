# SPDX-License-Identifier: MIT
"""Closed-form models the simulator is checked against (contention-model.md §3).

Notation: N CPUs; Z the mean local work between lock requests; S the mean
critical section including the handover (S' in the reference).
"""
from __future__ import annotations

from math import sqrt

from .errors import ContentionError
from .numeric import plain_sum


def amdahl_speedup(n: int, serial_fraction: float) -> float:
    """Amdahl: 1 / (σ + (1 − σ)/N)."""
    return 1.0 / (serial_fraction + (1.0 - serial_fraction) / n)


def usl_throughput(n: int, x1: float, alpha: float, beta: float) -> float:
    """Gunther's Universal Scalability Law: X(N) = X(1)·N / (1 + α(N−1) + βN(N−1))."""
    return x1 * n / (1 + alpha * (n - 1) + beta * n * (n - 1))


def usl_peak(alpha: float, beta: float) -> float:
    return sqrt((1 - alpha) / beta) if beta > 0 else float("inf")


def machine_repairman(n: int, z_ns: float, s_ns: float) -> dict[str, float]:
    """M/M/1//N: one FIFO lock, N CPUs with exponential think Z and hold S (§3.3).

    Returns throughput X (acquisitions per ns), utilisation U, time in the lock R
    (queue + hold), pure spin W per acquisition, and the spin share per CPU.
    """
    if n < 1 or z_ns <= 0 or s_ns <= 0:
        raise ContentionError("need n >= 1 and positive Z and S")
    r = s_ns / z_ns
    term, total = 1.0, 1.0
    for k in range(1, n + 1):             # N!/(N-k)! r^k, built incrementally
        term *= (n - k + 1) * r
        total += term
    p0 = 1.0 / total
    u = 1.0 - p0
    x = u / s_ns
    resp = n / x - z_ns
    w = resp - s_ns
    return {"X": x, "U": u, "R": resp, "W": w, "spin_share": w * x / n}


def mva(n: int, z_ns: float, demands_ns: dict[str, float]) -> dict:
    """Exact mean-value analysis of a closed network: FIFO locks with demands D_k plus a delay Z (§3.4)."""
    q = {k: 0.0 for k in demands_ns}
    x, resp = 0.0, {}
    for m in range(1, n + 1):
        resp = {k: d * (1 + q[k]) for k, d in demands_ns.items()}
        x = m / (z_ns + plain_sum(resp.values()))
        q = {k: x * r for k, r in resp.items()}
    spin = plain_sum(x * (resp[k] - d) for k, d in demands_ns.items()) / n
    return {"X": x, "R": resp, "Q": q, "spin_share": spin}
