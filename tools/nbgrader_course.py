"""Run real nbgrader commands in a throw-away copy of the course directory.

nbgrader writes ``gradebook.db``, ``release/``, ``submitted/``, ``autograded/``, ``feedback/`` and a
log next to its config; doing that in a temporary copy keeps the repository clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
    """A temporary nbgrader course: ``nbgrader_config.py`` plus ``source/HW11/``."""

    def __init__(self, root: Path, source_notebook: nbformat.NotebookNode | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(config.NBGRADER_CONFIG, self.root / "nbgrader_config.py")
        source_dir = self.root / "source" / config.ASSIGNMENT
        source_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(source_notebook, Path):
            committed_dir = source_notebook.parent
            for path in committed_dir.iterdir():  # data files next to the notebook travel with it
                if path.is_file():
                    shutil.copy(path, source_dir / path.name)
        else:
            write_notebook(source_notebook, source_dir / f"{config.ASSIGNMENT}.ipynb")

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
        """``nbgrader generate_assignment``; returns the released notebook's path."""
        self.run("generate_assignment", config.ASSIGNMENT, "--force")
        return self.root / "release" / config.ASSIGNMENT / f"{config.ASSIGNMENT}.ipynb"


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
