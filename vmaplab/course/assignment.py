# SPDX-License-Identifier: MIT
"""Per-student problem sets that grade themselves with nbgrader (``vmaplab assignment``).

What it makes: from a roster (a CSV with an ``id`` column, the file ``nbgrader db student import``
reads) and a course seed, every student's own problems (:mod:`vmaplab.course.exercises`), made from
a seed derived from (course seed, student id) by SHA-256, and an nbgrader *source* assignment in a
course directory::

    DIR/source/NAME/NAME.ipynb      one notebook for every student (nbgrader's model, see below)
    DIR/source/NAME/questions.json  each student's question texts: no seed, no answer
    DIR/keys/NAME.md                the answer key, every student's problems with their seeds and
                                    answers: for the instructor, outside source/, never released

Why one notebook and not one per student: nbgrader grades every submission of an assignment against
one set of cells (the gradebook keeps each grade cell's source and points, and ``autograde`` puts
the locked cells back from it), and ``release_assignment`` hands every student the same folder. So
the notebook reads who is working in it: a locked cell loads the student's questions from
``questions.json`` and shows them; each answer cell (``answer_3 = ""``) is followed by a locked
test cell worth ``--points``, whose visible part only checks that there is an answer and whose
hidden part (``### BEGIN HIDDEN TESTS``, removed from the release by ``generate_assignment``)
calls :func:`check_answer`: it remakes the student's problems with vmaplab from the course seed
and the student id and checks the answer. The student's copy holds neither the answer key nor the
course seed.

Who the student is: when nbgrader autogrades (``NBGRADER_EXECUTION=autograde``) it runs the
notebook in ``autograded/STUDENT/NAME``, and the id is read from that path, whatever the student
typed; elsewhere (the student's own session, ``nbgrader validate``) it is the ``STUDENT_ID`` the
student typed in the notebook's first code cell, else ``JUPYTERHUB_USER``, else the login name.

Invariants: the same roster, course seed, kinds, count, points and name give byte-identical files;
a student's problems depend only on (course seed, student id, kinds, count), not on the roster's
other rows or their order; :func:`check_answer` grades only a problem whose text is the one
released (``questions.json`` from the source folder, which ``autograde`` copies over the student's)
and raises otherwise; nothing is written unless every target is absent, identical, or ``--force``
is given; each file is written with :func:`~vmaplab.formats.userfile.write_atomically`.

Simplifications: nbgrader's default ``CourseDirectory.directory_structure``
(``{nbgrader_step}/{student_id}/{assignment_id}``) is assumed when autograding; another layout
makes every hidden test fail with an error saying so. Each file is atomic, the set of three is not
(a crash between them leaves a mix that the next run reports as a conflict; ``--force`` then
rewrites it). ``questions.json`` holds every student's questions (never their seeds or answers):
anyone with the release can read a classmate's numbers. The hidden tests, with the course seed in
them, come back in the autograded notebooks and the feedback: take a new course seed for each
assignment. Standard library only; nbgrader itself is needed only by the instructor (the
``[teach]`` extra).
"""
from __future__ import annotations

import argparse
import csv
import functools
import getpass
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..formats.userfile import is_stem, read_user_file, write_atomically
from ..kernel.errors import VmallocError
from ..kernel.validate import check_int, int_arg
from .exercises import KINDS, MAX_SEED, Exercise, problem_set

QUESTIONS = "questions.json"          # beside the notebook, in source/NAME and in every student's copy
FORMAT = "vmaplab-assignment/1"       # questions.json's "format": what StudentSheet.load accepts
MAX_ROSTER_BYTES = 1 << 20
MAX_QUESTIONS_BYTES = 64 << 20
MAX_STUDENTS = 5000
MAX_COUNT = 20                       # problems of each kind
MAX_POINTS = 100                     # per problem
DEFAULT_NAME = "vmalloc"


class AssignmentError(VmallocError):
    """A bad roster, argument or assignment folder; the message names the argument or the file."""


@dataclass(frozen=True)
class Student:
    """One roster row: the id (a file-name stem, as nbgrader uses it in paths) and its line in the file."""
    id: str
    line: int


@dataclass(frozen=True)
class AssignmentSpec:
    """What makes an assignment: everything but the roster. ``kinds`` in the order the problems come."""
    name: str
    course_seed: int
    kinds: tuple[str, ...]
    count: int
    points: int

    def __post_init__(self):
        if not is_stem(self.name):
            raise AssignmentError(f"--name must be a plain name (letters, digits, '.', '_', '-'), got {self.name!r:.100}")
        check_int(self.course_seed, "--course-seed", 0, MAX_SEED, exc=AssignmentError, integral=True)
        if not self.kinds:
            raise AssignmentError("--kinds needs at least one kind")
        for kind in self.kinds:
            if kind not in KINDS:
                raise AssignmentError(f"--kinds: {kind!r:.100} is not one of {', '.join(KINDS)}")
        if len(set(self.kinds)) != len(self.kinds):
            raise AssignmentError("--kinds names a kind twice (--count sets how many problems of each)")
        for what, value, high in (("--count", self.count, MAX_COUNT), ("--points", self.points, MAX_POINTS)):
            check_int(value, what, 1, high, exc=AssignmentError, integral=True)

    @property
    def nr_problems(self) -> int:
        return len(self.kinds) * self.count


@dataclass(frozen=True)
class Written:
    """What :func:`write_assignment` did: the files it wrote and those already identical."""
    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]


# -- the roster ---------------------------------------------------------------------------------------
def read_roster(path: str | Path) -> list[Student]:
    """The students of a roster: a UTF-8 CSV whose header has an ``id`` column (other columns, such as
    nbgrader's first_name, last_name, email, are ignored). Ids are stripped, non-empty, unique and plain
    file-name stems (:func:`~vmaplab.formats.userfile.is_stem`); errors name ``--students``, the file and the line."""
    try:
        text = read_user_file(path, kind="roster (a CSV file with an id column)", max_bytes=MAX_ROSTER_BYTES,
                              exc=AssignmentError)
    except AssignmentError as e:                 # the reader names the file; the CLI's user needs the option too
        raise AssignmentError(f"--students {e}") from None
    return parse_roster(text, f"--students {path}")


def parse_roster(text: str, name: str = "--students") -> list[Student]:
    """:func:`read_roster` on text already read; ``name`` starts every error message.

    >>> [s.id for s in parse_roster("id,email\\ns01,a@example.org\\ns02,\\n")]
    ['s01', 's02']
    """
    text = text.removeprefix("\ufeff")            # a spreadsheet's byte-order mark
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        raise AssignmentError(f"{name}: not CSV ({e})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise AssignmentError(f"{name}: empty; the first line must be a header with an id column")
    header = [cell.strip().lower() for cell in rows[0]]
    if "id" not in header:
        raise AssignmentError(f"{name}: line 1: no id column in the header {rows[0]!r:.200}")
    col = header.index("id")
    students: list[Student] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue                                 # a blank line (the last one, often)
        sid = row[col].strip() if col < len(row) else ""
        if not sid:
            raise AssignmentError(f"{name}: line {line}: the id is empty")
        if not is_stem(sid):
            raise AssignmentError(f"{name}: line {line}: id {sid!r:.100} is not a plain name (letters, digits, "
                                  f"'.', '_', '-', starting with a letter or digit, at most 100 characters): "
                                  f"nbgrader makes folders of ids")
        if sid in seen:
            raise AssignmentError(f"{name}: line {line}: id {sid!r} is already on line {seen[sid]}")
        seen[sid] = line
        students.append(Student(sid, line))
        if len(students) > MAX_STUDENTS:
            raise AssignmentError(f"{name}: more than {MAX_STUDENTS} students")
    if not students:
        raise AssignmentError(f"{name}: no students (a header and no rows)")
    return students


# -- the problems -------------------------------------------------------------------------------------
def student_seed(course_seed: int, student_id: str) -> int:
    """The seed of a student's problem set: the first 8 bytes of SHA-256 over both (never ``hash()``,
    which changes from one Python process to the next).

    >>> student_seed(7, "s01") == student_seed(7, "s01") != student_seed(7, "s02")
    True
    """
    digest = hashlib.sha256(f"vmaplab-assignment\0{course_seed}\0{student_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@functools.lru_cache(maxsize=64)
def student_problems(course_seed: int, student_id: str, kinds: tuple[str, ...], count: int) -> tuple[Exercise, ...]:
    """A student's problems, numbered from 1 in this order: ``count`` of each kind, kinds in order."""
    return tuple(problem_set(student_seed(course_seed, student_id), count, tuple(kinds)))


# -- the files ----------------------------------------------------------------------------------------
def assignment_files(spec: AssignmentSpec, students: list[Student]) -> dict[str, str]:
    """The assignment's files, path (relative to the course directory) -> text; deterministic."""
    from .. import __version__
    problems = {s.id: student_problems(spec.course_seed, s.id, spec.kinds, spec.count) for s in students}
    questions = {"format": FORMAT, "assignment": spec.name, "made_by": f"vmaplab {__version__}",
                 "problems": [{"number": n, "kind": kind} for n, kind in enumerate(_kinds(spec), 1)],
                 "students": {sid: [ex.question for ex in exs] for sid, exs in problems.items()}}
    roster_digest = hashlib.sha256("\n".join(s.id for s in students).encode()).hexdigest()[:16]
    key = [f"# {spec.name}: answer key (for the instructor: not part of the release)", "",
           (f"vmaplab {__version__}; --course-seed {spec.course_seed} --kinds {' '.join(spec.kinds)} "
           f"--count {spec.count} --points {spec.points} --name {spec.name}; {len(students)} students "
           f"(roster ids sha256 {roster_digest}). `vmaplab exercises` remakes any problem from its kind and seed."),
           ""]
    for sid, exs in problems.items():
        key += [f"## {sid}", ""] + [f"{n}. [{ex.kind}, seed {ex.seed}] {ex.solution}" for n, ex in enumerate(exs, 1)] + [""]
    return {f"keys/{spec.name}.md": "\n".join(key),
            f"source/{spec.name}/{QUESTIONS}": json.dumps(questions, indent=1, ensure_ascii=False) + "\n",
            f"source/{spec.name}/{spec.name}.ipynb": notebook_text(spec)}


def _kinds(spec: AssignmentSpec) -> list[str]:
    return [kind for kind in spec.kinds for _ in range(spec.count)]


def _cell(cell_type: str, cell_id: str, source: str, nbgrader: dict | None) -> dict:
    cell: dict[str, Any] = {"cell_type": cell_type, "id": cell_id, "metadata": {},
                            "source": source.splitlines(keepends=True)}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = {"grade": False, "grade_id": cell_id, "locked": False, "schema_version": 3,
                                        "solution": False, "task": False, **nbgrader}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook_text(spec: AssignmentSpec) -> str:
    """The source notebook (nbformat 4.5, as nbformat writes it: sorted keys, one-space indent)."""
    total = spec.nr_problems * spec.points
    pts = f"{spec.points} point{'s' * (spec.points > 1)}"
    cells = [
        _cell("markdown", "intro", f"# {spec.name}: vmalloc problems\n\n"
              f"Every student has their own numbers: {spec.nr_problems} problems, {pts} each ({total} in all). "
              "Run the cells from the top: the cell after your id shows whose problems these are, and each "
              "problem's cell prints its question. Write each answer as text in its cell, e.g. "
              "`answer_1 = \"page 12\"` (numbers in decimal or 0x hex). The check after it only says whether "
              "there is an answer; whether it is right is checked when your work is graded.",
              {"locked": True}),
        _cell("code", "student-id", "# Your student id, as on the course roster. On the course's JupyterHub, leave it\n"
              "# empty: your login name is used.\nSTUDENT_ID = \"\"", None),
        _cell("code", "setup", "from vmaplab.course.assignment import StudentSheet, check_answer\n\n"
              f"sheet = StudentSheet.load(globals().get(\"STUDENT_ID\", \"\"), assignment=\"{spec.name}\")",
              {"locked": True}),
    ]
    for n, kind in enumerate(_kinds(spec), 1):
        cells += [
            _cell("markdown", f"problem-{n}", f"## Problem {n} ({kind})", {"locked": True}),
            _cell("code", f"question-{n}", f"sheet.show({n})", {"locked": True}),
            _cell("code", f"answer-{n}", f"# Your answer to problem {n}, as text: answer_{n} = \"...\"\n"
                  "### BEGIN SOLUTION\n"
                  f"answer_{n} = \"\"   # the hidden test remakes each student's answer: none to write here\n"
                  "### END SOLUTION", {"solution": True}),
            _cell("code", f"check-{n}", f"sheet.require_answer({n}, answer_{n})\n"
                  "### BEGIN HIDDEN TESTS\n"
                  f"check_answer(sheet, {n}, answer_{n}, course_seed={spec.course_seed}, "
                  f"kinds={spec.kinds!r}, count={spec.count})\n"
                  "### END HIDDEN TESTS", {"grade": True, "locked": True, "points": spec.points}),
        ]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}}}
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def write_assignment(out: str | Path, spec: AssignmentSpec, students: list[Student], force: bool = False) -> Written:
    """Write the assignment under the course directory ``out``. A target that exists with other text is an
    AssignmentError naming ``--out`` (nothing written) unless ``force``; identical ones are left alone."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AssignmentError(f"--out {out}: not a directory")
    files = {out / rel: text for rel, text in assignment_files(spec, students).items()}
    written: list[Path] = []
    unchanged: list[Path] = []
    conflicts: list[Path] = []
    for path, text in files.items():
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise AssignmentError(f"--out {out}: {path} is in the way (not a regular file)")
        if path.exists():
            try:
                same = path.read_bytes() == text.encode()
            except OSError as e:
                raise AssignmentError(f"--out {out}: cannot read {path} ({e.strerror})") from None
            (unchanged if same else conflicts).append(path)
    if conflicts and not force:
        raise AssignmentError(f"--out {out}: {conflicts[0]} already holds a different assignment (another roster, "
                              f"seed, kinds, count or points): remove it, choose another --name, or pass --force")
    for path, text in files.items():                 # the key first, the notebook last
        if path in unchanged:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text)
        except OSError as e:
            raise AssignmentError(f"--out {out}: cannot write {path} ({e.strerror})") from None
        written.append(path)
    return Written(tuple(written), tuple(unchanged))


# -- inside the notebook ------------------------------------------------------------------------------
def graded_student_id(assignment: str) -> str:
    """The id of the submission nbgrader is autograding: the STUDENT of ``autograded/STUDENT/ASSIGNMENT``,
    the folder it runs the notebook in (its default directory_structure)."""
    cwd = Path.cwd()
    if cwd.name != assignment or not is_stem(cwd.parent.name):
        raise AssignmentError(f"autograde runs this notebook in {cwd}, not in nbgrader's autograded/STUDENT/"
                              f"{assignment}: vmaplab reads the student id from that path (nbgrader's default "
                              f"CourseDirectory.directory_structure)")
    return cwd.parent.name


@dataclass(frozen=True)
class StudentSheet:
    """One student's questions, as released (``questions.json``), for the notebook's cells to show and check."""
    assignment: str
    student_id: str
    kinds: tuple[str, ...]
    questions: tuple[str, ...]
    made_by: str

    @classmethod
    def load(cls, typed_id: str = "", assignment: str = DEFAULT_NAME, path: str | Path = QUESTIONS) -> StudentSheet:
        """The sheet of the student working here (see the module docstring for who that is); prints whose it is."""
        if not isinstance(typed_id, str):
            raise AssignmentError(f"STUDENT_ID must be text, e.g. STUDENT_ID = \"s01\", got {typed_id!r:.100}")
        typed_id = typed_id.strip()
        grading = os.environ.get("NBGRADER_EXECUTION") == "autograde"
        sid = graded_student_id(assignment) if grading else (
            typed_id or os.environ.get("JUPYTERHUB_USER") or getpass.getuser())
        try:
            doc = json.loads(read_user_file(path, kind="vmaplab assignment's questions", max_bytes=MAX_QUESTIONS_BYTES,
                                            exc=AssignmentError))
        except json.JSONDecodeError as e:
            raise AssignmentError(f"{path}: not JSON ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("assignment") != assignment:
            raise AssignmentError(f"{path}: not the questions of assignment {assignment!r} ({FORMAT})")
        students = doc["students"]
        if sid not in students:
            raise AssignmentError(f"student id {sid!r:.100} is not on the roster of {assignment!r}: set STUDENT_ID in "
                                  f"the cell above to your id, as on the roster" if not grading else
                                  f"student {sid!r:.100} is not on the roster this assignment was made for")
        sheet = cls(assignment, sid, tuple(p["kind"] for p in doc["problems"]), tuple(students[sid]), doc["made_by"])
        print(f"{assignment}: the {len(sheet.questions)} problems of student {sid}"
              + (f" (graded as {sid}; STUDENT_ID says {typed_id!r})" if grading and typed_id and typed_id != sid else ""))
        return sheet

    def question(self, number: int) -> str:
        return self.questions[check_int(number, "problem number", 1, len(self.questions), exc=AssignmentError,
                                        integral=True) - 1]

    def show(self, number: int) -> None:
        """Print problem ``number``'s question."""
        print(self.question(number))

    def require_answer(self, number: int, answer) -> None:
        """The visible test: an answer is there (text or an int); else AssertionError saying where to write it."""
        self.question(number)
        if isinstance(answer, bool) or not isinstance(answer, (str, int)) or not str(answer).strip():
            raise AssertionError(f"Problem {number} has no answer yet: write it as text in the cell above, "
                                 f"answer_{number} = \"...\"")
        print(f"Problem {number} has an answer: it is checked when your work is graded.")


def check_answer(sheet: StudentSheet, number: int, answer, *, course_seed: int, kinds: tuple[str, ...],
                 count: int) -> None:
    """The hidden test: remake the student's problems with vmaplab and check ``answer`` to problem ``number``.

    AssertionError (a failed test, with the right answer, for the feedback) when the answer is wrong;
    AssignmentError when vmaplab now makes a different question than the one released (grade with
    the version named in ``questions.json``).
    """
    released = sheet.question(number)
    ex = student_problems(course_seed, sheet.student_id, tuple(kinds), count)[number - 1]
    if ex.question != released:
        from .. import __version__
        raise AssignmentError(f"problem {number} of {sheet.student_id}: vmaplab {__version__} makes another question "
                              f"than the one released by {sheet.made_by}; grade with that version")
    if isinstance(answer, bool) or not isinstance(answer, (str, int)):
        raise AssertionError(f"Problem {number}: the answer must be text, got {type(answer).__name__}")
    verdict = ex.check(answer)
    if not verdict.correct:
        raise AssertionError(f"Problem {number}: {verdict.message} The right answer: {ex.solution}")
    print(f"Problem {number}: right.")


# -- the command line ---------------------------------------------------------------------------------
def add_parser(sub, int_in=int_arg) -> None:
    """Add ``assignment`` to the subcommands ``sub`` (vmaplab/cli.py: ``add_parser(sub, _int_in)``)."""
    a = sub.add_parser("assignment", help="per-student problem sets as an nbgrader source assignment "
                                          "(docs/teaching.md)",
                       description="Make every student on a roster their own problems (a seed from the course "
                                   "seed and their id) and write an nbgrader source assignment under DIR: "
                                   "source/NAME/NAME.ipynb and questions.json, and the key in keys/NAME.md.")
    _arguments(a, int_in)


def _arguments(a, int_in) -> None:
    a.add_argument("--students", required=True, metavar="ROSTER", help="a CSV file with an id column (nbgrader's "
                   "student import format: id,first_name,last_name,email)")
    a.add_argument("--kinds", required=True, nargs="+", metavar="KIND", choices=list(KINDS),
                   help=f"the kinds of problem, in order: {', '.join(KINDS)}")
    a.add_argument("--out", required=True, metavar="DIR", help="the nbgrader course directory (made if missing)")
    a.add_argument("--course-seed", type=int_in(0, MAX_SEED), default=0, metavar="N",
                   help="the course's secret seed (default 0): take a new one for each assignment")
    a.add_argument("--count", type=int_in(1, MAX_COUNT), default=1, metavar="N", help="problems of each kind (default 1)")
    a.add_argument("--points", type=int_in(1, MAX_POINTS), default=1, metavar="N", help="points per problem (default 1)")
    a.add_argument("--name", default=DEFAULT_NAME, metavar="NAME", help=f"the assignment's name (default {DEFAULT_NAME})")
    a.add_argument("--force", action="store_true", help="replace a different assignment of the same name")
    a.set_defaults(func=cmd_assignment)


def cmd_assignment(args) -> int:
    """Read and check the roster, write the assignment, say what was written and what to run next."""
    spec = AssignmentSpec(args.name, args.course_seed, tuple(args.kinds), args.count, args.points)
    students = read_roster(args.students)
    done = write_assignment(args.out, spec, students, force=args.force)
    print(f"vmaplab assignment --students {args.students} --kinds {' '.join(spec.kinds)} --out {args.out} "
          f"--course-seed {spec.course_seed} --count {spec.count} --points {spec.points} --name {spec.name}")
    print(f"{len(students)} students, {spec.nr_problems} problems each, {spec.points} point(s) per problem")
    for path in done.written:
        print(f"wrote {path}")
    for path in done.unchanged:
        print(f"unchanged {path}")
    print(f"next, in {args.out}: nbgrader db student import {args.students}; nbgrader generate_assignment {spec.name}")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m vmaplab.course.assignment --students ... --kinds ... --out DIR``: exit 0, or 2 with one
    line on stderr for bad input."""
    p = _Parser(prog="vmaplab assignment", description="Per-student problem sets as an nbgrader source assignment "
                                                          "(docs/teaching.md).")
    _arguments(p, int_arg)
    try:
        args = p.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.func(args)
    except VmallocError as e:
        print(f"vmaplab: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
