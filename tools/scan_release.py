"""Fail if a student tree leaks solutions, hidden tests or the grading code.

    python -m tools.scan_release DIR        (or: python tools/scan_release.py DIR)
    python -m tools.scan_release --feedback FEEDBACK_DIR [SUBMISSIONS_DIR]

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

``--feedback`` scans generated feedback pages (``FEEDBACK_DIR/<student>/*.html``, e.g. ``results/feedback``)
for what the graders must never show: lines of SOLUTION regions, lines of the graders' source, paths of
``solutions/`` or ``hw11_grading/`` files and the repository's absolute path (:func:`scan_feedback`); lines
that the student's own submission (``SUBMISSIONS_DIR/<student>/*.ipynb``) contains do not count.
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


def _grading_lines(grading_dir: Path, shown: set[str]) -> dict[str, str]:
    """Non-trivial normalised lines of the hidden graders' source (imports and lines the notebook shows excluded)."""
    lines: dict[str, str] = {}
    for path in sorted(grading_dir.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            normalised = _normalise(line)
            if _is_trivial(normalised) or normalised in shown or normalised.startswith(("import ", "from ")):
                continue
            lines.setdefault(normalised, f"{path.relative_to(grading_dir.parent)}:{number}")
    return lines


def _html_text(html_text: str) -> str:
    """The visible text of an HTML page: tags removed, entities decoded (code keeps its line breaks)."""
    import html as html_module

    html_text = re.sub(r"(?s)<(script|style)\b.*?</\1>", "", html_text)
    return html_module.unescape(re.sub(r"<[^>]+>", "", html_text))


def scan_feedback(
    feedback_dir: Path,
    submissions_dir: Path | None = None,
    solutions_dir: Path = config.REPO_ROOT / "solutions",
    grading_dir: Path = config.REPO_ROOT / "autograder" / "hw11_grading",
) -> list[str]:
    """Findings in a folder of generated feedback (``feedback/<student>/*.html``): lines of SOLUTION regions of
    ``solutions/*.py``, lines of the graders' source, file paths of ``solutions/`` or ``hw11_grading/``, and the
    repository's absolute path. With ``submissions_dir`` (``<student>/*.ipynb``), a line the student wrote in
    their own submission does not count (a student who submits the solution sees it in their feedback)."""
    release = config.REPO_ROOT / config.SOURCE_NOTEBOOK
    shown = {_normalise(line) for _, text in _texts(release) for line in text.splitlines()}
    hidden = {**_grading_lines(grading_dir, shown), **solution_lines(solutions_dir)}
    paths = re.compile(r"(solutions|hw11_grading)[\\/]\w+\.py|" + re.escape(str(config.REPO_ROOT)))
    findings = []
    for page in sorted(feedback_dir.rglob("*.html")):
        student = page.relative_to(feedback_dir).parts[0]
        own: set[str] = set()
        if submissions_dir is not None:
            for notebook in sorted((submissions_dir / student).rglob("*.ipynb")):
                own |= {_normalise(line) for _, text in _texts(notebook) for line in text.splitlines()}
        for number, line in enumerate(_html_text(page.read_text(errors="replace")).splitlines(), start=1):
            normalised = _normalise(line)
            where = f"{page.relative_to(feedback_dir)}:{number}"
            if paths.search(line):
                findings.append(f"{where}: path of hidden code: {normalised[:100]}")
            elif normalised in hidden and normalised not in own:
                findings.append(f"{where}: line of hidden code ({hidden[normalised]}): {normalised[:100]}")
    return findings


def report_leaks(header: str, findings: list[str]) -> None:
    """Print what the scan found, one finding a line, on standard error."""
    print(f"LEAK: {header}:", file=sys.stderr)
    for finding in findings:
        print(f"  {finding}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--feedback"] and len(argv) in (2, 3):
        findings = scan_feedback(Path(argv[1]), Path(argv[2]) if len(argv) == 3 else None)
        if findings:
            report_leaks(f"{len(findings)} finding(s) in the feedback {argv[1]}", findings)
            return 1
        print(f"OK: the feedback in {argv[1]} shows no hidden code")
        return 0
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
