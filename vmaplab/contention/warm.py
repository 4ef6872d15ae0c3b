# SPDX-License-Identifier: MIT
"""The warm start of a scaled 6.9 run: each measured loop starts with its pools in their steady state.

Mirrors no kernel code: it is a scaling device. A real test loop lasts ~10^6 turns, hundreds of purge
intervals, so its node pools spend almost all of it in their steady state; a run scaled by s lasts a
few intervals, and its first ones (pools holding what the previous test left) would weigh s times
more. So the run measures its own turns per purge interval per test (:meth:`WarmStart.count_turn`),
computes the steady after-purge pool length (:func:`stationary_pool`), and carves that many VAs onto
each worker's node pool when its loop starts (:func:`prefill_node_pool`, untraced: it stands for work
the real run spread over its long phases).

Invariants: every random choice is the run's own (this module draws none); a worker is warmed at most
once per loop; the carving uses only public kernel calls.
"""
from __future__ import annotations

from collections import deque

from ..kernel.area import encode_vn_id
from ..kernel.config import PAGE_SIZE


def prefill_node_pool(vm, node_id: int, size: int, count: int) -> int:
    """The warm start's carving: up to ``count`` VAs of ``size`` bytes (guard included) onto node ``node_id``'s pool.

    Not a kernel function, built from public kernel calls: each VA is the free tree's lowest
    match in the vmalloc window (``carve_vmap_area``, i.e. ``__alloc_vmap_area``), owned by the
    node (``encode_vn_id``) and pushed with ``node_pool_add_va`` as ``purge_vmap_node`` leaves
    recycled VAs (counted in ``stats.pool_adds``). It stands for work the real run spread over
    its long phases, so the caller runs it untraced. Returns how many it added (0 without pools,
    for a size pools do not keep, or once the window is full).
    """
    if not vm.has_pools or not 0 <= node_id < vm.nr_vmap_nodes:
        return 0
    if size <= 0 or size & (PAGE_SIZE - 1) or vm.pool_index(size) >= vm.max_va_size_pages:
        return 0
    vn, owner = vm.nodes[node_id], encode_vn_id(node_id, vm.nr_vmap_nodes)
    added = 0
    while added < count:
        va = vm.carve_vmap_area(size, PAGE_SIZE, vm.VMALLOC_START, vm.VMALLOC_END, owner)
        if va is None:
            break
        vm.node_pool_add_va(vn, va, node_id)   # the node's CPU
        added += 1
    return added


def stationary_pool(turns: list[int], passes: int = 8) -> int:
    """A worker's pool length right after a purge, in the steady state of its loop.

    Replays 6.9's pool cycle over the measured turns per interval (cycled ``passes`` times so
    the start is forgotten): a purge decays the leftover (a quarter, or all of it below 4) and
    adds what the worker freed, one VA per turn of the interval just ended; the next interval's
    turns take VAs from the pool. Returns the median after-purge length of the last pass.

    >>> stationary_pool([10] * 8), stationary_pool([2, 20] * 4), stationary_pool([0, 0, 0, 40])
    (10, 20, 30)
    """
    pool, states = 0, []
    n = len(turns)
    for k in range(passes * n):
        pool = (0 if pool <= 3 else pool - (pool >> 2)) + turns[k % n]      # the purge: decay, then refill
        if k >= (passes - 1) * n:
            states.append(pool)
        pool = max(0, pool - turns[(k + 1) % n])                           # the next interval's turns
    states.sort()
    return states[len(states) // 2]


class WarmStart:
    """Per-loop warm starts for one run: the measured turns, which workers are warmed, the carving."""

    def __init__(self, vm, workers: dict):
        self.vm = vm
        self.workers = workers                    # cpu -> worker, filled by the simulator's start()
        self.loop_at: dict[int, tuple] = {}       # cpu -> (caller, sizes) of the loop it is in
        self.turns_at: dict[int, list] = {}       # cpu -> [lazy_freed when its window opened, turns since]
        self.lazy_freed = 0                       # pages all workers freed lazily so far
        self.turns_per_interval: dict[str, deque] = {}   # test -> measured turns per purge interval
        self.warmed: set[int] = set()             # cpus whose current loop got its warm start

    def on_call(self, w, kind: str, pages: int) -> None:
        """An allocator call of worker ``w``: count lazily freed pages and vmalloc turns."""
        if kind == "vfree":
            self.lazy_freed += pages + 1                          # the guard page is freed too
        elif kind == "vmalloc":
            self.count_turn(w, pages)

    def on_loop(self, w, sizes: tuple) -> None:
        """A measured loop starts: note it, and warm its pools if its steady state is known yet."""
        self.loop_at[w.cpu] = (w.caller, sizes)
        self.turns_at[w.cpu] = [self.lazy_freed, 0]
        self.warmed.discard(w.cpu)
        self.warm(w)

    def warm(self, w) -> None:
        """Warm start: give the worker's node pools the steady state of its loop, once per loop.

        In the real run a loop lasts ~10^6 turns, hundreds of purge intervals, so its pools
        spend almost all of it in their steady state; a scaled loop lasts a few intervals, and
        its first ones (pools holding what the previous test left) would weigh s times more.
        In the steady state a purge leaves each pool with what its worker freed during the
        interval just ended (plus what survived the decay), and the worker draws on that until
        the next purge. A worker joining mid-interval freed nothing yet, so it gets a whole
        after-purge pool: ``stationary_pool`` of the turns per interval measured on workers in
        the same loop (``count_turn``). Until a first measurement exists (a 64th of an
        interval) the pools stay as they are; workers waiting then are warmed together
        (``warm_group``). The VAs are carved untimed from the free tree.
        """
        needs = self.pool_needs(w)
        if needs:
            self.prefill([needs])

    def warm_group(self, caller: str) -> None:
        """Warm every worker in loop ``caller`` at once, their VAs carved in turns.

        When a test's first sample arrives, most of its workers started the loop together; in
        the real run their pools hold what each freed, and they got those VAs from the free
        tree in turn, so one worker's VAs interleave with the others' (8 two-page areas share a
        16-page zone, hence a busy node). Carving one VA per worker in turn keeps that layout.
        """
        group = [self.pool_needs(w) for cpu, w in sorted(self.workers.items())
                 if cpu not in self.warmed and self.loop_at.get(cpu, ("",))[0] == caller]
        self.prefill([needs for needs in group if needs])

    def pool_needs(self, w) -> list[tuple[int, int, int]] | None:
        """(node, size with guard, VAs to add) for each size of the worker's loop; marks it warmed."""
        at = self.loop_at.get(w.cpu)
        seen = self.turns_per_interval.get(w.caller)
        if w.cpu in self.warmed or at is None or at[0] != w.caller or not at[1] or not seen:
            return None
        self.warmed.add(w.cpu)
        target = stationary_pool(list(seen))
        node = w.cpu % self.vm.nr_vmap_nodes
        pools = self.vm.nodes[node].pool
        # pool[i] keeps VAs of i + 1 pages: a size plus its guard page; larger sizes are never pooled
        return [(node, size + PAGE_SIZE, target - len(pools[size // PAGE_SIZE]))
                for size in at[1] if size // PAGE_SIZE < len(pools)]

    def prefill(self, group: list[list[tuple[int, int, int]]]) -> None:
        """Carve the VAs untimed from the free tree: one per worker and size in turn."""
        with self.vm.untraced():                                      # untimed: record nothing
            for turn in range(max((need for needs in group for _n, _s, need in needs), default=0)):
                for needs in group:
                    for node, size, need in needs:
                        if turn < need:
                            prefill_node_pool(self.vm, node, size, 1)

    def count_turn(self, w, pages: int) -> None:
        """Measure turns per purge interval of each loop: turns while all CPUs free lazy_max_pages.

        One turn per vmalloc of the loop's first size; a window closes once the pages freed
        lazily by everyone since it opened reach lazy_max_pages (one interval's worth, whether
        or not a purge fell inside), giving one sample of its test. The first sample of a test
        comes from a 64th of that: until it exists the test's workers run cold, and each of those
        turns stands for s real ones (the real run spends one interval of ~10^3 cold), so the
        cold start must be as short as a usable sample allows. Workers of the same test are
        warmed at their next turn once a peer has a sample.
        """
        at = self.loop_at.get(w.cpu)
        if at is None or at[0] != w.caller or not at[1]:
            return
        if w.cpu not in self.warmed:
            self.warm(w)                       # a peer's sample may have made the steady state known
        st = self.turns_at[w.cpu]
        freed = self.lazy_freed - st[0]
        lazy_max = self.vm.lazy_max_pages()
        if freed >= (lazy_max if w.caller in self.turns_per_interval else lazy_max / 64):
            first = w.caller not in self.turns_per_interval
            self.turns_per_interval.setdefault(w.caller, deque(maxlen=64)).append(round(st[1] * lazy_max / freed))
            st[:] = [self.lazy_freed, 0]
            if first:
                self.warm_group(w.caller)
            else:
                self.warm(w)
        if pages == -(-at[1][0] // PAGE_SIZE):
            st[1] += 1
