#!/usr/bin/env python
# SPDX-License-Identifier: MIT
"""Build the course as a static JupyterLite site that runs in the browser, from PyPI and npm only.

Usage: python scripts/build_lite.py [--out lite/_output]

What goes in (docs/lite.md): the Pyodide core from the npm package ``pyodide`` of the version
``jupyterlite-pyodide-kernel`` pins (the wasm, the stdlib, the lock file; no wheels), beside it
the pure-Python wheels of the lock-file packages the kernel needs (micropip, the IPython chain,
narwhals, typing_extensions) fetched from PyPI with their sha256 written into the lock file; the
course's own wheels (vmaplab, plotly, ipywidgets, anywidget, ...) in the site's ``pypi/`` index
with the PyPI fallback turned off; the notebooks, ``data/`` and ``experiments/`` as the site's
files, each notebook with one install cell in front (the repository's notebooks are unchanged).

Invariants: every build starts from an empty lite dir and output dir (an incremental build once
dropped ``pyodideUrl`` and sent the kernel to a CDN); downloads are cached in
``$VMAPLAB_CACHE/lite`` (or ``$XDG_CACHE_HOME/vmaplab/lite``, ``~/.cache/vmaplab/lite``) and reused;
the built ``jupyter-lite.json`` must point the kernel at the site's own Pyodide, checked after
the build.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LITE = ROOT / "lite" / "_build"
OUT = ROOT / "lite" / "_output"
NOTEBOOKS = ROOT / "notebooks"
# the lock-file packages the kernel and the course import (the kernel loads jedi for completion), and their
# dependencies
LOCK_ROOTS = ("micropip", "packaging", "ipython", "jedi", "narwhals", "typing-extensions", "tqdm")
# the course's packages that Pyodide's lock does not have: served from the site's own index
APP_WHEELS = ("plotly==7.1.0", "ipywidgets==8.1.9", "anywidget==0.11.0", "jupyterlab_widgets", "comm", "psygnal")
# plotly's mimetype renderer only checks that nbformat >= 4.2 imports; the real one needs jsonschema's
# compiled dependencies, which only Pyodide's CDN has. A stand-in that says its version is enough,
# as piplite's own widgetsnbextension 4.0.999 stands in for the real one.
NBFORMAT_SHIM = "5.999"
INSTALL_CELL_ID = "lite-install"
# the update prompt for returning learners (docs/lite.md §3.1): its source, the line the build fills in,
# and its name in the site
UPDATE_SOURCE = ROOT / "lite" / "update.js"
UPDATE_SLOT = "var VMAPLAB_SITE = null;"
UPDATE_SCRIPT = "vmaplab-update.js"
TOUR = "lab/index.html?path=notebooks/00-tour.ipynb"
INSTALL_CELL = ("# In the browser (JupyterLite): install the course's packages from this site's own wheels.\n"
                "%pip install -q vmaplab plotly ipywidgets anywidget tqdm nbformat")


def cache_dir() -> Path:
    base = os.environ.get("VMAPLAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vmaplab"
    d = Path(base) / "lite"
    d.mkdir(parents=True, exist_ok=True)
    return d


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run(cmd: list, **kw) -> None:
    print("  $ " + " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kw)


def pyodide_version() -> str:
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION
    return PYODIDE_VERSION


def fetch_pyodide(cache: Path, version: str) -> Path:
    """The npm package's tarball, packed once into the cache."""
    tgz = cache / f"pyodide-{version}.tgz"
    if not tgz.exists():
        run(["npm", "pack", f"pyodide@{version}", "--pack-destination", str(cache)], stdout=subprocess.DEVNULL)
    return tgz


def pip_download(specs: list[str], dest: Path) -> None:
    """Pure-Python wheels for Python 3.14, without their dependencies (each list says what it needs)."""
    dest.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest), "--only-binary=:all:",
         "--python-version", "3.14", "--platform", "any", "--implementation", "py", "--abi", "none", *specs])


def lock_closure(packages: dict) -> list[str]:
    by_name = {norm(k): k for k in packages}
    todo, seen = list(LOCK_ROOTS), []
    while todo:
        n = by_name[norm(todo.pop())]
        if n not in seen:
            seen.append(n)
            todo += packages[n]["depends"]
    return sorted(seen)


def add_pyodide(cache: Path, lite: Path) -> None:
    """static/pyodide: the core from npm, the lock closure's wheels from PyPI, sha256 rewritten."""
    version = pyodide_version()
    dest = lite / "static" / "pyodide"
    with tarfile.open(fetch_pyodide(cache, version)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("package/") and not member.name.endswith(".map"):
                target = dest / member.name.removeprefix("package/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    lock_path = dest / "pyodide-lock.json"
    lock = json.loads(lock_path.read_text())
    needed = lock_closure(lock["packages"])
    wheels = cache / f"lock-wheels-{version}"
    missing = [n for n in needed if not (wheels / lock["packages"][n]["file_name"]).exists()]
    if missing:
        pip_download([f"{n}=={lock['packages'][n]['version']}" for n in missing], wheels)
    for n in needed:
        entry = lock["packages"][n]
        wheel = wheels / entry["file_name"]
        if not wheel.exists():
            raise SystemExit(f"build_lite: PyPI has no {entry['file_name']} (lock-file package {n})")
        shutil.copy(wheel, dest / wheel.name)
        entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock_path.write_text(json.dumps(lock))
    print(f"  pyodide {version}: core + {len(needed)} lock-file wheels")


def add_app_wheels(cache: Path, lite: Path) -> None:
    pypi = lite / "pypi"
    wheels = cache / "app-wheels"
    pip_download(list(APP_WHEELS), wheels)
    pypi.mkdir(parents=True, exist_ok=True)
    for spec in APP_WHEELS:
        name = norm(spec.split("==")[0])
        found = sorted(w for w in wheels.glob("*.whl") if norm(w.name.split("-")[0]) == name)
        if "==" in spec:
            found = [w for w in found if w.name.split("-")[1] == spec.split("==")[1]]
        shutil.copy(found[-1], pypi / found[-1].name)
    # setuptools leaves build/ in the source tree: remove it unless it was there before
    had_build = (ROOT / "build").exists()
    try:
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(pypi), str(ROOT)],
            stdout=subprocess.DEVNULL)
    finally:
        if not had_build:
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    write_shim_wheel(pypi, "nbformat", NBFORMAT_SHIM,
                     f'"""A stand-in for nbformat in the browser: plotly checks only its version."""\n'
                     f'__version__ = "{NBFORMAT_SHIM}"\n')
    print(f"  pypi/: {', '.join(sorted(p.name for p in pypi.glob('*.whl')))}")


def write_shim_wheel(dest: Path, name: str, version: str, init: str) -> Path:
    """A pure-Python wheel holding one module ``name`` with ``init`` as its __init__.py."""
    import base64
    import zipfile
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": init,
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                 f"Summary: vmaplab's browser stand-in (scripts/build_lite.py)\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: vmaplab\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}

    def digest(text):
        return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record = "".join(f"{path},{digest(text)},{len(text.encode())}\n" for path, text in files.items())
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for path, text in sorted(files.items()):
            z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return wheel


def write_joined(nb: nbformat.NotebookNode, dest: Path) -> None:
    """Write ``nb`` with every multiline string as one string, as a Jupyter server would send it.

    nbformat stores a multiline string (a cell's source, a stream's text, an output's text/plain,
    text/html, ...) as a list of lines, and ``nbformat.read`` joins them again. A Jupyter server
    reads notebooks with nbformat, so JupyterLab only ever receives joined strings; JupyterLite
    serves the file as it is, and JupyterLab turns a stream's list of lines into text with
    JavaScript's ``String(list)``, a comma between lines (jupyterlite/jupyterlite#1105). So the
    site's copies keep the strings ``nbformat.read`` joined: ``nbformat.write`` would split them.
    """
    nbformat.validate(nb)
    dest.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def add_files(lite: Path, notebooks: Path = NOTEBOOKS) -> list[str]:
    """The repository's layout under files/: notebooks/ (with the install cell), data/, experiments/."""
    files = lite / "files"
    names = []
    for nb_path in sorted(notebooks.glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        cell = nbformat.v4.new_code_cell(INSTALL_CELL)
        cell["id"] = INSTALL_CELL_ID
        nb.cells.insert(0, cell)
        dest = files / "notebooks" / nb_path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_joined(nb, dest)
        names.append(nb_path.name)
    for extra in ("data", "experiments"):
        shutil.copytree(ROOT / extra, files / extra)
    return names


def storage_name(files: Path) -> str:
    """The browser storage the site keeps a learner's notebooks in, named after the course's content:
    JupyterLite serves a learner's stored copy in place of the site's file of the same name, so a
    site whose notebooks changed gets a new storage, and learners see the new notebooks (their
    edits of the old ones stay in the old storage; docs/lite.md, "When the course changes")."""
    digest = hashlib.sha256()
    for path in sorted(p for p in files.rglob("*") if p.is_file()):
        digest.update(path.relative_to(files).as_posix().encode() + b"\0" + path.read_bytes())
    from vmaplab import __version__
    return f"vmaplab {__version__} {digest.hexdigest()[:12]}"


def write_config(lite: Path) -> str:
    """Write the site's ``jupyter-lite.json``; returns its storage name."""
    storage = storage_name(lite / "files")
    (lite / "jupyter-lite.json").write_text(json.dumps({
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "vmaplab",
            "contentsStorageName": storage,
            "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": {"disablePyPIFallback": True}},
        }}, indent=1))
    return storage


def add_update_prompt(out: Path, files: Path, storage: str) -> int:
    """The returning learner's prompt (lite/update.js, docs/lite.md §3.1): copied to the site's root as
    ``UPDATE_SCRIPT`` with the site's storage name, version and the paths the course serves filled in,
    and loaded by every app page (the pages that carry JupyterLite's config). Returns how many pages."""
    from vmaplab import __version__
    source = UPDATE_SOURCE.read_text()
    if source.count(UPDATE_SLOT) != 1:
        raise SystemExit(f"build_lite: {UPDATE_SOURCE.relative_to(ROOT)} must hold {UPDATE_SLOT!r} once")
    course = sorted(p.relative_to(files).as_posix() for p in files.rglob("*"))
    site = {"storage": storage, "version": __version__, "course": course}
    (out / UPDATE_SCRIPT).write_text(source.replace(UPDATE_SLOT, f"var VMAPLAB_SITE = {json.dumps(site)};"))
    pages = 0
    for page in sorted(out.glob("*/index.html")):
        text = page.read_text()
        if 'id="jupyter-config-data"' not in text:
            continue
        if "</head>" not in text:
            raise SystemExit(f"build_lite: {page} has no </head>")
        # the address names the storage: a browser (or a host's cache) that kept the last version's script
        # cannot serve it to the new pages, which are revalidated on every visit
        src = f"../{UPDATE_SCRIPT}?v={storage.rsplit(' ', 1)[-1]}"
        page.write_text(text.replace("</head>", f'    <script src="{src}" defer></script>\n  </head>', 1))
        pages += 1
    if not pages:
        raise SystemExit("build_lite: no JupyterLite app page to load the update prompt")
    return pages


def check_output(out: Path) -> None:
    """The kernel must load the site's own Pyodide and nothing from a CDN."""
    config = json.loads((out / "jupyter-lite.json").read_text())
    settings = config["jupyter-config-data"]["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    if settings.get("pyodideUrl") != "./static/pyodide/pyodide.mjs" or not settings.get("disablePyPIFallback"):
        raise SystemExit(f"build_lite: the built jupyter-lite.json does not use the local Pyodide: {settings}")
    if not (out / "static" / "pyodide" / "pyodide.asm.wasm").exists():
        raise SystemExit("build_lite: static/pyodide has no pyodide.asm.wasm")


def build(out: Path = OUT, notebooks: Path = NOTEBOOKS) -> Path:
    """Build the site into ``out`` from the notebooks in ``notebooks`` (the repository's by default; the
    update test builds a changed course from a copy)."""
    cache = cache_dir()
    for d in (LITE, out):
        shutil.rmtree(d, ignore_errors=True)       # clean every time (see the module docstring)
    LITE.mkdir(parents=True)
    add_pyodide(cache, LITE)
    add_app_wheels(cache, LITE)
    names = add_files(LITE, notebooks)
    storage = write_config(LITE)
    run([sys.executable, "-m", "jupyter", "lite", "build", "--lite-dir", str(LITE), "--output-dir", str(out),
         "--contents", str(LITE / "files")], cwd=LITE)
    check_output(out)
    add_update_prompt(out, LITE / "files", storage)
    # the site opens the tour (JupyterLite's root page opens an empty lab). The root page stays, with
    # one script in front: the lab pages read their settings from it (its jupyter-config-data)
    root = out / "index.html"
    text = root.read_text()
    if "<head>" not in text:
        raise SystemExit("build_lite: JupyterLite's root index.html has no <head>")
    root.write_text(text.replace("<head>", f'<head>\n    <script>location.replace("{TOUR}")</script>', 1))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"built {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {len(names)} notebooks, "
          f"{size / 2**20:.0f} MiB")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help="output folder (default lite/_output)")
    p.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the notebooks' folder (default notebooks/)")
    args = p.parse_args(argv)
    if not any(args.notebooks.glob("*.ipynb")):
        p.error(f"--notebooks {args.notebooks}: no .ipynb file there")
    build(args.out.resolve(), args.notebooks.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
