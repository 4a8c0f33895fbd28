"""Paths and the one configurable value of the build: the public student repository.

``STUDENT_REPO_URL`` is rendered into the notebook (the install cell's default and the Colab/Kaggle
badges) and into the student README. Override it at build time with the environment variable
``HW11_STUDENT_REPO_URL`` (and the branch with ``HW11_STUDENT_REPO_BRANCH``); ``--check`` then
compares against a build with the same value, so commit generated files built with the default.
The install cell reads the same variable again when it *runs*, so a student (or a test) can install
``hw11_utils`` from another git URL or a local folder without rebuilding.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

STUDENT_REPO_URL = os.environ.get("HW11_STUDENT_REPO_URL", "https://github.com/hw11-meta-rl/hw11-student")
STUDENT_REPO_BRANCH = os.environ.get("HW11_STUDENT_REPO_BRANCH", "main")

ASSIGNMENT = "HW11"  # nbgrader assignment id and notebook name (HW11.ipynb)

NOTEBOOK_SOURCE = REPO_ROOT / "notebook" / "HW11_source.py"
AUTOGRADER_DIR = REPO_ROOT / "autograder"
NBGRADER_CONFIG = AUTOGRADER_DIR / "nbgrader_config.py"
GRADING_PACKAGE_DIR = AUTOGRADER_DIR  # holds the hidden package hw11_grading

# Generated files (committed, stored without outputs), relative to the repository root.
SOURCE_NOTEBOOK = Path("autograder") / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE_NOTEBOOK = Path("HW11_Notebook.ipynb")
SOLUTION_NOTEBOOK = Path("solutions") / "HW11_Solution.ipynb"
GENERATED_FILES = (SOURCE_NOTEBOOK, RELEASE_NOTEBOOK, SOLUTION_NOTEBOOK)

# What the public student repository holds (besides the generated README.md).
STUDENT_TREE_FILES = ("HW11_Notebook.ipynb", "requirements.txt", "pyproject.toml")
STUDENT_TREE_PACKAGES = ("hw11_utils",)


def notebook_urls(repo_url: str = STUDENT_REPO_URL, branch: str = STUDENT_REPO_BRANCH) -> dict[str, str]:
    """Template values rendered into the notebook and the student README."""
    github_path = repo_url.rstrip("/").removesuffix(".git").split("github.com/", 1)[-1]
    notebook_on_github = f"https://github.com/{github_path}/blob/{branch}/{RELEASE_NOTEBOOK.as_posix()}"
    return {
        "STUDENT_REPO_URL": repo_url,
        "STUDENT_REPO_BRANCH": branch,
        "COLAB_URL": f"https://colab.research.google.com/github/{github_path}/blob/{branch}/"
        f"{RELEASE_NOTEBOOK.as_posix()}",
        "KAGGLE_URL": f"https://kaggle.com/kernels/welcome?src={notebook_on_github}",
    }
