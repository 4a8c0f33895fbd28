"""The student's path: the install cell, the requirements, and the blank release run top to bottom.

The e2e tests run real kernels (minutes); the others are fast.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from tools import config

ROOT = config.REPO_ROOT
RELEASE = ROOT / config.RELEASE_NOTEBOOK
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cell(notebook: Path, grade_id: str) -> str:
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell.source
    raise KeyError(grade_id)


def _requirements(text: str) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    return dict(re.match(r"^([A-Za-z0-9_.-]+)(.*)$", line).groups() for line in lines if line)


# --------------------------------------------------------------------------------------------------
# Fast
# --------------------------------------------------------------------------------------------------
def test_requirements_are_colab_safe_ranges_and_match_pyproject():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    requirements = _requirements((ROOT / "requirements.txt").read_text())
    for name, spec in requirements.items():
        assert re.fullmatch(r">=[0-9][0-9.]*", spec), f"{name}{spec}: a floor only (no pin, no cap)"
    assert "torch" in requirements
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _requirements("\n".join(project["dependencies"])) == requirements


def test_setup_cell_imports_each_name_once():
    import ast

    bound = []
    for node in ast.walk(ast.parse(_cell(RELEASE, "setup"))):
        if isinstance(node, ast.Import):
            bound += [alias.asname or alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            bound += [alias.asname or alias.name for alias in node.names]
    repeated = sorted({name for name in bound if bound.count(name) > 1})
    assert not repeated, f"the setup cell imports {repeated} more than once"


def test_install_cell_reads_the_url_at_run_time():
    source = _cell(RELEASE, "setup")
    assert 'os.environ.get("HW11_STUDENT_REPO_URL"' in source
    assert "check_call" not in source, "a failed install must print what to do, not a CalledProcessError"


def _pip_requirement():
    source = _cell(RELEASE, "setup")
    start = source.index("def pip_requirement")
    end = source.index("\n\n\n", start)
    namespace: dict = {"os": os}
    exec(source[start:end], namespace)
    return namespace["pip_requirement"]


def test_pip_requirement_normalises_urls_and_paths(tmp_path):
    pip_requirement = _pip_requirement()
    assert pip_requirement("https://github.com/a/b") == "git+https://github.com/a/b"
    assert pip_requirement("git+https://github.com/a/b") == "git+https://github.com/a/b"
    assert pip_requirement("git+file:///srv/hw11") == "git+file:///srv/hw11"
    assert pip_requirement(str(tmp_path)) == str(tmp_path)


# --------------------------------------------------------------------------------------------------
# e2e: the install cell, with hw11_utils missing
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def package_repo(tmp_path_factory) -> Path:
    """A git repository holding the package as the student repository does (hw11_utils + pyproject)."""
    from tools.student_tree import student_pyproject

    repo = tmp_path_factory.mktemp("student_repo")
    shutil.copytree(ROOT / "hw11_utils", repo / "hw11_utils", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "pyproject.toml").write_text(student_pyproject())
    (repo / "README.md").write_text("HW11\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "package"]):
        subprocess.run(git + args, cwd=repo, check=True)
    return repo


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A fresh venv that sees this venv's packages (torch, pip, setuptools, ...) but not hw11_utils."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # A path in a .pth file is added as it is: the .pth files inside it (the editable hw11_utils) are not run.
    (Path(site) / "dev_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _run_setup_cell(python: Path, url: str, work: Path) -> subprocess.CompletedProcess:
    work.mkdir()
    target = work / "installed"
    target.mkdir()
    script = work / "setup_cell.py"
    script.write_text(_cell(RELEASE, "setup") + "\nprint('hw11_utils from', hw11_utils.__file__)\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update({
        "HW11_STUDENT_REPO_URL": url,
        "PYTHONPATH": str(target),  # where the install goes (empty before it)
        "PIP_TARGET": str(target),  # install there: this venv's packages are never touched
        "PIP_NO_DEPS": "1",  # the dependencies are there already (no download)
        "PIP_NO_BUILD_ISOLATION": "0",  # build with the setuptools that is there (no download)
        "MPLBACKEND": "Agg",
    })
    return subprocess.run([str(python), str(script)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.e2e
def test_bare_python_has_no_hw11_utils(bare_python, tmp_path):
    result = subprocess.run([str(bare_python), "-c", "import importlib.util, torch, pip; "
                             "print(importlib.util.find_spec('hw11_utils'))"], cwd=tmp_path,
                            capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert result.stdout.strip() == "None", result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("form", ["local path", "git+file URL"])
def test_install_cell_installs_from_the_url_given_at_run_time(bare_python, package_repo, tmp_path, form):
    url = str(package_repo) if form == "local path" else f"git+file://{package_repo}"
    result = _run_setup_cell(bare_python, url, tmp_path / "work")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Installing hw11_utils from {url}" in result.stdout
    assert f"hw11_utils from {tmp_path / 'work' / 'installed'}" in result.stdout


@pytest.mark.e2e
def test_install_cell_prints_what_to_do_on_a_wrong_url(bare_python, tmp_path):
    result = _run_setup_cell(bare_python, f"git+file://{tmp_path}/no-such-repo", tmp_path / "work")
    assert result.returncode != 0
    assert "Could not install hw11_utils" in result.stdout and "Kaggle: turn the internet on" in result.stdout
    assert "CalledProcessError" not in result.stdout + result.stderr


# --------------------------------------------------------------------------------------------------
# e2e: the blank release, top to bottom
# --------------------------------------------------------------------------------------------------
def _error_outputs(nb: nbformat.NotebookNode) -> list[tuple[str, dict]]:
    return [(cell.get("id", "?"), output) for cell in nb.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("output_type") == "error"]


@pytest.mark.e2e
@pytest.mark.parametrize("load_pretrained", ["0", "1"], ids=["train", "load_pretrained"])
def test_blank_release_names_the_todo_behind_every_error(load_pretrained, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(RELEASE, as_version=4)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHONPATH")}
    env.update({"HW11_QUICK": "1", "HW11_LOAD_PRETRAINED": load_pretrained, "PATH": f"{Path(sys.executable).parent}:"
                f"{os.environ['PATH']}"})
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})  # a student's folder, not the repo
    client.execute(env=env)
    errors = _error_outputs(nb)
    assert errors, "a blank notebook must fail its TODO cells"
    problems = []
    for cell_id, output in errors:
        text = ANSI.sub("", "\n".join(output.get("traceback", [])))
        if output["ename"] == "NameError" or "finish the TODO" not in text:
            problems.append(f"cell {cell_id}: an error that names no TODO to finish:\n{text[-1500:]}")
        elif len(output["traceback"]) != 1 or "File " in text:
            problems.append(f"cell {cell_id}: a traceback through given code:\n{text[-1500:]}")
    assert not problems, "\n\n".join(problems)
    printed = "\n".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                        for output in cell.get("outputs", []) if output.get("output_type") == "stream")
    assert "Traceback" not in printed
    assert "Skipped MAML's held-out evaluation" in printed or "Skipped MAML's meta-training" in printed
    for method in ("MAML", "RL²", "PEARL"):
        assert f"{method} is not in the tables yet: finish the TODO" in printed
    assert "task-agnostic" in printed  # the baselines' rows are there all the same
