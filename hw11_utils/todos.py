"""Which TODOs a cell needs, and a one-line message when one is not finished yet.

The notebook's setup cell calls :func:`install_todo_hints`. From then on, a ``NotImplementedError``
raised by an unfinished TODO shows as one line that names the TODO to finish
(``NotImplementedError: finish the TODO `inner_loss` (section 2, MAML) first``) instead of a long
traceback through the given code. It is still an *error* (the cell fails, and an autograded cell
that raises still earns nothing); every other exception shows its full traceback as usual.

Given cells that need TODOs ask first, and skip with one printed line when something is missing::

    if todos_done(globals(), "train_maml", doing="MAML's meta-training"):
        maml_model, maml_history = train_maml(maml_config, seed=0)

This module only holds the *names* of the TODOs and of the given functions that call them
(``tests/test_todos.py`` checks them against the course's code); it has no solution code.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Iterable, Mapping
from typing import Any

# Every TODO of the homework, by the section of the notebook that asks for it.
TODO_SECTIONS: dict[str, str] = {
    "discounted_returns": "section 2, MAML",
    "inner_loss": "section 2, MAML",
    "inner_step": "section 2, MAML",
    "meta_loss": "section 2, MAML",
    "adapt": "section 2, MAML",
    "rl2_inputs": "section 3, RL²",
    "rl2_policy_step": "section 3, RL²",
    "rl2_trial_forward": "section 3, RL²",
    "rl2_loss": "section 3, RL²",
    "product_of_gaussians": "section 4, PEARL",
    "kl_to_standard_normal": "section 4, PEARL",
    "infer_posterior": "section 4, PEARL",
    "sample_latent": "section 4, PEARL",
    "sac_critic_loss": "section 4, PEARL",
    "sac_actor_loss": "section 4, PEARL",
    "paired_difference": "section 5, few-shot evaluation",
}
TODO_NAMES: tuple[str, ...] = tuple(TODO_SECTIONS)

# The TODOs that each given function calls, directly or through other given code.
NEEDED_BY: dict[str, tuple[str, ...]] = {
    "train_maml": ("discounted_returns", "inner_loss", "inner_step", "meta_loss", "adapt"),
    "maml_adaptation_curve": ("discounted_returns", "inner_loss", "inner_step", "adapt"),
    "train_rl2": ("rl2_inputs", "rl2_policy_step", "rl2_trial_forward", "rl2_loss"),
    "rl2_adaptation_curve": ("rl2_inputs", "rl2_policy_step"),
    "train_pearl": ("product_of_gaussians", "kl_to_standard_normal", "infer_posterior", "sample_latent",
                    "sac_critic_loss", "sac_actor_loss"),
    "pearl_adaptation_curve": ("product_of_gaussians", "infer_posterior", "sample_latent"),
}


def _raises_not_implemented(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _body_from_source(fn: types.FunctionType) -> list[ast.stmt] | None:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == fn.__name__:
            return node.body
    return None


def is_finished(fn: Any) -> bool:
    """False for a TODO that still raises ``NotImplementedError`` before it can return; True otherwise.

    Cheap: it reads the function's source (or, without source, its code object) and never calls it.
    A body whose top-level statements reach ``raise NotImplementedError`` before any ``return`` is
    unfinished. A finished but wrong function counts as finished (its own error will show).
    """
    fn = inspect.unwrap(fn) if callable(fn) else fn
    if not isinstance(fn, types.FunctionType):
        return callable(fn)
    body = _body_from_source(fn)
    if body is None:  # no source (e.g. defined by exec): a blank stub's code refers to nothing else
        return fn.__code__.co_names != ("NotImplementedError",)
    for statement in body:
        if isinstance(statement, ast.Return):
            return True
        if _raises_not_implemented(statement):
            return False
    return True


def _expand(names: Iterable[str]) -> list[str]:
    todos: list[str] = []
    for name in names:
        for todo in NEEDED_BY.get(name, (name,)):
            if todo not in todos:
                todos.append(todo)
    return todos


def missing_todos(namespace: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The TODOs among ``names`` that ``namespace`` lacks or has not finished, in order.

    ``names`` may name TODOs or given functions of :data:`NEEDED_BY` (they stand for the TODOs they call).
    """
    return [name for name in _expand(names) if name not in namespace or not is_finished(namespace[name])]


def describe(todos: Iterable[str]) -> str:
    """``the TODO `a` (section 2, MAML)`` or ``the TODOs `a`, `b` (section 2, MAML) and `c` (section 3, RL²)``."""
    todos = list(todos)
    by_section: dict[str, list[str]] = {}
    for todo in todos:
        by_section.setdefault(TODO_SECTIONS.get(todo, "this notebook"), []).append(f"`{todo}`")
    parts = [f"{', '.join(names)} ({section})" for section, names in by_section.items()]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"the TODO{'s' if len(todos) > 1 else ''} {listed}"


def todos_done(namespace: Mapping[str, Any], *names: str, doing: str = "this cell") -> bool:
    """True when every TODO that ``names`` need is finished; otherwise print one line saying which, and return False.

    Inputs:
        namespace: where the TODOs live (``globals()`` in the notebook).
        names: TODO names, or given functions of :data:`NEEDED_BY` (e.g. ``"train_maml"``).
        doing: what the cell would do, for the message ("MAML's meta-training").
    """
    missing = missing_todos(namespace, names)
    if missing:
        print(f"Skipped {doing}: finish {describe(missing)} first, then run this cell again.")
    return not missing


# --------------------------------------------------------------------------------------------------
# The one-line message for a NotImplementedError raised by a TODO
# --------------------------------------------------------------------------------------------------
def unfinished_todo(tb: types.TracebackType | None) -> str | None:
    """The innermost TODO among the traceback's frames, or None when no TODO is on the stack."""
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_name in TODO_SECTIONS:
            found = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return found


def todo_message(todo: str) -> str:
    return f"NotImplementedError: finish {describe([todo])} first."


def _handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> None:
    """IPython's custom exception handler: one line for a TODO's NotImplementedError, the usual traceback else."""
    try:
        todo = unfinished_todo(tb)
    except Exception:  # never let the hint hide the real error
        todo = None
    if todo is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    else:
        shell._showtraceback(etype, value, [todo_message(todo)])  # still an error output: the cell fails


def install_todo_hints(shell: Any = None) -> bool:
    """Show a TODO's ``NotImplementedError`` as one line naming it (IPython only; elsewhere nothing happens).

    Returns True when the hint was installed.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((NotImplementedError,), _handler)
    return True

