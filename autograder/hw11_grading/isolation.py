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
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

from solutions import common, maml, pearl, rl2

SOLUTION_MODULES = (common, maml, rl2, pearl)


def reference_todos() -> dict[str, Callable[..., Any]]:
    """Every student TODO's reference implementation, by name."""
    return {name: getattr(module, name) for module in SOLUTION_MODULES for name in module.STUDENT_TODOS}


# The guard is compiled under a pseudo file name: a traceback through it shows no path and no source line.
_GUARD_SOURCE = """
def make_guard(name, reference, report):
    def guard(*args, **kwargs):
        try:
            return reference(*args, **kwargs)
        except Exception as error:
            raise report(name, args, kwargs, error) from None
    guard.__name__ = guard.__qualname__ = name
    guard.__doc__ = reference.__doc__
    return guard
"""
_guard_namespace: dict[str, Any] = {}
exec(compile(_GUARD_SOURCE, "<reference TODO>", "exec"), _guard_namespace)


def _report(name: str, args: tuple, kwargs: dict, error: Exception) -> Exception:
    from hw11_grading.support import ReferenceCallError, clean, describe

    try:
        parameters = list(inspect.signature(reference_todos()[name]).parameters)
    except (TypeError, ValueError):
        parameters = []
    shown = [f"{parameters[i] if i < len(parameters) else i}={describe(value)}" for i, value in enumerate(args)]
    shown += [f"{key}={describe(value)}" for key, value in kwargs.items()]
    return ReferenceCallError(
        f"your function called {name}({', '.join(shown)}), and {name} (the reference version, used while this "
        f"TODO is graded) failed on those arguments with {type(error).__name__}: {clean(error, 200)}. Compare "
        f"what you pass with the Inputs of {name}'s docstring"
    )


def guarded(name: str, reference: Callable[..., Any]) -> Callable[..., Any]:
    """``reference`` behind a guard: an exception inside it becomes a ``ReferenceCallError`` that names the
    call and describes its arguments (types and shapes), with no traceback through the reference code."""
    return _guard_namespace["make_guard"](name, reference, _report)


def isolated(student_fn: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of ``student_fn`` whose calls to *other* TODO functions go to the reference ones."""
    if not isinstance(student_fn, types.FunctionType):
        from hw11_grading.support import GradingFailure

        raise GradingFailure(f"expected a Python function, got {type(student_fn).__name__}")
    namespace = dict(student_fn.__globals__)
    namespace.update({name: guarded(name, fn) for name, fn in reference_todos().items() if name != student_fn.__name__})
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
