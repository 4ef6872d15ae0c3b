# SPDX-License-Identifier: MIT
"""The core must not pull in Jupyter or plotting libraries (STYLE.md: views read the core, never the reverse)."""
import subprocess
import sys

VIEW_MODULES = ("plotly", "ipywidgets", "IPython", "matplotlib", "jupyter_core", "anywidget", "tqdm.notebook")


def test_import_vmaplab_pulls_in_no_view_module():
    code = ("import sys, vmaplab, vmaplab.cli, vmaplab.kernel.check, vmaplab.kernel.trace; "
            f"print(','.join(m for m in {VIEW_MODULES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_uses_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import vmaplab; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "std = set(sys.stdlib_module_names); print(sorted(new - std - {'vmaplab'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_core_module_imports_no_view_module():
    """All of vmaplab but viz and widgets, module by module (lessons and contention included)."""
    code = ("import sys, pkgutil, importlib, vmaplab; "
            "mods = [m.name for m in pkgutil.walk_packages(vmaplab.__path__, 'vmaplab.') "
            "if m.name not in ('vmaplab.course.figures', 'vmaplab.course.widgets', 'vmaplab.__main__')]; "
            "[importlib.import_module(m) for m in mods]; "
            f"print(len(mods), ','.join(m for m in {VIEW_MODULES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, leaked = out.stdout.strip().split(" ", 1) if " " in out.stdout.strip() else (out.stdout.strip(), "")
    assert int(count) > 20 and leaked == ""
