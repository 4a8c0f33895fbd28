"""Shared pieces of the graders: calling a student's function safely, comparing values and gradients.

Every grader starts with :func:`student_function`, which

* isolates the student's function (:func:`hw11_grading.isolation.isolated`: calls to *other* TODOs
  go to the reference, so one mistake costs only its own points), and
* turns what the student's code raises into an ``AssertionError`` that names the TODO: a
  ``NotImplementedError`` becomes "<name> is not implemented yet", any other exception
  "<name> raised <type>: <message> (<case>)".

The comparisons raise ``AssertionError`` with what was expected and what was got.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from hw11_grading.isolation import isolated


def _raised_in(error: BaseException) -> str:
    """Name of the function in which ``error`` was raised (the innermost frame)."""
    frames = traceback.extract_tb(error.__traceback__)
    return frames[-1].name if frames else "?"


def call_student(name: str, fn: Callable[..., Any], *args: Any, case: str = "", **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; exceptions of the student's code become a clear ``AssertionError``."""
    where = f" (case: {case})" if case else ""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        origin = _raised_in(error)
        inside = "" if origin in (name, "?") else f", raised in '{origin}'"
        raise AssertionError(f"{name} is not implemented yet (it raises NotImplementedError{inside})") from None
    except AssertionError:
        raise  # already a grading message (e.g. from a patched torch.optim)
    except Exception as error:
        raise AssertionError(f"{name} raised {type(error).__name__}: {error}{where}") from error


def run_with_students(description: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a reference loop ``fn`` into which student functions were patched; clear message on errors."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        raise AssertionError(
            f"{description}: '{_raised_in(error)}' is not implemented yet (it raises NotImplementedError)"
        ) from None
    except AssertionError:
        raise
    except Exception as error:
        frames = traceback.extract_tb(error.__traceback__)
        place = f" in '{frames[-1].name}'" if frames else ""
        raise AssertionError(f"{description}: {type(error).__name__}{place}: {error}") from error


def student_function(name: str, student_fn: Callable[..., Any]) -> Callable[..., Any]:
    """The student's function, isolated from the other TODOs, raising only ``AssertionError``.

    The returned callable takes the same arguments, plus an optional keyword ``case=`` (a
    description of the inputs used in error messages).
    """
    fn = isolated(student_fn)

    def call(*args: Any, case: str = "", **kwargs: Any) -> Any:
        return call_student(name, fn, *args, case=case, **kwargs)

    call.__name__ = name
    return call


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
