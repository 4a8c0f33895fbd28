"""What ``tools.grade`` reads from submissions and from nbgrader's results, and the files it writes.

Pure functions on notebooks, gradebooks and output folders (no nbgrader command runs here):
finding the submissions, comparing a submission with the release, naming the cells that failed,
marking ungraded written answers as pending in the feedback, and writing or merging
``report.json``, ``cell_grades.csv`` and ``grades.csv``.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
from pathlib import Path

import nbformat

from tools import config

NOTEBOOK = f"{config.ASSIGNMENT}.ipynb"
STUDENT_ID = re.compile(r"[^A-Za-z0-9_.-]+")
EXCEPTION_LINE = re.compile(r"^\s*[\w.]+(Error|Exception|Interrupt): .+")
PENDING = "pending manual grading"


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


def in_shard(students: list[str], shard: tuple[int, int] | None) -> list[str]:
    """The students of shard ``(i, n)`` (1-based ``i``): every n-th of the sorted ids, from the i-th."""
    if shard is None:
        return sorted(students)
    index, count = shard
    return sorted(students)[index - 1 :: count]


def _code_lines(source: str) -> list[str]:
    """The lines that do something: no blank lines, no comments (nbgrader's markers are comments)."""
    lines = (line.rstrip() for line in source.splitlines())
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def compare_with_release(
    submitted: nbformat.NotebookNode, release: nbformat.NotebookNode, source: nbformat.NotebookNode | None = None
) -> dict[str, list[str]]:
    """Restore deleted nbgrader cells in ``submitted`` (in place); report edits and deletions.

    Returns ``modified_locked_cells`` (locked cells whose code differs both from the release and
    from the source, i.e. not just the hidden tests added, nor only comments or blank lines
    changed; nbgrader restores those cells itself) and ``restored_cells`` (locked or graded cells
    the student deleted: put back here, from the release, after the nearest earlier cell still
    present, so that tests still run and the setup cell is still there). Deleted plain solution
    cells are not restored: a stub could overwrite the student's code if they moved it elsewhere.
    """
    present = {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in submitted.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id")
    }
    source_cells = {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in (source.cells if source is not None else [])
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
            allowed = [cell] + ([source_cells[grade_id]] if grade_id in source_cells else [])
            if meta.get("locked") and all(
                _code_lines(present[grade_id].source) != _code_lines(version.source) for version in allowed
            ):
                modified.append(grade_id)
            previous_present = present[grade_id]
        elif meta.get("locked") or meta.get("grade"):
            index = submitted.cells.index(previous_present) + 1 if previous_present is not None else 0
            copy = nbformat.from_dict(cell)
            submitted.cells.insert(index, copy)
            present[grade_id] = previous_present = copy
            restored.append(grade_id)
    return {"modified_locked_cells": modified, "restored_cells": restored}


def cell_names(nb: nbformat.NotebookNode) -> list[str]:
    """A readable name per cell: its grade id, or for an unmarked cell, its place after one.

    Unmarked cells (given code without nbgrader metadata, or cells the student added) are named
    ``"<n>th cell after <grade id>"`` from the nearest earlier cell with a grade id.
    """
    names, last_id, since = [], None, 0
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            names.append(grade_id)
            last_id, since = grade_id, 0
        else:
            since += 1
            names.append(f"cell {since} after {last_id}" if last_id else f"cell {since} of the notebook")
    return names


def cell_problems(autograded: nbformat.NotebookNode) -> dict[str, list[str]]:
    """Names (``cell_names``) of cells that ended in an error, and of those cut by the per-cell timeout."""
    errored, timed_out = [], []
    for cell, name in zip(autograded.cells, cell_names(autograded)):
        if cell.cell_type != "code":
            continue
        enames = {output.get("ename") for output in cell.get("outputs", []) if output.get("output_type") == "error"}
        if "CellTimeoutError" in enames:
            timed_out.append(name)
        elif enames:
            errored.append(name)
    return {"errored_cells": errored, "timed_out_cells": timed_out}


def zero_without_error(autograded: nbformat.NotebookNode, cells: dict[str, dict]) -> list[str]:
    """Graded code cells that scored 0 of a positive maximum but show no error output.

    nbgrader gives 0 to a test cell that writes to stderr (a warning, say) although nothing failed;
    a human should look at these.
    """
    suspicious = []
    for cell in autograded.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        grade = cells.get(grade_id or "")
        if cell.cell_type != "code" or grade is None or grade["max_score"] <= 0 or grade["score"] > 0:
            continue
        if not any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            suspicious.append(grade_id)
    return suspicious


def log_problems(log: str) -> list[str]:
    """nbgrader's WARNING and ERROR lines, and the exception lines of tracebacks, of one run's log."""
    problem = re.compile(r"\| (WARNING|ERROR)\]")
    return [line.strip() for line in log.splitlines() if problem.search(line) or EXCEPTION_LINE.match(line)]


def relevant_warnings(warnings: list[str], modified_locked_cells: list[str]) -> list[str]:
    """Drop nbgrader's checksum warning for test cells the student did not touch.

    nbgrader compares the submitted cell with the gradebook's copy, which holds the hidden tests, so
    it warns (and restores the cell) for every test cell with hidden tests; only real edits matter.
    """
    pattern = re.compile(r"Attribute 'checksum' for cell (\S+) has changed")
    return [w for w in warnings if not ((m := pattern.search(w)) and m.group(1) not in modified_locked_cells)]


def read_grades(db_url: str, students: list[str]) -> dict[str, dict[str, dict]]:
    """Per student (those with an autograded submission), per graded cell: the gradebook's values.

    ``score`` is nbgrader's (the manual score where one was given, the automatic one otherwise);
    ``pending`` is true for a cell that needs a manual grade and has none yet.
    """
    from nbgrader.api import Gradebook, MissingEntry

    results = {}
    with Gradebook(db_url) as gradebook:
        for student in students:
            try:
                notebook = gradebook.find_submission_notebook(config.ASSIGNMENT, config.ASSIGNMENT, student)
            except MissingEntry:
                continue
            results[student] = {
                grade.name: {
                    "score": float(grade.score),
                    "max_score": float(grade.max_score),
                    "auto_score": grade.auto_score,
                    "manual_score": grade.manual_score,
                    "needs_manual_grade": bool(grade.needs_manual_grade),
                    "pending": bool(grade.needs_manual_grade) and grade.manual_score is None,
                }
                for grade in sorted(notebook.grades, key=lambda g: g.name)
            }
    return results


def mark_pending(feedback_html: str, pending: dict[str, float]) -> str:
    """Feedback HTML with every cell of ``pending`` (grade id -> max score) shown as pending, not 0.

    nbgrader prints ``Score: 0.0 / 3.0`` for a written answer nobody has graded yet; this writes
    ``Score: pending manual grading, out of 3`` in the table of contents and the cell's heading,
    and says in the title how many points are still to be graded.
    """
    for grade_id, max_score in pending.items():
        key = re.escape(html.escape(grade_id, quote=True))
        replacement = rf"\g<1>Score: {PENDING}, out of {max_score:g}"
        feedback_html = re.sub(
            rf'(<a href="#{key}">[^<]*</a> \()Score: [-\d.]+ / [\d.]+', replacement, feedback_html, count=1
        )
        feedback_html = re.sub(
            rf'(<a name="{key}"></a><div class="panel-heading">(?:(?!</div>).){{0,400}}?)Score: [-\d.]+ / [\d.]+',
            replacement,
            feedback_html,
            count=1,
            flags=re.DOTALL,
        )
    if pending:
        total = sum(pending.values())
        feedback_html = re.sub(
            r"(<h4>[^<(]*\(Score: [-\d.]+ / [\d.]+)\)",
            rf"\g<1>; {total:g} points {PENDING})",
            feedback_html,
            count=1,
        )
    return feedback_html


CELL_GRADES_HEADER = ["student", "cell", "score", "max_score", "needs_manual_grade", "status"]


def write_outputs(out_dir: Path, report: dict[str, dict]) -> None:
    """``report.json`` and ``cell_grades.csv`` in ``out_dir``."""
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    with open(out_dir / "cell_grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CELL_GRADES_HEADER)
        for student, entry in sorted(report.items()):
            for cell, values in entry["cells"].items():
                writer.writerow(
                    [student, cell, values["score"], values["max_score"], values["needs_manual_grade"], entry["status"]]
                )
            if not entry["cells"]:
                writer.writerow([student, "", 0.0, entry["max_score"], False, entry["status"]])


def merge_outputs(parts: list[Path], out_dir: Path) -> list[str]:
    """Merge the output folders of several ``tools.grade`` runs (shards) into ``out_dir``.

    ``report.json``, ``cell_grades.csv`` and ``grades.csv`` are joined (one row per student and
    cell, or per student), ``autograded/`` and ``feedback/`` are copied, the logs concatenated.
    Returns problems (a missing file, a student in two parts); an empty list means a clean merge.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    report: dict[str, dict] = {}
    header: list[str] | None = None
    rows: list[list[str]] = []
    logs = []
    for part in map(Path, parts):
        if not (part / "report.json").exists() or not (part / "grades.csv").exists():
            problems.append(f"{part}: no report.json or grades.csv (not a finished tools.grade output)")
            continue
        part_report = json.loads((part / "report.json").read_text())
        for student in sorted(set(part_report) & set(report)):
            problems.append(f"{student} is in more than one part (kept the one from {part})")
        report.update(part_report)
        with open(part / "grades.csv", newline="") as handle:
            part_rows = list(csv.reader(handle))
        if part_rows:
            header = header or part_rows[0]
            rows += part_rows[1:]
        for kind in ("autograded", "feedback"):
            if (part / kind).is_dir():
                shutil.copytree(part / kind, out_dir / kind, dirs_exist_ok=True)
        if (part / "nbgrader.log").exists():
            logs.append(f"==> {part} <==\n" + (part / "nbgrader.log").read_text())
    if header is not None:
        student_column = header.index("student_id") if "student_id" in header else None
        unique = {tuple(row): row for row in rows}.values()  # a persistent course may export a student twice
        ordered = sorted(unique, key=lambda row: row[student_column] if student_column is not None else row)
        with open(out_dir / "grades.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(ordered)
    write_outputs(out_dir, report)
    (out_dir / "nbgrader.log").write_text("\n".join(logs))
    return problems
