# SPDX-License-Identifier: MIT
"""Float sums with the same bits on every Python the package supports.

Mirrors no kernel code. From Python 3.12 the built-in ``sum()`` of floats is compensated
(Neumaier summation), so the same values added in the same order can end in other last digits
than on 3.11. A run's results must be the same on every Python, byte for byte, so sums that
reach results use :func:`plain_sum`: left to right, each addition rounded, as 3.11's ``sum()``
adds (on 3.11 it is that built-in, so nothing slows down there).
"""
from __future__ import annotations

import sys
from functools import reduce
from operator import add

if sys.version_info < (3, 12):
    plain_sum = sum
else:
    def plain_sum(values, start=0):
        """``start + v0 + v1 + ...``, left to right, each addition rounded (no compensation)."""
        return reduce(add, values, start)
