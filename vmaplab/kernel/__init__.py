# SPDX-License-Identifier: MIT
"""The model of the kernel's mm/vmalloc.c, in its 6.8 and 6.9 designs: standard library only.

What it is: one simulated machine's vmalloc (:class:`Vmalloc`), built from the kernel's own
structures (``VmapArea``, ``VmStruct``, ``VmapNode``, the augmented free tree) and sections
(allocation in ``vmalloc.py``, lazy free and purge in ``purge.py``, the per-CPU kva allocator in
``vmap_block.py``, the percpu areas in ``pcpu.py``, the shrinker, the walks behind
/proc/vmallocinfo and vread, the invariant checker). ``docs/kernel-model.md`` says what each part
mirrors, section by section; code comments cite its sections as ``kernel-model.md §N``.

What it may import: the standard library and its own modules. Never the contention simulator,
the course, plotting or Jupyter (tests/test_layers.py fails if it does). Other layers use it only
through public names: nothing outside this package reads a ``_private`` attribute of its objects.
The hooks other layers attach are public: ``Vmalloc.attach_tracer`` (an event sink),
``Vmalloc.untraced()``, ``RBTree.observer`` (cache-line observation of node accesses).
"""
from .area import VmapArea, VmStruct, decode_vn_id, encode_vn_id
from .check import render_address_map
from .errors import (
    BadFreeError,
    ConfigError,
    InvalidArgumentError,
    InvariantError,
    VmallocError,
    WrongFreeFunctionError,
)
from .freespace import FreeSpace, LinearFreeSpace
from .state import Stats
from .vmalloc import Vmalloc

__all__ = ["Vmalloc", "Stats", "VmapArea", "VmStruct", "encode_vn_id", "decode_vn_id", "render_address_map",
           "FreeSpace", "LinearFreeSpace", "VmallocError", "InvalidArgumentError", "BadFreeError",
           "WrongFreeFunctionError", "ConfigError", "InvariantError"]
