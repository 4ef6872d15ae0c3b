# SPDX-License-Identifier: MIT
"""Issue 28, item 1: per-student problem sets as an nbgrader assignment (vmaplab/course/assignment.py).

Fast tests: the roster is read through the one reader and refused with a line naming ``--students``;
30 students get 30 different problem sets, the same in another process (byte-identical files); the
release holds no seed and no answer; a different assignment is never overwritten silently.
The slow test runs the real nbgrader (the ``[teach]`` extra) on the commands docs/teaching.md gives:
student import, generate_assignment, release_assignment, fetch_assignment and submit (as the login
user), collect, autograde of three students (all right, all wrong while claiming another's id,
blank), generate_feedback; then it reads every score from nbgrader's gradebook. Without nbgrader it
skips locally and fails under CI (``CI=true``).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmaplab import VmallocError
from vmaplab.course.assignment import (
    QUESTIONS,
    AssignmentError,
    AssignmentSpec,
    StudentSheet,
    check_answer,
    main,
    parse_roster,
    read_roster,
    student_problems,
    student_seed,
    write_assignment,
)

ROOT = Path(__file__).resolve().parents[1]
KINDS4 = ("next-address", "routing", "decay", "sweep-runs")
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.DOTALL)


def _roster(path: Path, ids) -> Path:
    path.write_text("id,first_name,last_name,email\n" + "".join(f"{i},First,Last,{i}@example.org\n" for i in ids))
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# -- the roster ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, where", [
    ("", "empty"),
    ("name,email\nada,a@x\n", "line 1: no id column"),
    ("id\n", "no students"),
    ("id,email\ns01,a\n,b\n", "line 3: the id is empty"),
    ("id\ns01\ns02\ns01\n", "line 4: id 's01' is already on line 2"),
    ("id\n../etc\n", "line 2: id '../etc' is not a plain name"),
    ("id\nada lovelace\n", "line 2: id 'ada lovelace' is not a plain name"),
    ("id\n-rf\n", "line 2: id '-rf' is not a plain name"),
    ("id\n" + "x" * 101 + "\n", "line 2: id"),
    ('id\n"s01\n', "not CSV"),
])
def test_a_bad_roster_is_refused_naming_the_argument_and_the_line(tmp_path, capsys, text, where):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(AssignmentError, match=re.escape(where)) as e:
        read_roster(path)
    assert str(e.value).startswith(f"--students {path}") and "\n" not in str(e.value)
    assert isinstance(e.value, VmallocError)
    rc, out, err = _cli(capsys, "--students", path, "--kinds", "decay", "--out", tmp_path / "course")
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("vmaplab: error: --students")
    assert not (tmp_path / "course").exists()


def test_the_roster_goes_through_the_one_reader_for_user_files(tmp_path, capsys):
    (tmp_path / "latin1.csv").write_bytes(b"id\ns01\nj\xe9r\xf4me\n")
    big = tmp_path / "big.csv"
    big.write_text("id\n" + "s\n" * (1 << 20))
    for path, what in ((tmp_path / "latin1.csv", "not UTF-8 (line 3)"), (big, "larger than"),
                       (tmp_path, "Is a directory"), (tmp_path / "missing.csv", "cannot read")):
        with pytest.raises(AssignmentError, match=re.escape(what)) as e:
            read_roster(path)
        assert str(e.value).startswith(f"--students {path}: ")
        rc, _out, err = _cli(capsys, "--students", path, "--kinds", "decay", "--out", tmp_path / "c")
        assert rc == 2 and err.count("\n") == 1 and what in err


def test_a_roster_in_nbgrader_s_import_format_with_a_bom_and_blank_lines():
    students = parse_roster("\ufeffID,first_name\r\n s01 ,Ada\r\n\r\ns02,Bob\r\n")
    assert [(s.id, s.line) for s in students] == [("s01", 2), ("s02", 4)]


@pytest.mark.parametrize("argv, where", [
    (["--kinds", "nope"], "--kinds"), (["--kinds", "decay", "decay"], "--kinds names a kind twice"),
    (["--kinds", "decay", "--count", "0"], "--count"), (["--kinds", "decay", "--points", "101"], "--points"),
    (["--kinds", "decay", "--course-seed", "-1"], "--course-seed"),
    (["--kinds", "decay", "--course-seed", str(1 << 64)], "--course-seed"),
    (["--kinds", "decay", "--name", "../x"], "--name"), (["--kinds", "decay", "--name", ""], "--name"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, argv, where):
    roster = _roster(tmp_path / "roster.csv", ["s01"])
    rc, _out, err = _cli(capsys, "--students", roster, "--out", tmp_path / "course", *argv)
    assert rc == 2 and err.count("\n") == 1 and where in err, err
    assert not (tmp_path / "course").exists()


# -- the problem sets ---------------------------------------------------------------------------------
def test_thirty_students_get_thirty_different_reproducible_problem_sets(tmp_path, capsys):
    ids = [f"s{i:02d}" for i in range(1, 31)]
    roster = _roster(tmp_path / "roster.csv", ids)
    argv = ["--students", roster, "--kinds", *KINDS4, "--course-seed", 2028, "--points", 2, "--name", "ps1"]
    rc, out, _err = _cli(capsys, *argv, "--out", tmp_path / "a")
    assert rc == 0 and "30 students, 4 problems each" in out
    # another process, another hash seed: byte-identical files (no hash(), no set order, no time)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-m", "vmaplab.course.assignment", *map(str, argv), "--out", str(tmp_path / "b")],
                   check=True, capture_output=True, env=env, cwd=tmp_path)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert sorted(a) == ["keys/ps1.md", "source/ps1/ps1.ipynb", f"source/ps1/{QUESTIONS}"] and a == b
    doc = json.loads(a[f"source/ps1/{QUESTIONS}"])
    sets = [tuple(doc["students"][i]) for i in ids]
    assert len(set(sets)) == 30 and all(len(s) == 4 for s in sets)
    assert len({student_seed(2028, i) for i in ids}) == 30
    # a student's problems depend on their id only, not on who else is on the roster
    _roster(tmp_path / "two.csv", ["s17", "s03"])
    assert main(["--students", str(tmp_path / "two.csv"), "--kinds", *KINDS4, "--course-seed", "2028",
                 "--out", str(tmp_path / "c"), "--name", "ps1"]) == 0
    two = json.loads((tmp_path / "c" / "source" / "ps1" / QUESTIONS).read_text())
    assert two["students"] == {"s17": doc["students"]["s17"], "s03": doc["students"]["s03"]}
    # the released files hold no seed and no answer key; the notebook's only seed is in its hidden tests
    nb = json.loads(a["source/ps1/ps1.ipynb"])
    code = "".join("".join(c["source"]) for c in nb["cells"])
    assert code.count("course_seed=2028") == 4 and "2028" not in HIDDEN.sub("", code)
    released = HIDDEN.sub("", code) + a[f"source/ps1/{QUESTIONS}"].decode()
    for sid in ids:
        for ex in student_problems(2028, sid, KINDS4, 1):
            assert str(ex.seed) not in released and ex.explanation not in released
    key = a["keys/ps1.md"].decode()
    assert all(f"## {sid}" in key for sid in ids)


def test_a_different_assignment_is_never_overwritten_silently(tmp_path, capsys):
    roster = _roster(tmp_path / "roster.csv", ["s01", "s02"])
    argv = ["--students", roster, "--kinds", "decay", "--out", tmp_path / "course"]
    assert _cli(capsys, *argv, "--course-seed", 1)[0] == 0
    before = _tree(tmp_path / "course")
    rc, out, _ = _cli(capsys, *argv, "--course-seed", 1)
    assert rc == 0 and out.count("unchanged ") == 3 and "wrote" not in out
    rc, _out, err = _cli(capsys, *argv, "--course-seed", 2)
    assert rc == 2 and err.startswith(f"vmaplab: error: --out {tmp_path / 'course'}: ") and "--force" in err
    assert _tree(tmp_path / "course") == before
    rc, out, _ = _cli(capsys, *argv, "--course-seed", 2, "--force")
    assert rc == 0 and out.count("wrote ") == 3 and _tree(tmp_path / "course") != before
    (tmp_path / "file").write_text("x")
    rc, _, err = _cli(capsys, "--students", roster, "--kinds", "decay", "--out", tmp_path / "file")
    assert rc == 2 and "--out" in err and "not a directory" in err


def test_the_sheet_and_the_hidden_check_outside_nbgrader(tmp_path, monkeypatch, capsys):
    """As a student runs it (id typed), and as autograde runs it (id from the folder, whatever was typed)."""
    spec = AssignmentSpec("ps1", 5, ("decay", "zone-node"), 1, 1)
    course = tmp_path / "course"
    write_assignment(course, spec, parse_roster("id\ns01\ns02\n"))
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.chdir(course / "source" / "ps1")
    sheet = StudentSheet.load("s01", assignment="ps1")
    exs = student_problems(5, "s01", spec.kinds, 1)
    assert sheet.questions == tuple(ex.question for ex in exs)
    check_answer(sheet, 1, exs[0].answer, course_seed=5, kinds=spec.kinds, count=1)
    with pytest.raises(AssertionError, match="The right answer"):
        check_answer(sheet, 2, "node 12345", course_seed=5, kinds=spec.kinds, count=1)
    with pytest.raises(AssignmentError, match="another question"):      # another seed: not what was released
        check_answer(sheet, 1, exs[0].answer, course_seed=6, kinds=spec.kinds, count=1)
    with pytest.raises(AssignmentError, match="STUDENT_ID"):
        StudentSheet.load("s99", assignment="ps1")
    graded = course / "autograded" / "s02" / "ps1"
    graded.mkdir(parents=True)
    shutil.copy(QUESTIONS, graded)
    monkeypatch.chdir(graded)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert StudentSheet.load("s01", assignment="ps1").student_id == "s02"
    assert "graded as s02; STUDENT_ID says 's01'" in capsys.readouterr().out
    with pytest.raises(AssignmentError, match="directory_structure"):
        StudentSheet.load("", assignment="other")


# -- the real nbgrader --------------------------------------------------------------------------------
def _nbgrader_or_skip():
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install nbgrader (the [teach] extra, part of [test])", pytrace=False)
        pytest.skip("no nbgrader here (pip install -e '.[teach]'); CI installs it")


def _key(words) -> str:
    """A command's name: ``generate_assignment``, or ``db student`` for ``nbgrader db student import``."""
    return " ".join(words[:2] if words[0] == "db" else words[:1])


def _docs_commands() -> list[str]:
    """The command lines in the code blocks of docs/teaching.md's "Graded problem sets", comments dropped."""
    doc = (ROOT / "docs" / "teaching.md").read_text()
    section = doc.split("## Graded problem sets", 1)[1].split("\n## ", 1)[0]
    return [line.split(" #")[0].strip() for block in re.findall(r"```[a-z]*\n(.*?)```", section, re.DOTALL)
            for line in block.splitlines() if line.strip()]


@pytest.mark.slow          # about a dozen nbgrader commands and three kernels: over a minute on 2 cores
def test_nbgrader_generates_releases_collects_autogrades_and_gives_feedback(tmp_path, monkeypatch):
    _nbgrader_or_skip()
    from nbgrader.api import Gradebook
    from nbgrader.utils import get_username
    login = get_username()             # the id nbgrader submit uses: the one real student of the exchange
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", login) or login in ("s01", "s02"):
        pytest.skip(f"the login name {login!r} cannot be a roster id")
    ids = [login] + [f"s{i:02d}" for i in range(1, 30)]
    course, student, exchange = tmp_path / "course", tmp_path / "student", tmp_path / "exchange"
    for d in (course, student, exchange, tmp_path / "jupyter"):
        d.mkdir()
    exchange.chmod(0o777)
    config = (f"c = get_config()\nc.CourseDirectory.course_id = 'vmaplab-test'\n"
              f"c.Exchange.root = {str(exchange)!r}\nc.Execute.timeout = 120\n")
    (course / "nbgrader_config.py").write_text(config)
    (student / "nbgrader_config.py").write_text(config)
    roster = _roster(course / "roster.csv", ids)
    # the docs' own command line makes it, in the course directory
    make = [c for c in _docs_commands() if c.startswith("vmaplab assignment ")]
    assert len(make) == 1 and roster.name in make[0]
    monkeypatch.chdir(course)
    assert main(shlex.split(make[0])[2:]) == 0
    monkeypatch.chdir(tmp_path)
    kinds, seed, points = ("next-address", "routing", "decay"), 424242, 2
    assert f"--kinds {' '.join(kinds)} --out . --course-seed {seed} --points {points} --name ps1" in make[0]
    # nbgrader runs alembic (beside this Python) and reads only this test's configuration
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter"), PYTHONUNBUFFERED="1")
    ran = []

    def nbgrader(*args, cwd=course):
        ran.append(_key(args))
        r = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=600, check=False)
        assert r.returncode == 0, f"nbgrader {' '.join(args)}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        return r

    nbgrader("db", "student", "import", "roster.csv")
    nbgrader("generate_assignment", "ps1")
    release = course / "release" / "ps1"
    assert sorted(p.name for p in release.iterdir()) == ["ps1.ipynb", QUESTIONS]
    released = (release / "ps1.ipynb").read_text()
    assert "HIDDEN TESTS" not in released and str(seed) not in released and "check_answer(" not in released
    nbgrader("release_assignment", "ps1")

    def answer(nb: dict, n: int, text: str) -> None:
        for cell in nb["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == f"answer-{n}":
                cell["source"] = f"answer_{n} = {text!r}\n"

    # the login user: fetch, answer everything right, submit; the instructor collects
    nbgrader("fetch_assignment", "ps1", cwd=student)
    path = student / "ps1" / "ps1.ipynb"
    nb = json.loads(path.read_text())
    right = student_problems(seed, login, kinds, 1)
    for n, ex in enumerate(right, 1):
        answer(nb, n, ex.answer.split(" (")[0])
    path.write_text(json.dumps(nb))
    nbgrader("submit", "ps1", cwd=student)
    nbgrader("collect", "ps1")
    assert (course / "submitted" / login / "ps1" / "ps1.ipynb").exists()
    # two more, as `collect` (or an LMS download) leaves them: s01 answers s02's problems while claiming to
    # be s02 (graded as s01: all wrong), s02 hands in the release untouched
    s02 = student_problems(seed, "s02", kinds, 1)
    for sid in ("s01", "s02"):
        shutil.copytree(release, course / "submitted" / sid / "ps1")
        (course / "submitted" / sid / "ps1" / "timestamp.txt").write_text("2026-12-07 12:00:00.000000 UTC")
    nb = json.loads(released)
    for cell in nb["cells"]:
        if cell["id"] == "student-id":
            cell["source"] = 'STUDENT_ID = "s02"\n'
    s01 = student_problems(seed, "s01", kinds, 1)
    for n, (mine, theirs) in enumerate(zip(s01, s02), 1):
        wrong = theirs.answer.split(" (")[0]
        answer(nb, n, wrong if not mine.check(wrong).correct else "12345")
        assert not mine.check(wrong if not mine.check(wrong).correct else "12345").correct
    (course / "submitted" / "s01" / "ps1" / "ps1.ipynb").write_text(json.dumps(nb))

    nbgrader("autograde", "ps1")
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="vmaplab-test") as gb:
        assert len(gb.students) == 30
        for sid in (login, "s01", "s02"):
            sub = gb.find_submission_notebook("ps1", "ps1", sid)
            scores[sid] = (sub.score, sub.max_score, {g.name: g.score for g in sub.grades})
    per = {f"check-{n}": float(points) for n in (1, 2, 3)}
    assert scores == {login: (6.0, 6.0, per), "s01": (0.0, 6.0, dict.fromkeys(per, 0.0)),
                      "s02": (0.0, 6.0, dict.fromkeys(per, 0.0))}, scores
    graded = json.loads((course / "autograded" / "s01" / "ps1" / "ps1.ipynb").read_text())
    text = json.dumps(graded)
    assert "graded as s01; STUDENT_ID says 's02'" in text and "The right answer" in text

    nbgrader("generate_feedback", "ps1")
    feedback = (course / "feedback" / "s01" / "ps1" / "ps1.html").read_text()
    assert "The right answer" in feedback
    nbgrader("release_feedback", "ps1", "--student", login)     # the exchange's student; s01, s02 came by hand
    nbgrader("fetch_feedback", "ps1", cwd=student)
    assert list((student / "ps1" / "feedback").glob("*/ps1.html"))
    # every nbgrader command the docs give was run here
    documented = {_key(c.split()[1:]) for c in _docs_commands() if c.startswith("nbgrader ")}
    assert len(documented) >= 9 and documented <= set(ran), (documented, ran)
