"""Shared pieces of the graders: calling a student's function safely, comparing values and gradients.

Every grader starts with :func:`student_function`, which

* isolates the student's function (:func:`hw11_grading.isolation.isolated`: calls to *other* TODOs
  go to the reference, so one mistake costs only its own points), and
* turns what the student's code raises into one ``GradingFailure`` (an ``AssertionError``) that names
  the TODO: a ``NotImplementedError`` becomes "<name> is not implemented yet", any other exception
  "<name> raised <type>: <message> (<case>)" with the line of the student's code where it happened, and
  a failure inside a reference TODO that the student's function called names what it was passed.

:func:`public_grader` wraps every grader the notebook calls (``hw11_grading.grade``): time limit,
warnings as printed notes, and one message without a traceback (no frame of the graders or the reference
solutions reaches the feedback page).

The comparisons raise ``AssertionError`` with what was expected and what was got.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from hw11_grading.isolation import isolated
from hw11_utils.checks_core import time_limit, warnings_as_notes


class GradingFailure(AssertionError):
    """What a grader raises to the notebook: one message, shown without a traceback.

    IPython prints an exception that has ``_render_traceback_`` with the lines it returns instead of a
    traceback, so the feedback page shows the message only: no frame, line or path of the graders or of
    the reference solutions.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"AssertionError: {line}" if number == 0 else line for number, line in enumerate(str(self).split("\n"))]


class ReferenceCallError(Exception):
    """A reference TODO, called by the student's function under isolation, failed on what it was given."""


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-+ ]+)+[\\/]([\w.\-+]+\.py)")


def clean(text: str, limit: int = 400) -> str:
    """``text`` without absolute file paths (a path is replaced by its file name), at most ``limit`` characters."""
    text = _PATH.sub(lambda match: match.group(1), str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any) -> str:
    """A short description of an argument: its type, and the shape and dtype of tensors."""
    if isinstance(value, Tensor):
        return f"Tensor{list(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, Mapping):
        inner = sorted({describe(v) for v in value.values()})[:2]
        return f"dict of {len(value)} ({', '.join(inner)})" if value else "empty dict"
    if isinstance(value, (list, tuple)):
        inner = sorted({type(v).__name__ for v in value})
        return f"{type(value).__name__} of {len(value)} {'/'.join(inner)}" if value else f"empty {type(value).__name__}"
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    return type(value).__name__


def _student_line(error: BaseException, student_fn: Callable[..., Any]) -> str:
    """'line N of your <fn>: <source>' for the innermost frame of the student's notebook code, or ''."""
    code = getattr(student_fn, "__code__", None)
    if code is None:
        return ""
    folder = os.path.dirname(code.co_filename)

    def is_students(filename: str) -> bool:  # the notebook's cells: files in one kernel folder
        return filename == code.co_filename or bool(folder) and os.path.dirname(filename) == folder

    frames = [f for f in traceback.extract_tb(error.__traceback__) if is_students(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    text = (frame.line or "").strip()
    return f"\n  at your {frame.name}: {clean(text, 160)}" if text else f"\n  in your {frame.name}"


def _raised_in(error: BaseException) -> str:
    """Name of the function in which ``error`` was raised (the innermost frame)."""
    frames = traceback.extract_tb(error.__traceback__)
    return frames[-1].name if frames else "?"


def call_student(name: str, fn: Callable[..., Any], *args: Any, case: str = "", **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; exceptions of the student's code become one clear ``GradingFailure``
    (never chained to the original, whose traceback may run through the reference code)."""
    where = f" (case: {case})" if case else ""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        origin = _raised_in(error)
        inside = "" if origin in (name, "?") else f", raised in '{origin}'"
        message = f"{name} is not implemented yet (it raises NotImplementedError{inside})"
    except AssertionError as error:
        if isinstance(error, GradingFailure) or not _student_line(error, fn):
            raise  # already a grading message (e.g. from a patched torch.optim)
        message = f"{name} raised AssertionError: {clean(error)}{where}{_student_line(error, fn)}"
    except ReferenceCallError as error:
        message = f"{name}: {error}{where}{_student_line(error, fn)}"
    except Exception as error:
        message = f"{name} raised {type(error).__name__}: {clean(error)}{where}{_student_line(error, fn)}"
    raise GradingFailure(message) from None


def run_with_students(description: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a reference loop ``fn`` into which student functions were patched; one clear message on errors."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        message = f"{description}: '{_raised_in(error)}' is not implemented yet (it raises NotImplementedError)"
    except AssertionError as error:
        if isinstance(error, GradingFailure):
            raise
        message = f"{description}: AssertionError: {clean(error)}"
    except ReferenceCallError as error:
        message = f"{description}: {error}"
    except Exception as error:
        message = (
            f"{description}: the given training loop stopped with {type(error).__name__}: {clean(error)} "
            "(run the visible checks of these functions first: one returns something of the wrong type or shape)"
        )
    raise GradingFailure(message) from None


def student_function(name: str, student_fn: Callable[..., Any]) -> Callable[..., Any]:
    """The student's function, isolated from the other TODOs, raising only ``GradingFailure``.

    The returned callable takes the same arguments, plus an optional keyword ``case=`` (a
    description of the inputs used in error messages).
    """
    fn = isolated(student_fn)

    def call(*args: Any, case: str = "", **kwargs: Any) -> Any:
        return call_student(name, fn, *args, case=case, **kwargs)

    call.__name__ = name
    return call


# --------------------------------------------------------------------------------------------------
# The boundary between a grader and the notebook
# --------------------------------------------------------------------------------------------------
#: seconds a maths grader may take (they take about a second), and a training grader (about 7 s)
GRADER_TIME_LIMIT_S = 20.0
TRAINING_TIME_LIMIT_S = 40.0


def public_grader(grader: Callable[..., None], time_limit_s: float = GRADER_TIME_LIMIT_S) -> Callable[..., None]:
    """``grader`` as the notebook calls it: with a time limit, warnings printed as notes (never on standard
    error: nbgrader gives 0 to a cell that writes there), and every failure turned into one
    ``GradingFailure`` message shown without a traceback."""
    name = grader.__name__

    @functools.wraps(grader)
    def run(*args: Any, **kwargs: Any) -> None:
        message = None
        with warnings_as_notes():
            try:
                with time_limit(time_limit_s, f"grading {name}"):
                    grader(*args, **kwargs)
            except GradingFailure as failure:
                message = str(failure)
            except AssertionError as error:
                message = clean(error, 2000)
            except TimeoutError as error:
                message = clean(error)
            except KeyboardInterrupt:
                message = f"grading {name} was interrupted (the cell ran into the autograder's time limit)"
            except Exception as error:  # the student's result broke a comparison (e.g. wrong type)
                message = (
                    f"{name}: grading stopped with {type(error).__name__}: {clean(error)} (does your function "
                    "return what its docstring says, with those types and shapes?)"
                )
        if message is not None:
            raise GradingFailure(message) from None

    run.time_limit_s = time_limit_s
    return run


# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------
def describe_mismatch(got: Tensor, expected: Tensor, atol: float, rtol: float) -> str:
    """'<n> of <m> entries differ; first at <index>: expected x, got y (max abs error e)'."""
    got, expected = got.detach().double(), expected.detach().double()
    bad = ~torch.isclose(got, expected, atol=atol, rtol=rtol)
    if expected.dim() == 0:
        return f"expected {expected.item():.6g}, got {got.item():.6g}"
    index = tuple(int(i) for i in bad.nonzero()[0])
    return (
        f"{int(bad.sum())} of {bad.numel()} entries differ; first at index {index}: "
        f"expected {expected[index].item():.6g}, got {got[index].item():.6g} "
        f"(max abs error {float((got - expected).abs().max()):.3g})"
    )


def assert_scalar(where: str, got: Any) -> Tensor:
    """``got`` is a tensor holding one number (a loss); returns it reshaped to shape ``()``."""
    assert isinstance(got, Tensor) and got.numel() == 1, f"{where}: expected a scalar tensor, got " + (
        f"a tensor of shape {tuple(got.shape)}" if isinstance(got, Tensor) else type(got).__name__
    )
    return got.reshape(())


def assert_tensor_close(
    where: str, got: Any, expected: Tensor, atol: float = 1e-5, rtol: float = 1e-4, hint: str = ""
) -> None:
    """``got`` is a tensor of ``expected``'s shape with close values (dtype not checked)."""
    hint = f"\n  hint: {hint}" if hint else ""
    assert isinstance(got, Tensor), f"{where}: expected a torch.Tensor, got {type(got).__name__}"
    assert tuple(got.shape) == tuple(expected.shape), (
        f"{where}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}{hint}"
    )
    assert torch.isfinite(got.detach()).all() or not torch.isfinite(expected).all(), (
        f"{where}: the result contains NaN or inf{hint}"
    )
    close = torch.allclose(got.detach().to(expected.dtype), expected.detach(), atol=atol, rtol=rtol)
    assert close, f"{where}: values differ from the expected ones: {describe_mismatch(got, expected, atol, rtol)}{hint}"


def assert_param_dict_close(
    where: str, got: Any, expected: Mapping[str, Tensor], atol: float, rtol: float, hint: str = ""
) -> None:
    """``got`` is a dict with ``expected``'s names, shapes and (close) values."""
    assert isinstance(got, Mapping), f"{where}: expected a dict name -> tensor, got {type(got).__name__}"
    assert set(got) == set(expected), (
        f"{where}: expected the parameter names {sorted(expected)}, got {sorted(got)} (keep the names of `params`)"
    )
    for name, value in expected.items():
        assert_tensor_close(f"{where}, parameter '{name}'", got[name], value, atol=atol, rtol=rtol, hint=hint)


def snapshot(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in tensors.items()}


def assert_unchanged(where: str, before: Mapping[str, Tensor], tensors: Mapping[str, Tensor], what: str) -> None:
    for name, value in before.items():
        assert torch.equal(tensors[name].detach(), value), (
            f"{where}: {what} '{name}' was modified in place (compute new tensors instead of writing into it)"
        )


# --------------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------------
def flat_gradient(output: Tensor, inputs: Sequence[Tensor]) -> Tensor:
    """d output / d inputs, flattened into one vector (zeros where ``output`` does not depend on an input)."""
    if not (isinstance(output, Tensor) and output.requires_grad):
        return torch.cat([torch.zeros_like(x).reshape(-1) for x in inputs])
    grads = torch.autograd.grad(output, list(inputs), allow_unused=True, retain_graph=True)
    return torch.cat([(torch.zeros_like(x) if g is None else g).reshape(-1) for x, g in zip(inputs, grads)])


def relative_error(a: Tensor, b: Tensor) -> float:
    """||a - b|| / max(||a||, ||b||) (0 when both are 0)."""
    scale = torch.maximum(a.norm(), b.norm())
    if scale == 0:
        return 0.0
    return float((a - b).norm() / scale)


# --------------------------------------------------------------------------------------------------
# Patching
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def no_optimiser(fn_name: str) -> Iterator[None]:
    """Inside the block, creating any ``torch.optim`` optimiser raises an ``AssertionError``."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError(
            f"{fn_name} must not create a torch.optim optimiser ({type(self).__name__}): write the update "
            "theta - alpha * grad as an expression, so that the result stays a differentiable function of theta"
        )

    original = torch.optim.Optimizer.__init__
    torch.optim.Optimizer.__init__ = refuse
    try:
        yield
    finally:
        torch.optim.Optimizer.__init__ = original


def seeded_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_float(where: str, value: Any) -> float:
    """``value`` as a Python float: a number, a 0-d array or a one-element tensor."""
    if isinstance(value, Tensor):
        assert value.numel() == 1, f"{where}: expected a number, got a tensor of shape {tuple(value.shape)}"
        return float(value.item())
    try:
        import numpy as np

        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{where}: expected a number, got {type(value).__name__}") from None
    assert array.size == 1, f"{where}: expected a number, got an array of shape {array.shape}"
    return float(array.reshape(-1)[0])
