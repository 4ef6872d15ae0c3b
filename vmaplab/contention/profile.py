# SPDX-License-Identifier: MIT
"""A perf-like profile: every simulated interval has a static kernel call path, as perf's would.

Mirrors: what ``perf record -g`` + ``perf report --children`` shows (the cover
letter's two tables): ``self`` is time whose leaf is the symbol, ``children``
is time whose path contains it, both as a share of all non-idle CPU time
(contention-model.md §5.5). Spinning on any qspinlock lands in
``native_queued_spin_lock_slowpath`` under ``_raw_spin_lock``.

Simplification: paths are fixed per (test, call, section); inlining follows
the 6.9 build the cover letter profiled only where its table shows it.
"""
from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from ..kernel.generations import DEFAULT, generation
from .errors import ContentionError
from .numeric import plain_sum

KTHREAD = ("ret_from_fork_asm", "ret_from_fork", "kthread")
WORKER = KTHREAD + ("worker_thread", "process_one_work", "drain_vmap_area_work", "__purge_vmap_area_lazy")
TEST_ENTRY = {"fix_size_alloc_test": "vmalloc", "full_fit_alloc_test": "vmalloc",
              "long_busy_list_alloc_test": "vmalloc", "random_size_alloc_test": "vmalloc",
              "kvfree_rcu_1_arg_vmalloc_test": "vmalloc", "kvfree_rcu_2_arg_vmalloc_test": "vmalloc"}
ALLOC = ("__get_vm_area_node", "alloc_vmap_area")
FREE = ("vfree.part.0", "remove_vm_area")
PURGE_SECTIONS = {"purge_detach": (), "reclaim_list_global": ("purge_vmap_node", "reclaim_list_global"),
                  "pool_add": ("purge_vmap_node", "node_pool_add_va")}
RUN_TAIL = {"pages.alloc": ("__alloc_pages_bulk",), "pages.clear": ("__alloc_pages_bulk", "clear_page_rep"),
            "pages.map": ("vmap_pages_range",), "pages.unmap": ("remove_vm_area", "vunmap_range_noflush"),
            "pages.free": ("free_unref_page",)}
CS_TAIL = {"alloc_vmap_area": ALLOC, "insert_vmap_area": ALLOC + ("insert_vmap_area",),
           "setup_vmalloc_vm": ("__get_vm_area_node",), "find_unlink_vmap_area": ("remove_vm_area", "find_unlink_vmap_area"),
           "find_vmap_area": ("find_vmap_area",), "free_vmap_area": ALLOC + ("free_vmap_area",)}


# Sections whose lock the caller takes before it calls the section's function: alloc_vmap_area takes
# the busy lock, then calls insert_vmap_area; free_vmap_area_noflush takes the lazy lock, then calls
# insert_vmap_area (read in Debian's 6.12 source, the vmap-nodes design of 6.9; tests/test_oracle.py's
# claim test pins it). For 6.8, whose free_vmap_area_noflush takes purge_vmap_area_lock around
# merge_or_add_vmap_area, the same shape is assumed, not read. perf puts the waiting under the frame
# that called spin_lock, so it is not under the callee (contention-model.md §2.4).
CALLER_LOCKED = frozenset(("insert_vmap_area", "free_vmap_area_noflush"))


def _base(test: str) -> tuple[str, ...]:
    return KTHREAD + ("test_func", test)


def _vmalloc_path(test: str) -> tuple[str, ...]:
    return _base(test) + (TEST_ENTRY.get(test, "__vmalloc_node"), "__vmalloc_node_range")


@lru_cache(maxsize=4096)
def call_path(kind: str, who: tuple[str, str], section: str | None = None, version: str = DEFAULT) -> tuple[str, ...]:
    """The kernel stack (outermost first) for an interval.

    ``kind`` is run, ipi, cs (holding a lock), spin (waiting in the slow path),
    fast (an uncontended acquire) or atomic (a stall on a shared counter's line);
    ``who`` is (test name, allocator call).
    """
    test, call = who
    if kind == "ipi":
        return ("asm_sysvec_call_function", "__sysvec_call_function", "flush_tlb_func")
    if kind == "atomic":                    # inlined atomic_long_add_return: the caller's self time
        return _base(test) + FREE + ("free_unmap_vmap_area", "free_vmap_area_noflush")
    if kind == "run":
        if call == "purge_vmap_node":           # 6.8 has no such function: the work is its caller's
            return WORKER + (("purge_vmap_node",) if generation(version).vmap_nodes else ())
        if call == "vmalloc":
            return _vmalloc_path(test)
        if call in RUN_TAIL:
            head = _vmalloc_path(test) if call in ("pages.alloc", "pages.clear", "pages.map") \
                else _base(test) + ("vfree.part.0",)
            return head + RUN_TAIL[call]
        return _base(test) + (("vfree.part.0",) if call == "vfree" else (call,))
    if section is None:
        raise ContentionError(f"call_path: a {kind!r} interval of {call} needs its section")
    if section in PURGE_SECTIONS:
        path = WORKER + PURGE_SECTIONS[section]
    elif section == "free_vmap_area_noflush":
        path = _base(test) + FREE + ("free_unmap_vmap_area", "free_vmap_area_noflush",
                                     "insert_vmap_area" if generation(version).vmap_nodes else "merge_or_add_vmap_area")
    elif section.startswith("pool_"):
        path = _vmalloc_path(test) + ALLOC + ("node_alloc",)
    elif call == "vmalloc" and section in CS_TAIL:
        path = _vmalloc_path(test) + CS_TAIL[section]
    elif call == "vfree" and section in CS_TAIL:
        path = _base(test) + ("vfree.part.0",) + CS_TAIL[section]
    else:
        path = _base(test) + (call, section)
    if kind in ("spin", "fast") and section in CALLER_LOCKED:
        path = path[:-1]
    if kind == "spin":
        return path + ("_raw_spin_lock", "native_queued_spin_lock_slowpath")
    if kind == "fast":
        return path + ("_raw_spin_lock",)
    return path


class Profile:
    """Time per call path; ``table()`` turns it into perf's children/self columns."""

    def __init__(self):
        self.ns: dict[tuple[str, ...], float] = defaultdict(float)

    def add(self, path: tuple[str, ...], ns: float) -> None:
        if ns:
            self.ns[path] += ns

    def total(self) -> float:
        return plain_sum(self.ns.values())

    def table(self, min_children_pct: float = 0.5) -> list[dict]:
        """Rows {children_pct, self_pct, symbol} sorted by children, like ``perf report --children``."""
        total = self.total()
        if not total:
            return []
        children: dict[str, float] = defaultdict(float)
        self_: dict[str, float] = defaultdict(float)
        for path, ns in self.ns.items():
            self_[path[-1]] += ns
            for sym in set(path):
                children[sym] += ns
        rows: list[dict] = [{"children_pct": 100 * children[s] / total, "self_pct": 100 * self_.get(s, 0.0) / total,
                 "symbol": s} for s in children]
        rows = [r for r in rows if r["children_pct"] >= min_children_pct]
        return sorted(rows, key=lambda r: (-r["children_pct"], -r["self_pct"], r["symbol"]))


def format_table(rows: list[dict], limit: int = 20) -> list[str]:
    """The table as perf prints it: children, self, symbol."""
    return [f"{r['children_pct']:7.2f}% {r['self_pct']:6.2f}%  [k] {r['symbol']}" for r in rows[:limit]]


def format_locks(locks: list[dict], scale: int, limit: int = 8) -> list[str]:
    """The lock table: acquisitions (real-equivalent), contended share, mean wait and hold."""
    out = ["  lock                       acquisitions  contended  mean wait ns  mean hold ns"]
    out += [f"  {lk['lock']:<26} {lk['acquisitions'] * scale:>12} {100 * lk['contended_share']:>9.1f}% "
            f"{lk['mean_wait_ns']:>13.0f} {lk['mean_hold_ns']:>13.0f}" for lk in locks[:limit]]
    return out


def format_atomics(atomics: list[dict], busy_ns: float) -> list[str]:
    """One line per shared counter: RMWs and line transfers (real-equivalent), the stalls' share of CPU time."""
    return [f"  {a['line']} (atomic RMW on a shared line, not a lock): {a['rmws']:.0f} RMWs, "
            f"{100 * a['transfers'] / a['rmws'] if a['rmws'] else 0:.1f}% fetched the line from another CPU, "
            f"mean stall {a['mean_stall_ns']:.0f} ns, {100 * a['stall_ns'] / busy_ns:.2f}% of CPU time"
            for a in atomics]


def format_sections(sections: list[dict], limit: int = 6) -> list[str]:
    """The critical-section table: hold time, mean hold, nodes read, line hits, lines fetched from other CPUs."""
    out = ["  critical section (lock)                            hold s  mean ns  nodes  hits  fetched"]
    out += [f"  {sec['section'] + ' (' + sec['lock'] + ')':<48} {sec['hold_s']:>8.1f} {sec['mean_hold_ns']:>8.0f} "
            f"{sec['nodes_read']:>6.1f} {sec['line_hits']:>5.1f} {sec['lines_from_other_cpus']:>8.1f}"
            for sec in sections[:limit]]
    return out


def format_spin_split(locks: list[dict], busy_ns: float) -> str:
    """The slow path's self share split by lock, per-node locks added up (vn[*].busy.lock)."""
    from .locks import lock_group
    split: dict[str, float] = {}
    for lk in locks:
        group = lock_group(lk["lock"])
        split[group] = split.get(group, 0.0) + lk["spin_ns"]
    return "  slow path by lock: " + ", ".join(
        f"{g} {100 * ns / busy_ns:.2f}%" for g, ns in sorted(split.items(), key=lambda kv: -kv[1]) if ns)
