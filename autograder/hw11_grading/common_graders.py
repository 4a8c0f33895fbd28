"""Graders of the shared TODOs in ``solutions/common.py``: ``discounted_returns``, ``paired_difference``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from hw11_grading.compare import Case, compare_with_reference
from hw11_grading.support import as_float, student_function
from hw11_utils.evaluation import mean_ci
from solutions import common


# --------------------------------------------------------------------------------------------------
# discounted_returns
# --------------------------------------------------------------------------------------------------
def _returns_inputs(seed: int, shape: tuple[int, ...], gamma: float, done_prob: float) -> Callable[[], dict]:
    def make() -> dict:
        generator = torch.Generator().manual_seed(seed)
        rewards = torch.randn(shape, generator=generator)
        dones = (torch.rand(shape, generator=generator) < done_prob).float()
        return dict(rewards=rewards, dones=dones, gamma=gamma)

    return make


DISCOUNTED_RETURNS_CASES = [
    Case("one episode [7], no done, gamma=0.9", _returns_inputs(0, (7,), 0.9, 0.0)),
    Case("batch [4, 20], done with p=0.2, gamma=0.95", _returns_inputs(1, (4, 20), 0.95, 0.2)),
    Case("[tasks, episodes, time] = [3, 2, 50], done p=0.1, gamma=0.99", _returns_inputs(2, (3, 2, 50), 0.99, 0.1)),
    Case("gamma=0 (returns equal rewards), [5, 9]", _returns_inputs(3, (5, 9), 0.0, 0.3)),
    Case("gamma=1, every step done, [2, 6]", _returns_inputs(4, (2, 6), 1.0, 1.1)),
    Case("gamma=1, no done, [2, 30]", _returns_inputs(5, (2, 30), 1.0, 0.0)),
]


def discounted_returns(student_fn: Callable[..., torch.Tensor]) -> None:
    """Grade ``discounted_returns(rewards, dones, gamma)`` against ``solutions.common``.

    Catches: returns that run across episode boundaries (dones ignored), forward instead of
    backward accumulation, time on the wrong axis, in-place changes of the inputs.
    """
    fn = student_function("discounted_returns", student_fn)
    compare_with_reference("discounted_returns", fn, common.discounted_returns, DISCOUNTED_RETURNS_CASES)


# --------------------------------------------------------------------------------------------------
# paired_difference
# --------------------------------------------------------------------------------------------------
def _curves(seed: int, shape: tuple[int, ...], shared_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Two curves that share a per-task component (so pairing matters) plus independent noise."""
    rng = np.random.default_rng(seed)
    shared = shared_scale * rng.standard_normal(shape[:-1] + (1,))
    curve_a = np.clip(0.5 + shared + 0.1 * rng.standard_normal(shape) + np.linspace(0, 0.2, shape[-1]), 0, 1)
    curve_b = np.clip(0.45 + shared + 0.1 * rng.standard_normal(shape), 0, 1)
    return curve_a, curve_b


#: (description, seed, shape, unit, shared task-to-task variation)
PAIRED_DIFFERENCE_CASES: Sequence[tuple[str, int, tuple[int, ...], int, float]] = (
    ("[tasks, units + 1] = [20, 4], unit 1", 0, (20, 4), 1, 0.2),
    ("[20, 4], unit 0", 1, (20, 4), 0, 0.2),
    ("[50, 4], unit 3, strong task-to-task variation", 2, (50, 4), 3, 0.3),
    ("[seeds, tasks, units + 1] = [3, 10, 4], unit 2", 3, (3, 10, 4), 2, 0.2),
    ("[2, 15, 6], unit 5", 4, (2, 15, 6), 5, 0.1),
)


def paired_difference(student_fn: Callable[..., Any]) -> None:
    """Grade ``paired_difference(curve_a, curve_b, unit) -> (mean, half_width)``.

    Random curves [tasks, units + 1] and [seeds, tasks, units + 1] whose tasks share a component, so
    an unpaired interval (two independent means) is much wider than the paired one. Catches: an
    unpaired interval, differences taken at the wrong unit or axis, seeds and tasks pooled into one
    sample (instead of an interval over the seed means), a normal (1.96) instead of a Student-t
    quantile, population instead of sample std.
    """
    fn = student_function("paired_difference", student_fn)
    for name, seed, shape, unit, shared in PAIRED_DIFFERENCE_CASES:
        hint = (
            "one difference d per task at the given unit (the last axis); the result is the mean of the d and "
            "the half-width of their 95% Student-t interval"
            if len(shape) == 2 else
            "with several seeds, average the paired differences over the tasks within each seed; the result is "
            "the mean of the seed means and the half-width of their 95% Student-t interval (over seeds)"
        )
        curve_a, curve_b = _curves(seed, shape, shared)
        expected_mean, expected_half = common.paired_difference(curve_a.copy(), curve_b.copy(), unit)
        a_in, b_in = curve_a.copy(), curve_b.copy()
        got = fn(a_in, b_in, unit, case=name)
        where = f"paired_difference, case '{name}'"
        assert isinstance(got, (tuple, list)) and len(got) == 2, (
            f"{where}: expected a tuple (mean, half_width), got {type(got).__name__}"
            + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        )
        got_mean, got_half = as_float(f"{where}, mean", got[0]), as_float(f"{where}, half_width", got[1])
        assert np.isclose(got_mean, expected_mean, rtol=1e-6, atol=1e-9), (
            f"{where}: expected the mean paired difference {expected_mean:.6g}, got {got_mean:.6g}\n  hint: {hint}"
        )
        if len(shape) == 3:
            pooled = mean_ci((curve_a[..., unit] - curve_b[..., unit]).reshape(-1))[1]
            assert not np.isclose(got_half, pooled, rtol=1e-4), (
                f"{where}: the half-width {got_half:.6g} is that of all {shape[0] * shape[1]} (seed, task) "
                f"differences pooled into one sample, expected {expected_half:.6g}\n  hint: {hint}"
            )
        assert np.isclose(got_half, expected_half, rtol=1e-4, atol=1e-9), (
            f"{where}: expected the half-width {expected_half:.6g} of the 95% interval of the paired differences, "
            f"got {got_half:.6g}\n  hint: {hint} (not the two methods' intervals separately)"
        )
        assert np.array_equal(a_in, curve_a) and np.array_equal(b_in, curve_b), (
            f"{where}: the input curves were modified in place"
        )
