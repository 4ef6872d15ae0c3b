# SPDX-License-Identifier: MIT
"""vmaplab: see how Linux vmalloc works, and why the 6.9 "vmap nodes" made it scale.

Layers, each a package that imports only the ones above it in this list:
``kernel`` (the model of mm/vmalloc.c), ``formats`` (/proc/vmallocinfo as text),
``workloads`` (lib/test_vmalloc.c, its cost model, scenarios), ``contention``
(N CPUs on spinlocks driving the kernel model), ``course`` (lesson models,
figures, widgets), and ``cli``. All but ``course.figures`` and ``course.widgets``
import only the standard library, so they run anywhere Python does. This module
re-exports the public API; docs/ says where each piece lives and why.

>>> from vmaplab import Vmalloc, PAGE_SIZE
>>> vm = Vmalloc(nr_cpus=64, version="6.9")
>>> vm.nr_vmap_nodes, vm.vmap_zone_size, vm.lazy_max_pages()
(64, 65536, 57344)
"""
from . import speedups as _speedups

_speedups.install()     # compiled builds of the hot modules, when built for their current source (speedups.py)

from .contention.errors import ContentionError
from .formats import VmallocInfo, VmallocInfoError, VmallocInfoLine, from_vmallocinfo, parse_vmallocinfo
from .kernel.area import VmapArea, VmStruct, decode_vn_id, encode_vn_id
from .kernel.check import render_address_map
from .kernel.config import (
    GFP_KERNEL,
    GFP_NOWARN,
    GFP_ZERO,
    MODULES_END,
    MODULES_VADDR,
    PAGE_SHIFT,
    PAGE_SIZE,
    SHRINK_EMPTY,
    SHRINK_STOP,
    ULONG_MAX,
    VM_ALLOC,
    VM_DMA_COHERENT,
    VM_FLUSH_RESET_PERMS,
    VM_IOREMAP,
    VM_KASAN,
    VM_MAP,
    VM_MAP_PUT_PAGES,
    VM_NO_GUARD,
    VM_SPARSE,
    VM_UNINITIALIZED,
    VM_USERMAP,
    VMALLOC_END,
    VMALLOC_START,
    VMAP_BLOCK,
    VMAP_RAM,
)
from .kernel.errors import (
    BadFreeError,
    ConfigError,
    ExternalError,
    InvalidArgumentError,
    InvariantError,
    VmallocError,
    VmaplabError,
    WrongFreeFunctionError,
)
from .kernel.freespace import FreeSpace, LinearFreeSpace
from .kernel.generations import GENERATIONS, VERSIONS, Generation, generation
from .kernel.state import Stats
from .kernel.vmalloc import Vmalloc
from .workloads import TEST_NAMES, CostModel, TestVmallocParams, TestVmallocRun, build_scenario

__version__ = "0.2.0"   # the one place the version is written (pyproject.toml reads it)

__all__ = [
    "Vmalloc", "Stats", "VmapArea", "VmStruct", "encode_vn_id", "decode_vn_id",
    "render_address_map", "FreeSpace", "LinearFreeSpace", "CostModel", "build_scenario",
    "parse_vmallocinfo", "from_vmallocinfo", "VmallocInfo", "VmallocInfoLine", "VmallocInfoError",
    "TEST_NAMES", "TestVmallocParams", "TestVmallocRun",
    "VmallocError", "InvalidArgumentError", "BadFreeError", "WrongFreeFunctionError",
    "ConfigError", "InvariantError", "ContentionError", "VmaplabError", "ExternalError",
    "Generation", "GENERATIONS", "VERSIONS", "generation",
    "PAGE_SIZE", "PAGE_SHIFT", "ULONG_MAX", "VMALLOC_START", "VMALLOC_END", "MODULES_VADDR",
    "MODULES_END", "VM_IOREMAP", "VM_ALLOC", "VM_MAP", "VM_USERMAP", "VM_DMA_COHERENT",
    "VM_UNINITIALIZED", "VM_NO_GUARD", "VM_KASAN", "VM_FLUSH_RESET_PERMS", "VM_MAP_PUT_PAGES",
    "VM_SPARSE", "VMAP_RAM", "VMAP_BLOCK", "GFP_KERNEL", "GFP_ZERO", "GFP_NOWARN",
    "SHRINK_STOP", "SHRINK_EMPTY",
]
