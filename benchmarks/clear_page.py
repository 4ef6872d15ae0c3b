# SPDX-License-Identifier: MIT
"""What clearing one 4 KiB page costs on this machine, by where the page's lines are (contention-model.md §6.3).

The kernel's ``clear_page_rep`` is one ``rep stosq`` of 512 quadwords. This benchmark compiles
the same instruction in a tiny C program (gcc, as the speedups need), clears every page of a
buffer of each size in turn, 200 times, and prints the best time per page: a buffer in L1/L2, one
as large as long_busy_list_alloc_test clears per iteration (100 pages), one that fits only the L3,
and one far larger than any cache (from memory). It is a measurement of this machine's core; the
model's ``clear_page_ns`` cites it for the 3970X's (the same 32 bytes a cycle on Zen 2 give
4096 / 32 = 128 cycles, 35 ns at 3.7 GHz).

    python benchmarks/clear_page.py [KiB ...]
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static void clear_page_rep(void *p)
{
    unsigned long n = 512;
    __asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(0UL) : "memory");
}
static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}
int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        size_t pages = (size_t)atol(argv[a]) / 4;
        char *buf = aligned_alloc(4096, pages * 4096);
        memset(buf, 1, pages * 4096);
        double best = 1e30;
        for (int round = 0; round < 200; round++) {
            double t0 = now_ns();
            for (size_t i = 0; i < pages; i++)
                clear_page_rep(buf + i * 4096);
            double per = (now_ns() - t0) / pages;
            if (per < best)
                best = per;
        }
        printf("%8s KiB: %6.1f ns per page\n", argv[a], best);
        free(buf);
    }
    return 0;
}
"""


def main(argv: list[str]) -> int:
    sizes = argv or ["16", "400", "4096", "65536"]
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "clear_page.c", Path(tmp) / "clear_page"
        src.write_text(SOURCE)
        built = subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], capture_output=True, text=True)
        if built.returncode:
            print(f"clear_page: gcc failed: {built.stderr.strip().splitlines()[-1] if built.stderr else '?'}",
                  file=sys.stderr)
            return 2
        return subprocess.run([str(exe), *sizes]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
