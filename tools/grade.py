"""Autograde a folder of submitted notebooks with real nbgrader.

    python -m tools.grade SUBMISSIONS_DIR --out OUT_DIR [--timeout SECONDS]

SUBMISSIONS_DIR holds one folder per student with their notebook (``<student>/HW11.ipynb``, or
the only ``.ipynb`` in the folder, e.g. ``HW11_Notebook.ipynb``), or ``<student>.ipynb`` files.
In a temporary copy of the course (``autograder/``, with the committed source notebook) this runs
``nbgrader generate_assignment`` (fills the gradebook), ``autograde`` (all students in one call,
each cell limited to ``--timeout`` seconds, hidden tests importing ``solutions`` and
``hw11_grading`` through PYTHONPATH, ``HW11_QUICK=1``, ``HW11_LOAD_PRETRAINED=1``),
``generate_feedback`` and ``export``.

OUT_DIR receives:
  grades.csv        nbgrader's export (one row per student; manual grades still 0)
  cell_grades.csv   one row per student and graded cell
  report.json       per student: status, scores per cell, cells that errored or timed out,
                    locked cells the student modified (nbgrader restores them), locked or graded
                    cells the student deleted (restored here before grading), nbgrader warnings
  autograded/<student>/HW11.ipynb, feedback/<student>/HW11.html, gradebook.db, nbgrader.log

A submission that cannot be read, crashes nbgrader, or aborts the batch is reported with status
"error" and score 0; the other students are still graded. Exit status: 0 when every submission was
graded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from tools import config
from tools.nbgrader_course import Course, nbgrader_env

NOTEBOOK = f"{config.ASSIGNMENT}.ipynb"
STUDENT_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def find_submissions(submissions_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Map student id -> notebook path; and student id -> error for folders without one notebook."""
    found: dict[str, Path] = {}
    errors: dict[str, str] = {}
    for entry in sorted(Path(submissions_dir).iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            notebooks = [entry / NOTEBOOK] if (entry / NOTEBOOK).is_file() else sorted(entry.glob("*.ipynb"))
            student = STUDENT_ID.sub("_", entry.name)
        elif entry.suffix == ".ipynb":
            notebooks, student = [entry], STUDENT_ID.sub("_", entry.stem)
        else:
            continue
        if student in found or student in errors:
            student = f"{student}_{len(found) + len(errors)}"
        if len(notebooks) != 1:
            errors[student] = f"expected one notebook in {entry}, found {len(notebooks)}"
        else:
            found[student] = notebooks[0]
    return found, errors


def compare_with_release(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> dict[str, list[str]]:
    """Restore deleted nbgrader cells in ``submitted`` (in place); report edits and deletions.

    Returns ``modified_locked_cells`` (locked cells whose text differs from the release; nbgrader
    restores those itself) and ``restored_cells`` (locked or graded cells the student deleted: put
    back here, from the release, after the nearest earlier cell still present, so that tests
    still run and the setup cell is still there). Deleted plain solution cells are not restored: a
    stub could overwrite the student's code if they moved it elsewhere.
    """
    present = {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in submitted.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id")
    }
    modified, restored = [], []
    previous_present = None  # the last release cell (with a grade_id) found in the submission
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id is None:
            continue
        if grade_id in present:
            if meta.get("locked") and cell.source.strip() != present[grade_id].source.strip():
                modified.append(grade_id)
            previous_present = present[grade_id]
        elif meta.get("locked") or meta.get("grade"):
            index = submitted.cells.index(previous_present) + 1 if previous_present is not None else 0
            copy = nbformat.from_dict(cell)
            submitted.cells.insert(index, copy)
            present[grade_id] = previous_present = copy
            restored.append(grade_id)
    return {"modified_locked_cells": modified, "restored_cells": restored}


def cell_problems(autograded: nbformat.NotebookNode) -> dict[str, list[str]]:
    """Ids of cells that ended in an error, and of those cut by the per-cell timeout."""
    errored, timed_out = [], []
    for cell in autograded.cells:
        if cell.cell_type != "code":
            continue
        enames = {output.get("ename") for output in cell.get("outputs", []) if output.get("output_type") == "error"}
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or cell.get("id", "?")
        if "CellTimeoutError" in enames:
            timed_out.append(name)
        elif enames:
            errored.append(name)
    return {"errored_cells": errored, "timed_out_cells": timed_out}


EXCEPTION_LINE = re.compile(r"^\s*[\w.]+(Error|Exception|Interrupt): .+")


def log_by_student(log: str) -> dict[str, list[str]]:
    """nbgrader WARNING/ERROR lines (and exception lines of tracebacks) of the log, per student."""
    per_student: dict[str, list[str]] = {}
    current = None
    for line in log.splitlines():
        match = re.search(rf"(?:submitted|autograded)/([^/]+)/{config.ASSIGNMENT}\b", line)
        if match:
            current = match.group(1)
            per_student.setdefault(current, [])
        if current and ("| WARNING]" in line or "| ERROR]" in line or EXCEPTION_LINE.match(line)):
            per_student[current].append(line.strip())
    return per_student


def _relevant(warnings: list[str], modified_locked_cells: list[str]) -> list[str]:
    """Drop nbgrader's checksum warning for test cells the student did not touch.

    nbgrader compares the submitted cell with the gradebook's copy, which holds the hidden tests, so
    it warns (and restores the cell) for every test cell with hidden tests; only real edits matter.
    """
    pattern = re.compile(r"Attribute 'checksum' for cell (\S+) has changed")
    return [w for w in warnings if not ((m := pattern.search(w)) and m.group(1) not in modified_locked_cells)]


def _grades(db_url: str, students: list[str]) -> dict[str, dict]:
    from nbgrader.api import Gradebook, MissingEntry

    results = {}
    with Gradebook(db_url) as gradebook:
        for student in students:
            try:
                notebook = gradebook.find_submission_notebook(config.ASSIGNMENT, config.ASSIGNMENT, student)
            except MissingEntry:
                continue
            cells = {
                grade.name: {
                    "score": float(grade.score),
                    "max_score": float(grade.max_score),
                    "auto_score": grade.auto_score,
                    "needs_manual_grade": bool(grade.needs_manual_grade),
                }
                for grade in sorted(notebook.grades, key=lambda g: g.name)
            }
            results[student] = cells
    return results


def grade(submissions_dir: Path, out_dir: Path, timeout: int | None = None, keep_course: Path | None = None) -> dict:
    """Autograde every submission; write the outputs into ``out_dir``; return the report.

    ``timeout``: seconds per cell; None keeps the course config's (``HW11_CELL_TIMEOUT`` or 120).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    submissions, errors = find_submissions(submissions_dir)
    source_nb = nbformat.read(config.REPO_ROOT / config.SOURCE_NOTEBOOK, as_version=4)
    # Grading never trains: the notebook loads the provided models (HW11_LOAD_PRETRAINED), and the
    # hidden tests run their own short, seeded training checks.
    # One thread per kernel: torch's default (one per core) makes concurrent graders fight for the
    # cores and slows every kernel many times over.
    env = nbgrader_env({"HW11_QUICK": "1", "HW11_LOAD_PRETRAINED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    log_parts = []

    with tempfile.TemporaryDirectory(prefix="hw11_grade_") as tmp:
        course = Course(Path(tmp) / "course", config.REPO_ROOT / config.SOURCE_NOTEBOOK)
        release_nb = nbformat.read(course.generate_assignment(), as_version=4)
        changes = {}
        for student, path in submissions.items():
            try:
                nb = nbformat.read(path, as_version=4)
                student_changes = compare_with_release(nb, release_nb)
                target = course.root / "submitted" / student / config.ASSIGNMENT / NOTEBOOK
                target.parent.mkdir(parents=True)
                nbformat.write(nb, target)
            except Exception as error:  # not JSON, not a notebook, broken cell structure
                errors[student] = f"unreadable notebook {path.name}: {type(error).__name__}: {error}"
                continue
            changes[student] = student_changes

        autograde_args = ["autograde", config.ASSIGNMENT, "--force"]
        if timeout is not None:
            autograde_args.append(f"--Execute.timeout={timeout}")
        result = course.run(*autograde_args, env=env, check=False)
        log_parts.append(result.stdout + result.stderr)
        # A few nbgrader errors abort the whole batch: grade the students it never reached one by one.
        reached = log_by_student(result.stdout + result.stderr)
        for student in changes:
            if student not in reached:
                result = course.run(*autograde_args, f"--student={student}", env=env, check=False)
                log_parts.append(result.stdout + result.stderr)

        result = course.run("generate_feedback", config.ASSIGNMENT, "--force", env=env, check=False)
        log_parts.append(result.stdout + result.stderr)
        result = course.run("export", f"--to={out_dir / 'grades.csv'}", env=env, check=False)
        log_parts.append(result.stdout + result.stderr)

        log = "\n".join(log_parts)
        (out_dir / "nbgrader.log").write_text(log)
        warnings = log_by_student(log)
        grades = _grades(f"sqlite:///{course.root / 'gradebook.db'}", list(changes))
        max_total = sum(
            float(c.metadata["nbgrader"]["points"])
            for c in source_nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
        )

        report = {}
        for student in sorted(set(submissions) | set(errors)):
            autograded_path = course.root / "autograded" / student / config.ASSIGNMENT / NOTEBOOK
            entry = {"status": "graded", "error": None, "score": 0.0, "max_score": max_total, "cells": {}}
            if student in errors:
                entry.update(status="error", error=errors[student])
            elif not autograded_path.exists() or student not in grades:
                reasons = [w for w in warnings.get(student, []) if EXCEPTION_LINE.match(w)]
                entry.update(
                    status="error",
                    error="nbgrader could not autograde this submission"
                    + (f": {reasons[-1]}" if reasons else " (see nbgrader.log)"),
                )
            if student in changes:
                entry.update(changes[student])
            if entry["status"] == "graded":
                entry["cells"] = grades[student]
                entry["score"] = sum(cell["score"] for cell in entry["cells"].values())
                entry["needs_manual_grade"] = sorted(k for k, v in entry["cells"].items() if v["needs_manual_grade"])
                entry.update(cell_problems(nbformat.read(autograded_path, as_version=4)))
                _copy(autograded_path, out_dir / "autograded" / student / NOTEBOOK)
                feedback = course.root / "feedback" / student / config.ASSIGNMENT / f"{config.ASSIGNMENT}.html"
                if feedback.exists():
                    _copy(feedback, out_dir / "feedback" / student / feedback.name)
            entry["nbgrader_warnings"] = _relevant(warnings.get(student, []), entry.get("modified_locked_cells", []))
            report[student] = entry

        _copy(course.root / "gradebook.db", out_dir / "gradebook.db")
        if keep_course is not None:
            shutil.copytree(course.root, keep_course, dirs_exist_ok=True)

    (out_dir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    with open(out_dir / "cell_grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "cell", "score", "max_score", "needs_manual_grade", "status"])
        for student, entry in report.items():
            for cell, values in entry["cells"].items():
                writer.writerow(
                    [student, cell, values["score"], values["max_score"], values["needs_manual_grade"], entry["status"]]
                )
            if not entry["cells"]:
                writer.writerow([student, "", 0.0, entry["max_score"], False, entry["status"]])
    return report


def _copy(source: Path, target: Path) -> None:
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder (or notebook) per student")
    parser.add_argument("--out", type=Path, required=True, help="where grades, feedback and the report go")
    parser.add_argument(
        "--timeout", type=int, default=None, help="seconds per cell (default: autograder/nbgrader_config.py, 120)"
    )
    parser.add_argument("--keep-course", type=Path, help="copy the temporary nbgrader course here (debugging)")
    args = parser.parse_args(argv)
    report = grade(args.submissions, args.out, timeout=args.timeout, keep_course=args.keep_course)
    for student, entry in report.items():
        flags = [
            f"{key}={entry[key]}"
            for key in ("modified_locked_cells", "restored_cells", "timed_out_cells", "errored_cells")
            if entry.get(key)
        ]
        status = entry["error"] if entry["status"] == "error" else f"{entry['score']:g}/{entry['max_score']:g}"
        print(f"{student}: {status} {' '.join(flags)}".rstrip())
    print(f"results in {args.out}")
    return 0 if all(entry["status"] == "graded" for entry in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
