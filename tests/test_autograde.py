"""Real nbgrader end to end: autograde the solution, the untouched release and buggy submissions.

All submissions are graded by one ``python -m tools.grade`` run (one nbgrader autograde call), with
a 10 s per-cell timeout so that the infinite loop stays cheap. To test a new mutation, register it
in ``tools.mutate.MUTATIONS`` and add its expected autograded scores to ``EXPECTED`` below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tools import config
from tools.mutate import MUTATIONS, make_submission
from tools.nbgrader_course import write_notebook

TIMEOUT_S = 45  # per cell: well above the slowest hidden test (a seeded training check, ~10 s)
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


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[dict, Path, float]:
    root = tmp_path_factory.mktemp("autograde")
    release = nbformat.read(config.REPO_ROOT / config.RELEASE_NOTEBOOK, as_version=4)
    solution = nbformat.read(config.REPO_ROOT / config.SOLUTION_NOTEBOOK, as_version=4)
    submissions = root / "submissions"
    for name in EXPECTED:
        notebook = make_submission(release, solution, "solution" if name == "solution_again" else name)
        write_notebook(notebook, submissions / name / "HW11.ipynb")
    (submissions / "not_a_notebook").mkdir()
    (submissions / "not_a_notebook" / "HW11.ipynb").write_text("{ this is not json")
    # Two graders side by side (one per core), each on half of the submissions; the two copies of
    # the solution land in different halves, so their identical grades also span two processes.
    names = sorted(path.name for path in submissions.iterdir())
    halves = [names[0::2], names[1::2]]
    if ("solution" in halves[0]) == ("solution_again" in halves[0]):
        halves[0].remove("solution")
        halves[1].remove("solution_again")
        halves[0].append("solution_again")
        halves[1].append("solution")
    start = time.perf_counter()
    processes = []
    for index, half in enumerate(halves):
        folder = root / f"submissions_{index}"
        folder.mkdir()
        for name in half:
            (submissions / name).rename(folder / name)
        command = [sys.executable, "-m", "tools.grade", str(folder), "--out", str(root / f"out_{index}"),
                   "--timeout", str(TIMEOUT_S)]
        processes.append(subprocess.Popen(command, cwd=config.REPO_ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = [process.communicate(timeout=900)[0] for process in processes]
    elapsed = time.perf_counter() - start
    print(f"\ntools.grade on {len(names)} submissions (2 processes) took {elapsed:.1f} s")
    # exit status 1: some submission could not be graded (the unreadable one, the uninterruptible loop)
    assert sorted(process.returncode for process in processes) in ([0, 1], [1, 1]), "\n".join(outputs)
    report: dict = {}
    for index in range(len(halves)):
        report.update(json.loads((root / f"out_{index}" / "report.json").read_text()))
    out = root / "out"  # the two halves' results, merged as if one grader had written them
    grade_rows: list[str] = []
    for index in range(len(halves)):
        half_out = root / f"out_{index}"
        for kind in ("autograded", "feedback"):
            (out / kind).mkdir(parents=True, exist_ok=True)
            for student_dir in (half_out / kind).iterdir():
                student_dir.rename(out / kind / student_dir.name)
        rows = (half_out / "grades.csv").read_text().splitlines()
        grade_rows += rows if not grade_rows else rows[1:]
    (out / "grades.csv").write_text("\n".join(grade_rows) + "\n")
    return report, out, elapsed


def _autograded(report: dict, student: str) -> dict[str, float]:
    return {k: v["score"] for k, v in report[student]["cells"].items() if k in AUTOGRADED}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_autograded_scores(graded, student):
    report, _, _ = graded
    if EXPECTED[student] is None:
        assert report[student]["status"] == "error" and report[student]["score"] == 0.0, report[student]
    else:
        assert report[student]["status"] == "graded", report[student]
        assert _autograded(report, student) == {**FULL, **EXPECTED[student]}


def test_solution_gets_full_points_twice_identically(graded):
    report, out, _ = graded
    assert _autograded(report, "solution") == FULL
    assert report["solution"]["cells"] == report["solution_again"]["cells"]
    assert report["solution"]["errored_cells"] == report["solution_again"]["errored_cells"] == []
    outputs = []
    for student in ("solution", "solution_again"):
        nb = nbformat.read(out / "autograded" / student / "HW11.ipynb", as_version=4)
        outputs.append([[o.get("text") for o in c.get("outputs", [])] for c in nb.cells])
    assert outputs[0] == outputs[1]


def test_untouched_release_gets_zero_without_crashing(graded):
    report, _, _ = graded
    entry = report["release"]
    assert entry["score"] == 0.0 and entry["max_score"] == sum(POINTS.values())
    assert "discounted_returns_tests" in entry["errored_cells"]
    assert entry["needs_manual_grade"] == []  # unchanged answer cells get 0 automatically


def test_wrong_submission_loses_exactly_the_returns_points(graded):
    report, _, _ = graded
    lost = {k: FULL[k] - v for k, v in _autograded(report, "returns_ignore_dones").items() if v != FULL[k]}
    assert lost == {"discounted_returns_tests": POINTS["discounted_returns_tests"]}
    assert report["returns_ignore_dones"]["errored_cells"] == ["discounted_returns_tests"]


def test_infinite_loop_is_cut_by_the_timeout_and_later_cells_are_graded(graded):
    report, out, _ = graded
    entry = report["infinite_loop"]
    assert entry["timed_out_cells"] == ["student-discounted_returns"]
    assert entry["errored_cells"] == []
    nb = nbformat.read(out / "autograded" / "infinite_loop" / "HW11.ipynb", as_version=4)
    tests = next(c for c in nb.cells if c.get("id") == "discounted_returns_tests")
    assert "PASS" in "".join(o.get("text", "") for o in tests.outputs)


def test_locked_cell_edit_is_flagged_and_restored(graded):
    report, out, _ = graded
    entry = report["edits_locked_tests"]
    assert entry["modified_locked_cells"] == ["discounted_returns_tests"]
    assert any("discounted_returns_tests" in w for w in entry["nbgrader_warnings"])
    assert all(report[s]["modified_locked_cells"] == [] for s in ("solution", "release", "returns_ignore_dones"))
    nb = nbformat.read(out / "autograded" / "edits_locked_tests" / "HW11.ipynb", as_version=4)
    restored = next(c for c in nb.cells if c.get("id") == "discounted_returns_tests")
    original = next(c for c in SOURCE.cells if c.get("id") == "discounted_returns_tests")
    assert restored.source == original.source  # the source version, hidden tests included


def test_failing_submissions_are_reported_and_do_not_stop_the_others(graded):
    report, out, _ = graded
    assert report["not_a_notebook"]["status"] == "error" and report["not_a_notebook"]["score"] == 0.0
    assert "unreadable notebook" in report["not_a_notebook"]["error"]
    assert "CellTimeoutError" in report["uninterruptible_loop"]["error"]
    graded_students = {s for s, e in report.items() if e["status"] == "graded"}
    assert graded_students == set(GRADED)
    rows = (out / "grades.csv").read_text().splitlines()
    assert {row.split(",")[3] for row in rows[1:]} >= set(GRADED)
    assert all((out / "feedback" / s / "HW11.html").exists() for s in GRADED)


def test_deleted_locked_cells_are_restored_before_grading(graded):
    report, out, _ = graded
    assert report["deletes_locked_cells"]["restored_cells"] == ["setup", "discounted_returns_tests"]
    assert report["solution"]["restored_cells"] == []
    nb = nbformat.read(out / "autograded" / "deletes_locked_cells" / "HW11.ipynb", as_version=4)
    ids = [cell.get("id") for cell in nb.cells]
    assert ids.index("setup") < ids.index("discounted_returns") < ids.index("discounted_returns_tests")
