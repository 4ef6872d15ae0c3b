# SPDX-License-Identifier: MIT
"""Boot Debian's 6.12 kernel under QEMU with a busybox initramfs and collect what it printed.

What it does (docs/oracle.md §2): builds our probe module (and, when asked, the kernel's own
lib/test_vmalloc.c) out of tree against the downloaded headers, packs an initramfs in Python
(``newc`` cpio, gzip), boots ``qemu-system-x86_64`` (TCG unless ``VMAPLAB_ORACLE_ACCEL=kvm``)
with the serial console in a file, and splits that file into the jobs' outputs by the
``@@VMAPLAB`` marker lines the init script prints. The guest powers itself off; a guest that
does not within the time limit is killed and reported.

Invariants: every job in a boot runs in the order given, after the probe module is loaded (its
kthreads exist before any job's first /proc/vmallocinfo read); the boot command line pins the
address layout (``nokaslr``) and lets modules call functions by address (``ibt=off``).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..kernel.errors import InvariantError
from .debian import KernelTree, cache_dir
from .errors import GuestError, OracleUnavailable

MARK = "@@VMAPLAB"
BUSYBOX = "/bin/busybox"
QEMU = "qemu-system-x86_64"
MEMORY_MB = 1024
BOOT_ARGS = "console=ttyS0 nokaslr ibt=off loglevel=1 panic=-1 rdinit=/init"


@dataclass(frozen=True)
class Job:
    """One thing the guest does: ``kind`` is scenario | vmallocinfo | test_vmalloc."""
    kind: str
    name: str
    payload: str = ""       # the probe script (scenario) or module parameters (test_vmalloc)


@dataclass(frozen=True)
class JobOutput:
    job: Job
    text: str               # what the job printed between its markers
    dmesg: str              # kernel messages logged while it ran


@dataclass
class BootResult:
    release: str
    smp: int
    seconds: float
    outputs: list[JobOutput] = field(default_factory=list)
    console: str = ""


def require_tools() -> None:
    """Raise OracleUnavailable naming the first missing host tool."""
    needs = {QEMU: "apt-get install qemu-system-x86", "make": "apt-get install make",
             "gcc-12": "apt-get install gcc-12", BUSYBOX: "apt-get install busybox-static"}
    for tool, how in needs.items():
        if shutil.which(tool) is None and not Path(tool).exists():
            raise OracleUnavailable(f"{tool} not found: {how}")
    # the initramfs has no libraries: busybox must be Debian's static build (it has insmod)
    listing = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout.split()
    if "insmod" not in listing or _has_interpreter(Path(BUSYBOX)):
        raise OracleUnavailable(f"{BUSYBOX} is not the static build with insmod: apt-get install busybox-static")


def _has_interpreter(path: Path) -> bool:
    """True if an ELF64 executable names a dynamic loader (a PT_INTERP program header)."""
    data = path.read_bytes()
    if data[:5] != b"\x7fELF\x02":
        return True
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))


# -- modules -------------------------------------------------------------------------
def _build(kernel: KernelTree, name: str, sources: dict[str, bytes]) -> Path:
    """Build one out-of-tree module from ``sources``; cached by the hash of its inputs."""
    digest = hashlib.sha256(kernel.release.encode())
    for fname in sorted(sources):
        digest.update(fname.encode() + b"\0" + sources[fname])
    out = cache_dir() / "modules" / kernel.release / f"{name}-{digest.hexdigest()[:16]}.ko"
    if out.exists():
        return out
    if kernel.build_root is not None:
        from .trixie import build_module  # headers that want another compiler: build in their root
        ko = build_module(kernel, name, sources)
    else:
        ko = _build_on_host(kernel, name, sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".partial").write_bytes(ko)
    out.with_suffix(".partial").rename(out)
    return out


def _build_on_host(kernel: KernelTree, name: str, sources: dict[str, bytes]) -> bytes:
    """``make -C headers M=dir modules`` with the host's compiler; the built module's bytes."""
    with tempfile.TemporaryDirectory(prefix=f"vmaplab-{name}-") as d:
        for fname, data in sources.items():
            Path(d, fname).write_bytes(data)
        cmd = ["make", "-C", str(kernel.headers), f"M={d}", "CONFIG_DEBUG_INFO_BTF_MODULES=", "modules"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0 or not Path(d, f"{name}.ko").exists():
            raise GuestError(f"building {name}.ko failed:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return Path(d, f"{name}.ko").read_bytes()


def build_probe(kernel: KernelTree) -> Path:
    """Our module (vmaplab/oracle/module/), the only C in the repository."""
    pkg = resources.files("vmaplab.oracle") / "module"
    return _build(kernel, "vmaplab_probe", {
        "vmaplab_probe.c": (pkg / "vmaplab_probe.c").read_bytes(), "Kbuild": b"obj-m := vmaplab_probe.o\n"})


# The kernel's lib/test_vmalloc.c, adapted when it is built (never committed): the one symbol it needs
# that the stock kernel does not export is called through its /proc/kallsyms address, and module
# init returns 0 instead of -EAGAIN, so busybox insmod does not retry the load and run it twice.
TEST_VMALLOC_SHIM = b"""
/* added by vmaplab's oracle when building */
static unsigned long vmalloc_node_fn;
module_param(vmalloc_node_fn, ulong, 0400);
#undef __vmalloc_node
#define __vmalloc_node(size, align, gfp, node, caller) \\
	((void *(*)(unsigned long, unsigned long, gfp_t, int, const void *))vmalloc_node_fn)\\
		((size), (align), (gfp), (node), (caller))
"""
# how each generation's init ends: 6.1 and 6.12 fail on purpose; 7.3 fails unless built in
TEST_VMALLOC_INIT_RETURNS = (b"return -EAGAIN; /* Fail will directly unload the module */",
                             b"return IS_BUILTIN(CONFIG_TEST_VMALLOC) ? 0:-EAGAIN;")


def adapt_test_vmalloc(source: bytes) -> bytes:
    """Insert the shim after the last #include and make init succeed (see TEST_VMALLOC_SHIM)."""
    last_include = source.rfind(b"\n#include ")
    ending = next((e for e in TEST_VMALLOC_INIT_RETURNS if e in source), None)
    if last_include < 0 or ending is None:
        raise GuestError("lib/test_vmalloc.c of this kernel does not have the shape the oracle adapts "
                         "(an #include block and `return -EAGAIN;` in its init)")
    end = source.index(b"\n", last_include + 1) + 1
    return (source[:end] + TEST_VMALLOC_SHIM + source[end:]).replace(ending, b"return 0;")


def build_test_vmalloc(kernel: KernelTree) -> Path:
    """The kernel's own test module (CONFIG_TEST_VMALLOC is unset in Debian's config)."""
    from .debian import source_files
    src = source_files(kernel, ["lib/test_vmalloc.c"])["lib/test_vmalloc.c"].read_bytes()
    return _build(kernel, "test_vmalloc", {"test_vmalloc.c": adapt_test_vmalloc(src),
                                           "Kbuild": b"obj-m := test_vmalloc.o\n"})


# -- initramfs -------------------------------------------------------------------------
class _Cpio:
    """A ``newc`` cpio archive written in memory (the format the kernel unpacks as initramfs)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self.buf.write(name.encode() + b"\0")
        self.buf.write(b"\0" * (-self.buf.tell() % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def dir(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def _init_script(jobs: list[Job], modules: dict[str, str]) -> str:
    """The guest's /init: mount, load the probe, run each job between markers, power off."""
    lines = [
        "#!/bin/busybox sh",
        "/bin/busybox --install -s /bin",
        "export PATH=/bin",
        "mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev",
        "echo 1 > /proc/sys/kernel/kptr_restrict",
        "dmesg -n 1; dmesg -c > /dev/null",
        f"echo '{MARK} uname' $(uname -r) $(grep -c ^processor /proc/cpuinfo)",
        # 6.10 renamed __vmalloc_node to __vmalloc_node_noprof (memory allocation profiling); same signature
        "fn=$(grep -m1 ' __vmalloc_node_noprof$' /proc/kallsyms | cut -d' ' -f1)",
        "[ -n \"$fn\" ] || fn=$(grep -m1 ' __vmalloc_node$' /proc/kallsyms | cut -d' ' -f1)",
        # the free tree and its lock (static in mm/vmalloc.c): the probe walks the tree at each snapshot
        # (docs/oracle.md §2.2); vrealloc_noprof, which 6.12 does not export (0 where there is none)
        "fr=$(grep -m1 ' free_vmap_area_root$' /proc/kallsyms | cut -d' ' -f1)",
        "fl=$(grep -m1 ' free_vmap_area_lock$' /proc/kallsyms | cut -d' ' -f1)",
        "vr=$(grep -m1 ' vrealloc_noprof$' /proc/kallsyms | cut -d' ' -f1)",
        (f"insmod /{modules['vmaplab_probe']} vmalloc_node_fn=0x$fn free_root=0x${{fr:-0}} free_lock=0x${{fl:-0}}"
         f" vrealloc_fn=0x${{vr:-0}} || echo '{MARK} probe-load-failed'"),
    ]
    for i, job in enumerate(jobs):
        lines.append(f"echo '{MARK} begin {i}'")
        if job.kind == "scenario":
            lines.append(f"cat /jobs/{i} > /proc/vmaplab_probe && cat /proc/vmaplab_probe"
                         f" || echo '{MARK} failed'")
        elif job.kind == "vmallocinfo":
            # the probe's init sections are vfree()d by a work after insmod returns: let it finish,
            # or the area may be printed busy and then unpurged in one read (docs/oracle.md §4)
            lines.append("sleep 2; cat /proc/vmallocinfo")
        elif job.kind == "test_vmalloc":
            lines.append(f"insmod /{modules['test_vmalloc']} $(cat /jobs/{i}) vmalloc_node_fn=0x$fn"
                         " 2>/dev/null; true")
        else:
            raise InvariantError(f"unknown job kind {job.kind!r}")     # parse_scenario admits none
        lines.append(f"echo '{MARK} dmesg {i}'; dmesg -c; echo '{MARK} end {i}'")
    lines.append(f"echo '{MARK} done'; poweroff -f")
    return "\n".join(lines) + "\n"


def pack_initramfs(jobs: list[Job], modules: dict[str, Path]) -> bytes:
    cpio = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "jobs"):
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
    names = {}
    for name, path in modules.items():
        names[name] = f"{name}.ko"
        cpio.file(names[name], path.read_bytes())
    for i, job in enumerate(jobs):
        cpio.file(f"jobs/{i}", job.payload.encode())
    cpio.file("init", _init_script(jobs, names).encode(), 0o755)
    return gzip.compress(cpio.finish(), compresslevel=1, mtime=0)


# -- boot -------------------------------------------------------------------------------
def _split(console: str, jobs: list[Job]) -> list[JobOutput]:
    """Cut the console into the jobs' outputs by their begin / dmesg / end markers."""
    outputs = []
    for i, job in enumerate(jobs):
        begin, dm, end = f"{MARK} begin {i}\n", f"{MARK} dmesg {i}\n", f"{MARK} end {i}\n"
        if begin not in console or end not in console:
            raise GuestError(f"the guest stopped before job {i} ({job.kind} {job.name}) finished; "
                             f"its console ended with:\n{console[-1500:]}")
        body = console.split(begin, 1)[1].split(end, 1)[0]
        text, _, dmesg = body.partition(dm)
        outputs.append(JobOutput(job, text, dmesg))
    return outputs


def boot(kernel: KernelTree, smp: int, jobs: list[Job], modules: dict[str, Path],
         timeout: float | None = None) -> BootResult:
    """Boot once with ``-smp smp``, run ``jobs`` in order, return their outputs."""
    require_tools()
    if not kernel.vmlinuz.exists():
        raise OracleUnavailable(f"{kernel.vmlinuz} is missing: delete {kernel.root} to fetch again")
    timeout = timeout or 120 + 10 * smp + 60 * len(jobs)
    accel = os.environ.get("VMAPLAB_ORACLE_ACCEL", "tcg")
    with tempfile.TemporaryDirectory(prefix="vmaplab-guest-") as d:
        initrd, log = Path(d, "initrd.gz"), Path(d, "console.txt")
        initrd.write_bytes(pack_initramfs(jobs, modules))
        cmd = [QEMU, "-accel", accel, "-m", str(MEMORY_MB), "-smp", str(smp), "-nodefaults",
               "-display", "none", "-no-reboot", "-serial", f"file:{log}",
               "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd), "-append", BOOT_ARGS]
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            # the watchdog: a hung guest (seen once in ~43 boots of 7.3 under TCG) is killed here
            console = log.read_text(errors="replace") if log.exists() else ""
            kept = keep_console(kernel.release, smp, console)
            raise GuestError(f"the guest did not power off within {timeout:.0f} s (console kept in {kept}); "
                             f"console tail:\n{console[-1500:]}") from None
        seconds = time.monotonic() - t0
        console = log.read_text(errors="replace").replace("\r\n", "\n") if log.exists() else ""
    try:
        if p.returncode != 0 and f"{MARK} done" not in console:
            raise GuestError(f"qemu exited with status {p.returncode}: {p.stderr.strip()[-500:]}")
        if f"{MARK} probe-load-failed" in console:
            raise GuestError("the probe module did not load; console:\n" + console[-1500:])
        release = next((ln.split()[2] for ln in console.splitlines() if ln.startswith(f"{MARK} uname")), "?")
        return BootResult(release, smp, seconds, _split(console, jobs), console)
    except GuestError as e:
        kept = keep_console(kernel.release, smp, console)
        raise GuestError(f"{e} (console kept in {kept})") from None


def keep_console(release: str, smp: int, console: str) -> Path:
    """A failed boot's whole console, on disk: under ``$VMAPLAB_ORACLE_CONSOLES`` (the test suite points
    it at test-artifacts/oracle/, which CI keeps) or the cache's ``consoles/``; the newest 20 are kept."""
    where = Path(os.environ.get("VMAPLAB_ORACLE_CONSOLES") or cache_dir() / "consoles")
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{release}-smp{smp}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.console.txt"
    path.write_text(console)
    for old in sorted(where.glob("*.console.txt"), key=lambda q: q.stat().st_mtime)[:-20]:
        old.unlink(missing_ok=True)
    return path
