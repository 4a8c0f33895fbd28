"""Fail if a student tree leaks solutions, hidden tests or the grading code.

    python -m tools.scan_release DIR        (or: python tools/scan_release.py DIR)

A file in DIR fails the scan when it contains

* a marker: ``BEGIN SOLUTION``, ``END SOLUTION``, ``BEGIN HIDDEN TESTS``, ``END HIDDEN TESTS``;
* the name of the hidden grading package ``hw11_grading``;
* an import of the hidden ``solutions`` package (``import solutions`` / ``from solutions``);
* any non-trivial line of a SOLUTION region of ``solutions/*.py``: after collapsing whitespace,
  longer than ``MIN_LINE_LENGTH`` characters and not a comment or docstring-quote line. Lines that
  also occur outside the SOLUTION regions of ``solutions/*.py`` (given code, which the notebook
  shows anyway) and the idioms listed in ``tools/scan_allowlist.txt`` do not count.

Notebooks are scanned cell by cell (sources and text outputs), other files line by line.
Exit status 0 when clean, 1 with one line per finding otherwise.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python tools/scan_release.py DIR
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import config

MIN_LINE_LENGTH = 20
FORBIDDEN = [
    (re.compile(r"BEGIN SOLUTION|END SOLUTION"), "solution marker"),
    (re.compile(r"BEGIN HIDDEN TESTS|END HIDDEN TESTS"), "hidden-test marker"),
    (re.compile(r"hw11_grading"), "hidden grading package"),
    (re.compile(r"^\s*(import\s+solutions\b|from\s+solutions(\.|\s+import\b))"), "import of the solutions package"),
]
ALLOWLIST = Path(__file__).resolve().parent / "scan_allowlist.txt"
SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", ".venv"}


def _normalise(line: str) -> str:
    return " ".join(line.split())


def _is_trivial(normalised: str) -> bool:
    return (
        len(normalised) <= MIN_LINE_LENGTH
        or normalised.startswith("#")
        or normalised.startswith(('"""', "'''", 'r"""'))
    )


def allowed_lines(path: Path = ALLOWLIST) -> set[str]:
    """Normalised idioms that may appear anywhere (one per line; '#' starts a comment line)."""
    if not path.exists():
        return set()
    lines = (_normalise(line) for line in path.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def solution_lines(solutions_dir: Path = config.REPO_ROOT / "solutions") -> dict[str, str]:
    """Non-trivial normalised lines found only inside SOLUTION regions of ``solutions/*.py`` -> 'file:line'."""
    hidden: dict[str, str] = {}
    public: set[str] = set()
    for path in sorted(solutions_dir.rglob("*.py")):
        inside = False
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip().startswith("### BEGIN SOLUTION"):
                inside = True
            elif line.strip().startswith("### END SOLUTION"):
                inside = False
            else:
                normalised = _normalise(line)
                if not inside:
                    public.add(normalised)
                elif not _is_trivial(normalised):
                    hidden.setdefault(normalised, f"{path.relative_to(solutions_dir.parent)}:{number}")
    ignored = public | allowed_lines()
    return {line: where for line, where in hidden.items() if line not in ignored}


def _texts(path: Path) -> list[tuple[str, str]]:
    """(where, text) pieces of a file: notebook cells (and text outputs) or the whole file."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [("binary", raw.decode("latin-1"))]  # markers are ASCII: still found in binaries
    if path.suffix != ".ipynb":
        return [("", text)]
    try:
        nb = json.loads(text)
    except json.JSONDecodeError:
        return [("", text)]
    pieces = []
    for index, cell in enumerate(nb.get("cells", [])):
        source = cell.get("source", "")
        pieces.append((f"cell {index}", "".join(source) if isinstance(source, list) else source))
        for output in cell.get("outputs", []):
            for value in [output.get("text", "")] + list(output.get("data", {}).values()):
                if isinstance(value, (str, list)):
                    pieces.append((f"cell {index} output", "".join(value) if isinstance(value, list) else value))
    return pieces


def scan(tree: Path, solutions_dir: Path = config.REPO_ROOT / "solutions") -> list[str]:
    """Return one message per finding in the student tree ``tree`` (empty when clean)."""
    leaked_lines = solution_lines(solutions_dir)
    findings = []
    for path in sorted(tree.rglob("*")):
        if not path.is_file() or SKIP_DIRS.intersection(path.relative_to(tree).parts):
            continue
        relative = path.relative_to(tree)
        for where, text in _texts(path):
            prefix = f"{relative}" + (f" ({where})" if where else "")
            for number, line in enumerate(text.splitlines(), start=1):
                for pattern, what in FORBIDDEN:
                    if pattern.search(line):
                        findings.append(f"{prefix}:{number}: {what}: {line.strip()[:100]}")
                normalised = _normalise(line)
                if normalised in leaked_lines and not _is_trivial(normalised):
                    findings.append(
                        f"{prefix}:{number}: line of a SOLUTION region ({leaked_lines[normalised]}): {normalised[:100]}"
                    )
    return findings


def report_leaks(header: str, findings: list[str]) -> None:
    """Print what the scan found, one finding a line, on standard error."""
    print(f"LEAK: {header}:", file=sys.stderr)
    for finding in findings:
        print(f"  {finding}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    tree = Path(argv[0])
    if not tree.is_dir():
        print(f"not a directory: {tree}", file=sys.stderr)
        return 2
    findings = scan(tree)
    if findings:
        report_leaks(f"{len(findings)} finding(s) in {tree}", findings)
        return 1
    print(f"OK: {tree} contains no solution code, hidden tests or grading code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
