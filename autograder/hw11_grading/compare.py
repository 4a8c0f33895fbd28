"""Compare a student's tensor function with the reference on a table of seeded cases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Case:
    """One graded case: ``make_inputs()`` builds fresh keyword arguments (seeded, so reproducible)."""

    name: str
    make_inputs: Callable[[], dict[str, Any]]


def _clone(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value


def _first_mismatch(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float) -> str:
    bad = ~torch.isclose(got, expected, atol=atol, rtol=rtol, equal_nan=False)
    index = tuple(int(i) for i in bad.nonzero()[0])
    return (
        f"{int(bad.sum())} of {bad.numel()} entries differ; first at index {index}: "
        f"expected {expected[index].item():.6g}, got {got[index].item():.6g} "
        f"(max abs error {float((got - expected).abs().max()):.3g})"
    )


def compare_with_reference(
    fn_name: str,
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., torch.Tensor],
    cases: Sequence[Case],
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> None:
    """Assert that ``student_fn`` matches ``reference_fn`` on every case (shape, dtype, values).

    Also asserts that the student's function leaves its tensor inputs unchanged.
    Raises ``AssertionError`` naming the case and what was expected.
    """
    for case in cases:
        inputs = case.make_inputs()
        expected = reference_fn(**{k: _clone(v) for k, v in inputs.items()})
        student_inputs = {k: _clone(v) for k, v in inputs.items()}
        got = student_fn(**student_inputs)
        where = f"{fn_name}, case '{case.name}'"
        assert isinstance(got, torch.Tensor), f"{where}: expected a torch.Tensor, got {type(got).__name__}"
        assert got.shape == expected.shape, f"{where}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
        assert got.dtype == expected.dtype, f"{where}: expected dtype {expected.dtype}, got {got.dtype}"
        got = got.detach()
        assert torch.allclose(got, expected, atol=atol, rtol=rtol), (
            f"{where}: values differ from the reference: {_first_mismatch(got, expected, atol, rtol)}"
        )
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(student_inputs[key], value), f"{where}: the input '{key}' was modified in place"
