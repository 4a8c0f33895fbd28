"""Visible checks that students run right after a TODO.

Each check calls the student's function on a few small cases whose answers were computed by hand
(no reference implementation here), prints ``PASS`` or what went wrong with a hint, and returns
``True``/``False``. A check never raises on a wrong answer, so a notebook keeps running; the hidden
tests used for grading are stricter (random inputs, compared with the reference).

Adding a check: write its cases as :class:`Case` rows and call :func:`run_cases`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Case", "run_cases", "check_discounted_returns"]


@dataclass(frozen=True)
class Case:
    """One hand-computed case: call ``fn(**inputs)`` and expect ``expected`` (a tensor)."""

    name: str
    inputs: dict[str, Any]
    expected: torch.Tensor
    hint: str


def run_cases(fn_name: str, fn: Callable[..., Any], cases: Sequence[Case], atol: float = 1e-5) -> bool:
    """Run ``fn`` on every case, print PASS or the first failure with its hint; return success."""
    for case in cases:
        inputs = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in case.inputs.items()}
        try:
            got = fn(**inputs)
        except NotImplementedError:
            print(f"NOT DONE: {fn_name} still raises NotImplementedError; write its body first.")
            return False
        except Exception as error:  # a visible check reports, it does not crash the notebook
            print(f"FAIL: {fn_name} raised {type(error).__name__}: {error}\n  case: {case.name}")
            return False
        if not isinstance(got, torch.Tensor):
            print(f"FAIL: {fn_name} returned {type(got).__name__}, expected a torch.Tensor\n  case: {case.name}")
            return False
        if tuple(got.shape) != tuple(case.expected.shape):
            print(
                f"FAIL: {fn_name} returned shape {tuple(got.shape)}, expected {tuple(case.expected.shape)}"
                f"\n  case: {case.name}"
            )
            return False
        if not torch.allclose(got.detach().to(case.expected.dtype), case.expected, atol=atol):
            print(
                f"FAIL: {fn_name}, case: {case.name}\n  expected {_rounded(case.expected)}"
                f"\n  got      {_rounded(got)}\n  hint: {case.hint}"
            )
            return False
    print(f"PASS: {fn_name} ({len(cases)} hand-computed cases)")
    return True


def _rounded(x: torch.Tensor) -> list:
    return x.detach().double().round(decimals=4).tolist()


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


_DISCOUNTED_RETURNS_CASES = [
    Case(
        "one episode of 3 steps, gamma = 0.5",
        dict(rewards=_t([1.0, 1.0, 1.0]), dones=_t([0.0, 0.0, 1.0]), gamma=0.5),
        _t([1.75, 1.5, 1.0]),
        "go backwards in time: G_2 = r_2, then G_1 = r_1 + gamma * G_2, ...",
    ),
    Case(
        "gamma = 0: returns equal rewards",
        dict(rewards=_t([3.0, -1.0, 2.0]), dones=_t([0.0, 0.0, 0.0]), gamma=0.0),
        _t([3.0, -1.0, 2.0]),
        "with gamma = 0 nothing is carried over from the future.",
    ),
    Case(
        "two episodes in one row (done at t = 1), gamma = 0.9",
        dict(rewards=_t([1.0, 2.0, 3.0, 4.0]), dones=_t([0.0, 1.0, 0.0, 1.0]), gamma=0.9),
        _t([2.8, 2.0, 6.6, 4.0]),
        "a step with done_t = 1 must not add gamma * G_{t+1}: multiply by (1 - done_t).",
    ),
    Case(
        "batch of 2 rows [2, 3], time last, gamma = 1",
        dict(rewards=_t([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]), dones=_t([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), gamma=1.0),
        _t([[6.0, 5.0, 3.0], [1.0, 1.0, 1.0]]),
        "time is the last axis; index with [..., t] so leading (batch) dimensions are kept.",
    ),
]


def check_discounted_returns(fn: Callable[..., torch.Tensor]) -> bool:
    """Visible check of ``discounted_returns(rewards, dones, gamma)`` on hand-computed cases."""
    return run_cases("discounted_returns", fn, _DISCOUNTED_RETURNS_CASES)
