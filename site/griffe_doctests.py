# SPDX-License-Identifier: MIT
"""A griffe extension for the API page: fence each docstring's doctest blocks as ``pycon`` code.

vmaplab's docstrings are prose with doctests (``>>> ...`` and the expected output after it, up to a
blank line). Markdown would read ``>>>`` as three nested block quotes; fenced, the examples show as
the code they are. Loaded by site/build.py through mkdocstrings' ``extensions`` option.
"""
from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with every doctest block (a ``>>>`` line to the next blank line) in a pycon fence.

    >>> fence_doctests("Adds.\\n\\n>>> 1 + 1\\n2\\n\\nThen more.").splitlines()
    ['Adds.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Then more.']
    """
    out: list[str] = []
    in_block = in_fence = False
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and not in_block and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(indent + "```pycon")
            in_block = True
        elif in_block and not stripped:
            out.append(indent + "```")
            in_block = False
        out.append(line)
    if in_block:
        out.append(indent + "```")
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Runs ``fence_doctests`` on every docstring once the package is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
