# SPDX-License-Identifier: MIT
"""Constants and formulas of Linux vmalloc on x86-64 (4 KiB pages, 4-level paging).

Mirrors: PAGE_SIZE/PAGE_SHIFT, VMALLOC_START/END, the VM_* flags of
include/linux/vmalloc.h, lazy_max_pages(), vmap_init_nodes() sizing, the
per-CPU kva allocator sizing (VMAP_BBMAP_BITS) and the shrinker return codes.
Every value cites its section of docs/kernel-model.md.

Invariants: all sizes are in bytes unless the name ends in ``_pages``;
intervals are half-open ``[start, end)``.

Simplifications: VMALLOC_START here is the non-randomised base (kernel-model.md §3.2); a KASLR
base is a machine's choice (``Vmalloc(vmalloc_start=...)``, or implied by a capture's addresses);
no 5-level paging, no KMSAN-lowered VMALLOC_END.
"""
from __future__ import annotations

from functools import cache

# --- §3.1 pages -------------------------------------------------------------
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)
ULONG_MAX = (1 << 64) - 1

# --- §3.2 the x86-64 vmalloc window (4-level paging, the non-randomised base) ---
VMALLOC_START = 0xFFFFC90000000000
VMALLOC_SIZE_TB = 32
# Looks inclusive (ends in ...ffff) but the allocator uses it as the exclusive
# bound ``vend``: the last page below it can never be allocated (§3.2).
VMALLOC_END = VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1
VMALLOC_TOTAL = VMALLOC_END - VMALLOC_START
# x86-64 module window (§3.2): restricted, so never pool-eligible.
MODULES_VADDR = 0xFFFFFFFF80000000 + (1 << 30)   # __START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB, KASLR)
MODULES_END = 0xFFFFFFFFFF000000

# --- §2.3 VM_* flags (6.9 values) --------------------------------------------
VM_IOREMAP = 0x00000001
VM_ALLOC = 0x00000002
VM_MAP = 0x00000004
VM_USERMAP = 0x00000008
VM_DMA_COHERENT = 0x00000010
VM_UNINITIALIZED = 0x00000020
VM_NO_GUARD = 0x00000040
VM_KASAN = 0x00000080
VM_FLUSH_RESET_PERMS = 0x00000100
VM_MAP_PUT_PAGES = 0x00000200
VM_ALLOW_HUGE_VMAP = 0x00000400
VM_DEFER_KMEMLEAK = 0          # 0 unless KASAN generic/sw-tags without KASAN_VMALLOC
VM_SPARSE = 0x00001000
VM_FLAG_NAMES = {
    VM_IOREMAP: "VM_IOREMAP", VM_ALLOC: "VM_ALLOC", VM_MAP: "VM_MAP",
    VM_USERMAP: "VM_USERMAP", VM_DMA_COHERENT: "VM_DMA_COHERENT",
    VM_UNINITIALIZED: "VM_UNINITIALIZED", VM_NO_GUARD: "VM_NO_GUARD",
    VM_KASAN: "VM_KASAN", VM_FLUSH_RESET_PERMS: "VM_FLUSH_RESET_PERMS",
    VM_MAP_PUT_PAGES: "VM_MAP_PUT_PAGES", VM_ALLOW_HUGE_VMAP: "VM_ALLOW_HUGE_VMAP",
    VM_SPARSE: "VM_SPARSE",
}
VM_ALL_FLAGS = sum(VM_FLAG_NAMES) | (((1 << 13) - 1) << 20)   # bits 20..32: arch ioremap use

# --- §2.1 vmap_area.flags ----------------------------------------------------
VMAP_RAM = 0x1
VMAP_BLOCK = 0x2
VMAP_FLAGS_MASK = 0x3

# --- GFP bits the simulator looks at (include/linux/gfp_types.h values, 6.4 on; §8) ------
GFP_HIGH = 0x20           # __GFP_HIGH
GFP_IO = 0x40             # __GFP_IO: may start physical I/O
GFP_FS = 0x80             # __GFP_FS: may call into the filesystems
GFP_ZERO = 0x100          # __GFP_ZERO
GFP_DIRECT_RECLAIM = 0x400  # __GFP_DIRECT_RECLAIM: gfpflags_allow_blocking() (GFP_NOWAIT lacks it)
GFP_KSWAPD_RECLAIM = 0x800  # __GFP_KSWAPD_RECLAIM: may wake kswapd
GFP_NOWARN = 0x2000       # __GFP_NOWARN
GFP_NOFAIL = 0x8000       # __GFP_NOFAIL
GFP_RECLAIM = GFP_DIRECT_RECLAIM | GFP_KSWAPD_RECLAIM
GFP_KERNEL = GFP_RECLAIM | GFP_IO | GFP_FS          # 0xcc0: may sleep, reclaim, do I/O
GFP_ATOMIC = GFP_HIGH | GFP_KSWAPD_RECLAIM          # never sleeps, may dip into reserves
# GFP_NOWAIT as 6.1 .. 6.17 define it: wake kswapd, never sleep. From 6.18 (7.3) the kernel's
# GFP_NOWAIT also carries __GFP_NOWARN: ask the machine's record for it (``vm.gen.gfp_nowait``, §8).
GFP_NOWAIT = GFP_KSWAPD_RECLAIM


def gfpflags_allow_blocking(gfp: int) -> bool:
    """gfpflags_allow_blocking(): the caller may sleep (direct reclaim allowed)."""
    return bool(gfp & GFP_DIRECT_RECLAIM)


def gfp_has_io_fs(gfp: int) -> bool:
    """gfp_has_io_fs(): both __GFP_IO and __GFP_FS (not a GFP_NOFS/GFP_NOIO caller)."""
    return gfp & (GFP_IO | GFP_FS) == GFP_IO | GFP_FS

# --- §2.4 / §3.3 / §3.5 node layer -------------------------------------------
MAX_VA_SIZE_PAGES = 256
VMAP_ZONE_SIZE_PAGES = 16          # vmap_zone_size = (1 << 4) * PAGE_SIZE
MAX_VMAP_NODES = 128

# --- §4.4 ioremap alignment ---------------------------------------------------
PUD_SHIFT = 30
# x86-64 overrides the generic 7 + PAGE_SHIFT with PUD_SHIFT (§4.4; seen in Linux 6.12 by the oracle)
IOREMAP_MAX_ORDER = PUD_SHIFT
SHMLBA = PAGE_SIZE

# --- §3.9 per-CPU kva allocator -------------------------------------------------
VMALLOC_SPACE = 128 << 30           # 64-bit "rough guess" used only for sizing
VMALLOC_PAGES = VMALLOC_SPACE // PAGE_SIZE
VMAP_MAX_ALLOC = 64                 # BITS_PER_LONG pages
VMAP_BBMAP_BITS_MAX = 1024
VMAP_BBMAP_BITS_MIN = 2 * VMAP_MAX_ALLOC
CONFIG_NR_CPUS_DEFAULT = 8192       # a common distro CONFIG_NR_CPUS (§3.9)

# --- §4.8 shrinker return codes (include/linux/shrinker.h) --------------------
SHRINK_STOP = ULONG_MAX
SHRINK_EMPTY = ULONG_MAX - 1

# --- §3.10 other numbers ----------------------------------------------------------
BULK_ALLOC_BATCH = 100              # vm_area_alloc_pages: at most 100 pages per bulk call
THREAD_SIZE = PAGE_SIZE << 2        # 16 KiB without KASAN
THREAD_ALIGN = THREAD_SIZE


def fls(x: int) -> int:
    """1-based index of the most significant set bit; fls(0) == 0 (kernel fls)."""
    return x.bit_length()


def roundup_pow_of_two(x: int) -> int:
    """Smallest power of two >= x (x >= 1)."""
    return 1 << (x - 1).bit_length()


def get_count_order(x: int) -> int:
    """ceil(log2(x)) for x >= 1 (kernel get_count_order_long)."""
    return (x - 1).bit_length()


def page_align(size: int) -> int:
    """Round a byte count up to a whole number of pages (PAGE_ALIGN)."""
    return (size + PAGE_SIZE - 1) & PAGE_MASK


def is_power_of_2(x: int) -> bool:
    return x > 0 and (x & (x - 1)) == 0


@cache           # called on every lazy free
def lazy_max_pages_for(nr_online_cpus: int) -> int:
    """lazy_max_pages() = fls(num_online_cpus()) * (32 MiB / PAGE_SIZE) (§3.6)."""
    return fls(nr_online_cpus) * ((32 << 20) // PAGE_SIZE)


def nr_vmap_nodes_for(nr_possible_cpus: int) -> int:
    """vmap_init_nodes(): clamp(num_possible_cpus(), 1, 128), no rounding (§3.3)."""
    return max(1, min(nr_possible_cpus, MAX_VMAP_NODES))


def vmap_bbmap_bits_for(config_nr_cpus: int) -> int:
    """VMAP_BBMAP_BITS = min(1024, max(128, VMALLOC_PAGES / roundup_pow_of_two(NR_CPUS) / 16)) (§3.9)."""
    return min(VMAP_BBMAP_BITS_MAX,
               max(VMAP_BBMAP_BITS_MIN, VMALLOC_PAGES // roundup_pow_of_two(config_nr_cpus) // 16))
