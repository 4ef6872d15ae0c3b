# SPDX-License-Identifier: MIT
"""/proc/vmallocinfo as text: its records, its parser, and machines rebuilt from it.

What it is: the reader's side of the kernel's ``vmalloc_info_show`` output. The kernel model
prints the lines (``kernel/walks.py``: the flag words, the caller token, the field order); this
package parses them into typed, line-numbered records (``vmallocinfo.py``) and rebuilds a machine
whose areas reproduce them (``rebuild.py``).

What it may import: the standard library and :mod:`vmaplab.kernel` (public names only).
"""
from .rebuild import from_vmallocinfo
from .vmallocinfo import VmallocInfo, VmallocInfoError, VmallocInfoLine, parse_vmallocinfo

__all__ = ["VmallocInfo", "VmallocInfoError", "VmallocInfoLine", "parse_vmallocinfo", "from_vmallocinfo"]
