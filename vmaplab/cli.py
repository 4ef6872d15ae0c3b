"""The ``vmaplab`` command line: one ``main(argv=None) -> int``.

Every run echoes its arguments first (OSTEP style), so a pasted output can be
reproduced exactly. Subcommands:

* ``demo``: the worked example of the series on both designs: allocate, free,
  purge, and watch a 6.9 area come back from its CPU's pool.
"""
from __future__ import annotations

import argparse
import sys

from .allocator import Vmalloc
from .check import render_address_map
from .config import PAGE_SIZE
from .errors import VmallocError


def _echo(argv: list[str]) -> None:
    print("ARG " + " ".join(argv) if argv else "ARG (defaults)")


def cmd_demo(args) -> int:
    """The series in one screen: zones, lazy free, purge, pool reuse by the same CPU's node."""
    size = 15 * PAGE_SIZE            # 16 pages with the guard page: exactly one 64 KiB zone
    for version in args.version:
        vm = Vmalloc(nr_cpus=args.cpus, version=version, seed=args.seed)
        print(f"== Linux {version}: {args.cpus} CPUs, nr_vmap_nodes={vm.nr_vmap_nodes}, "
              f"vmap_zone_size={vm.vmap_zone_size:#x}, lazy_max_pages={vm.lazy_max_pages()}")
        addrs = []
        for i in range(2 * args.cpus):
            cpu = i % args.cpus
            a = vm.vmalloc(size, cpu=cpu, caller=f"demo+{i:#x}/0x100")
            addrs.append(a)
            print(f"  vmalloc({size}) on cpu {cpu}: {a:#x}, busy tree of node {vm.addr_to_node_id(a)}")
        cpu = 1 % args.cpus
        other = (cpu + 1) % args.cpus
        victim = addrs[0]
        vm.vfree(victim, cpu=cpu)
        owner = vm.nodes[0] if version == "6.8" else vm.nodes[cpu % vm.nr_vmap_nodes]
        print(f"  vfree({victim:#x}) on cpu {cpu}: vmap_lazy_nr={vm.vmap_lazy_nr} pages, "
              f"lazy tree of node {owner.id}")
        vm.purge(cpu=cpu)
        pooled = {vn.id: vn.pool_total() for vn in vm.nodes if vn.pool_total()}
        print(f"  purge: vmap_lazy_nr={vm.vmap_lazy_nr}, pooled VAs per node: {pooled or 'none (6.8 has no pools)'}")
        for who in (other, cpu):
            hits = vm.stats.pool_hits
            a = vm.vmalloc(size, cpu=who, caller="demo")
            how = "its node's pool" if vm.stats.pool_hits > hits else "the free tree (lowest match)"
            print(f"  vmalloc({size}) on cpu {who}: {a:#x} from {how}")
        vm.check()
        print("  address map (check() passed):")
        print("\n".join("   " + line for line in render_address_map(vm, limit=14).splitlines()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vmaplab", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="lazy free, purge and pool reuse on 6.8 and 6.9")
    d.add_argument("--cpus", type=int, default=4, help="possible CPUs (default 4)")
    d.add_argument("--version", choices=["6.8", "6.9", "both"], default="both")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    _echo(argv)
    if getattr(args, "version", None) is not None:
        args.version = ["6.8", "6.9"] if args.version == "both" else [args.version]
    try:
        return args.func(args)
    except VmallocError as e:
        print(f"vmaplab: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:          # `vmaplab ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
