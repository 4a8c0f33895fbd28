"""Real nbgrader end to end: autograde the solution, the untouched release and buggy submissions.

All submissions are graded by the session's one ``python -m tools.grade --workers 2`` run
(tests/course_grading.py, shared with tests/test_feedback.py), with a 45 s per-cell timeout so that
the infinite loop stays cheap. A few of them are graded again in two shards of one worker each and merged: the grades
must be the same. To test a new mutation, register it in ``tools.mutate.MUTATIONS`` and add its
expected autograded scores to ``EXPECTED`` below.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from tests.course_grading import SUBMISSIONS, UNREADABLE, run_grade
from tools import config
from tools.mutate import MUTATIONS

pytestmark = pytest.mark.e2e  # minutes of real nbgrader: `python -m pytest -m "not e2e"` skips it

SOURCE = nbformat.read(config.REPO_ROOT / config.SOURCE_NOTEBOOK, as_version=4)
POINTS = {
    cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
    for cell in SOURCE.cells
    if cell.metadata.get("nbgrader", {}).get("grade")
}
AUTOGRADED = {  # test cells (code); the markdown answers are graded by hand
    cell.metadata["nbgrader"]["grade_id"]
    for cell in SOURCE.cells
    if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"
}
FULL = {grade_id: POINTS[grade_id] for grade_id in AUTOGRADED}

# Expected autograded score per test cell (cells not listed get full points); None: nbgrader fails
# on this notebook, which must be reported as an error without stopping the others.
EXPECTED: dict[str, dict[str, float] | None] = {
    "solution": {},
    "solution_again": {},
    "release": {grade_id: 0.0 for grade_id in AUTOGRADED},
    "returns_ignore_dones": {"discounted_returns_tests": 0.0},
    # the course draft's `param.data =` inner step: the update and the meta-training it drives
    "maml_param_data": {"inner_step_tests": 0.0, "maml_training_tests": 0.0},
    "maml_first_order": {"meta_loss_tests": 0.0},  # first-order meta-gradient (FOMAML still trains)
    "rl2_resets_hidden": {"rl2_policy_step_tests": 0.0},  # forgets the trial at every episode start
    "pearl_averages_posterior": {"product_of_gaussians_tests": 0.0},  # averages instead of multiplying
    "raises": {"discounted_returns_tests": 0.0},
    "infinite_loop": {},  # the looping cell is cut; the tests after it still run and pass
    "edits_locked_tests": {},  # nbgrader restores the tests, which the solution passes
    "deletes_locked_cells": {},  # tools.grade puts the setup and test cells back
    "uninterruptible_loop": None,  # swallows KeyboardInterrupt: nbgrader cannot go on with this notebook
}
GRADED = sorted(name for name, expected in EXPECTED.items() if expected is not None)
assert set(MUTATIONS) <= set(EXPECTED), f"give the expected scores of {set(MUTATIONS) - set(EXPECTED)}"
assert set(EXPECTED) <= set(SUBMISSIONS)
# graded again with one worker, in two shards: a correct, a wrong, an empty and an unreadable one
REGRADED = ["solution", "returns_ignore_dones", "release", UNREADABLE]


@pytest.fixture(scope="module")
def graded(course_grading) -> tuple[dict, Path]:
    # exit status 1: some submission could not be graded (the unreadable one, the uninterruptible loop)
    assert course_grading.returncode == 1, course_grading.log
    return course_grading.report, course_grading.out


def _autograded(report: dict, student: str) -> dict[str, float]:
    return {k: v["score"] for k, v in report[student]["cells"].items() if k in AUTOGRADED}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_autograded_scores(graded, student):
    report, _ = graded
    if EXPECTED[student] is None:
        assert report[student]["status"] == "error" and report[student]["score"] == 0.0, report[student]
    else:
        assert report[student]["status"] == "graded", report[student]
        assert _autograded(report, student) == {**FULL, **EXPECTED[student]}


def test_solution_gets_full_points_twice_identically(graded):
    report, out = graded
    assert _autograded(report, "solution") == FULL
    assert report["solution"]["cells"] == report["solution_again"]["cells"]
    assert report["solution"]["errored_cells"] == report["solution_again"]["errored_cells"] == []
    outputs = []
    for student in ("solution", "solution_again"):
        nb = nbformat.read(out / "autograded" / student / "HW11.ipynb", as_version=4)
        # the course draft's own test cells (kept verbatim) sample fresh tasks and start states on purpose
        outputs.append([_joined_outputs(c) for c in nb.cells
                        if not c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("draft_")])
    assert outputs[0] == outputs[1]


def _joined_outputs(cell) -> list:
    """A cell's outputs with consecutive stream chunks of one stream joined: the kernel may flush two
    prints as one message or as two, depending on timing."""
    joined: list = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and joined and joined[-1][0] == output.get("name"):
            joined[-1] = (output.get("name"), joined[-1][1] + output.get("text", ""))
        else:
            joined.append((output.get("name"), output.get("text")))
    return joined


def test_untouched_release_gets_zero_without_crashing(graded):
    report, _ = graded
    entry = report["release"]
    assert entry["score"] == 0.0 and entry["max_score"] == sum(POINTS.values())
    assert "discounted_returns_tests" in entry["errored_cells"]
    assert entry["needs_manual_grade"] == []  # unchanged answer cells get 0 automatically


def test_wrong_submission_loses_exactly_the_returns_points(graded):
    report, _ = graded
    lost = {k: FULL[k] - v for k, v in _autograded(report, "returns_ignore_dones").items() if v != FULL[k]}
    assert lost == {"discounted_returns_tests": POINTS["discounted_returns_tests"]}
    assert report["returns_ignore_dones"]["errored_cells"] == ["discounted_returns_tests"]


def test_infinite_loop_is_cut_by_the_timeout_and_later_cells_are_graded(graded):
    report, out = graded
    entry = report["infinite_loop"]
    assert entry["timed_out_cells"] == ["cell 1 after discounted_returns"]  # the cell the student added
    assert entry["errored_cells"] == []
    nb = nbformat.read(out / "autograded" / "infinite_loop" / "HW11.ipynb", as_version=4)
    tests = next(c for c in nb.cells if c.get("id") == "discounted_returns_tests")
    assert "PASS" in "".join(o.get("text", "") for o in tests.outputs)


def test_locked_cell_edit_is_flagged_and_restored(graded):
    report, out = graded
    entry = report["edits_locked_tests"]
    assert entry["modified_locked_cells"] == ["discounted_returns_tests"]
    assert any("discounted_returns_tests" in w for w in entry["nbgrader_warnings"])
    assert all(report[s]["modified_locked_cells"] == [] for s in ("solution", "release", "returns_ignore_dones"))
    nb = nbformat.read(out / "autograded" / "edits_locked_tests" / "HW11.ipynb", as_version=4)
    restored = next(c for c in nb.cells if c.get("id") == "discounted_returns_tests")
    original = next(c for c in SOURCE.cells if c.get("id") == "discounted_returns_tests")
    assert restored.source == original.source  # the source version, hidden tests included


def test_failing_submissions_are_reported_and_do_not_stop_the_others(graded):
    report, out = graded
    assert report[UNREADABLE]["status"] == "error" and report[UNREADABLE]["score"] == 0.0
    assert "unreadable notebook" in report[UNREADABLE]["error"]
    assert "CellTimeoutError" in report["uninterruptible_loop"]["error"]
    failed = {s for s, e in report.items() if e["status"] != "graded"}
    assert failed == {UNREADABLE, "uninterruptible_loop"}  # every other submission of the run was graded
    rows = (out / "grades.csv").read_text().splitlines()
    assert {row.split(",")[3] for row in rows[1:]} >= set(GRADED)
    assert all((out / "feedback" / s / "HW11.html").exists() for s in GRADED)


def test_deleted_locked_cells_are_restored_before_grading(graded):
    report, out = graded
    assert report["deletes_locked_cells"]["restored_cells"] == ["setup", "discounted_returns_tests"]
    assert report["solution"]["restored_cells"] == []
    nb = nbformat.read(out / "autograded" / "deletes_locked_cells" / "HW11.ipynb", as_version=4)
    ids = [cell.get("id") for cell in nb.cells]
    assert ids.index("setup") < ids.index("discounted_returns") < ids.index("discounted_returns_tests")


def test_solution_has_no_false_flags_and_answers_are_pending(graded):
    report, _ = graded
    entry = report["solution"]
    assert entry["zero_without_error"] == [] and entry["nbgrader_warnings"] == []
    answers = sorted(set(POINTS) - AUTOGRADED)
    assert entry["pending_manual_grade"] == answers  # written, not graded yet: pending, not 0
    assert report["release"]["pending_manual_grade"] == []  # an unchanged stub gets 0 automatically


def test_one_worker_in_two_shards_merged_gives_the_same_grades_as_two_workers(graded, course_grading):
    report, out = graded
    submissions = course_grading.submissions
    subset = submissions.parent / "subset"
    subset.mkdir()
    for name in REGRADED:
        (subset / name).symlink_to(submissions / name, target_is_directory=True)
    parts = [submissions.parent / f"shard_{index}" for index in (1, 2)]

    def shard(index: int) -> subprocess.CompletedProcess:
        return run_grade(subset, parts[index - 1], "--workers", "1", "--shard", f"{index}/2")

    with ThreadPoolExecutor(2) as pool:  # the two shards at once, as on two machines
        results = list(pool.map(shard, (1, 2)))
    for result in results:
        assert result.returncode in (0, 1), result.stdout + result.stderr
    shards = [set(json.loads((part / "report.json").read_text())) for part in parts]
    assert not shards[0] & shards[1] and shards[0] | shards[1] == set(REGRADED)
    merged = submissions.parent / "merged"
    command = [sys.executable, "-m", "tools.grade", "merge", *map(str, parts), "--out", str(merged)]
    assert subprocess.run(command, cwd=config.REPO_ROOT, capture_output=True, text=True).returncode == 0
    again = json.loads((merged / "report.json").read_text())
    assert set(again) == set(REGRADED)
    for student in REGRADED:
        assert again[student]["status"] == report[student]["status"]
        assert again[student]["cells"] == report[student]["cells"], student

    def rows(path: Path) -> dict[str, list[str]]:
        return {row[3]: row for row in csv.reader(path.open()) if row[3] in REGRADED}

    assert rows(merged / "grades.csv") == rows(out / "grades.csv")
