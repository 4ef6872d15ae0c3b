# SPDX-License-Identifier: MIT
"""Recorded oracle runs: what a real kernel answered, kept as data, replayable without QEMU.

What it does (docs/oracle.md §7.3): ``vmaplab oracle run ... --record DIR`` writes, per scenario
and kernel, the scenario itself, the kernel's release and series, and the probe's raw answer (the
/proc/vmallocinfo snapshots before and after, one result per op, the kernel log). ``replay``
runs the model on a record exactly as the live oracle does (``scenario.compare``), so a record
referees the model wherever Python runs: in the test suite, on Binder, in the browser. The raw
answer carries the guest's free tree when the probe read it (docs/oracle.md §2.2): such a record
replays on the kernel's tree shape; an older one, without it, on the rebuilt shape (§4). The
format is the same (``vmaplab-oracle-record/1``): the sections are part of the probe's answer.

Invariants: a record is written atomically and alone (the other records in DIR are kept: a run
merges into the collection, never replaces it); a record read back gives the same comparison as
the run that wrote it; a record whose fields are missing or of the wrong type is refused, naming
the file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..formats.userfile import read_user_file, write_atomically
from ..kernel.generations import ORACLE_SERIES, for_release, for_series
from .errors import GuestError, ScenarioError
from .scenario import Comparison, KernelRun, Scenario, compare, parse_probe_output, parse_scenario

FORMAT = "vmaplab-oracle-record/1"
MAX_RECORD_BYTES = 4 << 20
FIELDS: dict[str, type | tuple[type, ...]] = {"format": str, "scenario": dict, "series": str, "release": str, "probe_output": str,
          "dmesg": str, "boot_seconds": (int, float), "command": str}


@dataclass(frozen=True)
class Record:
    """One scenario on one real kernel, as the guest answered it."""
    scenario: Scenario
    series: str             # "6.1", "6.12", "7.3", or "" for a user's own build
    release: str            # the guest's uname -r
    run: KernelRun
    boot_seconds: float
    command: str            # the command that recorded it
    path: str = ""

    @property
    def own_model(self) -> str:
        return (for_series(self.series) if self.series else for_release(self.release)).name

    def replay(self, version: str | None = None) -> Comparison:
        """The model (its own generation unless ``version``) against the recorded answers."""
        return compare(self.scenario, self.run, self.release, version or self.own_model)


def record_doc(scenario_doc: dict, series: str, release: str, probe_output: str, dmesg: str,
               boot_seconds: float, command: str) -> dict:
    return {"format": FORMAT, "scenario": scenario_doc, "series": series, "release": release,
            "probe_output": probe_output, "dmesg": dmesg, "boot_seconds": round(boot_seconds, 1),
            "command": command}


def save(directory: Path, doc: dict) -> Path:
    """Write one record as DIR/SERIES/NAME.json (SERIES "own" for a user's build), atomically."""
    where = Path(directory) / (doc["series"] or "own")
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{doc['scenario']['name']}.json"
    write_atomically(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


def load(path: Path) -> Record:
    """A record file, checked: its format, every field's type, the scenario, the probe's answer."""
    text = read_user_file(path, kind="oracle record (JSON)", max_bytes=MAX_RECORD_BYTES, exc=ScenarioError,
                          max_nesting=16)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ScenarioError(f"{path}: not a {FORMAT} document")
    for key, kind in FIELDS.items():
        if not isinstance(doc.get(key), kind) or isinstance(doc.get(key), bool):
            raise ScenarioError(f"{path}: field {key!r} is missing or not a {getattr(kind, '__name__', 'number')}")
    if doc["series"] and doc["series"] not in ORACLE_SERIES:
        raise ScenarioError(f"{path}: series {doc['series']!r} is not one of {', '.join(ORACLE_SERIES)}")
    scn = parse_scenario(doc["scenario"], str(path))
    try:
        run = parse_probe_output(doc["probe_output"], scn, doc["dmesg"])
    except GuestError as e:
        raise ScenarioError(f"{path}: the recorded answer is damaged: {e}") from None
    return Record(scn, doc["series"], doc["release"], run, float(doc["boot_seconds"]), doc["command"], str(path))


def shipped_dir() -> Path:
    return Path(str(resources.files("vmaplab") / "data" / "oracle-records"))


def load_all(directory: Path | None = None) -> list[Record]:
    """Every record under ``directory`` (default: the ones shipped with vmaplab), by series then name."""
    base = Path(directory) if directory is not None else shipped_dir()
    order = {s: i for i, s in enumerate(ORACLE_SERIES)}
    paths = sorted(base.glob("*/*.json"), key=lambda p: (order.get(p.parent.name, 99), p.name))
    return [load(p) for p in paths]
