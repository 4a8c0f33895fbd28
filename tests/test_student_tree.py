"""The student tree written into an existing repository: history kept, stale files gone, minimal pyproject."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools import config
from tools.student_tree import STUDENT_GITIGNORE, student_pyproject, write_student_tree

ROOT = config.REPO_ROOT


def _git(tree: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, cwd=tree, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def student_repo(tmp_path) -> Path:
    """A committed student repository, as an instructor's clone of the public one would be."""
    tree = tmp_path / "hw11-student"
    assert write_student_tree(tree, ROOT / config.RELEASE_NOTEBOOK) == 0
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", "release 1")
    return tree


def test_rebuilding_into_a_git_clone_keeps_its_history_and_removes_stale_files(student_repo):
    (student_repo / "hw11_utils" / "old_module.py").write_text("x = 1\n")
    (student_repo / "stale.txt").write_text("from an older release\n")
    (student_repo / "requirements.txt").write_text("changed by hand\n")
    _git(student_repo, "add", "-A")
    _git(student_repo, "commit", "-q", "-m", "release 2")

    assert write_student_tree(student_repo, ROOT / config.RELEASE_NOTEBOOK) == 0

    assert (student_repo / ".git").is_dir()
    assert _git(student_repo, "log", "--format=%s") == "release 2\nrelease 1\n"
    assert not (student_repo / "stale.txt").exists()
    assert not (student_repo / "hw11_utils" / "old_module.py").exists()
    assert (student_repo / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()
    status = sorted(_git(student_repo, "status", "--porcelain").splitlines())
    assert status == [" D hw11_utils/old_module.py", " D stale.txt", " M requirements.txt"]


def test_an_empty_git_repository_is_filled(tmp_path):
    tree = tmp_path / "empty"
    tree.mkdir()
    _git(tree, "init", "-q")
    assert write_student_tree(tree, ROOT / config.RELEASE_NOTEBOOK) == 0
    assert (tree / ".git").is_dir() and (tree / config.RELEASE_NOTEBOOK).exists()


def test_a_folder_that_is_not_a_student_tree_is_refused(tmp_path, capsys):
    tree = tmp_path / "work"
    tree.mkdir()
    (tree / "thesis.tex").write_text("my thesis\n")
    assert write_student_tree(tree, ROOT / config.RELEASE_NOTEBOOK) == 2
    assert "refusing" in capsys.readouterr().err
    assert (tree / "thesis.tex").read_text() == "my thesis\n"
    assert [path.name for path in tree.iterdir()] == ["thesis.tex"]


def test_student_pyproject_has_the_package_and_its_dependencies_only():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    developer = tomllib.loads((ROOT / "pyproject.toml").read_text())
    student = tomllib.loads(student_pyproject())
    assert set(student) == {"build-system", "project", "tool"}
    assert set(student["tool"]) == {"setuptools"}  # no ruff, no pytest: students have neither config's files
    assert student["project"]["dependencies"] == developer["project"]["dependencies"]
    assert "optional-dependencies" not in student["project"]
    assert student["tool"]["setuptools"]["packages"] == list(config.STUDENT_TREE_PACKAGES)


def test_student_tree_ignores_virtual_environments(tmp_path):
    tree = tmp_path / "tree"
    assert write_student_tree(tree, ROOT / config.RELEASE_NOTEBOOK) == 0
    assert ".venv/" in STUDENT_GITIGNORE.splitlines()
    assert (tree / ".gitignore").read_text() == STUDENT_GITIGNORE
    assert (tree / "pyproject.toml").read_text() == student_pyproject()
    assert not list(tree.rglob(".venv"))
