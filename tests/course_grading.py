"""One real nbgrader grading run, shared by tests/test_autograde.py and tests/test_feedback.py.

Grading a submission costs about a minute of real nbgrader, so every submission those two modules
check is graded in one ``python -m tools.grade --workers 2`` run (two nbgrader processes, each with its
own gradebook, merged): the solution (twice), the untouched release, every mutation of
``tools.mutate`` (fast and slow), both corpora of correct-but-different implementations
(``tools.variants``) and a file that is not a notebook. The ``course_grading`` fixture of
tests/conftest.py runs it once per session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat

from tools import config
from tools.mutate import MUTATIONS, SLOW_MUTATIONS, make_submission
from tools.nbgrader_course import write_notebook
from tools.variants import VARIANTS, make_variant

TIMEOUT_S = 45  # per cell: above every visible-check + grader time limit (a seeded training check, ~10 s)
UNREADABLE = "not_a_notebook"  # a submission whose HW11.ipynb is not JSON
SUBMISSIONS = ("solution", "solution_again", "release", *MUTATIONS, *SLOW_MUTATIONS, *VARIANTS)


class GradedCourse(NamedTuple):
    report: dict  # report.json of tools.grade: student -> entry
    out: Path  # its --out folder (autograded/, feedback/, grades.csv)
    submissions: Path  # <student>/HW11.ipynb
    returncode: int
    log: str  # its stdout and stderr


def run_grade(submissions: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    """``python -m tools.grade SUBMISSIONS --out OUT --timeout TIMEOUT_S [options]`` in the repository root."""
    command = [sys.executable, "-m", "tools.grade", str(submissions), "--out", str(out), "--timeout", str(TIMEOUT_S)]
    return subprocess.run([*command, *options], cwd=config.REPO_ROOT, capture_output=True, text=True, timeout=1800)


def submission(name: str, release: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook submitted under ``name`` (one of ``SUBMISSIONS``)."""
    if name in VARIANTS:
        return make_variant(release, solution, name)
    return make_submission(release, solution, "solution" if name == "solution_again" else name)


def grade_course(root: Path) -> GradedCourse:
    """Write every submission of ``SUBMISSIONS`` (and the unreadable one) under ``root`` and grade them all."""
    release = nbformat.read(config.REPO_ROOT / config.RELEASE_NOTEBOOK, as_version=4)
    solution = nbformat.read(config.REPO_ROOT / config.SOLUTION_NOTEBOOK, as_version=4)
    submissions = root / "submissions"
    for name in SUBMISSIONS:
        write_notebook(submission(name, release, solution), submissions / name / "HW11.ipynb")
    (submissions / UNREADABLE).mkdir()
    (submissions / UNREADABLE / "HW11.ipynb").write_text("{ this is not json")
    out = root / "out"
    result = run_grade(submissions, out, "--workers", "2")
    report = json.loads((out / "report.json").read_text())
    return GradedCourse(report, out, submissions, result.returncode, result.stdout + result.stderr)
