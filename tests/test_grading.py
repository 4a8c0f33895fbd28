"""Tests of the hidden graders (autograder/hw11_grading) and the visible checks (hw11_utils/checks.py).

Every grader must pass the reference function and fail, with a message that says what is wrong, on
typical wrong variants written below (the bugs students make) and on a function that still raises
NotImplementedError. Every visible check must print PASS on the reference and FAIL on a wrong variant.

The wrong variants are written as a student would write them in the notebook: they call the other
TODOs and library helpers by bare name (this module imports them), and the grader's isolation swaps
those TODO names for the reference ones.
"""

from __future__ import annotations

import copy
import inspect
import time
import types

import numpy as np
import pytest
import torch
from hw11_grading import grade

from hw11_utils import checks
from hw11_utils.evaluation import mean_ci
from hw11_utils.networks import functional_forward, param_dict
from hw11_utils.rl_math import (
    categorical_entropy,
    masked_mean,
    normalize_advantages,
    policy_gradient_surrogate,
    ppo_clip_loss,
)
from hw11_utils.rollouts import sample_rollouts
from solutions import common, maml, pearl, rl2
from solutions.common import discounted_returns
from solutions.maml import inner_loss, inner_step, per_task_feedforward, split_by_task
from solutions.pearl import product_of_gaussians
from solutions.rl2 import rl2_inputs, rl2_trial_forward

TIMINGS: dict[str, float] = {}


def timed(name: str, fn, *args) -> None:
    start = time.perf_counter()
    try:
        fn(*args)
    finally:
        TIMINGS[name] = time.perf_counter() - start


def not_implemented(name: str):
    """What the release gives: the TODO's signature with ``raise NotImplementedError()``."""

    def todo(*args, **kwargs):
        raise NotImplementedError()

    todo.__code__ = todo.__code__.replace(co_name=name)
    todo.__name__ = todo.__qualname__ = name
    return todo


def renamed(fn, name: str):
    """A copy of ``fn`` under the TODO's name (the graders isolate every TODO *except* the one named)."""
    copy_ = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    copy_.__kwdefaults__ = fn.__kwdefaults__
    return copy_


# --------------------------------------------------------------------------------------------------
# Graders pass the reference, and fail on a function that is not written yet
# --------------------------------------------------------------------------------------------------
REFERENCES = {
    "discounted_returns": common.discounted_returns,
    "paired_difference": common.paired_difference,
    "inner_loss": maml.inner_loss,
    "inner_step": maml.inner_step,
    "meta_loss": maml.meta_loss,
    "adapt": maml.adapt,
    **{name: getattr(rl2, name) for name in rl2.STUDENT_TODOS},
    **{name: getattr(pearl, name) for name in pearl.STUDENT_TODOS},
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_grader_passes_the_reference(name):
    getattr(grade, name)(REFERENCES[name])


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_grader_says_not_implemented(name):
    with pytest.raises(AssertionError, match=f"{name} is not implemented yet \\(it raises NotImplementedError\\)"):
        getattr(grade, name)(not_implemented(name))


def test_grader_rejects_something_that_is_not_a_function():
    with pytest.raises(AssertionError, match="expected a Python function"):
        grade.inner_step(None)


def notebook_namespace(**overrides) -> dict:
    """A namespace like the notebook's: given code and imports, every TODO defined from its source text."""
    namespace: dict = {}
    for module in (common, maml, rl2, pearl):
        namespace.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    for module in (common, maml, rl2, pearl):
        for name in module.STUDENT_TODOS:
            exec(inspect.getsource(getattr(module, name)), namespace)
    for name, fn in overrides.items():
        exec(inspect.getsource(fn).replace(f"def {fn.__name__}(", f"def {name}(", 1), namespace)
    return namespace


def test_a_wrong_todo_costs_only_its_own_points():
    """Graders isolate: with a wrong inner_loss in the notebook, inner_step and meta_loss still pass."""
    namespace = notebook_namespace(inner_loss=loss_without_baseline, discounted_returns=returns_ignoring_dones)
    with pytest.raises(AssertionError, match="discounted_returns"):
        grade.discounted_returns(namespace["discounted_returns"])
    with pytest.raises(AssertionError, match="inner_loss"):
        grade.inner_loss(namespace["inner_loss"])
    for name in ("inner_step", "meta_loss", "adapt"):
        getattr(grade, name)(namespace[name])
    # ... whereas the student's own chain, unisolated, is wrong (so isolation is what makes them pass)
    torch.manual_seed(0)
    policy = maml.MAMLPolicy(maml.MAML_QUICK).policy
    batch = maml.split_by_task(
        sample_rollouts(maml.per_task_feedforward(policy, [param_dict(policy)], 4), [maml.Task()], 4, 20, seed=0)
    )[0]
    theta = param_dict(policy)
    own = namespace["inner_step"](policy, theta, batch, 1.0, 0.9)
    reference = maml.inner_step(policy, theta, batch, 1.0, 0.9)
    assert not torch.allclose(own["0.weight"], reference["0.weight"])


def test_graders_leave_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    for name in ("adapt", "sample_latent", "rl2_policy_step", "inner_step"):
        getattr(grade, name)(REFERENCES[name])
    assert torch.equal(state, torch.random.get_rng_state())


# --------------------------------------------------------------------------------------------------
# Wrong variants: common
# --------------------------------------------------------------------------------------------------
def returns_ignoring_dones(rewards, dones, gamma):
    returns, running = [], torch.zeros_like(rewards[..., 0])
    for t in reversed(range(rewards.shape[-1])):
        running = rewards[..., t] + gamma * running
        returns.append(running)
    return torch.stack(returns[::-1], dim=-1)


def unpaired_difference(curve_a, curve_b, unit):
    """Difference of the means with the two methods' intervals combined (as if independent)."""
    a, b = np.asarray(curve_a)[..., unit].reshape(-1), np.asarray(curve_b)[..., unit].reshape(-1)
    mean_a, half_a = mean_ci(a)
    mean_b, half_b = mean_ci(b)
    return float(mean_a - mean_b), float(np.hypot(half_a, half_b))


def difference_of_first_seed(curve_a, curve_b, unit):
    """Works for [tasks, units] only: for [seeds, tasks, units] it takes a whole row of tasks as 'unit'."""
    differences = np.asarray(curve_a)[:, unit] - np.asarray(curve_b)[:, unit]
    mean, half_width = mean_ci(differences.reshape(-1))
    return float(mean), float(half_width)


def pooled_difference(curve_a, curve_b, unit):
    """Seeds and tasks pooled into one sample: the interval misses the seed-to-seed variation."""
    differences = (np.asarray(curve_a)[..., unit] - np.asarray(curve_b)[..., unit]).reshape(-1)
    mean, half_width = mean_ci(differences)
    return float(mean), float(half_width)


@pytest.mark.parametrize(
    "variant, message",
    [
        (renamed(unpaired_difference, "paired_difference"), "half-width .* of the 95% interval of the paired"),
        (renamed(pooled_difference, "paired_difference"), "pooled into one sample"),
        (renamed(difference_of_first_seed, "paired_difference"), "expected the mean paired difference"),
    ],
)
def test_paired_difference_grader_fails_wrong_variants(variant, message):
    with pytest.raises(AssertionError, match=message):
        grade.paired_difference(variant)


def test_discounted_returns_grader_fails_returns_ignoring_dones():
    with pytest.raises(AssertionError, match="values differ from the reference"):
        grade.discounted_returns(renamed(returns_ignoring_dones, "discounted_returns"))


# --------------------------------------------------------------------------------------------------
# Wrong variants: MAML
# --------------------------------------------------------------------------------------------------
def loss_with_module_parameters(policy, params, batch, gamma):
    returns = discounted_returns(batch.rewards, batch.dones, gamma)
    advantages = normalize_advantages(returns - masked_mean(returns, batch.masks, dim=1, keepdim=True), batch.masks)
    logits = policy(batch.observations)  # ignores params
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    return policy_gradient_surrogate(log_probs, advantages, batch.masks)


def loss_without_baseline(policy, params, batch, gamma):
    returns = discounted_returns(batch.rewards, batch.dones, gamma)
    logits = functional_forward(policy, params, batch.observations)
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    return policy_gradient_surrogate(log_probs, returns, batch.masks)


def loss_with_gradient_through_advantages(policy, params, batch, gamma):
    returns = discounted_returns(batch.rewards, batch.dones, gamma)
    advantages = normalize_advantages(returns - masked_mean(returns, batch.masks, dim=1, keepdim=True), batch.masks)
    logits = functional_forward(policy, params, batch.observations)
    log_pi = torch.log_softmax(logits, dim=-1)
    log_probs = log_pi.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    # "advantage" shifted by a differentiable term whose value is 0: same loss, wrong gradient
    advantages = advantages + (log_pi - log_pi.detach()).sum(-1)
    return -masked_mean(log_probs * advantages, batch.masks)


def data_assignment_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    """The course draft: SGD on a copy of the network through ``.data`` (no graph back to theta)."""
    adapted_policy = copy.deepcopy(policy)
    loss = inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, list(params.values()))
    for parameter, grad in zip(adapted_policy.parameters(), grads):
        parameter.data = parameter.data - inner_lr * grad
    return param_dict(adapted_policy)


def detaching_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    loss = inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, list(params.values()))
    return {name: (p - inner_lr * g).detach().requires_grad_(True) for (name, p), g in zip(params.items(), grads)}


def first_order_only_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    loss = inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, list(params.values()))  # no create_graph
    return {name: p - inner_lr * g for (name, p), g in zip(params.items(), grads)}


def always_second_order_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    loss = inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)  # first_order ignored
    return {name: p - inner_lr * g for (name, p), g in zip(params.items(), grads)}


def optimiser_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    adapted_policy = copy.deepcopy(policy)
    optimizer = torch.optim.SGD(adapted_policy.parameters(), lr=inner_lr)
    optimizer.zero_grad()
    inner_loss(adapted_policy, param_dict(adapted_policy), batch, gamma).backward()
    optimizer.step()
    return param_dict(adapted_policy)


def first_order_only_meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False):
    losses = []
    for inner_batch, outer_batch in zip(inner_batches, outer_batches):
        adapted = inner_step(policy, params, inner_batch, inner_lr, gamma, first_order=True)
        losses.append(inner_loss(policy, adapted, outer_batch, gamma))
    return torch.stack(losses).mean()


def detached_meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False):
    losses = []
    for inner_batch, outer_batch in zip(inner_batches, outer_batches):
        adapted = inner_step(policy, params, inner_batch, inner_lr, gamma, first_order)
        adapted = {name: p.detach().requires_grad_(True) for name, p in adapted.items()}
        losses.append(inner_loss(policy, adapted, outer_batch, gamma))
    return torch.stack(losses).mean()


def summed_meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False):
    losses = []
    for inner_batch, outer_batch in zip(inner_batches, outer_batches):
        adapted = inner_step(policy, params, inner_batch, inner_lr, gamma, first_order)
        losses.append(inner_loss(policy, adapted, outer_batch, gamma))
    return torch.stack(losses).sum()


def zero_meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False):
    """A meta-loss without gradient: training cannot improve."""
    return 0.0 * sum(p.sum() for p in params.values())


def adapt_from_theta_every_step(
    policy, params, tasks, num_steps, inner_lr, gamma, episodes_per_step, episode_length, seed=0, first_order=True
):
    """Bug: each step restarts from theta instead of the task's current parameters."""
    device = next(iter(params.values())).device
    task_params = [params] * len(tasks)
    for step in range(num_steps):
        batch = sample_rollouts(
            per_task_feedforward(policy, task_params, episodes_per_step),
            tasks,
            episodes_per_step,
            episode_length,
            seed=seed + step,
        )
        task_params = [
            inner_step(policy, params, task_batch, inner_lr, gamma, first_order)
            for task_batch in split_by_task(batch, device)
        ]
    return task_params


def adapt_with_optimiser(
    policy, params, tasks, num_steps, inner_lr, gamma, episodes_per_step, episode_length, seed=0, first_order=True
):
    results = []
    for task in tasks:
        task_policy = copy.deepcopy(policy)
        optimizer = torch.optim.SGD(task_policy.parameters(), lr=inner_lr)
        for step in range(num_steps):
            batch = sample_rollouts(
                per_task_feedforward(task_policy, [param_dict(task_policy)], episodes_per_step),
                [task],
                episodes_per_step,
                episode_length,
                seed=seed + step,
            )
            optimizer.zero_grad()
            inner_loss(task_policy, param_dict(task_policy), batch, gamma).backward()
            optimizer.step()
        results.append(param_dict(task_policy))
    return results


def adapt_always_first_order(
    policy, params, tasks, num_steps, inner_lr, gamma, episodes_per_step, episode_length, seed=0, first_order=True
):
    device = next(iter(params.values())).device
    task_params = [params] * len(tasks)
    for step in range(num_steps):
        batch = sample_rollouts(
            per_task_feedforward(policy, task_params, episodes_per_step),
            tasks,
            episodes_per_step,
            episode_length,
            seed=seed + step,
        )
        task_params = [
            inner_step(policy, theta, task_batch, inner_lr, gamma, first_order=True)
            for theta, task_batch in zip(task_params, split_by_task(batch, device))
        ]
    return task_params


MAML_WRONG_VARIANTS = [
    ("inner_loss", loss_with_module_parameters, "computed with the module's own parameters, not with `params`"),
    ("inner_loss", loss_without_baseline, "(?s)expected the loss .* hint: the returns were used as advantages"),
    ("inner_loss", loss_with_gradient_through_advantages, "the gradient w.r.t. `params` differs"),
    ("inner_step", data_assignment_inner_step, "the adapted parameters are cut from theta"),
    ("inner_step", detaching_inner_step, "the adapted parameters are cut from theta"),
    ("inner_step", first_order_only_inner_step, "inner_step is first-order only: .* ignores the second-order term"),
    ("inner_step", always_second_order_inner_step, "with first_order=True the inner gradient must be treated as a"),
    ("inner_step", optimiser_inner_step, "inner_step must not create a torch.optim optimiser"),
    ("meta_loss", first_order_only_meta_loss, "the meta-gradient ignores the second-order term: "),
    ("meta_loss", detached_meta_loss, "the meta-loss has no gradient with respect to theta"),
    ("meta_loss", summed_meta_loss, "values differ from the expected ones"),
    ("adapt", adapt_from_theta_every_step, "(?s)task 0, parameter .* values differ .* hint: at step j every task"),
    ("adapt", adapt_with_optimiser, "adapt must not create a torch.optim optimiser"),
    ("adapt", adapt_always_first_order, "with first_order=False the adapted parameters must keep the second-order"),
]


@pytest.mark.parametrize(
    "name, variant, message", MAML_WRONG_VARIANTS, ids=[v.__name__ for _, v, _ in MAML_WRONG_VARIANTS]
)
def test_maml_grader_fails_wrong_variant(name, variant, message):
    with pytest.raises(AssertionError, match=message):
        getattr(grade, name)(renamed(variant, name))


def detached_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    """The course draft's bug in functional form: the adapted parameters are cut off from theta."""
    grads = torch.autograd.grad(inner_loss(policy, params, batch, gamma), list(params.values()))
    return {name: (p - inner_lr * g).detach().requires_grad_() for (name, p), g in zip(params.items(), grads)}


def test_maml_training_grader():
    timed("maml_training (reference)", grade.maml_training, maml.inner_step, maml.meta_loss)
    with pytest.raises(AssertionError, match="did not learn to adapt"):
        grade.maml_training(maml.inner_step, renamed(zero_meta_loss, "meta_loss"))
    with pytest.raises(AssertionError, match="did not learn to adapt"):
        grade.maml_training(renamed(detached_inner_step, "inner_step"), maml.meta_loss)
    with pytest.raises(AssertionError, match="'meta_loss' is not implemented yet"):
        grade.maml_training(maml.inner_step, not_implemented("meta_loss"))


# --------------------------------------------------------------------------------------------------
# Wrong variants: RL²
# --------------------------------------------------------------------------------------------------
def inputs_without_angle_scale(obs, prev_action, prev_reward, prev_done, num_actions):
    one_hot = torch.nn.functional.one_hot(prev_action.long(), num_actions).float()
    return torch.cat([obs.float(), one_hot, prev_reward.float().unsqueeze(-1), prev_done.float().unsqueeze(-1)], -1)


def inputs_with_action_index(obs, prev_action, prev_reward, prev_done, num_actions):
    scale = torch.tensor([1.0, 1.0, 5.0, 1.0])
    parts = [obs.float() * scale, prev_action.float().unsqueeze(-1), prev_reward.float().unsqueeze(-1)]
    return torch.cat(parts + [prev_done.float().unsqueeze(-1)], -1)


def inputs_without_reward(obs, prev_action, prev_reward, prev_done, num_actions):
    scale = torch.tensor([1.0, 1.0, 5.0, 1.0])
    onehot = torch.nn.functional.one_hot(prev_action, num_actions).float()
    return torch.cat([obs.float() * scale, onehot, prev_done.float().unsqueeze(-1)], -1)


def inputs_without_done(obs, prev_action, prev_reward, prev_done, num_actions):
    scale = torch.tensor([1.0, 1.0, 5.0, 1.0])
    onehot = torch.nn.functional.one_hot(prev_action, num_actions).float()
    return torch.cat([obs.float() * scale, onehot, prev_reward.float().unsqueeze(-1)], -1)


def step_resetting_on_done(core, step):
    """The typical mistake: a new episode starts from a zero hidden state."""
    inputs = rl2_inputs(step.obs, step.prev_action, step.prev_reward, step.prev_done, core.num_actions)
    state = None if bool((step.prev_done > 0).any()) else step.state
    logits, _, hidden = core.step(inputs, state)
    return logits, hidden


def step_resetting_per_environment(core, step):
    inputs = rl2_inputs(step.obs, step.prev_action, step.prev_reward, step.prev_done, core.num_actions)
    state = step.state
    if state is not None:
        state = state * (1.0 - step.prev_done).view(1, -1, 1)
    logits, _, hidden = core.step(inputs, state)
    return logits, hidden


def step_returning_values(core, step):
    inputs = rl2_inputs(step.obs, step.prev_action, step.prev_reward, step.prev_done, core.num_actions)
    logits, values, hidden = core.step(inputs, step.state)
    return values.unsqueeze(-1).expand_as(logits), hidden


def per_episode_reset_forward(core, batch):
    """Every episode run as its own sequence from a zero hidden state."""
    num_tasks, num_episodes, horizon = batch.actions.shape
    logits, values = [], []
    for episode in range(num_episodes):
        prev_action = torch.zeros(num_tasks, horizon, dtype=torch.long)
        prev_reward = torch.zeros(num_tasks, horizon)
        prev_action[:, 1:] = batch.actions[:, episode, :-1]
        prev_reward[:, 1:] = batch.rewards[:, episode, :-1]
        if episode > 0:
            prev_action[:, 0] = batch.actions[:, episode - 1, -1]
            prev_reward[:, 0] = batch.rewards[:, episode - 1, -1]
        prev_done = torch.zeros(num_tasks, horizon)
        prev_done[:, 0] = float(episode > 0)
        inputs = rl2_inputs(batch.observations[:, episode], prev_action, prev_reward, prev_done, core.num_actions)
        episode_logits, episode_values, _ = core(inputs)  # h0 = zeros: reset
        logits.append(episode_logits)
        values.append(episode_values)
    return torch.stack(logits, dim=1), torch.stack(values, dim=1)


def forward_without_done_flags(core, batch):
    num_tasks, num_episodes, horizon = batch.actions.shape
    length = num_episodes * horizon
    actions, rewards = batch.actions.reshape(num_tasks, length), batch.rewards.reshape(num_tasks, length)
    prev_action = torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], dim=1)
    prev_reward = torch.cat([torch.zeros_like(rewards[:, :1]), rewards[:, :-1]], dim=1)
    inputs = rl2_inputs(
        batch.observations.reshape(num_tasks, length, 4), prev_action, prev_reward, torch.zeros_like(rewards), 2
    )
    logits, values, _ = core(inputs)
    return logits.reshape(num_tasks, num_episodes, horizon, -1), values.reshape(num_tasks, num_episodes, horizon)


def _ppo_terms(core, batch, advantages, clip):
    logits, values = rl2_trial_forward(core, batch)
    log_pi = torch.log_softmax(logits, dim=-1)
    new_log_probs = log_pi.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    return logits, values, ppo_clip_loss(new_log_probs, batch.log_probs, advantages, batch.masks, clip)


def loss_with_masked_value_term(core, batch, advantages, value_targets, clip=0.2, value_coef=0.5, entropy_coef=0.01):
    logits, values, policy_loss = _ppo_terms(core, batch, advantages, clip)
    value_loss = masked_mean((values - value_targets) ** 2, batch.masks)
    return policy_loss + value_coef * value_loss - entropy_coef * categorical_entropy(logits, batch.masks)


def loss_with_entropy_penalty(core, batch, advantages, value_targets, clip=0.2, value_coef=0.5, entropy_coef=0.01):
    logits, values, policy_loss = _ppo_terms(core, batch, advantages, clip)
    value_loss = ((values - value_targets) ** 2).mean()
    return policy_loss + value_coef * value_loss + entropy_coef * categorical_entropy(logits, batch.masks)


RL2_WRONG_VARIANTS = [
    ("rl2_inputs", inputs_without_angle_scale, "theta \\(not scaled by 5\\)"),
    ("rl2_inputs", inputs_with_action_index, "one column equals the action index a_.t-1.: the previous action is"),
    ("rl2_inputs", inputs_without_reward, "lacks r_.t-1."),
    ("rl2_inputs", inputs_without_done, "lacks d_.t-1."),
    ("rl2_policy_step", step_resetting_on_done, "the hidden state must be carried across episode boundaries within"),
    ("rl2_policy_step", step_resetting_per_environment, "reset it only at the start of a trial \\(state None\\)"),
    ("rl2_policy_step", step_returning_values, "logits: values differ"),
    ("rl2_trial_forward", per_episode_reset_forward, "must process each trial as ONE sequence"),
    ("rl2_trial_forward", forward_without_done_flags, "(?s)logits: values differ .* d_\\(i-1\\) = 1 where episodes 2"),
    ("rl2_loss", loss_with_masked_value_term, "your value loss is averaged over the valid steps only"),
    ("rl2_loss", loss_with_entropy_penalty, "expected L = L_pi \\+ c_V \\* L_V - c_H \\* H"),
]


@pytest.mark.parametrize(
    "name, variant, message", RL2_WRONG_VARIANTS, ids=[v.__name__ for _, v, _ in RL2_WRONG_VARIANTS]
)
def test_rl2_grader_fails_wrong_variant(name, variant, message):
    with pytest.raises(AssertionError, match=message):
        getattr(grade, name)(renamed(variant, name))


# --------------------------------------------------------------------------------------------------
# Wrong variants: PEARL
# --------------------------------------------------------------------------------------------------
def averaged_posterior(mus, variances, mask=None):
    """Mean-averaging instead of a product of Gaussians."""
    weights = torch.ones(mus.shape[:-1], dtype=mus.dtype) if mask is None else mask.to(mus.dtype)
    count = weights.sum(-1, keepdim=True)
    mu = (mus * weights.unsqueeze(-1)).sum(-2) / count
    var = 1.0 / ((1.0 / variances) * weights.unsqueeze(-1)).sum(-2)
    return mu, var


def posterior_ignoring_mask(mus, variances, mask=None):
    precisions = 1.0 / variances
    var = 1.0 / precisions.sum(-2)
    return var * (precisions * mus).sum(-2), var


def kl_with_wrong_sign(mu, var):
    return 0.5 * (1.0 + torch.log(var) - mu**2 - var).sum(-1)


def reversed_kl(mu, var):
    """KL(N(0, I) || q) instead of KL(q || N(0, I))."""
    return 0.5 * (1.0 / var + mu**2 / var - 1.0 + torch.log(var)).sum(-1)


def kl_without_log_term(mu, var):
    return 0.5 * (var + mu**2 - 1.0).sum(-1)


def posterior_with_exp_variance(encoder, context, mask=None, min_variance=1e-4):
    raw = encoder(context)
    latent_dim = raw.shape[-1] // 2
    return product_of_gaussians(raw[..., :latent_dim], raw[..., latent_dim:].exp() + min_variance, mask)


def posterior_ignoring_min_variance(encoder, context, mask=None, min_variance=1e-4):
    raw = encoder(context)
    latent_dim = raw.shape[-1] // 2
    variances = torch.nn.functional.softplus(raw[..., latent_dim:]) + 1e-4
    return product_of_gaussians(raw[..., :latent_dim], variances, mask)


def sample_with_torch_normal(mu, var, generator=None):
    """Not reparameterised: torch.normal gives no gradient to mu and var."""
    return torch.normal(mu, var.sqrt(), generator=generator)


def sample_under_no_grad(mu, var, generator=None):
    with torch.no_grad():
        return mu + var.sqrt() * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)


def sample_with_var_as_std(mu, var, generator=None):
    return mu + var * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)


def sample_ignoring_generator(mu, var, generator=None):
    return mu + var.sqrt() * torch.randn_like(mu)


def critic_loss_with_gradient_into_target(
    q1_values, q2_values, actions, rewards, terminated, next_logits, next_target_q1, next_target_q2, alpha, gamma
):
    next_log_pi = torch.log_softmax(next_logits, dim=-1)
    next_q = torch.min(next_target_q1, next_target_q2)
    next_value = (next_log_pi.exp() * (next_q - alpha * next_log_pi)).sum(-1)
    target = rewards + gamma * (1.0 - terminated) * next_value  # not detached
    q1 = q1_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    q2 = q2_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()


def critic_loss_with_max(
    q1_values, q2_values, actions, rewards, terminated, next_logits, next_target_q1, next_target_q2, alpha, gamma
):
    with torch.no_grad():
        next_log_pi = torch.log_softmax(next_logits, dim=-1)
        next_q = torch.max(next_target_q1, next_target_q2)
        target = rewards + gamma * (1.0 - terminated) * (next_log_pi.exp() * (next_q - alpha * next_log_pi)).sum(-1)
    q1 = q1_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    q2 = q2_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()


def actor_loss_training_the_critics(logits, q1_values, q2_values, alpha):
    log_pi = torch.log_softmax(logits, dim=-1)
    return (log_pi.exp() * (alpha * log_pi - torch.min(q1_values, q2_values))).sum(-1).mean()


def actor_loss_with_max(logits, q1_values, q2_values, alpha):
    log_pi = torch.log_softmax(logits, dim=-1)
    q = torch.max(q1_values, q2_values).detach()
    return (log_pi.exp() * (alpha * log_pi - q)).sum(-1).mean()


PEARL_WRONG_VARIANTS = [
    ("product_of_gaussians", averaged_posterior, "plain average of the factor means; a product of Gaussians"),
    ("product_of_gaussians", posterior_ignoring_mask, "values differ"),
    ("kl_to_standard_normal", kl_with_wrong_sign, "your KL is negative"),
    ("kl_to_standard_normal", reversed_kl, "that is the reversed KL"),
    ("kl_to_standard_normal", kl_without_log_term, "the - log var_l term is missing"),
    ("infer_posterior", posterior_with_exp_variance, "(?s)var: values differ .* hint: the variances come from"),
    ("infer_posterior", posterior_ignoring_min_variance, "min_variance = 0.5.*var: values differ"),
    ("sample_latent", sample_with_torch_normal, "sample_latent is not reparameterised"),
    ("sample_latent", sample_under_no_grad, "z carries no gradient: sample_latent must be reparameterised"),
    ("sample_latent", sample_with_var_as_std, "the gradient w.r.t. var is not that of z = mu \\+ sqrt\\(var\\)"),
    ("sample_latent", sample_ignoring_generator, "draw eps with the generator given"),
    ("sac_critic_loss", critic_loss_with_gradient_into_target, "gradient flows into 'next_target_q1'"),
    ("sac_critic_loss", critic_loss_with_max, "values differ"),
    ("sac_actor_loss", actor_loss_training_the_critics, "gradient flows into 'q1_values'"),
    ("sac_actor_loss", actor_loss_with_max, "values differ"),
]


@pytest.mark.parametrize(
    "name, variant, message", PEARL_WRONG_VARIANTS, ids=[v.__name__ for _, v, _ in PEARL_WRONG_VARIANTS]
)
def test_pearl_grader_fails_wrong_variant(name, variant, message):
    with pytest.raises(AssertionError, match=message):
        getattr(grade, name)(renamed(variant, name))


def rl2_loss_with_flipped_sign(core, batch, advantages, value_targets, clip=0.2, value_coef=0.5, entropy_coef=0.01):
    """Gradient ascent on the PPO objective's negative: the policy learns to get less reward."""
    logits, values, policy_loss = _ppo_terms(core, batch, advantages, clip)
    value_loss = ((values - value_targets) ** 2).mean()
    return -policy_loss + value_coef * value_loss - entropy_coef * categorical_entropy(logits, batch.masks)


def memoryless_policy_step(core, step):
    """Bug: the hidden state is dropped after every step, so the policy cannot remember the task."""
    inputs = rl2.rl2_inputs(step.obs, step.prev_action, step.prev_reward, step.prev_done, core.num_actions)
    logits, _, hidden = core.step(inputs, None)
    return logits, torch.zeros_like(hidden)


def memoryless_trial_forward(core, batch):
    """The same bug in the trial forward pass: every step is a sequence of length one."""
    num_tasks, num_episodes, horizon = batch.actions.shape
    length = num_episodes * horizon
    actions, rewards = batch.actions.reshape(num_tasks, length), batch.rewards.reshape(num_tasks, length)
    prev_action = torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], dim=1)
    prev_reward = torch.cat([torch.zeros_like(rewards[:, :1]), rewards[:, :-1]], dim=1)
    prev_done = torch.zeros(num_tasks, num_episodes, horizon)
    prev_done[:, 1:, 0] = 1.0
    inputs = rl2.rl2_inputs(
        batch.observations.reshape(num_tasks, length, -1), prev_action, prev_reward,
        prev_done.reshape(num_tasks, length), core.num_actions,
    )
    logits, values, _ = core(inputs.reshape(num_tasks * length, 1, -1))
    return logits.reshape(num_tasks, num_episodes, horizon, -1), values.reshape(num_tasks, num_episodes, horizon)


def test_rl2_training_grader():
    timed("rl2_training (reference)", grade.rl2_training, rl2.rl2_policy_step, rl2.rl2_trial_forward, rl2.rl2_loss)
    with pytest.raises(AssertionError, match="did not learn to adapt"):
        grade.rl2_training(
            renamed(memoryless_policy_step, "rl2_policy_step"), renamed(memoryless_trial_forward, "rl2_trial_forward"),
            rl2.rl2_loss,
        )
    with pytest.raises(AssertionError, match="did not learn to adapt"):
        grade.rl2_training(rl2.rl2_policy_step, rl2.rl2_trial_forward, renamed(rl2_loss_with_flipped_sign, "rl2_loss"))
    with pytest.raises(AssertionError, match="'rl2_trial_forward' is not implemented yet"):
        grade.rl2_training(rl2.rl2_policy_step, not_implemented("rl2_trial_forward"), rl2.rl2_loss)


def actor_loss_with_flipped_sign(logits, q1_values, q2_values, alpha):
    """Gradient ascent on the actor loss: the policy learns to prefer low Q-values."""
    log_pi = torch.log_softmax(logits, dim=-1)
    return -(log_pi.exp() * (alpha * log_pi - torch.min(q1_values, q2_values).detach())).sum(-1).mean()


PEARL_TRAINING_REFERENCES = {
    name: getattr(pearl, name)
    for name in ("infer_posterior", "sample_latent", "kl_to_standard_normal", "sac_critic_loss", "sac_actor_loss")
}


def context_blind_posterior(encoder, context, mask=None, min_variance=1e-4):
    """Bug: the posterior is computed from blanked transitions, so it says nothing about the task."""
    raw = encoder(torch.zeros_like(context))
    latent_dim = raw.shape[-1] // 2
    variances = torch.nn.functional.softplus(raw[..., latent_dim:]) + min_variance
    return product_of_gaussians(raw[..., :latent_dim], variances, mask)


def test_pearl_training_grader():
    timed("pearl_training (reference)", grade.pearl_training, *PEARL_TRAINING_REFERENCES.values())
    broken = {**PEARL_TRAINING_REFERENCES, "sac_actor_loss": renamed(actor_loss_with_flipped_sign, "sac_actor_loss")}
    with pytest.raises(AssertionError, match="did not learn to infer the task"):
        grade.pearl_training(**broken)
    blind = {**PEARL_TRAINING_REFERENCES, "infer_posterior": renamed(context_blind_posterior, "infer_posterior")}
    with pytest.raises(AssertionError, match="did not learn to infer the task"):
        grade.pearl_training(**blind)
    with pytest.raises(AssertionError, match="'sample_latent' is not implemented yet"):
        grade.pearl_training(**{**PEARL_TRAINING_REFERENCES, "sample_latent": not_implemented("sample_latent")})


# --------------------------------------------------------------------------------------------------
# Visible checks: PASS on the reference, FAIL (or NOT DONE) otherwise, never raise
# --------------------------------------------------------------------------------------------------
CHECK_CASES = [
    ("discounted_returns", returns_ignoring_dones),
    ("paired_difference", unpaired_difference),
    ("inner_loss", loss_without_baseline),
    ("inner_loss", loss_with_module_parameters),
    ("inner_step", data_assignment_inner_step),
    ("inner_step", first_order_only_inner_step),
    ("inner_step", always_second_order_inner_step),
    ("meta_loss", first_order_only_meta_loss),
    ("meta_loss", summed_meta_loss),
    ("adapt", adapt_from_theta_every_step),
    ("adapt", adapt_with_optimiser),
    ("rl2_inputs", inputs_without_angle_scale),
    ("rl2_inputs", inputs_with_action_index),
    ("rl2_policy_step", step_resetting_on_done),
    ("rl2_policy_step", step_resetting_per_environment),
    ("rl2_trial_forward", per_episode_reset_forward),
    ("rl2_trial_forward", forward_without_done_flags),
    ("rl2_loss", loss_with_masked_value_term),
    ("rl2_loss", loss_with_entropy_penalty),
    ("product_of_gaussians", averaged_posterior),
    ("product_of_gaussians", posterior_ignoring_mask),
    ("kl_to_standard_normal", kl_with_wrong_sign),
    ("infer_posterior", posterior_with_exp_variance),
    ("infer_posterior", posterior_ignoring_min_variance),
    ("sample_latent", sample_with_torch_normal),
    ("sample_latent", sample_with_var_as_std),
    ("sample_latent", sample_ignoring_generator),
    ("sac_critic_loss", critic_loss_with_gradient_into_target),
    ("sac_critic_loss", critic_loss_with_max),
    ("sac_actor_loss", actor_loss_training_the_critics),
    ("sac_actor_loss", actor_loss_with_max),
]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_visible_check_passes_the_reference(name, capsys):
    assert getattr(checks, f"check_{name}")(REFERENCES[name]) is True
    out = capsys.readouterr().out
    assert out.startswith(f"PASS: {name}"), out


@pytest.mark.parametrize("name, variant", CHECK_CASES, ids=[f"{n}-{v.__name__}" for n, v in CHECK_CASES])
def test_visible_check_fails_a_wrong_variant(name, variant, capsys):
    assert getattr(checks, f"check_{name}")(variant) is False
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL: {name}") and "PASS" not in out, out


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_visible_check_says_not_done(name, capsys):
    assert getattr(checks, f"check_{name}")(not_implemented(name)) is False
    out = capsys.readouterr().out
    assert out.startswith(f"NOT DONE: {name} still raises NotImplementedError"), out


def test_visible_check_names_the_unfinished_todo_it_calls(capsys):
    missing_loss = not_implemented("inner_loss")

    def student_inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
        loss = missing_loss(policy, params, batch, gamma)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
        return {name: p - inner_lr * g for (name, p), g in zip(params.items(), grads)}

    assert checks.check_inner_step(student_inner_step) is False
    assert "calls inner_loss, which still raises NotImplementedError" in capsys.readouterr().out


def test_print_timings():
    """Not a check: prints how long the training graders took (pytest -s shows it)."""
    for name, seconds in TIMINGS.items():
        print(f"{name}: {seconds:.1f} s")
