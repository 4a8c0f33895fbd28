"""Model selection during meta-training: keep the weights that adapted best on meta-training tasks.

RL training curves are not monotone: a policy can reach its best and then degrade (an off-policy
critic drifting, a learning rate still too large late in training). Every training loop of the
course therefore scores its model every ``eval_every`` iterations by the quantity it is meant to
improve (e.g. the return after one episode of experience) on a fixed set of *meta-training* tasks,
and returns the best weights seen. The held-out meta-test tasks are never used for this choice.

Example::

    best = BestWeights()
    for iteration in range(num_iterations):
        ...  # one training iteration
        if should_evaluate(iteration, num_iterations, eval_every):
            best.update(model, score=evaluate(model), iteration=iteration)
    best.restore(model)
"""

from __future__ import annotations

import copy
import math
from typing import Optional

from torch import nn

#: Seed of the selection evaluations (the held-out evaluations use seeds 0, 1, ...).
SELECTION_SEED = 777


def should_evaluate(iteration: int, num_iterations: int, eval_every: int) -> bool:
    """True every ``eval_every`` iterations and at the last one (never when ``eval_every`` <= 0)."""
    if eval_every <= 0:
        return False
    return (iteration + 1) % eval_every == 0 or iteration == num_iterations - 1


class BestWeights:
    """A copy of the ``state_dict`` with the highest score seen so far (ties keep the later one).

    Attributes:
        score: the best score (``-inf`` before the first update).
        iteration: the iteration at which it was reached (``None`` before the first update).
        scores: every ``(iteration, score)`` passed to :meth:`update`, for the learning curve.
    """

    def __init__(self) -> None:
        self.score = -math.inf
        self.iteration: Optional[int] = None
        self.scores: list[tuple[int, float]] = []
        self._state: Optional[dict] = None

    def update(self, model: nn.Module, score: float, iteration: int) -> bool:
        """Record ``score`` of the current weights; keep a copy when it is the best. Returns True if kept."""
        score = float(score)
        self.scores.append((iteration, score))
        if math.isnan(score) or score < self.score:
            return False
        self.score, self.iteration = score, iteration
        self._state = copy.deepcopy(model.state_dict())
        return True

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the best weights into ``model`` (unchanged if nothing was recorded); returns the model."""
        if self._state is not None:
            model.load_state_dict(self._state)
        return model
