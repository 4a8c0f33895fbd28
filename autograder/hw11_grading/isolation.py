"""Grade each TODO on its own: swap the *other* TODOs for the reference while one is tested.

A student's function defined in the notebook looks up other TODO functions (``inner_step`` calls
``inner_loss``, ``inner_loss`` calls ``discounted_returns``) as notebook globals. If one of those is
wrong, every TODO that calls it would fail too and the student would lose the same mistake's points
several times. :func:`isolated` rebinds those global names to the reference implementations, so a
grader measures exactly the function it names. :func:`student_functions_in` does the converse for
behavioural checks: it runs the reference training loop with the student's functions patched in.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any

from solutions import common, maml, pearl, rl2

SOLUTION_MODULES = (common, maml, rl2, pearl)


def reference_todos() -> dict[str, Callable[..., Any]]:
    """Every student TODO's reference implementation, by name."""
    return {name: getattr(module, name) for module in SOLUTION_MODULES for name in module.STUDENT_TODOS}


def isolated(student_fn: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of ``student_fn`` whose calls to *other* TODO functions go to the reference ones."""
    if not isinstance(student_fn, types.FunctionType):
        raise AssertionError(f"expected a Python function, got {type(student_fn).__name__}")
    namespace = dict(student_fn.__globals__)
    namespace.update({name: fn for name, fn in reference_todos().items() if name != student_fn.__name__})
    copy = types.FunctionType(
        student_fn.__code__, namespace, student_fn.__name__, student_fn.__defaults__, student_fn.__closure__
    )
    copy.__kwdefaults__ = student_fn.__kwdefaults__
    return copy


@contextlib.contextmanager
def student_functions_in(module: types.ModuleType, **student_fns: Callable[..., Any]) -> Iterator[None]:
    """Temporarily replace TODO functions of a reference ``module`` by (isolated) student ones."""
    unknown = sorted(set(student_fns) - set(module.STUDENT_TODOS))
    if unknown:
        raise ValueError(f"{unknown} are not TODOs of {module.__name__}")
    saved = {name: getattr(module, name) for name in student_fns}
    try:
        for name, fn in student_fns.items():
            setattr(module, name, isolated(fn))
        yield
    finally:
        for name, fn in saved.items():
            setattr(module, name, fn)
