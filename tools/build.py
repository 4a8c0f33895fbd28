"""Build the HW11 notebooks from the authored source.

    python -m tools.build                       # write the generated notebooks into the repository
    python -m tools.build --check               # rebuild in a temp dir; exit 1 if a committed file is stale
    python -m tools.build --student-tree DIR    # also write the public student repository to DIR

Steps: ``notebook/HW11_source.py`` (jupytext, see notebook/README.md) -> nbgrader source notebook
``autograder/source/HW11/HW11.ipynb`` -> real ``nbgrader generate_assignment`` in a temporary copy
of the course -> student release ``HW11_Notebook.ipynb``; and the solution notebook
``solutions/HW11_Solution.ipynb`` (solutions and hidden tests in, markers out). All are stored
without outputs and are deterministic, so ``--check`` compares them byte for byte after JSON
normalisation.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import tempfile
from pathlib import Path

import nbformat

from tools import config
from tools.nbgrader_course import Course, write_notebook
from tools.notebook_source import (
    SourceError,
    included_objects,
    render_source_notebook,
    strip_markers,
    student_todos,
)


def build(out_root: Path, values: dict[str, str] | None = None) -> list[Path]:
    """Write the generated files under ``out_root`` (the repository root, or a temp dir); return them."""
    values = values or config.notebook_urls()
    source_nb = render_source_notebook(config.NOTEBOOK_SOURCE, config.REPO_ROOT, values)
    write_notebook(source_nb, out_root / config.SOURCE_NOTEBOOK)
    write_notebook(strip_markers(source_nb), out_root / config.SOLUTION_NOTEBOOK)
    with tempfile.TemporaryDirectory(prefix="hw11_build_") as tmp:
        course = Course(Path(tmp) / "course", out_root / config.SOURCE_NOTEBOOK)
        release_path = course.generate_assignment()
        release_nb = nbformat.read(release_path, as_version=4)
    write_notebook(release_nb, out_root / config.RELEASE_NOTEBOOK)
    return [out_root / path for path in config.GENERATED_FILES]


def todos_not_in_notebook() -> list[str]:
    """Names in a ``solutions/*.py`` STUDENT_TODOS tuple that no include line of the source uses."""
    included = set(included_objects(config.NOTEBOOK_SOURCE))
    missing = []
    for path in sorted((config.REPO_ROOT / "solutions").glob("*.py")):
        module = f"solutions.{path.stem}"
        missing += [f"{module}.{name}" for name in student_todos(path) or () if f"{module}.{name}" not in included]
    return missing


def normalised(path: Path) -> str:
    """Pretty JSON of a notebook without outputs or execution counts, for comparison and diffs."""
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False)


def check(fresh_root: Path) -> list[str]:
    """Compare the fresh build with the committed files; return one message per stale file."""
    problems = []
    for relative in config.GENERATED_FILES:
        committed, fresh = config.REPO_ROOT / relative, fresh_root / relative
        if not committed.exists():
            problems.append(f"{relative}: missing (run `python -m tools.build`)")
            continue
        old, new = normalised(committed), normalised(fresh)
        if old != new:
            diff = difflib.unified_diff(
                old.splitlines(), new.splitlines(), f"{relative} (committed)", f"{relative} (fresh build)", lineterm=""
            )
            shown = list(diff)[:40]
            problems.append(f"{relative}: stale (run `python -m tools.build`); diff:\n" + "\n".join(shown))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="rebuild in a temp dir and fail if committed files differ")
    parser.add_argument("--student-tree", type=Path, metavar="DIR", help="write the public student repository here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hw11_check_") as tmp:
        out_root = Path(tmp) if args.check else config.REPO_ROOT
        try:
            written = build(out_root)
        except SourceError as error:
            print(f"error in {config.NOTEBOOK_SOURCE.relative_to(config.REPO_ROOT)}: {error}", file=sys.stderr)
            return 2
        missing = todos_not_in_notebook()
        if missing:
            print(f"note: student TODOs not in the notebook yet: {', '.join(missing)}", file=sys.stderr)
        if args.check:
            problems = check(out_root)
            if problems:
                print("Generated files are out of date:\n" + "\n\n".join(problems), file=sys.stderr)
                return 1
            print(f"OK: {len(written)} generated files are up to date")
        else:
            for path in written:
                print(f"wrote {path.relative_to(config.REPO_ROOT)}")
        if args.student_tree is not None:
            from tools.student_tree import write_student_tree

            return write_student_tree(args.student_tree, out_root / config.RELEASE_NOTEBOOK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
