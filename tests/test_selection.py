"""Tests of hw11_utils.selection."""

import torch
from torch import nn

from hw11_utils.selection import BestWeights, should_evaluate


def test_should_evaluate_every_k_iterations_and_at_the_end():
    assert [i for i in range(25) if should_evaluate(i, 25, 10)] == [9, 19, 24]
    assert not any(should_evaluate(i, 25, 0) for i in range(25))


def test_best_weights_keeps_the_best_copy_and_restores_it():
    model = nn.Linear(2, 1)
    best = BestWeights()
    best.restore(model)  # nothing recorded: unchanged
    for iteration, score in enumerate([0.2, 0.9, 0.5, float("nan")]):
        with torch.no_grad():
            model.weight.fill_(float(iteration))
        best.update(model, score, iteration)
    assert best.iteration == 1 and best.score == 0.9 and len(best.scores) == 4
    best.restore(model)
    assert torch.all(model.weight == 1.0), "the weights of the best iteration come back"
