"""hw11_utils.todos: the TODO names and dependencies match the course's code; one-line hints; clean skips."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hw11_utils import todos

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def _solution_modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(SOLUTIONS.glob("*.py"))}


def _student_todos() -> set[str]:
    names: set[str] = set()
    for tree in _solution_modules().values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "STUDENT_TODOS" for t in node.targets):
                names |= set(ast.literal_eval(node.value))
    return names


def _references() -> dict[str, set[str]]:
    """Top-level function/class of any solutions module -> the names its body refers to."""
    refs = {}
    for tree in _solution_modules().values():
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                refs[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
                    n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    return refs


def _todos_called_by(name: str, refs: dict[str, set[str]], todo_names: set[str]) -> set[str]:
    seen, stack = set(), [name]
    while stack:
        for ref in refs.get(stack.pop(), ()):
            if ref in refs and ref not in seen:
                seen.add(ref)
                stack.append(ref)
    return seen & todo_names


def test_todo_names_are_the_solutions_student_todos():
    assert set(todos.TODO_NAMES) == _student_todos()


@pytest.mark.parametrize("given", sorted(todos.NEEDED_BY))
def test_needed_by_lists_every_todo_the_given_function_calls(given):
    refs, todo_names = _references(), _student_todos()
    assert given in refs, f"{given} is not a top-level function of solutions/"
    assert set(todos.NEEDED_BY[given]) == _todos_called_by(given, refs, todo_names)


def blank(x):
    """A stub as nbgrader leaves it."""
    # YOUR CODE HERE
    raise NotImplementedError()


def written(x):
    """Finished."""
    return x + 1


def written_then_stub_left(x):
    """Finished, with the stub's raise left after the return."""
    return x
    raise NotImplementedError()


def half_written(x):
    y = x + 1
    raise NotImplementedError(y)


def test_is_finished_reads_the_body():
    assert not todos.is_finished(blank)
    assert not todos.is_finished(half_written)
    assert todos.is_finished(written)
    assert todos.is_finished(written_then_stub_left)


def test_is_finished_without_source_uses_the_code_object():
    namespace: dict = {}
    exec(compile("def stub(x):\n    'doc'\n    raise NotImplementedError()\n"
                 "def done(x):\n    return abs(x)\n", "<no file>", "exec"), namespace)
    assert not todos.is_finished(namespace["stub"])
    assert todos.is_finished(namespace["done"])


def test_missing_todos_expands_given_functions_and_keeps_order():
    namespace = {name: written for name in todos.TODO_NAMES}
    namespace["inner_step"] = blank
    del namespace["adapt"]
    assert todos.missing_todos(namespace, ["maml_adaptation_curve"]) == ["inner_step", "adapt"]
    assert todos.missing_todos(namespace, ["rl2_adaptation_curve"]) == []


def test_todos_done_prints_one_line_naming_the_todos(capsys):
    namespace = {name: written for name in todos.TODO_NAMES} | {"meta_loss": blank, "rl2_loss": blank}
    assert not todos.todos_done(namespace, "train_maml", "train_rl2", doing="training")
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0
    assert "`meta_loss` (section 2, MAML)" in out and "`rl2_loss` (section 3, RL²)" in out
    assert todos.todos_done(namespace, "rl2_adaptation_curve")
    assert capsys.readouterr().out == ""


def test_install_todo_hints_does_nothing_without_ipython():
    assert todos.install_todo_hints() is False


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    assert todos.install_todo_hints(shell)
    yield shell
    shell.set_custom_exc((), None)


def test_a_todos_not_implemented_error_is_one_line_and_still_an_error(shell, capsys):
    shell.run_cell("def inner_loss(x):\n    raise NotImplementedError()\n")
    result = shell.run_cell("def given(x):\n    return inner_loss(x) + 1\n\ngiven(2)\n")
    assert isinstance(result.error_in_exec, NotImplementedError)
    out = capsys.readouterr()
    text = (out.out + out.err).strip()
    assert text == "NotImplementedError: finish the TODO `inner_loss` (section 2, MAML) first."


def test_other_errors_keep_their_traceback(shell, capsys):
    result = shell.run_cell("def given(x):\n    raise NotImplementedError('not a TODO')\n\ngiven(2)\n")
    assert isinstance(result.error_in_exec, NotImplementedError)
    result = shell.run_cell("def adapt(x):\n    raise ValueError('a real bug')\n\nadapt(1)\n")
    assert isinstance(result.error_in_exec, ValueError)
    out = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.out + out.err)  # without IPython's colours
    assert "not a TODO" in text and "a real bug" in text and "finish the TODO" not in text
    assert "given(2)" in text  # the full traceback, with the cell's lines
