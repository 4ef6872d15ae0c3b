# SPDX-License-Identifier: MIT
"""The docs stay in step with the code: every cost constant is documented with its default, and
code citations point into docs/ at sections that exist."""
import re
from dataclasses import fields
from pathlib import Path

from vmaplab.contention.costs import ContentionCosts
from vmaplab.workloads.costs import CostModel

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _table(doc: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", doc, re.M)}


def test_every_cost_constant_is_documented_with_its_default():
    table = _table((DOCS / "contention-model.md").read_text())
    for cls in (CostModel, ContentionCosts):
        for f in fields(cls):
            if f.name == "calls":
                continue
            assert f.name in table, f"{cls.__name__}.{f.name} is missing from docs/contention-model.md §6.3"
            default = f.default
            assert table[f.name].strip('"') == str(default) or float(table[f.name].replace("_", "")) == default, \
                f"{f.name}: docs say {table[f.name]}, code says {default!r}"


def _anchors(doc: Path) -> set[str]:
    return set(re.findall(r'<a id="s([\d-]+)"></a>', doc.read_text()))


def test_code_citations_point_at_sections_that_exist():
    anchors_of = {d: _anchors(DOCS / f"{d}.md") for d in ("kernel-model", "contention-model", "oracle", "experiments")}
    missing = []
    for path in list((ROOT / "vmaplab").rglob("*.py")) + list((ROOT / "benchmarks").glob("*.py")):
        text = path.read_text()
        for doc, sec in re.findall(r"(kernel-model|contention-model|oracle|experiments)\.md (?:§|\(§)?§?([\d.]+\d)", text):
            anchors = anchors_of[doc]
            if sec.replace(".", "-") not in anchors:
                missing.append(f"{path.name}: {doc}.md §{sec}")
    assert missing == []


def test_no_citation_points_outside_the_repository():
    bad = []
    for path in list((ROOT / "vmaplab").rglob("*.py")) + list((ROOT / "benchmarks").glob("*.py")) \
            + list((ROOT / "tests").glob("*.py")) + list((ROOT / "notebooks" / "src").glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bspec §|shared/reference|kernel-vmalloc-spec|jupyter-practice", line) and path.name != "test_docs.py":
                bad.append(f"{path.name}:{n}")
    assert bad == []


def test_every_section_mark_in_the_code_resolves_to_a_docs_anchor():
    """A bare §N means the doc named just before it, else its package's: contention-model.md for
    vmaplab/contention and the cost models, oracle.md for vmaplab/oracle, kernel-model.md for the rest."""
    kernel, contention = _anchors(DOCS / "kernel-model.md"), _anchors(DOCS / "contention-model.md")
    oracle, experiments = _anchors(DOCS / "oracle.md"), _anchors(DOCS / "experiments.md")
    missing, seen = [], 0
    for path in (ROOT / "vmaplab").rglob("*.py"):
        text = path.read_text()
        default = (contention if "contention" in path.parts or path.name == "costs.py"
                   else oracle if "oracle" in path.parts else kernel)
        for m in re.finditer(r"§(\d+(?:\.\d+)?)", text):
            before = text[max(0, m.start() - 40):m.start()]
            doc = (kernel if "kernel-model" in before else contention if "contention-model" in before
                   else oracle if "oracle.md" in before else experiments if "experiments.md" in before else default)
            seen += 1
            if m[1].replace(".", "-") not in doc:
                missing.append(f"{path.name}: §{m[1]}")
    assert missing == [] and seen > 100
