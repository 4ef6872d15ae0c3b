# SPDX-License-Identifier: MIT
"""A simulator run's settings, declared once: :class:`RunSpec`, each field with its default, its check and its help.

Every consumer derives from these fields instead of writing the settings again:
``ContentionSim`` validates its arguments with :func:`check_settings`; ``RunSpec.simulator`` forwards
every field by name; an experiment spec's parameters (``experiments.PARAMS``) are the fields' checks;
``vmaplab simulate`` takes its options' choices, defaults and help from them (``cli.py``).

A check is ``check(label, value, exc) -> value``: the value converted (an integral type to ``int``),
or ``exc`` (the caller's VmallocError subclass: ContentionError, SpecError) naming ``label``. The
rules themselves are kernel/validate.py's.

Invariants: the field order is the positional order ``RunSpec(version, nr_threads, nr_cpus, scale,
seed, run_test_mask, costs, ...)`` callers use; every field but ``costs`` has a check.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

from ..kernel.errors import VmallocError
from ..kernel.generations import DEFAULT, VERSIONS
from ..kernel.validate import check_bool, check_choice, check_int
from .costs import ContentionCosts
from .errors import ContentionError
from .topology import LETTER_MACHINE, TOPOLOGIES

# ContentionSim gives each thread 4 GiB of simulated RAM (its nr_ram_pages); the kernel model takes at
# most 1 TiB (MAX_RAM_PAGES): past 256 threads the machine cannot be built
MAX_SIM_THREADS = 256
MAX_SEED = (1 << 64) - 1
MAX_SCALE = 10 ** 9

Check = Callable[[str, object, type[VmallocError]], object]


def choice(*options) -> Check:
    def check(label: str, v, exc: type[VmallocError]):
        return check_choice(v, label, options, exc)
    check.options = options            # type: ignore[attr-defined]  # the CLI offers them as choices
    return check


def integer(low: int, high: int, none_ok: bool = False) -> Check:
    return lambda label, v, exc: None if v is None and none_ok else check_int(v, label, low, high, exc, integral=True)


def boolean(label: str, v, exc: type[VmallocError]) -> bool:
    return check_bool(v, label, exc)


def test_mask(label: str, v, exc: type[VmallocError]) -> int:
    """run_test_mask: a C int (which tests it selects, the test module's parameters check)."""
    return check_int(v, label, 1, (1 << 31) - 1, exc, integral=True)


def setting(default, check: Check, help: str):
    """A RunSpec field: its default, its check and its one-line help."""
    return field(default=default, metadata={"check": check, "help": help})


@dataclass(frozen=True)
class RunSpec:
    """One ``test_vmalloc.sh`` run on the simulator; the fields are :class:`ContentionSim`'s arguments.

    ``nr_cpus`` None means as many CPUs as threads.
    """
    version: str = setting(DEFAULT, choice(*VERSIONS), "the kernel model")
    nr_threads: int = setting(64, integer(1, MAX_SIM_THREADS), "test_vmalloc's worker threads, one per CPU")
    nr_cpus: int | None = setting(None, integer(1, 65535, none_ok=True), "simulated CPUs (None: one per thread)")
    scale: int = setting(1000, integer(1, MAX_SCALE), "simulate 1/scale of the loops")
    seed: int = setting(0, integer(0, MAX_SEED), "every random choice's seed")
    run_test_mask: int = setting(7, test_mask, "which of test_vmalloc's tests run (bit i: test i)")
    costs: ContentionCosts = field(default_factory=ContentionCosts)
    machine: str = setting(LETTER_MACHINE, choice(*TOPOLOGIES), "the simulated machine's topology")
    policy: str = setting("fifo", choice("fifo", "tas"), "qspinlock (fifo) or virt_spin_lock (tas)")
    pools: bool = setting(True, boolean, "6.9's pools (false: the what-if without them)")
    nr_vmap_nodes: int | None = setting(None, integer(1, 128, none_ok=True), "vmap nodes (None: the kernel's count)")
    vmap_zone_size_pages: int = setting(16, integer(1, 1 << 20), "pages per zone of the address-to-node map")
    max_va_size_pages: int = setting(256, integer(1, 4096), "the largest pooled size, in pages")
    drain: str = setting("inline", choice("inline", "kworker"),
                         "the drain work inside the call that queued it (inline) or on a kworker (experimental)")
    placement: str = setting("spread", choice("spread", "packed"),
                             "fewer threads than CPUs: spread over the machine as the scheduler does, or packed")
    warm_start: bool = setting(True, boolean, "a scaled 6.9 run starts with the real run's pools")

    def simulator(self, **extra):
        """The :class:`ContentionSim` of this spec (``extra``: its other arguments, e.g. ``progress``)."""
        from .sim import ContentionSim  # sim.py checks its arguments with this module: no cycle
        given = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "run_test_mask"}
        return ContentionSim(params={"run_test_mask": self.run_test_mask}, **given, **extra)


SETTINGS = {f.name: f for f in fields(RunSpec) if "check" in f.metadata}
"""name -> the RunSpec field of every checked setting (all but ``costs``)."""


def check_setting(name: str, value, label: str | None = None, exc: type[VmallocError] = ContentionError):
    """``value`` of setting ``name``, checked and converted; ``exc`` naming ``label`` (default: the name)."""
    return SETTINGS[name].metadata["check"](label or name, value, exc)


def default(name: str):
    """The default of setting ``name``."""
    return SETTINGS[name].default


def help_of(name: str) -> str:
    return SETTINGS[name].metadata["help"]
