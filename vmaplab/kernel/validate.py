# SPDX-License-Identifier: MIT
"""The one place vmaplab decides what an integer, a flag or a number typed by a user is.

Every layer validates through these functions (the kernel model's calls, the simulator's settings,
experiment specs, oracle scenarios, exercises, assignments, the CLI's options), each passing the
:class:`~vmaplab.kernel.errors.VmallocError` subclass its callers expect; so the rules are written
once and the messages read alike: ``<what> must be an integer in 1..64, got 0``.

The rules:

* a bool is never an integer here (``True`` is an ``int`` to Python, never a size or a CPU to us);
* any integral type (``operator.index``: numpy.int64, ...) is accepted where a *setting* is wanted
  (a seed, a CPU count, a spec's field) and converted to ``int``; an argument of an allocator
  call is a C integer of the kernel (an address, a size, a CPU), and there only ``int`` itself is
  accepted (``integral=False``): a numpy scalar in address arithmetic wraps at 2**63, silently;
* text (a command line, a form) is an integer only if it is ASCII digits (``int()`` would also
  take "١" or "１");
* an integer too long to print (Python refuses to format 4,300 digits) is named by its bit length.

Nothing here changes state: each function returns the value it accepted, converted.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Collection
from typing import SupportsIndex, TypeGuard, TypeVar, cast

from .errors import InvalidArgumentError, VmallocError

T = TypeVar("T")


def short_int(v: int) -> str:
    """``v`` in decimal, or its sign and bit length when too long to print (str() refuses 4,300 digits)."""
    return str(v) if v.bit_length() <= 256 else f"{'-' * (v < 0)}a {v.bit_length()}-bit integer"


def shown(value: object, limit: int = 100) -> str:
    """A repr for an error message, cut short (a caller may pass anything, of any size)."""
    text = short_int(value) if isinstance(value, int) and not isinstance(value, bool) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def is_c_int(value: object) -> TypeGuard[int]:
    """An ``int`` that is not a bool: what an allocator call's integer argument must be."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_integer(value: object, integral: bool = True) -> bool:
    """An integer by the rules above: any integral type but bool (only ``int`` unless ``integral``)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (integral and hasattr(type(value), "__index__"))


def bounds_text(low: float | None, high: float | None) -> str:
    """``in 1..64``, ``>= 1`` or ``<= 64``: how a range reads in a message."""
    def num(v: float) -> str:
        return short_int(v) if isinstance(v, int) else f"{v:g}"
    if low is not None and high is not None:
        return f"in {num(low)}..{num(high)}"
    return f">= {num(low)}" if low is not None else f"<= {num(high)}" if high is not None else ""


def check_int(value: object, what: str, low: int | None = None, high: int | None = None,
              exc: type[VmallocError] = InvalidArgumentError, integral: bool = False) -> int:
    """``value`` as an ``int`` within [low, high]; else ``exc`` naming ``what``.

    ``integral`` accepts any integral type (a setting); without it only ``int`` (a kernel call's
    argument). ``None`` for ``low`` or ``high``: unbounded on that side.
    """
    if not is_integer(value, integral):
        raise exc(f"{what} must be an integer{' ' + bounds_text(low, high) if low is not None or high is not None else ''}, "
                  f"got {shown(value)}")
    v = int(cast(SupportsIndex, value).__index__())
    if (low is not None and v < low) or (high is not None and v > high):
        raise exc(f"{what} must be an integer {bounds_text(low, high)}, got {short_int(v)}")
    return v


def check_bool(value: object, what: str, exc: type[VmallocError] = InvalidArgumentError) -> bool:
    """``value`` if it is True or False (not 0, 1 or "yes"); else ``exc`` naming ``what``."""
    if not isinstance(value, bool):
        raise exc(f"{what} must be true or false, got {shown(value)}")
    return value


def check_real(value: object, what: str, low: float | None = None, high: float | None = None,
               exc: type[VmallocError] = InvalidArgumentError) -> float:
    """A finite int or float (not a bool) within [low, high], as a float; else ``exc`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not math.isfinite(value)) or \
            (isinstance(value, int) and value.bit_length() > 1024):         # past any float: float() raises
        raise exc(f"{what} must be a finite number, got {shown(value)}")
    v = float(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise exc(f"{what} must be a number {bounds_text(low, high)}, got {shown(value)}")
    return v


def check_choice(value: object, what: str, choices: Collection[T], exc: type[VmallocError] = InvalidArgumentError) -> T:
    """``value`` if it is one of ``choices`` (compared with ``==``, bools apart); else ``exc`` listing them."""
    if isinstance(value, bool) or not any(value == c and not isinstance(c, bool) for c in choices):
        raise exc(f"{what} must be one of {', '.join(map(str, choices))}, got {shown(value)}")
    return cast(T, value)


def parse_int(text: str, what: str, low: int | None = None, high: int | None = None, base: int = 10,
              exc: type[VmallocError] = InvalidArgumentError) -> int:
    """An integer typed as text (``base`` 0 also takes 0x...), within [low, high]; else ``exc``."""
    try:
        value = int(text, base) if isinstance(text, str) and text.isascii() else None
    except ValueError:
        value = None
    if value is None:
        raise exc(f"{what + ': ' if what else ''}{shown(text)} is not "
                  f"{'a number (0x... or decimal)' if base == 0 else 'an integer'}") from None
    return check_int(value, what or "the value", low, high, exc)


def int_arg(low: int, high: int | None = None, base: int = 10) -> Callable[[str], int]:
    """An argparse ``type=``: :func:`parse_int`'s rule, its message as argparse's one-line error."""
    def parse(text: str) -> int:
        try:
            return parse_int(text, "", low, high, base)
        except VmallocError as e:
            raise argparse.ArgumentTypeError(str(e).replace("the value must be", "must be")) from None
    parse.__name__ = "int"
    return parse
