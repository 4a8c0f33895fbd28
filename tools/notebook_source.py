"""Render the authored jupytext source (``notebook/HW11_source.py``) into the nbgrader source notebook.

The cell convention is documented in ``notebook/README.md``. In short, a cell header
``# %% role="solution" grade_id="discounted_returns"`` gives the cell an nbgrader role:

==========  =========  ==================================================================
role        cell type  nbgrader metadata
==========  =========  ==================================================================
(none)      any        none: an ordinary cell the student may edit or delete
readonly    any        locked (instructions, setup code)
solution    code       solution cell: ``### BEGIN/END SOLUTION`` regions become stubs
tests       code       autograded test cell, locked, ``points`` required
answer      markdown   manually graded answer (solution + grade), ``points`` required
==========  =========  ==================================================================

A line ``# include: solutions.common.discounted_returns`` in a code cell is replaced by the exact
source text of that top-level function or class (decorators included), read with ``ast`` from
``solutions/common.py``. ``{{NAME}}`` tokens are replaced by the build's template values.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path

import jupytext
import nbformat

ROLES = ("readonly", "solution", "tests", "answer")
ALLOWED_KEYS = {"role", "grade_id", "points"}
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
INCLUDE_PATTERN = re.compile(r"^# include: ([A-Za-z_][\w.]*)\.([A-Za-z_]\w*)\s*$")
INCLUDE_IMPORTS_PATTERN = re.compile(r"^# include-imports: ([A-Za-z_][\w.]*)\s*$")
TEMPLATE_PATTERN = re.compile(r"\{\{\s*([A-Z_]+)\s*\}\}")

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class SourceError(ValueError):
    """The notebook source breaks the cell convention; the message names the cell."""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _defines(node: ast.stmt, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return False


def object_source(module_path: Path, name: str) -> str:
    """Exact source text of the top-level function, class or assignment ``name`` in a Python file.

    Decorators are included; nothing before them (comments, blank lines) is.
    """
    text = module_path.read_text()
    tree = ast.parse(text, filename=str(module_path))
    for node in tree.body:
        if _defines(node, name):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                return "\n".join(text.splitlines()[node.lineno - 1 : node.end_lineno])
            all_lines = text.splitlines()
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            end = node.end_lineno  # ast stops at the last statement: keep the indented comments after
            # it (such as '    ### END SOLUTION'), which still belong to the body.
            while end < len(all_lines):
                line = all_lines[end]
                if line.strip() and not (line.lstrip().startswith("#") and _indent(line) > node.col_offset):
                    break
                end += 1
            while end > first and not all_lines[end - 1].strip():
                end -= 1
            return "\n".join(all_lines[first:end])
    raise SourceError(f"{module_path}: no top-level function, class or assignment named '{name}'")


def module_imports(module_path: Path) -> str:
    """The import statements of a module, except ``from __future__`` and imports of ``solutions``.

    A notebook cell ``# include-imports: solutions.maml`` gets exactly the names the reference
    module uses; the names it imports from other ``solutions`` modules are defined by earlier cells.
    """
    text = module_path.read_text()
    lines = text.splitlines()
    kept = []
    for node in ast.parse(text).body:
        top_module = (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else ""
        if top_module in ("__future__", "solutions"):
            continue
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "solutions" for alias in node.names):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
    return "\n".join(kept)


def _bound_imports(code: str) -> dict[str, str]:
    """Name -> the import statement that binds it, for the import statements of ``code``."""
    bound: dict[str, str] = {}
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return bound
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.asname or alias.name.split(".")[0]
                bound[target] = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"from {node.module} import {alias.name}" + (
                    f" as {alias.asname}" if alias.asname else "")
    return bound


def merged_imports(module_paths: list[Path], already: dict[str, str], where: str, width: int = 120) -> str:
    """The imports of several modules (as :func:`module_imports`), each name once, minus names already imported.

    Plain ``import`` lines first, then one ``from M import a, b`` per module, sorted by module, wrapped
    at ``width``. Two modules that bind one name to different things are an error.
    """
    bound: dict[str, str] = {}
    for module_path in module_paths:
        for name, statement in _bound_imports(module_imports(module_path)).items():
            previous = already.get(name, bound.get(name))
            if previous is not None and previous != statement:
                raise SourceError(f"{where}: '{name}' is imported twice, differently: {previous!r} and {statement!r}")
            if name not in already:
                bound[name] = statement
    plain = sorted({s for s in bound.values() if s.startswith("import ")})
    from_modules: dict[str, list[str]] = {}
    for statement in bound.values():
        if statement.startswith("from "):
            module, imported = statement[len("from "):].split(" import ", 1)
            from_modules.setdefault(module, []).append(imported)
    lines = list(plain)
    for module in sorted(from_modules):
        names = sorted(from_modules[module], key=str.lower)
        line = f"from {module} import {', '.join(names)}"
        if len(line) <= width:
            lines.append(line)
            continue
        lines.append(f"from {module} import (")
        row = "   "
        for name in names:
            if len(row) + len(name) + 2 > width:
                lines.append(row.rstrip())
                row = "   "
            row += f" {name},"
        lines += [row, ")"]
    return "\n".join(lines)


def expand_includes(source: str, repo_root: Path, where: str) -> str:
    """Replace every ``# include: package.module.name`` line by the source of that object.

    Consecutive ``# include-imports: package.module`` lines become one block of imports in which
    every name is imported once, and names the cell imported above them are not imported again.
    """
    out: list[str] = []
    pending: list[Path] = []

    def flush() -> None:
        if pending:
            out.append(merged_imports(pending, _bound_imports("\n".join(out)), where))
            pending.clear()

    for line in source.split("\n"):
        imports = INCLUDE_IMPORTS_PATTERN.match(line)
        if imports is not None:
            module_path = repo_root.joinpath(*imports.group(1).split(".")).with_suffix(".py")
            if not module_path.is_file():
                raise SourceError(f"{where}: include-imports '{imports.group(1)}': no file {module_path}")
            pending.append(module_path)
            continue
        flush()
        match = INCLUDE_PATTERN.match(line)
        if match is None:
            if line.lstrip().startswith(("# include:", "# include-imports:")):
                raise SourceError(f"{where}: malformed include line {line!r}; use '# include: package.module.name'")
            out.append(line)
            continue
        module, name = match.groups()
        module_path = repo_root.joinpath(*module.split(".")).with_suffix(".py")
        if not module_path.is_file():
            raise SourceError(f"{where}: include '{module}.{name}': no file {module_path}")
        text = object_source(module_path, name)
        todos = student_todos(module_path)
        if BEGIN_SOLUTION in text and todos is not None and name not in todos:
            raise SourceError(f"{where}: {module}.{name} has a SOLUTION region but is not in {module}.STUDENT_TODOS")
        out.append(text)
    flush()
    return "\n".join(out)


def student_todos(module_path: Path) -> tuple[str, ...] | None:
    """The module's ``STUDENT_TODOS`` tuple of names (read with ast), or None if it has none."""
    for node in ast.parse(module_path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "STUDENT_TODOS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return None


def included_objects(source_path: Path) -> list[str]:
    """``package.module.name`` of every include line in the source, in order."""
    return [".".join(m.groups()) for line in source_path.read_text().splitlines() if (m := INCLUDE_PATTERN.match(line))]


def render_template(text: str, values: Mapping[str, str], where: str) -> str:
    def substitute(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise SourceError(f"{where}: unknown template value {{{{{key}}}}}; known: {sorted(values)}")
        return values[key]

    return TEMPLATE_PATTERN.sub(substitute, text)


def _check_markers(source: str, begin: str, end: str, where: str) -> int:
    """Return the number of well-nested ``begin``/``end`` regions; raise if unbalanced."""
    depth, regions = 0, 0
    for line in source.split("\n"):
        if begin in line:
            if depth:
                raise SourceError(f"{where}: nested '{begin}'")
            depth, regions = 1, regions + 1
        elif end in line:
            if not depth:
                raise SourceError(f"{where}: '{end}' without '{begin}'")
            depth = 0
    if depth:
        raise SourceError(f"{where}: '{begin}' without '{end}'")
    return regions


def nbgrader_metadata(role: str, grade_id: str, points: float | None) -> dict:
    """nbgrader cell metadata (schema 3) of a role."""
    grade = role in ("tests", "answer")
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": role in ("readonly", "tests"),
        "schema_version": 3,
        "solution": role in ("solution", "answer"),
    }
    if grade:
        meta["points"] = points
    return meta


def _validate_cell(cell: nbformat.NotebookNode, index: int) -> tuple[str | None, str | None, float | None]:
    meta = dict(cell.metadata)
    where = f"cell {index} ({meta.get('grade_id', cell.source[:40].splitlines()[0] if cell.source else '')!r})"
    unknown = set(meta) - ALLOWED_KEYS
    if unknown:
        raise SourceError(f"{where}: unknown cell option(s) {sorted(unknown)}; allowed: {sorted(ALLOWED_KEYS)}")
    role, grade_id, points = meta.get("role"), meta.get("grade_id"), meta.get("points")
    if role is None:
        if grade_id is not None or points is not None:
            raise SourceError(f"{where}: grade_id/points need a role ({', '.join(ROLES)})")
        return None, None, None
    if role not in ROLES:
        raise SourceError(f"{where}: unknown role {role!r}; roles: {', '.join(ROLES)}")
    if not isinstance(grade_id, str) or not ID_PATTERN.match(grade_id):
        raise SourceError(f'{where}: role {role!r} needs grade_id="..." matching {ID_PATTERN.pattern}')
    if role in ("solution", "tests") and cell.cell_type != "code":
        raise SourceError(f"{where}: role {role!r} is for code cells")
    if role == "answer" and cell.cell_type != "markdown":
        raise SourceError(f"{where}: role 'answer' is for markdown cells")
    if role in ("tests", "answer"):
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
            raise SourceError(f"{where}: role {role!r} needs points=<positive number>")
    elif points is not None:
        raise SourceError(f"{where}: points are only for roles 'tests' and 'answer'")
    return role, grade_id, points


def render_source_notebook(source_path: Path, repo_root: Path, values: Mapping[str, str]) -> nbformat.NotebookNode:
    """Parse the jupytext source and return the nbgrader source notebook (no outputs)."""
    text = source_path.read_text()
    source_nb = jupytext.reads(text, fmt="py:percent")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    seen_ids: set[str] = set()
    anchor, since_anchor = "top", 0
    for index, src_cell in enumerate(source_nb.cells):
        role, grade_id, points = _validate_cell(src_cell, index)
        where = f"cell {index} ({grade_id or 'no role'})"
        source = src_cell.source
        if src_cell.cell_type == "code":
            source = expand_includes(source, repo_root, where)
        source = render_template(source, values, where)

        solution_regions = _check_markers(source, BEGIN_SOLUTION, END_SOLUTION, where)
        hidden_regions = _check_markers(source, BEGIN_HIDDEN, END_HIDDEN, where)
        if solution_regions and role != "solution":
            raise SourceError(f"{where}: '{BEGIN_SOLUTION}' is only allowed in role 'solution' cells")
        if role == "solution" and not solution_regions:
            raise SourceError(f"{where}: a solution cell needs at least one '{BEGIN_SOLUTION}' region")
        if hidden_regions and role != "tests":
            raise SourceError(f"{where}: hidden tests are only allowed in role 'tests' cells")

        if grade_id is not None:
            cell_id, anchor, since_anchor = grade_id, grade_id, 0
        else:
            since_anchor += 1
            cell_id = f"{anchor}-{since_anchor}"
        if cell_id in seen_ids:
            raise SourceError(f"{where}: duplicate cell id {cell_id!r}")
        seen_ids.add(cell_id)

        if src_cell.cell_type == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        elif src_cell.cell_type == "code":
            cell = nbformat.v4.new_code_cell(source)
        else:
            cell = nbformat.v4.new_raw_cell(source)
        cell.id = cell_id
        if role is not None:
            cell.metadata["nbgrader"] = nbgrader_metadata(role, grade_id, points)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


HIDDEN_TESTS_COMMENT = "# Hidden tests (not in the student release):"


def strip_markers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Copy of ``nb`` without the solution / hidden-test marker lines (their content is kept).

    The start of hidden tests stays visible as a comment, for the readers of the solution notebook.
    """
    out = nbformat.from_dict(nb)
    for cell in out.cells:
        lines = []
        for line in cell.source.split("\n"):
            if line.strip().startswith(BEGIN_HIDDEN):
                lines.append(line[: len(line) - len(line.lstrip())] + HIDDEN_TESTS_COMMENT)
            elif not line.strip().startswith(MARKERS):
                lines.append(line)
        cell.source = "\n".join(lines)
    return out
