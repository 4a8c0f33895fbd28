"""Tests of solutions.baselines: QUICK training learns, fine-tuning's optimiser, curves, checkpoints."""

import dataclasses

import numpy as np
import pytest
import torch

from hw11_utils.tasks import TASK_FEATURE_DIM, Task, meta_test_tasks
from solutions import baselines


def setup_module():
    torch.set_num_threads(1)


def test_quick_training_improves_over_the_initial_policy():
    tasks = meta_test_tasks("pole_length", n=16)
    torch.manual_seed(0)
    initial = baselines.ActorCritic(baselines.BASELINE_QUICK)  # the same initialisation as train(seed=0)
    model, history = baselines.train_baseline(baselines.BASELINE_QUICK, "pole_length", seed=0, progress=False)
    before = baselines.evaluate(initial, tasks, episodes=4).mean()
    after = baselines.evaluate(model, tasks, episodes=4).mean()
    assert after > before + 0.2, f"QUICK PPO should learn to balance: {before:.2f} -> {after:.2f}"
    assert len(history["normalised_return"]) == baselines.BASELINE_QUICK.num_iterations
    assert history["env_steps"] == sorted(history["env_steps"])


def test_oracle_sees_the_task_features():
    config = dataclasses.replace(baselines.BASELINE_QUICK, method="oracle")
    model = baselines.ActorCritic(config)
    assert model.input_dim == 4 + TASK_FEATURE_DIM == 4 + 7
    tasks = [Task("flip", action_sign=1.0), Task("flip", action_sign=-1.0)]
    curve = baselines.baseline_adaptation_curve(model, tasks, num_units=2)
    assert curve.shape == (2, 3) and np.all(curve == curve[:, :1]), "the oracle's curve is flat"
    with pytest.raises(ValueError):
        baselines.baseline_adaptation_curve(model, tasks, method="finetune")


def test_finetuning_uses_one_optimiser_for_the_whole_adaptation(monkeypatch):
    created = []
    adam = torch.optim.Adam

    def counting_adam(*args, **kwargs):
        created.append(1)
        return adam(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", counting_adam)
    config = dataclasses.replace(baselines.BASELINE_QUICK, finetune_episodes=2, finetune_epochs=2)
    torch.manual_seed(0)
    model = baselines.ActorCritic(config)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    tasks = [Task(), Task("flip", action_sign=-1.0), Task(pole_length=0.9)]
    curve = baselines.baseline_adaptation_curve(model, tasks, num_units=3, method="finetune")
    assert len(created) == 1, f"expected one optimiser for 3 fine-tuning steps, {len(created)} were created"
    assert curve.shape == (3, 4) and np.all((curve >= 0) & (curve <= 1))
    assert not np.allclose(curve[:, 0], curve[:, -1]), "fine-tuning should change the policy"
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), "fine-tuning must work on copies, not on the model"


def test_finetuning_adapts_each_task_independently():
    """Task 0's curve does not depend on the other task of the batch (each task has its own copy).

    With the same batch size the sampler's random streams are the same, so task 0 sees the same
    initial states and random numbers next to either neighbour.
    """
    torch.manual_seed(0)
    model = baselines.ActorCritic(dataclasses.replace(baselines.BASELINE_QUICK, finetune_episodes=2))
    first = baselines.finetune_curve(model, [Task(), Task("flip", action_sign=-1.0)], num_units=3, seed=3)
    second = baselines.finetune_curve(model, [Task(), Task(pole_length=0.9)], num_units=3, seed=3)
    np.testing.assert_allclose(first[0], second[0], atol=1e-6)
    assert not np.allclose(first[1], second[1])


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = baselines.ActorCritic(dataclasses.replace(baselines.BASELINE_QUICK, method="oracle"))
    path = tmp_path / "baseline.pt"
    baselines.save_baseline(model, str(path), metadata={"family": "flip"})
    loaded = baselines.load_baseline(str(path))
    assert loaded.config == model.config and loaded.metadata == {"family": "flip"}
    inputs = torch.randn(5, model.input_dim)
    torch.testing.assert_close(loaded(inputs), model(inputs))
    assert baselines.STUDENT_TODOS == ()
