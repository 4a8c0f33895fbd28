"""Write the public student repository (what students clone, install and open in Colab/Kaggle).

It holds the released notebook, the ``hw11_utils`` package, ``requirements.txt``, ``pyproject.toml``
and a generated README; nothing from ``solutions/``, ``autograder/``, ``tools/``, ``tests/`` or
``benchmarks/``. The tree is scanned for leaks (``tools.scan_release``) before this returns.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tools import config
from tools.notebook_source import render_template
from tools.scan_release import report_leaks, scan

README_TEMPLATE = Path(__file__).resolve().parent / "templates" / "student_README.md"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints", ".pytest_cache")
STUDENT_GITIGNORE = "__pycache__/\n*.pyc\n*.egg-info/\n.ipynb_checkpoints/\n"


def write_student_tree(target: Path, release_notebook: Path) -> int:
    """Write the tree into ``target`` (replacing what is there), scan it; return an exit status."""
    target = Path(target)
    if target.exists():
        if not target.is_dir() or (any(target.iterdir()) and not (target / config.RELEASE_NOTEBOOK).exists()):
            print(f"refusing to overwrite {target}: not empty and not a student tree", file=sys.stderr)
            return 2
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(release_notebook, target / config.RELEASE_NOTEBOOK)
    for name in config.STUDENT_TREE_FILES:
        if name != config.RELEASE_NOTEBOOK.as_posix():
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
