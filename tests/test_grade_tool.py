"""tools.grade around the autograding: report, feedback marks, shards and merge, failed steps, manual grades.

The tests without a marker use small notebooks and folders and run in seconds; those marked ``e2e``
run real nbgrader (a course, one real submission) and take a minute or two.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import config, grade
from tools.grade_report import (
    PENDING,
    cell_names,
    cell_problems,
    compare_with_release,
    in_shard,
    mark_pending,
    merge_outputs,
    write_outputs,
    zero_without_error,
)
from tools.mutate import make_submission
from tools.nbgrader_course import Course, write_notebook

ROOT = config.REPO_ROOT
RELEASE = nbformat.read(ROOT / config.RELEASE_NOTEBOOK, as_version=4)
SOLUTION = nbformat.read(ROOT / config.SOLUTION_NOTEBOOK, as_version=4)
SOURCE = nbformat.read(ROOT / config.SOURCE_NOTEBOOK, as_version=4)
GRADED = [c for c in SOURCE.cells if c.metadata.get("nbgrader", {}).get("grade")]
AUTOGRADED_POINTS = sum(float(c.metadata["nbgrader"]["points"]) for c in GRADED if c.cell_type == "code")
ANSWERS = [c.metadata["nbgrader"]["grade_id"] for c in GRADED if c.cell_type == "markdown"]


def _cell(cell_type: str, source: str, grade_id: str | None = None, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source) if cell_type == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, **nbgrader}
    return cell


# ---------------------------------------------------------------- the report


def test_the_solution_notebook_submitted_as_is_modifies_no_locked_cell():
    """The solution notebook's test cells hold the hidden tests (without markers): not an edit."""
    changes = compare_with_release(nbformat.from_dict(SOLUTION), RELEASE, SOURCE)
    assert changes == {"modified_locked_cells": [], "restored_cells": []}


def test_only_real_edits_of_locked_cells_are_flagged():
    submission = make_submission(RELEASE, SOLUTION, "edits_locked_tests")
    setup = next(c for c in submission.cells if c.get("id") == "setup")
    setup.source += "\n# a comment the student added\n\n"  # comments and blank lines change nothing
    changes = compare_with_release(submission, RELEASE, SOURCE)
    assert changes["modified_locked_cells"] == ["discounted_returns_tests"]


def test_cells_are_named_by_grade_id_or_by_their_place_after_one():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("code", "import os"),
        _cell("code", "x = 1", "given"),
        _cell("code", "y = 2"),
        _cell("code", "raise ValueError()"),
    ]
    assert cell_names(nb) == ["cell 1 of the notebook", "given", "cell 1 after given", "cell 2 after given"]
    nb.cells[3].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="", traceback=[])]
    assert cell_problems(nb) == {"errored_cells": ["cell 2 after given"], "timed_out_cells": []}


def test_graded_cells_with_zero_and_no_error_are_listed_for_a_human():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("code", "check()", "silent_zero", grade=True),
        _cell("code", "check()", "failed", grade=True),
        _cell("code", "check()", "passed", grade=True),
        _cell("markdown", "my answer", "answer", grade=True),
    ]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: ...")]
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    cells = {
        "silent_zero": {"score": 0.0, "max_score": 4.0},
        "failed": {"score": 0.0, "max_score": 4.0},
        "passed": {"score": 4.0, "max_score": 4.0},
        "answer": {"score": 0.0, "max_score": 3.0},
    }
    assert zero_without_error(nb, cells) == ["silent_zero"]


FEEDBACK = """<h4>HW11 (Score: 85.0 / 100.0)</h4>
<li><a href="#q_tasks">Written response</a> (Score: 0.0 / 3.0)</li>
<li><a href="#q_maml">Written response</a> (Score: 2.0 / 3.0)</li>
<li><a href="#returns_tests">Test cell</a> (Score: 5.0 / 5.0)</li>
<a name="comment-q_tasks"></a><a name="q_tasks"></a><div class="panel-heading"><span class="nbgrader-label">Student's answer</span><span class="pull-right">
      Score: 0.0 / 3.0 <a href="#top">(Top)</a>
</span></div>
<a name="comment-q_maml"></a><a name="q_maml"></a><div class="panel-heading"><span class="nbgrader-label">Student's answer</span><span class="pull-right">
      Score: 2.0 / 3.0 <a href="#top">(Top)</a>
</span></div>
"""  # noqa: E501 (nbgrader's feedback HTML, as generate_feedback 0.9.6 writes it)


def test_feedback_marks_ungraded_written_answers_as_pending_not_zero():
    marked = mark_pending(FEEDBACK, {"q_tasks": 3.0})
    assert marked.count(f"Score: {PENDING}, out of 3") == 2  # table of contents and the cell's heading
    assert "Score: 0.0 / 3.0" not in marked
    assert marked.count("Score: 2.0 / 3.0") == 2  # a graded answer keeps its score
    assert f"(Score: 85.0 / 100.0; 3 points {PENDING})" in marked
    assert mark_pending(FEEDBACK, {}) == FEEDBACK


# ---------------------------------------------------------------- shards and merge


def test_shards_split_a_class_into_disjoint_parts():
    students = [f"s{i:03d}" for i in range(11)]
    parts = [in_shard(students, (index, 3)) for index in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(students)
    assert {len(part) for part in parts} == {3, 4}
    assert in_shard(students, None) == sorted(students)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b"])
def test_bad_shards_are_refused(text):
    with pytest.raises(SystemExit):
        grade.main(["submissions", "--out", "out", "--shard", text])


def _fake_output(folder: Path, students: dict[str, float]) -> None:
    folder.mkdir(parents=True)
    cells = {name: {"score": score, "max_score": 5.0, "needs_manual_grade": False} for name, score in students.items()}
    report = {
        student: {"status": "graded", "score": score, "max_score": 5.0, "cells": {"t": cells[student]}}
        for student, score in students.items()
    }
    write_outputs(folder, report)
    with open(folder / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["assignment", "student_id", "score"])
        writer.writerows(["HW11", student, score] for student, score in students.items())
    for student in students:
        write_notebook(nbformat.v4.new_notebook(), folder / "autograded" / student / "HW11.ipynb")
        (folder / "feedback" / student).mkdir(parents=True)
        (folder / "feedback" / student / "HW11.html").write_text(student)
    (folder / "nbgrader.log").write_text(f"log of {folder.name}\n")


def test_merge_joins_reports_grades_and_feedback(tmp_path):
    _fake_output(tmp_path / "part1", {"b": 5.0, "d": 1.0})
    _fake_output(tmp_path / "part2", {"a": 2.0, "c": 0.0})
    out = tmp_path / "merged"
    assert grade.main(["merge", str(tmp_path / "part1"), str(tmp_path / "part2"), "--out", str(out)]) == 0
    assert sorted(json.loads((out / "report.json").read_text())) == ["a", "b", "c", "d"]
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows == [["assignment", "student_id", "score"]] + [["HW11", s, v] for s, v in
                                                              [("a", "2.0"), ("b", "5.0"), ("c", "0.0"), ("d", "1.0")]]
    cell_rows = list(csv.reader((out / "cell_grades.csv").open()))
    assert [row[0] for row in cell_rows[1:]] == ["a", "b", "c", "d"]
    assert {p.parent.name for p in (out / "feedback").rglob("HW11.html")} == {"a", "b", "c", "d"}
    assert {p.parent.name for p in (out / "autograded").rglob("HW11.ipynb")} == {"a", "b", "c", "d"}


def test_merge_reports_a_student_graded_twice_and_a_missing_part(tmp_path, capsys):
    _fake_output(tmp_path / "part1", {"a": 5.0})
    _fake_output(tmp_path / "part2", {"a": 4.0})
    problems = merge_outputs([tmp_path / "part1", tmp_path / "part2", tmp_path / "nothing"], tmp_path / "out")
    assert any("a is in more than one part" in p for p in problems)
    assert any("nothing" in p for p in problems)


# ---------------------------------------------------------------- real nbgrader


def _run_grade(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "tools.grade", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200
    )


def _grades_row(results: Path, student: str) -> dict[str, str]:
    rows = list(csv.DictReader((results / "grades.csv").open()))
    return next(row for row in rows if row["student_id"] == student)


@pytest.mark.e2e
def test_a_failed_export_makes_grading_fail_with_a_message(tmp_path, monkeypatch, capsys):
    (tmp_path / "submissions" / "broken").mkdir(parents=True)
    (tmp_path / "submissions" / "broken" / "HW11.ipynb").write_text("{ not json")
    real_run = Course.run

    def run(self, *args, **kwargs):
        if args[0] == "export":
            return subprocess.CompletedProcess(args, 1, "", "[ExportApp | ERROR] disk full")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(Course, "run", run)
    status = grade.main([str(tmp_path / "submissions"), "--out", str(tmp_path / "results")])
    assert status == 2
    err = capsys.readouterr().err
    assert "nbgrader export failed (exit 1)" in err and "disk full" in err
    assert not (tmp_path / "results" / "grades.csv").exists()
    assert json.loads((tmp_path / "results" / "report.json").read_text())["broken"]["status"] == "error"


@pytest.mark.e2e
def test_manual_grades_survive_feedback_export_and_regrading_in_one_course(tmp_path):
    """The documented flow: autograde, grade answers by hand (here through nbgrader's gradebook API,
    which the Formgrader uses), then feedback and export again, and even autograde again."""
    from nbgrader.api import Gradebook

    write_notebook(make_submission(RELEASE, SOLUTION, "solution"), tmp_path / "submissions" / "ada" / "HW11.ipynb")
    first = _run_grade(tmp_path, "submissions", "--out", "results", "--course", "course", "--timeout", "60")
    assert first.returncode == 0, first.stdout + first.stderr
    results, course = tmp_path / "results", tmp_path / "course"
    assert float(_grades_row(results, "ada")["score"]) == AUTOGRADED_POINTS  # written answers not graded yet
    report = json.loads((results / "report.json").read_text())["ada"]
    assert report["pending_manual_grade"] == sorted(ANSWERS)
    feedback = (results / "feedback" / "ada" / "HW11.html").read_text()
    assert feedback.count(f"Score: {PENDING}") == 2 * len(ANSWERS)

    manual = {ANSWERS[0]: 2.0, ANSWERS[1]: 0.0}  # a zero given by hand is a grade, not pending
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for grade_id, points in manual.items():
            gradebook.find_grade(grade_id, "HW11", "HW11", "ada").manual_score = points
        gradebook.db.commit()

    for extra in ([], ["--regrade"]):  # feedback and export only; then autograde again as well
        again = _run_grade(tmp_path, "submissions", "--out", "results", "--course", "course", *extra)
        assert again.returncode == 0, again.stdout + again.stderr
        assert float(_grades_row(results, "ada")["score"]) == AUTOGRADED_POINTS + 2.0
        report = json.loads((results / "report.json").read_text())["ada"]
        assert {k: report["cells"][k]["score"] for k in manual} == manual
        assert report["pending_manual_grade"] == sorted(set(ANSWERS) - set(manual))
        feedback = (results / "feedback" / "ada" / "HW11.html").read_text()
        assert feedback.count(f"Score: {PENDING}") == 2 * (len(ANSWERS) - len(manual))
        assert f'<a href="#{ANSWERS[0]}">Written response</a> (Score: 2.0 / ' in feedback
        autograded_again = "AutogradeApp" in (results / "nbgrader.log").read_text()
        assert autograded_again == bool(extra)  # an unchanged submission is not autograded again
