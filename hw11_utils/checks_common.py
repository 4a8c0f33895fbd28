"""Visible checks of the shared TODOs: ``discounted_returns`` (section 2) and ``paired_difference`` (section 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hw11_utils.checks_core import Case, attempt, close, fail, passed, run_cases, visible_check
from hw11_utils.checks_core import tensor as _t

_ACROSS_EPISODES = (
    "your returns run across the episode boundary: a step with done_t = 1 is the last of its episode, so "
    "G_t must not include anything after it (the (1 - done_t) factor of the recursion)"
)

DISCOUNTED_RETURNS_CASES = [
    Case(
        "one episode of 3 steps, gamma = 0.5",
        dict(rewards=_t([1.0, 1.0, 1.0]), dones=_t([0.0, 0.0, 1.0]), gamma=0.5),
        _t([1.75, 1.5, 1.0]),
        "G_t = r_t + gamma * G_{t+1} (1 - done_t): start at the last step and go backwards in time",
        mistakes=[
            (_t([1.0, 1.5, 1.75]), "you accumulated forwards in time: G_t sums the rewards from t to the END"),
            (_t([3.0, 2.0, 1.0]), "gamma was not applied: each step further in the future is discounted once more"),
        ],
    ),
    Case(
        "gamma = 0: returns equal rewards",
        dict(rewards=_t([3.0, -1.0, 2.0]), dones=_t([0.0, 0.0, 0.0]), gamma=0.0),
        _t([3.0, -1.0, 2.0]),
        "with gamma = 0 nothing is carried over from the future: G_t = r_t",
    ),
    Case(
        "two episodes in one row (done at t = 1), gamma = 0.9",
        dict(rewards=_t([1.0, 2.0, 3.0, 4.0]), dones=_t([0.0, 1.0, 0.0, 1.0]), gamma=0.9),
        _t([2.8, 2.0, 6.6, 4.0]),
        "the recursion restarts after every step with done_t = 1 (the (1 - done_t) factor)",
        mistakes=[(_t([8.146, 7.94, 6.6, 4.0]), _ACROSS_EPISODES)],
    ),
    Case(
        "batch of 2 rows [2, 3], time last, gamma = 1",
        dict(rewards=_t([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]), dones=_t([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), gamma=1.0),
        _t([[6.0, 5.0, 3.0], [1.0, 1.0, 1.0]]),
        "time is the LAST axis and every leading axis is a separate row of episodes (see the docstring's shapes)",
    ),
]


@visible_check("discounted_returns")
def check_discounted_returns(fn: Callable[..., torch.Tensor]) -> bool:
    """Visible check of ``discounted_returns(rewards, dones, gamma)`` on hand-computed cases."""
    return run_cases("discounted_returns", fn, DISCOUNTED_RETURNS_CASES)


def _array(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


@visible_check("paired_difference")
def check_paired_difference(fn: Callable[..., Any]) -> bool:
    """Visible check of ``paired_difference(curve_a, curve_b, unit) -> (mean, half_width)``.

    Hand-computed cases (t quantiles from a table: t_{0.975, 2} = 4.302653, t_{0.975, 3} = 3.182446):

    * differences 1, 2, 3 at unit 1: mean 2, s_d = 1, half-width 4.302653 / sqrt(3) = 2.484138;
    * B = A - 0.25 on every task: all differences equal, so the paired half-width is 0, although
      the tasks' returns vary a lot (an unpaired interval would be wide);
    * [seeds, tasks, units] = [2, 2, 1], differences 1, 2 (seed 0) and 3, 4 (seed 1): seed means 1.5
      and 3.5, mean 2.5, s = sqrt(2), half-width t_{0.975, 1} * sqrt(2) / sqrt(2) = 12.706205 (the
      interval is over the 2 seed means; pooling the 4 differences would give 2.054260).
    """
    name = "paired_difference"
    interval = (
        "the half-width of a 95% Student-t interval of the n differences d_i is "
        "t_{0.975, n-1} * s_d / sqrt(n), with the sample standard deviation s_d"
    )
    cases = [
        (
            "3 tasks, 2 units, differences 1, 2, 3 at unit 1",
            (_array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]]), _array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), 1),
            (2.0, 2.484138),
            interval,
            {
                1.96 / np.sqrt(3): "that is a normal (1.96) interval: with few pairs use the Student-t quantile",
                4.302653 * np.sqrt(2 / 3) / np.sqrt(3): "use the sample standard deviation (ddof = 1), not the "
                "population one",
            },
        ),
        (
            "paired: b = a - 0.25 on 3 very different tasks, unit 0",
            (_array([[0.1, 0.0], [0.5, 0.0], [0.9, 0.0]]), _array([[-0.15, 0.0], [0.25, 0.0], [0.65, 0.0]]), 0),
            (0.25, 0.0),
            "the interval is that of the per-task differences, not of each method: identical differences give "
            "a zero-width interval",
            {},
        ),
        (
            "[seeds, tasks, units] = [2, 2, 1], differences 1, 2, 3, 4",
            (_array([[[1.0], [2.0]], [[3.0], [4.0]]]), _array([[[0.0], [0.0]], [[0.0], [0.0]]]), 0),
            (2.5, 12.706205),
            "units are on the last axis; with several seeds the sample is one mean difference per seed",
            {
                2.054260: "you pooled seeds and tasks into one sample of 4: the tasks of a seed share its "
                "trained model, so average within each seed first; the interval is over the seed means",
            },
        ),
    ]
    for case, args, (mean, half_width), hint, mistakes in cases:
        done, got = attempt(name, fn, *args, case=case)
        if not done:
            return False
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return fail(name, case, f"expected a tuple (mean, half_width), got {got!r}", "return two numbers")
        if not (close(got[0], mean) and close(got[1], half_width)):
            for wrong, diagnosis in mistakes.items():
                if close(got[1], wrong):
                    hint = diagnosis
            return fail(name, case, f"expected ({mean}, {half_width}), got {tuple(got)}", hint)
    return passed(name, f"{len(cases)} hand-computed cases")
