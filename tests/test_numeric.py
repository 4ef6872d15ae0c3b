# SPDX-License-Identifier: MIT
"""plain_sum: float sums with the same bits on every Python (contention/numeric.py)."""
from __future__ import annotations

import random

from vmaplab.contention.numeric import plain_sum


def test_plain_sum_rounds_each_addition_left_to_right():
    # a compensated sum (Python 3.12's built-in) gives 1.0 here; adding left to right loses the 1.0
    assert plain_sum([1e16, 1.0, -1e16]) == 0.0
    assert plain_sum([]) == 0 and plain_sum([], 0.5) == 0.5


def test_plain_sum_is_a_left_fold_of_any_values():
    rng = random.Random(7)
    for _ in range(200):
        xs = [rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-8, 8) for _ in range(rng.randint(0, 40))]
        acc = 0
        for x in xs:
            acc = acc + x
        assert plain_sum(xs) == acc and plain_sum(iter(xs)) == acc
