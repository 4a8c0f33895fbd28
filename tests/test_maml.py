"""Tests for the MAML reference (solutions/maml.py): meta-gradient, adaptation, training."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from hw11_utils.networks import MLP, param_dict
from hw11_utils.rollouts import RolloutBatch, sample_rollouts
from hw11_utils.tasks import Task, meta_test_tasks, meta_train_tasks
from solutions import maml

INNER_LR = 0.5
GAMMA = 0.9


# --------------------------------------------------------------------------------------------------
# A tiny deterministic case in float64: fixed episodes, so the meta-objective is a function of theta
# --------------------------------------------------------------------------------------------------
def tiny_policy() -> MLP:
    torch.manual_seed(0)
    return MLP(4, 2, (8,), output_gain=1.0).double()


def fixed_batch(seed: int, lengths=(5, 3, 4), horizon: int = 5) -> RolloutBatch:
    """One task, len(lengths) episodes of ``horizon`` steps; episode e is alive for lengths[e] steps."""
    generator = torch.Generator().manual_seed(seed)
    shape = (1, len(lengths), horizon)
    masks = (torch.arange(horizon) < torch.tensor(lengths).unsqueeze(-1)).double().unsqueeze(0)
    dones = (torch.arange(horizon) == torch.tensor(lengths).unsqueeze(-1) - 1).double().unsqueeze(0)
    observations = torch.randn(*shape, 4, generator=generator, dtype=torch.float64)
    return RolloutBatch(
        observations=observations,
        actions=torch.randint(0, 2, shape, generator=generator),
        rewards=torch.rand(shape, generator=generator, dtype=torch.float64) * masks,
        next_observations=observations,
        masks=masks,
        dones=dones,
        log_probs=torch.zeros(shape, dtype=torch.float64),
        tasks=[Task()],
        episode_length=horizon,
    )


def meta_gradient(policy, first_order=False):
    """(meta-objective, d meta-objective / d theta) on the fixed batches, theta = the policy's parameters."""
    theta = param_dict(policy)
    loss = maml.meta_loss(policy, theta, [fixed_batch(1)], [fixed_batch(2)], INNER_LR, GAMMA, first_order)
    grads = torch.autograd.grad(loss, list(theta.values()), allow_unused=True)
    flat = [torch.zeros_like(p) if g is None else g for p, g in zip(theta.values(), grads)]
    return loss.detach(), torch.cat([g.reshape(-1) for g in flat])


def finite_difference_meta_gradient(policy, eps=1e-6):
    """Central differences of the (second-order) meta-objective, coordinate by coordinate."""
    base = {name: p.detach().clone() for name, p in policy.named_parameters()}
    inner, outer = [fixed_batch(1)], [fixed_batch(2)]

    def objective(flat: torch.Tensor) -> float:
        params, offset = {}, 0
        for name, p in base.items():
            params[name] = flat[offset : offset + p.numel()].view_as(p).clone().requires_grad_(True)
            offset += p.numel()
        return maml.meta_loss(policy, params, inner, outer, INNER_LR, GAMMA).item()

    flat = torch.cat([p.reshape(-1) for p in base.values()])
    grad = torch.zeros_like(flat)
    for i in range(flat.numel()):
        step = torch.zeros_like(flat)
        step[i] = eps
        grad[i] = (objective(flat + step) - objective(flat - step)) / (2 * eps)
    return grad


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / torch.maximum(a.norm(), b.norm()).clamp_min(1e-30)).item()


def test_meta_gradient_matches_finite_differences_float64():
    policy = tiny_policy()
    _, autograd_grad = meta_gradient(policy)
    numerical_grad = finite_difference_meta_gradient(policy)
    assert autograd_grad.norm() > 1e-3, "the meta-gradient of the tiny case should not vanish"
    error = relative_error(autograd_grad, numerical_grad)
    assert error < 1e-4, f"meta-gradient vs central differences: relative error {error:.2e} (expected < 1e-4)"


# --------------------------------------------------------------------------------------------------
# The course draft's bug: adapted weights written with .data / .detach() cut the meta-gradient
# --------------------------------------------------------------------------------------------------
def data_assignment_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    """Buggy inner step: SGD on a copy of the network through ``.data`` (no graph back to theta)."""
    adapted_policy = copy.deepcopy(policy)
    loss = maml.inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, list(params.values()))
    for parameter, grad in zip(adapted_policy.parameters(), grads):
        parameter.data = parameter.data - inner_lr * grad
    return param_dict(adapted_policy)


def detach_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    """Buggy inner step: the right update, then ``.detach()``."""
    loss = maml.inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, list(params.values()))
    return {name: (p - inner_lr * g).detach().requires_grad_(True) for (name, p), g in zip(params.items(), grads)}


@pytest.mark.parametrize("buggy_inner_step", [data_assignment_inner_step, detach_inner_step])
def test_detached_inner_step_cuts_the_meta_gradient(monkeypatch, buggy_inner_step):
    policy = tiny_policy()
    loss_second, grad_second = meta_gradient(policy, first_order=False)
    loss_first, grad_first = meta_gradient(policy, first_order=True)
    numerical_grad = finite_difference_meta_gradient(policy)

    monkeypatch.setattr(maml, "inner_step", buggy_inner_step)  # meta_loss looks inner_step up at call time
    loss_buggy, grad_buggy = meta_gradient(policy)

    # same objective value: the bug is invisible in the forward pass ...
    assert torch.allclose(loss_buggy, loss_second) and torch.allclose(loss_first, loss_second)
    # ... but no gradient reaches theta through the adaptation
    assert torch.count_nonzero(grad_buggy) == 0, "a detached inner step must give a zero meta-gradient"
    assert grad_second.norm() > 1e-3 and grad_first.norm() > 1e-3
    # first order drops the Hessian term: a different vector, and not the true gradient
    assert relative_error(grad_first, grad_second) > 1e-2, "second- and first-order meta-gradients should differ"
    assert relative_error(grad_first, numerical_grad) > 1e-2
    assert relative_error(grad_second, numerical_grad) < 1e-4


# --------------------------------------------------------------------------------------------------
# Meta-step, adaptation, batching helpers
# --------------------------------------------------------------------------------------------------
def test_meta_step_changes_every_meta_parameter_and_reports_finite_stats():
    config = maml.MAML_QUICK
    torch.manual_seed(0)
    model = maml.MAMLPolicy(config)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.meta_lr)
    tasks = meta_train_tasks("flip", n=config.meta_batch_size)
    stats = maml.meta_step(model, optimizer, tasks, config, seed=0)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}: missing or non-finite meta-gradient"
        assert not torch.equal(p.detach(), before[name]), f"{name} did not change after one meta-step"
    assert all(np.isfinite(value) for value in stats.values()), stats


def test_adapt_uses_no_optimiser_and_stays_differentiable(monkeypatch):
    def no_optimiser(*args, **kwargs):
        raise AssertionError("adapt must not construct a torch.optim optimiser")

    monkeypatch.setattr(torch.optim.Optimizer, "__init__", no_optimiser)
    torch.manual_seed(0)
    policy = MLP(4, 2, (16,), output_gain=0.01)
    theta = param_dict(policy)
    tasks = [Task("flip", action_sign=1.0), Task("flip", action_sign=-1.0)]
    adapted = maml.adapt(
        policy, theta, tasks, num_steps=2, inner_lr=2.0, gamma=0.99, episodes_per_step=8, episode_length=30, seed=0
    )

    assert isinstance(adapted, list) and len(adapted) == len(tasks)
    for task_params in adapted:
        assert task_params.keys() == theta.keys()
        assert all(task_params[n].shape == theta[n].shape for n in theta)
    assert not torch.allclose(adapted[0]["2.weight"], adapted[1]["2.weight"]), "two tasks, two adaptations"
    assert not torch.allclose(adapted[0]["2.weight"], theta["2.weight"]), "adapt should change the parameters"
    # theta' is a function of theta: gradient flows back to every meta-parameter
    total = sum(p.sum() for task_params in adapted for p in task_params.values())
    grads = torch.autograd.grad(total, list(theta.values()), allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads), "adapted parameters are cut from theta"
    assert maml.adapt(policy, theta, tasks, 0, 2.0, 0.99, 8, 30)[1] is theta


def test_per_task_feedforward_runs_each_task_with_its_own_parameters():
    torch.manual_seed(0)
    policy = MLP(4, 2, (8,))
    theta = {name: p.detach() for name, p in policy.named_parameters()}
    always = []
    for action in (0, 1, 0):  # output layer: zero weights, bias picks the action
        params = dict(theta)
        params["2.weight"] = torch.zeros_like(theta["2.weight"])
        params["2.bias"] = torch.tensor([10.0, -10.0]) if action == 0 else torch.tensor([-10.0, 10.0])
        always.append(params)
    tasks = [Task(), Task(), Task()]
    batch = sample_rollouts(maml.per_task_feedforward(policy, always, 3), tasks, 3, episode_length=5, seed=0)
    first_actions = batch.actions[:, :, 0]
    assert torch.equal(first_actions, torch.tensor([[0] * 3, [1] * 3, [0] * 3]))
    parts = maml.split_by_task(batch)
    assert len(parts) == 3 and parts[1].actions.shape == (1, 3, 5) and torch.equal(parts[1].actions, batch.actions[1:2])


def test_checkpoint_round_trip(tmp_path):
    config = dataclasses.replace(maml.MAML_QUICK, hidden_sizes=(8, 8))
    torch.manual_seed(0)
    model = maml.MAMLPolicy(config)
    path = tmp_path / "maml.pt"
    maml.save_maml(model, str(path))
    loaded = maml.load_maml(str(path))
    assert loaded.config == config
    for (name, p), q in zip(model.named_parameters(), loaded.parameters()):
        assert torch.equal(p, q), name


# --------------------------------------------------------------------------------------------------
# Learning: a QUICK run beats its own initialisation after one inner step
# --------------------------------------------------------------------------------------------------
def test_quick_training_improves_post_adaptation_return():
    config = maml.MAML_QUICK
    model, history = maml.train_maml(config, seed=0, progress=False)
    assert len(history["iteration"]) == config.num_iterations
    torch.manual_seed(0)  # the initialisation that train(seed=0) started from
    initial = maml.MAMLPolicy(config)
    eval_tasks = meta_test_tasks(config.family, n=config.eval_tasks)
    initial_curve = maml.maml_adaptation_curve(initial, eval_tasks, num_units=1, seed=0).mean(axis=0)
    trained_curve = history["eval_adaptation_curve"]
    assert len(trained_curve) == 4
    assert trained_curve[1] > initial_curve[1] + 0.1, (
        f"after one inner step: trained {trained_curve[1]:.3f} vs initial {initial_curve[1]:.3f} normalised return"
    )


def test_model_selection_returns_the_best_evaluated_meta_parameters():
    from hw11_utils.selection import SELECTION_SEED
    from solutions.maml import MAML_QUICK, maml_adaptation_curve, train_maml

    torch.set_num_threads(1)
    config = dataclasses.replace(MAML_QUICK, num_iterations=6, eval_every=2, selection_tasks=8, eval_tasks=0)
    model, history = train_maml(config, seed=0, progress=False)
    scores = dict(history["selection"])
    assert sorted(scores) == [1, 3, 5]
    assert history["selected_iteration"] == max(scores, key=lambda i: (scores[i], i))
    again = maml_adaptation_curve(model, meta_train_tasks("flip", n=100)[:8], num_units=1, seed=SELECTION_SEED)
    assert again[:, 1].mean() == pytest.approx(scores[history["selected_iteration"]], abs=1e-6)
