"""Write the public student repository (what students clone, install and open in Colab/Kaggle).

It holds the released notebook, the ``hw11_utils`` package, ``requirements.txt``, a generated
student ``pyproject.toml`` (the package and its dependencies only: none of the developers' tool
settings), a generated README and a ``.gitignore``; nothing from ``solutions/``, ``autograder/``,
``tools/``, ``tests/`` or ``benchmarks/``. The tree is scanned for leaks (``tools.scan_release``)
before this returns.

Writing into an existing student tree (e.g. a clone of the public repository) updates it in place:
every file is replaced, stale ones are removed, and ``.git`` is kept, so the result can be committed
and pushed. A folder that is neither empty nor a student tree is refused.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tools import config
from tools.notebook_source import render_template
from tools.scan_release import report_leaks, scan

README_TEMPLATE = Path(__file__).resolve().parent / "templates" / "student_README.md"
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints", ".pytest_cache", ".venv", ".ruff_cache"
)
STUDENT_GITIGNORE = "__pycache__/\n*.pyc\n*.egg-info/\n.ipynb_checkpoints/\n.venv/\nvenv/\n"
KEPT = {".git"}  # never removed from an existing tree


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def student_pyproject(developer_pyproject: Path = config.REPO_ROOT / "pyproject.toml") -> str:
    """The student ``pyproject.toml``: the developers' package name, version and dependencies, nothing else."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11: the same parser, from PyPI
        import tomli as tomllib
    developer = tomllib.loads(developer_pyproject.read_text())
    project = developer["project"]
    setuptools = developer.get("tool", {}).get("setuptools", {})
    lines = [
        "[build-system]",
        'requires = ["setuptools>=64"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f'name = "{project["name"]}"',
        f'version = "{project["version"]}"',
        f'description = "{project["description"]}"',
        'readme = "README.md"',
        f'requires-python = "{project["requires-python"]}"',
        "dependencies = [",
        *(f'    "{dependency}",' for dependency in project["dependencies"]),
        "]",
        "",
        "[tool.setuptools]",
        f"packages = {_toml_list(list(config.STUDENT_TREE_PACKAGES))}",
    ]
    package_data = {k: v for k, v in setuptools.get("package-data", {}).items() if k in config.STUDENT_TREE_PACKAGES}
    if package_data:
        lines += ["", "[tool.setuptools.package-data]"]
        lines += [f"{package} = {_toml_list(patterns)}" for package, patterns in package_data.items()]
    return "\n".join(lines) + "\n"


def _clear(target: Path) -> None:
    """Remove everything in ``target`` except ``KEPT`` (the repository's history)."""
    for path in target.iterdir():
        if path.name in KEPT:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def write_student_tree(target: Path, release_notebook: Path) -> int:
    """Write the tree into ``target`` (updating what is there, ``.git`` kept), scan it; return an exit status."""
    target = Path(target)
    if target.exists():
        contents = {path.name for path in target.iterdir()} - KEPT if target.is_dir() else None
        if contents is None or (contents and config.RELEASE_NOTEBOOK.name not in contents):
            print(
                f"refusing to write the student tree into {target}: it is not empty and not a student tree "
                f"(no {config.RELEASE_NOTEBOOK}); give an empty folder, a new path or a clone of the student repo",
                file=sys.stderr,
            )
            return 2
        _clear(target)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(release_notebook, target / config.RELEASE_NOTEBOOK)
    for name in config.STUDENT_TREE_FILES:
        if name == "pyproject.toml":
            (target / name).write_text(student_pyproject())
        elif name != config.RELEASE_NOTEBOOK.as_posix():
            shutil.copy(config.REPO_ROOT / name, target / name)
    for package in config.STUDENT_TREE_PACKAGES:
        shutil.copytree(config.REPO_ROOT / package, target / package, ignore=IGNORED)
    readme = render_template(README_TEMPLATE.read_text(), config.notebook_urls(), "student README")
    (target / "README.md").write_text(readme)
    (target / ".gitignore").write_text(STUDENT_GITIGNORE)

    findings = scan(target)
    if findings:
        report_leaks(f"the student tree {target} is not safe to publish", findings)
        return 1
    print(f"wrote the student tree {target} (scan: clean)")
    return 0
