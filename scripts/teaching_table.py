# SPDX-License-Identifier: MIT
"""The teacher's guide's table of notebooks, measured (docs/teaching.md): words and reading time, the
cells' run time in a native kernel (executed here with nbclient), in the browser site when
test-artifacts/lite-times.json exists (tests/test_lite.py writes it), and the exercise kinds.

    python scripts/teaching_table.py [--wpm 200] [--no-run]

Reading time is words / wpm for the Markdown cells (code and outputs not counted). Run times are one
run on this machine; Binder's are not measured here (it cannot be reached from this machine).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def words(nb: dict) -> int:
    text = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    text = re.sub(r"```.*?```", " ", text, flags=re.S)          # code blocks are read, not counted as prose
    return len(re.findall(r"[A-Za-z0-9_`'.-]+", text))


def exercises(nb: dict) -> list[str]:
    src = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return re.findall(r'ExerciseApp\("([a-z-]+)"', src)


def run_seconds(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    t0 = time.monotonic()
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wpm", type=int, default=120, help="reading speed, words per minute (default 120: technical prose with figures)")
    ap.add_argument("--no-run", action="store_true", help="do not execute the notebooks")
    args = ap.parse_args(argv)
    lite_file = ROOT / "test-artifacts" / "lite-times.json"
    lite = json.loads(lite_file.read_text()) if lite_file.exists() else {}
    print(f"| notebook | words | reading (min, {args.wpm} wpm) | cells, native (s) | cells, browser site (s) | exercises |")
    print("|---|---|---|---|---|---|")
    for path in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        nb = json.loads(path.read_text())
        n = words(nb)
        native = "-" if args.no_run else f"{run_seconds(path):.0f}"
        browser = lite.get(path.name, {}).get("run_all_s")
        print(f"| [{path.stem}](../notebooks/{path.name}) | {n} | {n / args.wpm:.0f} | {native} | "
              f"{'-' if browser is None else f'{browser:.0f}'} | {', '.join(exercises(nb)) or '-'} |", flush=True)
    print(f"\n(browser-site times from {lite_file.relative_to(ROOT)}" + (")" if lite else ": not present)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
