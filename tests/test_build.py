"""The notebook build: source convention, includes, generated files up to date, release scan."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from tools import config
from tools.notebook_source import SourceError, object_source, render_source_notebook, strip_markers
from tools.scan_release import main as scan_main
from tools.scan_release import scan, solution_lines
from tools.student_tree import write_student_tree

ROOT = config.REPO_ROOT
VALUES = {
    "STUDENT_REPO_URL": "https://github.com/o/r",
    "STUDENT_REPO_BRANCH": "main",
    "COLAB_URL": "https://colab/x",
    "KAGGLE_URL": "https://kaggle/x",
}


def _read(relative: Path) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / relative, as_version=4)


def _cells(nb: nbformat.NotebookNode, **nbgrader) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if all(c.metadata.get("nbgrader", {}).get(k) == v for k, v in nbgrader.items())]


# ---------------------------------------------------------------- generated files


def test_generated_files_are_up_to_date():
    result = subprocess.run(
        [sys.executable, "-m", "tools.build", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"run `python -m tools.build`:\n{result.stdout}\n{result.stderr}"


def test_release_has_stubs_and_no_solutions_or_hidden_tests():
    release = _read(config.RELEASE_NOTEBOOK)
    solution_cells = _cells(release, solution=True, grade=False)
    assert solution_cells, "the release has no solution cells"
    for cell in solution_cells:
        assert "raise NotImplementedError()" in cell.source
    text = json.dumps(release)
    for forbidden in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hw11_grading"):
        assert forbidden not in text
    for line in solution_lines():
        assert line not in " ".join(text.split()), f"solution line in the release: {line}"
    for cell in release.cells:
        assert cell.get("outputs", []) == []


def test_release_first_code_cell_installs_sets_device_and_quick():
    release = _read(config.RELEASE_NOTEBOOK)
    setup = next(c for c in release.cells if c.cell_type == "code")
    assert f'os.environ.get("HW11_STUDENT_REPO_URL", "").strip() or "{config.STUDENT_REPO_URL}"' in setup.source
    assert 'find_spec("hw11_utils") is None' in setup.source and "pip_requirement(REPO_URL)" in setup.source
    assert 'torch.device("cuda" if torch.cuda.is_available() else "cpu")' in setup.source
    assert 'QUICK = os.environ.get("HW11_QUICK", "0") == "1"' in setup.source
    head = "\n".join(cell.source for cell in release.cells[:3])  # the title, the name/ID fields, the overview
    assert config.notebook_urls()["COLAB_URL"] in head
    assert config.notebook_urls()["KAGGLE_URL"] in head


def test_solution_notebook_has_solutions_and_hidden_tests_without_markers():
    solution = _read(config.SOLUTION_NOTEBOOK)
    text = "\n".join(cell.source for cell in solution.cells)
    assert "grade.discounted_returns(discounted_returns)" in text
    assert "raise NotImplementedError()" not in text
    assert "### BEGIN" not in text and "### END" not in text
    normalised = " ".join(text.split())
    for line, where in solution_lines().items():
        if where.startswith("solutions/common.py"):
            assert line in normalised


def test_cell_ids_are_stable_grade_ids():
    source = _read(config.SOURCE_NOTEBOOK)
    for cell in source.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            assert cell.id == grade_id
    assert len({cell.id for cell in source.cells}) == len(source.cells)


# ---------------------------------------------------------------- source convention


def _write_source(tmp_path: Path, cells: str) -> Path:
    path = tmp_path / "src.py"
    path.write_text(textwrap.dedent(cells))
    return path


def _module(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(
        textwrap.dedent('''\
        import functools

        STUDENT_TODOS = ("todo",)


        @functools.lru_cache
        def todo(x):
            """Doc."""
            ### BEGIN SOLUTION
            return x + 1
            ### END SOLUTION


        # a comment after the function is not part of it
        def given(x):
            return x
        ''')
    )


def test_include_copies_the_exact_definition_with_decorators(tmp_path):
    _module(tmp_path)
    text = object_source(tmp_path / "pkg" / "mod.py", "todo")
    assert text.startswith("@functools.lru_cache\ndef todo(x):")
    assert text.endswith("    ### END SOLUTION")
    assert "comment after" not in text
    with pytest.raises(SourceError):
        object_source(tmp_path / "pkg" / "mod.py", "missing")


def test_render_roles_and_includes(tmp_path):
    _module(tmp_path)
    source = _write_source(
        tmp_path,
        """\
        # %% [markdown] role="readonly" grade_id="intro"
        # Repo {{STUDENT_REPO_URL}}

        # %% role="solution" grade_id="todo"
        # include: pkg.mod.todo

        # %% role="tests" grade_id="todo_tests" points=3
        assert todo(1) == 2
        ### BEGIN HIDDEN TESTS
        assert todo(2) == 3
        ### END HIDDEN TESTS

        # %%
        # include: pkg.mod.given

        # %% [markdown] role="answer" grade_id="why" points=1.5
        # Because.
        """,
    )
    nb = render_source_notebook(source, tmp_path, VALUES)
    metas = [c.metadata.get("nbgrader") for c in nb.cells]
    assert [c.id for c in nb.cells] == ["intro", "todo", "todo_tests", "todo_tests-1", "why"]
    assert metas[0] == {"grade": False, "grade_id": "intro", "locked": True, "schema_version": 3, "solution": False}
    assert metas[1]["solution"] and not metas[1]["locked"]
    assert metas[2]["grade"] and metas[2]["locked"] and metas[2]["points"] == 3
    assert metas[3] is None and nb.cells[3].source == "def given(x):\n    return x"
    assert metas[4]["grade"] and metas[4]["solution"] and metas[4]["points"] == 1.5
    assert "https://github.com/o/r" in nb.cells[0].source
    assert "### BEGIN SOLUTION" in nb.cells[1].source
    assert "### BEGIN" not in "".join(c.source for c in strip_markers(nb).cells)


@pytest.mark.parametrize(
    "cells, message",
    [
        ('# %% role="solutions" grade_id="a"\nx = 1\n', "unknown role"),
        ('# %% role="tests" grade_id="a"\nx = 1\n', "needs points"),
        ('# %% role="readonly"\nx = 1\n', "needs grade_id"),
        ('# %% role="readonly" grade_id="a b"\nx = 1\n', "needs grade_id"),
        ('# %% role="readonly" grade_id="a" point=1\nx = 1\n', "unknown cell option"),
        ('# %% role="readonly" grade_id="a"\nx = 1\n\n# %% role="readonly" grade_id="a"\ny = 1\n', "duplicate"),
        ('# %% role="solution" grade_id="a"\nx = 1\n', "needs at least one"),
        ("# %%\n# include: pkg.mod.todo\n", "only allowed in role 'solution'"),
        ('# %% role="readonly" grade_id="a"\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n', "hidden tests"),
        ('# %% role="solution" grade_id="a"\n# include: pkg.nothere.todo\n', "no file"),
        ('# %% role="solution" grade_id="a"\n#include: pkg.mod.todo\n', None),  # not an include: no markers
        ("# %% [markdown]\n# {{UNKNOWN}}\n", "unknown template value"),
    ],
)
def test_convention_errors_name_the_problem(tmp_path, cells, message):
    _module(tmp_path)
    with pytest.raises(SourceError, match=message or "needs at least one"):
        render_source_notebook(_write_source(tmp_path, cells), tmp_path, VALUES)


def test_include_of_a_todo_missing_from_student_todos_is_an_error(tmp_path):
    _module(tmp_path)
    module = tmp_path / "pkg" / "mod.py"
    module.write_text(module.read_text().replace('STUDENT_TODOS = ("todo",)', "STUDENT_TODOS = ()"))
    with pytest.raises(SourceError, match="STUDENT_TODOS"):
        render_source_notebook(
            _write_source(tmp_path, '# %% role="solution" grade_id="a"\n# include: pkg.mod.todo\n'), tmp_path, VALUES
        )


# ---------------------------------------------------------------- student tree and release scan


@pytest.fixture(scope="module")
def student_tree(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("student") / "hw11"
    assert write_student_tree(tree, ROOT / config.RELEASE_NOTEBOOK) == 0
    return tree


def test_student_tree_has_what_students_need_and_nothing_else(student_tree):
    top = {path.name for path in student_tree.iterdir()}
    assert top == {"HW11_Notebook.ipynb", "hw11_utils", "requirements.txt", "pyproject.toml", "README.md", ".gitignore"}
    assert (student_tree / "hw11_utils" / "checks.py").exists()
    assert not list(student_tree.rglob("__pycache__"))
    readme = (student_tree / "README.md").read_text()
    assert config.notebook_urls()["COLAB_URL"] in readme and "{{" not in readme


def test_real_student_tree_passes_the_scan(student_tree):
    assert scan(student_tree) == []
    assert scan_main([str(student_tree)]) == 0


@pytest.mark.parametrize(
    "relative, text",
    [
        (
            "hw11_utils/leak.py",
            "    discounts = gamma * (1.0 - dones)  # gamma inside an episode, 0 at its last step\n",
        ),
        ("hw11_utils/leak.py", "from solutions.common import discounted_returns\n"),
        ("hw11_utils/leak.py", "import solutions\n"),
        ("README.md", "see hw11_grading\n"),
        ("notes.txt", "    ### BEGIN SOLUTION\n"),
    ],
)
def test_scan_fails_on_a_planted_leak(student_tree, tmp_path, relative, text):
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(student_tree, tree)
    with open(tree / relative, "a") as handle:
        handle.write(text)
    findings = scan(tree)
    assert findings and all(finding.startswith(relative) for finding in findings), findings
    assert scan_main([str(tree)]) == 1


def test_scan_finds_solution_code_pasted_into_a_notebook_cell(student_tree, tmp_path):
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(student_tree, tree)
    nb = nbformat.read(tree / "HW11_Notebook.ipynb", as_version=4)
    solution = _read(config.SOLUTION_NOTEBOOK)
    nb.cells.append(nbformat.v4.new_code_cell(_cells(solution, grade_id="discounted_returns")[0].source))
    nbformat.write(nb, tree / "HW11_Notebook.ipynb")
    findings = scan(tree)
    assert any("line of a SOLUTION region" in finding for finding in findings), findings


def test_check_reports_a_stale_generated_file(tmp_path):
    from tools.build import check

    for relative in config.GENERATED_FILES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text((ROOT / relative).read_text())
    assert check(tmp_path) == []
    nb = nbformat.read(tmp_path / config.RELEASE_NOTEBOOK, as_version=4)
    nb.cells[0].source += "\nchanged"
    nbformat.write(nb, tmp_path / config.RELEASE_NOTEBOOK)
    problems = check(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"{config.RELEASE_NOTEBOOK}: stale")
    assert "changed" in problems[0]
