# SPDX-License-Identifier: MIT
"""The house's layers, kept by a test: who may import whom, no cycles, no reading another layer's privates.

Layers, top to bottom (a package may import the ones below it and the standard library):
  cli -> course -> oracle -> contention -> workloads -> formats -> kernel
``kernel`` imports only the standard library (one documented exception: ``Vmalloc.from_vmallocinfo``
imports ``vmaplab.formats.rebuild`` when called). Nothing outside ``kernel`` reads a ``_private``
attribute of an object it does not own (``self``/``cls``), and no two modules import each other
through any chain.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vmaplab"
ORDER = ["kernel", "formats", "workloads", "contention", "oracle", "course", "cli"]
# (importing module, imported module, function it happens in): the only upward imports allowed
ALLOWED_UP = {("vmaplab.kernel.vmalloc", "vmaplab.formats.rebuild", "from_vmallocinfo")}
THIRD_PARTY_OK = {"vmaplab.course.figures": {"plotly", "IPython"}, "vmaplab.course.widgets": {"ipywidgets", "plotly", "IPython"},
                  "vmaplab.course.progress": {"ipywidgets", "IPython", "tqdm"},
                  "vmaplab.cli": {"tqdm"},     # the CLI's progress bar, optional
                  "vmaplab.contention.experiments": {"distributed"}}   # Dask, the optional [dask] extra


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None                   # vmaplab itself: the public API, re-exports everything
    return parts[1] if parts[1] in ORDER else None


def _imports(module: str, path: Path):
    """(imported module, enclosing function or None) for every import statement of ``module``."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    out = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            f = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Import):
                out.extend((a.name, func) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    target = ".".join(base[:len(base) - child.level + 1] + ([child.module] if child.module else []))
                else:
                    target = child.module
                out.append((target, func))
                # "from . import figures": the names may be modules
                for a in child.names:
                    if f"{target}.{a.name}" in MODULES:
                        out.append((f"{target}.{a.name}", func))
            elif isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue              # annotations only
            visit(child, f)
    visit(tree, None)
    return out


MODULES = _modules()
IMPORTS = {m: _imports(m, p) for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m)))
def test_imports_point_down(module):
    mine = ORDER.index(_layer(module))
    for target, func in IMPORTS[module]:
        top = target.split(".")[0]
        if top == "vmaplab":
            theirs = _layer(target)
            if theirs is None or ORDER.index(theirs) <= mine:
                continue
            assert (module, target, func) in ALLOWED_UP, f"{module} imports {target} from a higher layer"
        elif top not in sys.stdlib_module_names and top != "__future__":
            assert top in THIRD_PARTY_OK.get(module, ()), f"{module} imports third-party {target}"


def test_kernel_imports_only_the_standard_library_and_itself():
    for module in (m for m in MODULES if _layer(m) == "kernel"):
        for target, func in IMPORTS[module]:
            top = target.split(".")[0]
            ok = (top in sys.stdlib_module_names or top == "__future__" or target.startswith("vmaplab.kernel")
                  or (module, target, func) in ALLOWED_UP)
            assert ok, f"{module} imports {target}"


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}

    def dfs(m, stack):
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if not state.get(t):
                found = dfs(t, stack + [t])
                if found:
                    return found
        state[m] = 2
        return None
    for m in sorted(graph):
        if not state.get(m):
            found = dfs(m, [m])
            if found:
                return found
    return None


def test_no_import_cycles():
    """Module-level imports only (an import inside a function runs after both modules exist)."""
    graph = {m: {t for t, func in IMPORTS[m] if func is None and t in MODULES and t != m} for m in MODULES}
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    assert _find_cycle(graph) is None


def _private_reads(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            out.append(f"{path.name}:{node.lineno} .{node.attr}")
    return out


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) not in (None, "kernel")))
def test_no_private_reads_outside_the_kernel(module):
    assert _private_reads(MODULES[module]) == []


def test_the_checks_can_fail(tmp_path):
    """The private-read finder and the cycle finder see what they look for."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(vm):\n    return vm._tr, self_ok._x\n")
    assert len(_private_reads(bad)) == 2
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
    assert _layer("vmaplab.kernel.vmalloc") == "kernel" and _layer("vmaplab.cli") == "cli"
