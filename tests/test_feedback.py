"""Real nbgrader: correct code never scores 0, one mistake costs only its own cells, and the feedback pages
never show hidden code.

The session's one ``python -m tools.grade`` run (tests/course_grading.py, shared with tests/test_autograde.py)
grades, among others, the blank release, the two corpora of correct-but-different
implementations (``tools/variants.py``; some of their graded cells trigger torch warnings), a solution whose
``discounted_returns`` loops forever, and a solution whose ``meta_loss`` makes the reference ``inner_step``
crash (``tools.mutate.SLOW_MUTATIONS``). Then ``tools.scan_release.scan_feedback`` scans the feedback.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.course_grading import SUBMISSIONS
from tools import config
from tools.scan_release import scan_feedback

pytestmark = pytest.mark.e2e

SOURCE = nbformat.read(config.REPO_ROOT / config.SOURCE_NOTEBOOK, as_version=4)
POINTS = {
    cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
    for cell in SOURCE.cells
    if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"
}
EXPECTED_LOST = {
    "variants_a": set(),
    "variants_b": set(),
    "returns_loop": {"discounted_returns_tests"},
    "meta_loss_crashes_in_reference": {"meta_loss_tests", "maml_training_tests"},
    "release": set(POINTS),
}
assert set(EXPECTED_LOST) <= set(SUBMISSIONS)


@pytest.fixture(scope="module")
def graded(course_grading) -> tuple[dict, Path, Path]:
    report = course_grading.report
    assert all(report[name]["status"] == "graded" for name in EXPECTED_LOST), course_grading.log
    return report, course_grading.out, course_grading.submissions


@pytest.mark.parametrize("student", sorted(EXPECTED_LOST))
def test_each_submission_loses_exactly_its_cells(graded, student):
    report, _, _ = graded
    scores = {k: v["score"] for k, v in report[student]["cells"].items() if k in POINTS}
    lost = {k for k, v in scores.items() if v < POINTS[k]}
    assert lost == EXPECTED_LOST[student], scores
    assert all(scores[k] == 0.0 for k in lost)
    # graded cells end by their own time limits; only a given cell that runs the loop may hit the cell timeout
    assert not set(report[student]["timed_out_cells"]) & set(POINTS), report[student]["timed_out_cells"]


def test_the_loop_fails_with_a_time_limit_message_not_the_cell_timeout(graded):
    _, out, _ = graded
    nb = nbformat.read(out / "autograded" / "returns_loop" / "HW11.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "discounted_returns_tests")
    text = "".join(o.get("text", "") + "".join(o.get("traceback", [])) for o in cell.outputs)
    assert "did not finish within" in text and "CellTimeoutError" not in text, text


def test_a_crash_inside_the_reference_is_one_message(graded):
    _, out, _ = graded
    nb = nbformat.read(out / "autograded" / "meta_loss_crashes_in_reference" / "HW11.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "meta_loss_tests")
    (error,) = [o for o in cell.outputs if o.output_type == "error"]
    assert len(error.traceback) <= 3, error.traceback
    assert "your function called inner_step(" in error.evalue and "batch=list of" in error.evalue
    assert "solutions" not in "".join(error.traceback) and "hw11_grading" not in "".join(error.traceback)


def test_feedback_shows_no_hidden_code(graded):
    _, out, submissions = graded
    assert scan_feedback(out / "feedback", submissions) == []
