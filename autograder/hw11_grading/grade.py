"""One grader per graded TODO; each is called from the hidden block of a test cell.

To grade a new TODO: write a table of seeded :class:`~hw11_grading.compare.Case` rows (or a
custom check that raises ``AssertionError`` with a clear message) and a function named after the
TODO that runs it against the reference in ``solutions``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hw11_grading.compare import Case, compare_with_reference
from solutions import common


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
    """Grade ``discounted_returns(rewards, dones, gamma)`` against ``solutions.common``."""
    compare_with_reference("discounted_returns", student_fn, common.discounted_returns, DISCOUNTED_RETURNS_CASES)
