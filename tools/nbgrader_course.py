"""Run real nbgrader commands in a course folder outside the repository.

nbgrader writes ``gradebook.db``, ``release/``, ``submitted/``, ``autograded/``, ``feedback/`` and a
log next to its config; doing that in a copy of the course (temporary, or the instructor's
persistent grading folder) keeps the repository clean. ``copy_submission`` moves one student's
graded submission, files and gradebook rows, from one course folder to another: that is how
parallel graders, each with its own gradebook, end up in one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat

from tools import config


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Deterministic JSON text of a notebook, stored without outputs."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(nb))


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for nbgrader and its kernels.

    The interpreter's bin folder goes first on PATH (nbgrader shells out to ``alembic``), and
    PYTHONPATH holds the repository root (``solutions``, ``hw11_utils``) and ``autograder/``
    (``hw11_grading``) so that hidden tests can import them.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    python_path = [str(config.REPO_ROOT), str(config.GRADING_PACKAGE_DIR)]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    env.update(extra or {})
    return env


class Course:
    """An nbgrader course folder: ``nbgrader_config.py`` plus ``source/HW11/``.

    Created when ``root`` does not exist yet; reused otherwise (gradebook, submissions and manual
    grades are kept; the config and the source notebook are refreshed from the repository, and
    ``source_changed`` says whether the source differs from the one the course had).
    """

    def __init__(self, root: Path, source_notebook: nbformat.NotebookNode | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(config.NBGRADER_CONFIG, self.root / "nbgrader_config.py")
        source_dir = self.root / "source" / config.ASSIGNMENT
        source_dir.mkdir(parents=True, exist_ok=True)
        notebook_path = source_dir / f"{config.ASSIGNMENT}.ipynb"
        before = notebook_path.read_bytes() if notebook_path.exists() else None
        if isinstance(source_notebook, Path):
            committed_dir = source_notebook.parent
            for path in committed_dir.iterdir():  # data files next to the notebook travel with it
                if path.is_file() and path.resolve() != (source_dir / path.name).resolve():
                    shutil.copy(path, source_dir / path.name)
        else:
            write_notebook(source_notebook, notebook_path)
        self.source_changed = before != notebook_path.read_bytes()

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def source_notebook(self) -> Path:
        return self.root / "source" / config.ASSIGNMENT / f"{config.ASSIGNMENT}.ipynb"

    @property
    def release_notebook(self) -> Path:
        return self.root / "release" / config.ASSIGNMENT / f"{config.ASSIGNMENT}.ipynb"

    def submitted_notebook(self, student: str) -> Path:
        return self.root / "submitted" / student / config.ASSIGNMENT / f"{config.ASSIGNMENT}.ipynb"

    def autograded_notebook(self, student: str) -> Path:
        return self.root / "autograded" / student / config.ASSIGNMENT / f"{config.ASSIGNMENT}.ipynb"

    def feedback_html(self, student: str) -> Path:
        return self.root / "feedback" / student / config.ASSIGNMENT / f"{config.ASSIGNMENT}.html"

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``nbgrader <args>`` in the course folder; output is captured (text)."""
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.root,
            env=env or nbgrader_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def generate_assignment(self) -> Path:
        """``nbgrader generate_assignment`` (fills the gradebook); returns the released notebook's path.

        Skipped in a reused course whose source has not changed; with a changed source nbgrader
        updates the gradebook's cells in place (existing grades stay).
        """
        if self.source_changed or not self.release_notebook.exists():
            self.run("generate_assignment", config.ASSIGNMENT, "--force")
            self.source_changed = False
        return self.release_notebook


def copy_submission(source: Course, target: Course, student: str) -> None:
    """Copy one student's submission from ``source`` to ``target``: files and gradebook rows.

    The submitted and autograded folders are copied as they are; in ``target``'s gradebook the
    student and the submission are created if needed and every grade and comment (automatic and
    manual) is set to ``source``'s value. ``target`` must hold the same assignment.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    for kind in ("submitted", "autograded", "feedback"):
        folder = source.root / kind / student
        if folder.exists():
            shutil.rmtree(target.root / kind / student, ignore_errors=True)
            shutil.copytree(folder, target.root / kind / student)
    with warnings.catch_warnings(), Gradebook(source.db_url) as source_gb, Gradebook(target.db_url) as target_gb:
        warnings.simplefilter("ignore", SAWarning)  # notes from nbgrader's own add_submission (autoflush)
        submission = source_gb.find_submission(config.ASSIGNMENT, student)
        target_gb.update_or_create_student(student)
        extra = {"timestamp": submission.timestamp} if submission.timestamp else {}
        target_gb.update_or_create_submission(config.ASSIGNMENT, student, **extra)
        for notebook in submission.notebooks:
            copy = target_gb.find_submission_notebook(notebook.name, config.ASSIGNMENT, student)
            copy.flagged = notebook.flagged
            for grade in notebook.grades:
                row = target_gb.find_grade(grade.name, notebook.name, config.ASSIGNMENT, student)
                for field in ("auto_score", "manual_score", "extra_credit", "needs_manual_grade"):
                    setattr(row, field, getattr(grade, field))
            for comment in notebook.comments:
                row = target_gb.find_comment(comment.name, notebook.name, config.ASSIGNMENT, student)
                row.auto_comment, row.manual_comment = comment.auto_comment, comment.manual_comment
        target_gb.db.commit()


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
