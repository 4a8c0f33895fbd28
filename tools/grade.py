"""Autograde a folder of submitted notebooks with real nbgrader, in parallel, resumably.

    python -m tools.grade SUBMISSIONS --out OUT [--course COURSE] [--workers N] [--shard I/N] [--timeout S]
    python -m tools.grade merge OUT1 OUT2 ... --out OUT

SUBMISSIONS holds one folder per student with their notebook (``<student>/HW11.ipynb``, or the
only ``.ipynb`` in the folder, e.g. ``HW11_Notebook.ipynb``), or ``<student>.ipynb`` files.

The grading happens in an nbgrader course folder: COURSE if given (created on first use, reused
afterwards: its gradebook keeps the manual grades given in the Formgrader), else a temporary one.
There ``nbgrader generate_assignment`` fills the gradebook, ``nbgrader autograde`` grades each new
or changed submission (``--workers N``: N processes at once, each in its own copy of the course
with its own gradebook, copied back into the course afterwards), hidden tests import ``solutions``
and ``hw11_grading`` through PYTHONPATH, with ``HW11_QUICK=1``, ``HW11_LOAD_PRETRAINED=1`` and one
thread per kernel; then ``generate_feedback`` (written answers not graded yet are marked "pending
manual grading") and ``export``. ``--shard I/N`` grades only every N-th student from the I-th, so
that N machines split a class; ``merge`` joins their OUT folders.

OUT receives:
  grades.csv        nbgrader's export, one row per student (``raw_score`` counts manual points
                    given so far)
  cell_grades.csv   one row per student and graded cell
  report.json       per student: status, scores per cell, cells that errored or timed out, graded
                    cells that scored 0 without an error (look at them), cells pending manual
                    grading, locked cells the student modified (nbgrader restores them), locked or
                    graded cells the student deleted (restored here before grading), nbgrader warnings
  autograded/<student>/HW11.ipynb, feedback/<student>/HW11.html, gradebook.db, nbgrader.log

A submission that cannot be read or crashes nbgrader is reported with status "error" and score 0;
the other students are still graded. Exit status: 0 when every submission was graded; 1 when some
could not be; 2 when a step failed (feedback, export), with a message on stderr.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from tools import config
from tools.grade_report import (
    EXCEPTION_LINE,
    NOTEBOOK,
    cell_problems,
    compare_with_release,
    find_submissions,
    in_shard,
    log_problems,
    mark_pending,
    merge_outputs,
    read_grades,
    relevant_warnings,
    write_outputs,
    zero_without_error,
)
from tools.nbgrader_course import Course, copy_submission, nbgrader_env

# Grading never trains: the notebook loads the provided models (HW11_LOAD_PRETRAINED), and the
# hidden tests run their own short, seeded training checks. One thread per kernel: torch's default
# (one per core) makes concurrent graders fight for the cores and slows every kernel many times over.
LOG_DIR = "tools_grade_logs"  # in the course folder: the autograde log of each student's last grading
GRADING_ENV = {"HW11_QUICK": "1", "HW11_LOAD_PRETRAINED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class StepFailed(RuntimeError):
    """An nbgrader step other than autograding one student failed: the results are incomplete."""


def _failed(step: str, result: subprocess.CompletedProcess, lines: int = 15) -> str:
    """A message for a failed nbgrader step: its exit status and the end of its output."""
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-lines:])
    return f"nbgrader {step} failed (exit {result.returncode}):\n{tail}"


def prepare_submissions(
    course: Course, submissions: dict[str, Path], errors: dict[str, str], regrade: bool
) -> tuple[dict[str, dict], list[str]]:
    """Put each readable submission into ``course``'s ``submitted/`` folder.

    Returns per student the comparison with the release (``compare_with_release``), and the
    students to autograde: new or changed submissions, those without an autograded notebook, or
    all with ``regrade``. A submission nbformat cannot read goes into ``errors``.
    """
    release_nb = nbformat.read(course.release_notebook, as_version=4)
    source_nb = nbformat.read(course.source_notebook, as_version=4)
    changes, to_grade = {}, []
    for student, path in submissions.items():
        try:
            nb = nbformat.read(path, as_version=4)
            changes[student] = compare_with_release(nb, release_nb, source_nb)
            text = nbformat.writes(nb)
        except Exception as error:  # not JSON, not a notebook, broken cell structure
            errors[student] = f"unreadable notebook {path.name}: {type(error).__name__}: {error}"
            continue
        target = course.submitted_notebook(student)
        unchanged = target.exists() and target.read_text() == text
        if regrade or not unchanged or not course.autograded_notebook(student).exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            to_grade.append(student)
    return changes, to_grade


def autograde_all(
    course: Course, students: list[str], workers: int, timeout: int | None, scratch: Path, progress: bool = True
) -> dict[str, str]:
    """``nbgrader autograde`` each student, ``workers`` at a time; returns each student's log.

    With one worker the students are graded in ``course`` itself. With more, each worker has its
    own copy of the course (its own gradebook) and takes the next student from a shared queue;
    each finished submission is copied back into ``course`` (files and gradebook rows).
    """
    if not students:
        return {}
    env = nbgrader_env(GRADING_ENV)
    args = ["autograde", config.ASSIGNMENT, "--force"] + ([f"--Execute.timeout={timeout}"] if timeout else [])
    todo: queue.Queue[str] = queue.Queue()
    for student in students:
        todo.put(student)
    logs: dict[str, str] = {}
    lock = threading.Lock()  # one writer at a time into course's gradebook
    bar = tqdm(total=len(students), desc="autograde", unit="student", disable=not progress or None)

    count = max(1, min(workers, len(students)))
    if workers == 1:
        worker_courses = [course]
    else:  # each worker in its own copy of the course: nbgrader's gradebook takes one writer
        skip = shutil.ignore_patterns("submitted", "autograded", "feedback", "*.log", LOG_DIR)
        worker_courses = []
        for index in range(count):
            shutil.copytree(course.root, scratch / f"worker_{index}", ignore=skip)
            worker_courses.append(Course(scratch / f"worker_{index}", course.source_notebook))

    def work(worker: Course) -> None:
        while True:
            try:
                student = todo.get_nowait()
            except queue.Empty:
                return
            try:
                if worker is not course:
                    shutil.rmtree(worker.root / "submitted" / student, ignore_errors=True)
                    shutil.copytree(course.root / "submitted" / student, worker.root / "submitted" / student)
                result = worker.run(*args, f"--student={student}", env=env, check=False)
                log = result.stdout + result.stderr
                with lock:
                    if worker is not course and worker.autograded_notebook(student).exists():
                        copy_submission(worker, course, student)
                    elif worker is not course:  # failed: no stale results of an earlier run may stay
                        shutil.rmtree(course.root / "autograded" / student, ignore_errors=True)
            except Exception as error:  # a broken copy must not stop this worker: the student is reported
                log = f"[tools.grade | ERROR] grading {student} failed: {type(error).__name__}: {error}"
                shutil.rmtree(course.root / "autograded" / student, ignore_errors=True)
            with lock:
                logs[student] = log
                log_path = course.root / LOG_DIR / f"{student}.log"
                log_path.parent.mkdir(exist_ok=True)
                log_path.write_text(log)
                bar.update()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in worker_courses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.close()
    return logs


def generate_feedback(course: Course, workers: int, env: dict[str, str]) -> list[subprocess.CompletedProcess]:
    """``nbgrader generate_feedback`` for each autograded student of ``course``, ``workers`` processes at once.

    Each process handles every ``workers``-th student (the others excluded with
    ``--CourseDirectory.student_id_exclude``); they only read the gradebook.
    """
    students = sorted(path.name for path in (course.root / "autograded").glob("*") if path.is_dir())
    groups = [students[index::workers] for index in range(min(workers, len(students)))] or [students]
    if len(groups) == 1:
        return [course.run("generate_feedback", config.ASSIGNMENT, "--force", env=env, check=False)]
    runs: list[subprocess.CompletedProcess] = []

    def run(group: list[str]) -> None:
        exclude = ",".join(student for student in students if student not in set(group))
        args = ["generate_feedback", config.ASSIGNMENT, "--force", f"--CourseDirectory.student_id_exclude={exclude}"]
        runs.append(course.run(*args, env=env, check=False))

    threads = [threading.Thread(target=run, args=(group,)) for group in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def grade(
    submissions_dir: Path,
    out_dir: Path,
    timeout: int | None = None,
    course_dir: Path | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    regrade: bool = False,
    progress: bool = True,
) -> dict:
    """Autograde the submissions; write the outputs into ``out_dir``; return the report.

    ``timeout``: seconds per cell (None keeps the course config's: ``HW11_CELL_TIMEOUT`` or 120).
    ``course_dir``: the persistent course folder (None: a temporary one). Raises ``StepFailed``
    after writing what it could when feedback or export failed.
    """
    out_dir = Path(out_dir).resolve()  # nbgrader runs in the course folder: no path may be relative
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grades.csv").unlink(missing_ok=True)  # a failed export must not leave an older one behind
    found, errors = find_submissions(submissions_dir)
    chosen = set(in_shard(list(found) + list(errors), shard))
    submissions = {s: p for s, p in found.items() if s in chosen}
    errors = {s: e for s, e in errors.items() if s in chosen}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hw11_grade_") as tmp:
        course = Course(course_dir or Path(tmp) / "course", config.REPO_ROOT / config.SOURCE_NOTEBOOK)
        course.generate_assignment()
        changes, to_grade = prepare_submissions(course, submissions, errors, regrade)
        logs = autograde_all(course, to_grade, workers, timeout, Path(tmp), progress)

        env = nbgrader_env(GRADING_ENV)
        feedback_runs = generate_feedback(course, workers, env)
        failures += [_failed("generate_feedback", run) for run in feedback_runs if run.returncode != 0]
        export_csv = Path(tmp) / "grades.csv"
        export = course.run("export", f"--to={export_csv}", env=env, check=False)
        if export.returncode != 0 or not export_csv.exists():
            failures.append(_failed("export", export) + "\n(no grades.csv was written)")
        else:
            shutil.copy(export_csv, out_dir / "grades.csv")
        runs = [*feedback_runs, export]
        log = "\n".join([*logs.values(), *(run.stdout + run.stderr for run in runs)])
        (out_dir / "nbgrader.log").write_text(log)

        report = build_report(course, submissions, errors, changes, logs, out_dir, failures)
        shutil.copy(course.root / "gradebook.db", out_dir / "gradebook.db")
    write_outputs(out_dir, report)
    if failures:
        raise StepFailed("\n".join(failures))
    return report


def build_report(
    course: Course,
    submissions: dict[str, Path],
    errors: dict[str, str],
    changes: dict[str, dict],
    logs: dict[str, str],
    out_dir: Path,
    failures: list[str],
) -> dict[str, dict]:
    """One report entry per student; copies autograded notebooks and (marked) feedback to ``out_dir``."""
    grades = read_grades(course.db_url, list(changes))
    source_nb = nbformat.read(course.source_notebook, as_version=4)
    max_total = sum(
        float(c.metadata["nbgrader"]["points"]) for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("grade")
    )
    report = {}
    for student in sorted(set(submissions) | set(errors)):
        log_path = course.root / LOG_DIR / f"{student}.log"  # this run's, or the one that graded it
        warnings = log_problems(logs.get(student) or (log_path.read_text() if log_path.exists() else ""))
        autograded_path = course.autograded_notebook(student)
        entry = {"status": "graded", "error": None, "score": 0.0, "max_score": max_total, "cells": {}}
        if student in errors:
            entry.update(status="error", error=errors[student])
        elif not autograded_path.exists() or student not in grades:
            reasons = [w for w in warnings if EXCEPTION_LINE.match(w)]
            entry.update(
                status="error",
                error="nbgrader could not autograde this submission"
                + (f": {reasons[-1]}" if reasons else " (see nbgrader.log)"),
            )
        entry.update(changes.get(student, {}))
        if entry["status"] == "graded":
            cells = grades[student]
            autograded = nbformat.read(autograded_path, as_version=4)
            entry["cells"] = cells
            entry["score"] = sum(cell["score"] for cell in cells.values())
            entry["needs_manual_grade"] = sorted(k for k, v in cells.items() if v["needs_manual_grade"])
            entry["pending_manual_grade"] = sorted(k for k, v in cells.items() if v["pending"])
            entry["zero_without_error"] = zero_without_error(autograded, cells)
            entry.update(cell_problems(autograded))
            target = out_dir / "autograded" / student / NOTEBOOK
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(autograded_path, target)
            feedback = course.feedback_html(student)
            if feedback.exists():
                pending = {k: cells[k]["max_score"] for k in entry["pending_manual_grade"]}
                html_text = mark_pending(feedback.read_text(), pending)
                feedback.write_text(html_text)  # the course's copy too: that is what a TA hands out
                target = out_dir / "feedback" / student / feedback.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(html_text)
            else:
                failures.append(f"no feedback was generated for {student}")
        entry["nbgrader_warnings"] = relevant_warnings(warnings, entry.get("modified_locked_cells", []))
        report[student] = entry
    return report


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 2/4), got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"shard {text}: I must be between 1 and N")
    return index, count


def merge_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.grade merge", description="Merge the OUT folders of several tools.grade runs (shards)."
    )
    parser.add_argument("parts", type=Path, nargs="+", help="OUT folders of the shards")
    parser.add_argument("--out", type=Path, required=True, help="where the merged results go")
    args = parser.parse_args(argv)
    problems = merge_outputs(args.parts, args.out)
    for problem in problems:
        print(f"merge: {problem}", file=sys.stderr)
    report = json.loads((args.out / "report.json").read_text())
    print(f"merged {len(args.parts)} parts, {len(report)} students, into {args.out}")
    return 2 if problems else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m tools.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder (or notebook) per student")
    parser.add_argument("--out", type=Path, required=True, help="where grades, feedback and the report go")
    parser.add_argument(
        "--timeout", type=int, default=None, help="seconds per cell (default: autograder/nbgrader_config.py, 120)"
    )
    parser.add_argument(
        "--course", type=Path, help="persistent nbgrader course folder (created on first use; keeps manual grades)"
    )
    parser.add_argument("--workers", type=int, default=1, help="students graded at once (one per core)")
    parser.add_argument("--shard", type=_shard, help="grade only shard I of N (I/N), for several machines")
    parser.add_argument("--regrade", action="store_true", help="autograde again submissions already graded")
    args = parser.parse_args(argv)
    try:
        report = grade(
            args.submissions,
            args.out,
            timeout=args.timeout,
            course_dir=args.course,
            workers=max(1, args.workers),
            shard=args.shard,
            regrade=args.regrade,
        )
    except StepFailed as failure:
        print(f"error: grading is incomplete; results in {args.out} are partial:\n{failure}", file=sys.stderr)
        return 2
    for student, entry in report.items():
        flags = [
            f"{key}={entry[key]}"
            for key in ("modified_locked_cells", "restored_cells", "timed_out_cells", "errored_cells",
                        "zero_without_error", "pending_manual_grade")
            if entry.get(key)
        ]
        status = entry["error"] if entry["status"] == "error" else f"{entry['score']:g}/{entry['max_score']:g}"
        print(f"{student}: {status} {' '.join(flags)}".rstrip())
    print(f"results in {args.out}")
    return 0 if all(entry["status"] == "graded" for entry in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
