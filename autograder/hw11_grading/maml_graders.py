"""Graders of the MAML TODOs (``solutions/maml.py``): ``inner_loss``, ``inner_step``, ``meta_loss``,
``adapt``, and the optional behavioural ``maml_training``.

The maths graders use a tiny deterministic case in float64: a small MLP, parameters ``params``
that differ from the module's own (so a loss computed with ``policy(obs)`` is caught), and fixed
hand-made episodes, so the meta-objective is a plain function of theta and its first- and
second-order meta-gradients can be told apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from hw11_grading import isolation
from hw11_grading.support import (
    assert_param_dict_close,
    assert_scalar,
    assert_tensor_close,
    assert_unchanged,
    flat_gradient,
    no_optimiser,
    relative_error,
    run_with_students,
    snapshot,
    student_function,
)
from hw11_utils.networks import MLP, functional_forward, param_dict
from hw11_utils.rl_math import masked_mean, normalize_advantages, policy_gradient_surrogate
from hw11_utils.rollouts import RolloutBatch
from hw11_utils.tasks import Task, meta_test_tasks
from solutions import common, maml

GAMMA = 0.9
INNER_LR = 0.5
#: relative error allowed between a student's gradient and the reference's (float64 case)
GRAD_RTOL = 1e-5


def tiny_policy(seed: int = 0) -> MLP:
    """A float64 MLP 4 -> 8 -> 2 (initialised without touching the global random state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(4, 2, (8,), output_gain=1.0).double()


def theta_for(policy: torch.nn.Module, seed: int = 1) -> dict[str, Tensor]:
    """Leaf parameters theta, *different* from the module's own (requires grad)."""
    generator = torch.Generator().manual_seed(seed)
    return {
        name: (p.detach() + 0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype)).requires_grad_(True)
        for name, p in policy.named_parameters()
    }


def fixed_batch(seed: int, lengths: Sequence[Sequence[int]] = ((5, 3, 4),), horizon: int = 5) -> RolloutBatch:
    """K = len(lengths) tasks, E episodes of ``horizon`` steps; episode (k, e) is alive for lengths[k][e] steps."""
    generator = torch.Generator().manual_seed(seed)
    alive = torch.tensor(lengths).unsqueeze(-1)  # [K, E, 1]
    time = torch.arange(horizon)
    masks = (time < alive).double()
    dones = (time == alive - 1).double()
    shape = tuple(masks.shape)
    observations = torch.randn(*shape, 4, generator=generator, dtype=torch.float64)
    return RolloutBatch(
        observations=observations,
        actions=torch.randint(0, 2, shape, generator=generator),
        rewards=torch.rand(shape, generator=generator, dtype=torch.float64) * masks,
        next_observations=observations,
        masks=masks,
        dones=dones,
        log_probs=torch.zeros(shape, dtype=torch.float64),
        tasks=[Task() for _ in lengths],
        episode_length=horizon,
    )


# --------------------------------------------------------------------------------------------------
# inner_loss
# --------------------------------------------------------------------------------------------------
#: (description, batch seed, alive lengths per task and episode, horizon, gamma)
INNER_LOSS_CASES = (
    ("1 task, 3 episodes of 5 steps, gamma=0.9", 11, ((5, 3, 4),), 5, 0.9),
    ("2 tasks, 4 episodes of 7 steps, gamma=0.99", 12, ((7, 2, 5, 7), (1, 7, 6, 3)), 7, 0.99),
    ("1 task, 2 episodes, gamma=0.5", 13, ((6, 2),), 6, 0.5),
)

INNER_LOSS_HINT = (
    "L = -(1 / sum m) sum m log pi_theta(a|s) A, with A the normalised G - b, b_t the mean return at step t "
    "over the episodes of the task alive at t, and log pi evaluated with `params` (the docstring's equations)"
)


def _inner_loss_mistakes(policy: torch.nn.Module, theta: dict, batch: RolloutBatch, gamma: float) -> list:
    """(the loss a typical mistake gives, what the mistake is) on this case."""
    returns = common.discounted_returns(batch.rewards, batch.dones, gamma)
    masks = batch.masks
    logits = functional_forward(policy, theta, batch.observations)
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    centred = returns - masked_mean(returns, masks, dim=1, keepdim=True)
    over_time = returns - masked_mean(returns, masks, dim=2, keepdim=True)
    expected = maml.inner_loss(policy, theta, batch, gamma)
    return [
        (-expected, "your loss is the negative of the expected one: minimise MINUS the mean of log pi * A"),
        (
            policy_gradient_surrogate(log_probs, normalize_advantages(returns, masks), masks),
            "no baseline: subtract b_t, the mean return at step t over the task's episodes alive at t",
        ),
        (policy_gradient_surrogate(log_probs, centred, masks), "the advantages G - b are not normalised"),
        (
            policy_gradient_surrogate(log_probs, normalize_advantages(over_time, masks), masks),
            "the baseline is a mean over the EPISODES at each step (episode axis), not over the time steps",
        ),
        (
            policy_gradient_surrogate(log_probs, returns, masks),
            "the returns were used as advantages: subtract the baseline and normalise",
        ),
    ]


def inner_loss(student_fn: Callable[..., Tensor]) -> None:
    """Grade ``inner_loss(policy, params, batch, gamma)``: value and gradient w.r.t. ``params``.

    Catches: the loss evaluated with the module's own parameters instead of ``params``, a missing
    or wrong baseline (per time step, over the episodes of a task), missing advantage normalisation,
    masks ignored, returns instead of advantages, a sign error, an advantage that carries gradient.
    """
    fn = student_function("inner_loss", student_fn)
    for name, seed, lengths, horizon, gamma in INNER_LOSS_CASES:
        where = f"inner_loss, case '{name}'"
        policy = tiny_policy(seed)
        theta = theta_for(policy, seed + 100)
        batch = fixed_batch(seed, lengths, horizon)
        before = snapshot(theta)
        expected = maml.inner_loss(policy, theta, batch, gamma)
        got = fn(policy, theta, batch, gamma, case=name)
        got = assert_scalar(where, got)
        if not torch.allclose(got.detach().double(), expected.detach(), atol=1e-8, rtol=1e-6):
            own = maml.inner_loss(policy, param_dict(policy), batch, gamma)
            if torch.allclose(got.detach().double(), own.detach(), atol=1e-8, rtol=1e-6):
                raise AssertionError(
                    f"{where}: the loss was computed with the module's own parameters, not with `params` "
                    f"(expected {expected.item():.6g}, got {got.item():.6g}); evaluate the policy with "
                    "functional_forward(policy, params, observations)"
                )
            hint = INNER_LOSS_HINT
            for wrong, diagnosis in _inner_loss_mistakes(policy, theta, batch, gamma):
                if torch.allclose(got.detach().double(), wrong.detach().double(), atol=1e-8, rtol=1e-6):
                    hint = diagnosis
                    break
            raise AssertionError(
                f"{where}: expected the loss {expected.item():.6g}, got {got.item():.6g}\n  hint: {hint}"
            )
        params = list(theta.values())
        expected_grad = flat_gradient(expected, params)
        got_grad = flat_gradient(got, params)
        assert got_grad.abs().sum() > 0, (
            f"{where}: the loss is not differentiable with respect to `params` (its gradient is zero or missing); "
            "compute the log-probabilities with functional_forward(policy, params, observations), without "
            ".detach() or torch.no_grad()"
        )
        error = relative_error(got_grad, expected_grad)
        assert error < GRAD_RTOL, (
            f"{where}: the value is right but the gradient w.r.t. `params` differs from the reference "
            f"(relative error {error:.2e}); the advantages must be constants: only log pi(a|s) carries gradient"
        )
        assert_unchanged(where, before, theta, "the parameter")


# --------------------------------------------------------------------------------------------------
# inner_step
# --------------------------------------------------------------------------------------------------
def _outer_gradient(policy: torch.nn.Module, theta: dict, adapted: Any, outer: RolloutBatch) -> Tensor:
    """d L(theta'; D') / d theta, through whatever graph connects ``adapted`` to ``theta``."""
    return flat_gradient(maml.inner_loss(policy, dict(adapted), outer, GAMMA), list(theta.values()))


def inner_step(student_fn: Callable[..., dict]) -> None:
    """Grade ``inner_step(policy, params, batch, inner_lr, gamma, first_order=False)``.

    Checks values (theta' = theta - alpha grad L), that ``params`` and the module are left unchanged,
    and that a post-update loss differentiates back to theta exactly like the reference: with the
    Hessian term when ``first_order=False`` and without it when ``first_order=True``.

    Catches: adapted weights written with ``.data`` / ``.detach()`` / an optimiser (meta-gradient cut),
    a gradient without ``create_graph=True`` (first-order only), ``first_order`` ignored, a wrong sign
    or step size, parameters updated in place.
    """
    fn = student_function("inner_step", student_fn)
    policy = tiny_policy(2)
    inner_batch, outer_batch = fixed_batch(21), fixed_batch(22, ((4, 5, 2, 5),))
    module_before = snapshot(dict(policy.named_parameters()))
    # theta: the module's own parameters (as in meta_step), then leaves that differ from them
    for first_order, own_parameters in ((False, True), (True, True), (False, False)):
        case = f"first_order={first_order}, inner_lr={INNER_LR}, gamma={GAMMA}" + (
            "" if own_parameters else ", params different from the module's parameters"
        )
        where = f"inner_step ({case})"
        theta = param_dict(policy) if own_parameters else theta_for(policy, 3)
        before = snapshot(theta)
        expected = maml.inner_step(policy, theta, inner_batch, INNER_LR, GAMMA, first_order)
        with no_optimiser("inner_step"):
            got = fn(policy, theta, inner_batch, INNER_LR, GAMMA, first_order, case=case)
        if not own_parameters and isinstance(got, dict) and set(got) == set(expected):
            from_module = maml.inner_step(policy, param_dict(policy), inner_batch, INNER_LR, GAMMA, first_order)
            same_as_module = all(
                isinstance(got[name], Tensor)
                and got[name].shape == value.shape
                and torch.allclose(got[name].detach().double(), value.detach(), atol=1e-9, rtol=1e-7)
                for name, value in from_module.items()
            )
            assert not same_as_module, (
                f"{where}: theta' was computed from the module's own parameters, not from `params`: the "
                "gradient is taken with respect to the tensors of `params`, and theta' is built from them"
            )
        assert_param_dict_close(
            where,
            got,
            expected,
            atol=1e-9,
            rtol=1e-7,
            hint="theta' = theta - inner_lr * grad_theta L(theta; D), the gradient taken with respect to `params`",
        )
        assert_unchanged(where, before, theta, "the input parameter")
        assert_unchanged(where, module_before, dict(policy.named_parameters()), "the module's parameter")

        got_grad = _outer_gradient(policy, theta, got, outer_batch)
        second = _outer_gradient(
            policy, theta, maml.inner_step(policy, theta, inner_batch, INNER_LR, GAMMA), outer_batch
        )
        first = _outer_gradient(
            policy, theta, maml.inner_step(policy, theta, inner_batch, INNER_LR, GAMMA, True), outer_batch
        )
        assert got_grad.abs().sum() > 0, (
            f"{where}: the adapted parameters are cut from theta: a loss of theta' has no gradient with respect "
            "to `params`. Compute theta' as an expression of `params` (theta - inner_lr * grad), never with "
            "`.data =`, `.detach()`, torch.no_grad() or an optimiser, so the meta-gradient can flow back"
        )
        target, other = (first, second) if first_order else (second, first)
        error = relative_error(got_grad, target)
        if error < GRAD_RTOL:
            continue
        if relative_error(got_grad, other) < GRAD_RTOL:
            if first_order:
                raise AssertionError(
                    f"{where}: with first_order=True the inner gradient must be treated as a constant "
                    "(no graph through it), but the meta-gradient through "
                    "your theta' contains the second-order (Hessian) term"
                )
            raise AssertionError(
                f"{where}: inner_step is first-order only: the meta-gradient through your theta' ignores the "
                "second-order term d grad L / d theta. With first_order=False the gradient itself must "
                "stay differentiable (a graph through it), so that d theta' / d theta = I - inner_lr * H"
            )
        raise AssertionError(
            f"{where}: the meta-gradient through your theta' differs from the reference's "
            f"(relative error {error:.2e}): theta' must be theta - inner_lr * grad, computed from `params`"
        )


# --------------------------------------------------------------------------------------------------
# meta_loss
# --------------------------------------------------------------------------------------------------
def meta_loss(student_fn: Callable[..., Tensor]) -> None:
    """Grade ``meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False)``.

    Value and meta-gradient w.r.t. theta vs the reference, on a meta-batch of 3 tasks, for
    ``first_order`` False and True. Catches: a first-order-only meta-update ("the meta-gradient
    ignores the second-order term"), adapted parameters detached from theta, the post-update loss
    evaluated with theta or on the pre-update batch, a sum instead of the mean over tasks,
    ``first_order`` ignored.
    """
    fn = student_function("meta_loss", student_fn)
    policy = tiny_policy(4)
    inner_batches = [fixed_batch(41), fixed_batch(42, ((2, 5, 5),)), fixed_batch(43, ((3, 4),))]
    outer_batches = [fixed_batch(44, ((5, 5, 1, 4),)), fixed_batch(45), fixed_batch(46, ((2, 5),))]
    for first_order in (False, True):
        case = f"3 tasks, first_order={first_order}, inner_lr={INNER_LR}, gamma={GAMMA}"
        where = f"meta_loss ({case})"
        theta = theta_for(policy, 5)
        params = list(theta.values())
        expected = maml.meta_loss(policy, theta, inner_batches, outer_batches, INNER_LR, GAMMA, first_order)
        with no_optimiser("meta_loss"):
            got = fn(policy, theta, inner_batches, outer_batches, INNER_LR, GAMMA, first_order, case=case)
        got = assert_scalar(where, got)
        assert_tensor_close(
            where,
            got,
            expected,
            atol=1e-8,
            rtol=1e-6,
            hint="L_meta = (1/N) sum_i L(theta'_i; D'_i): the post-update loss on the outer batch of task i, "
            "with theta'_i adapted from theta on its inner batch (the docstring's equations)",
        )
        got_grad = flat_gradient(got, params)
        second = flat_gradient(maml.meta_loss(policy, theta, inner_batches, outer_batches, INNER_LR, GAMMA), params)
        first = flat_gradient(
            maml.meta_loss(policy, theta, inner_batches, outer_batches, INNER_LR, GAMMA, True), params
        )
        assert got_grad.abs().sum() > 0, (
            f"{where}: the meta-loss has no gradient with respect to theta: the adapted parameters must be "
            "computed from `params` inside meta_loss (no .detach(), .data or torch.no_grad())"
        )
        target, other = (first, second) if first_order else (second, first)
        error = relative_error(got_grad, target)
        if error < GRAD_RTOL:
            continue
        if relative_error(got_grad, other) < GRAD_RTOL:
            if first_order:
                raise AssertionError(
                    f"{where}: with first_order=True the meta-gradient must drop the second-order term, but yours "
                    "keeps it: pass first_order on to inner_step"
                )
            raise AssertionError(
                f"{where}: the meta-gradient ignores the second-order term: it equals the first-order (FOMAML) "
                f"gradient (relative error to the second-order one {error:.2e}). With first_order=False the "
                "adapted theta'_i must keep its graph: inner_step(..., first_order) with create_graph, no detach"
            )
        raise AssertionError(
            f"{where}: the value is right but the meta-gradient w.r.t. theta differs from the reference's "
            f"(relative error {error:.2e}); differentiate through theta'_i = inner_step(policy, params, ...)"
        )


# --------------------------------------------------------------------------------------------------
# adapt
# --------------------------------------------------------------------------------------------------
ADAPT_TASKS = (Task("flip", action_sign=1.0), Task("flip", action_sign=-1.0), Task("flip", action_sign=-1.0))
ADAPT_SETTINGS = dict(inner_lr=2.0, gamma=0.99, episodes_per_step=4, episode_length=20, seed=7)


def _adapt_policy() -> tuple[torch.nn.Module, dict[str, Tensor]]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(6)
        policy = MLP(4, 2, (16,), output_gain=0.5)
    return policy, param_dict(policy)


def adapt(student_fn: Callable[..., list]) -> None:
    """Grade ``adapt(policy, params, tasks, num_steps, inner_lr, gamma, episodes_per_step, episode_length,
    seed=0, first_order=True)`` on a tiny seeded case (3 flip tasks, 20-step episodes).

    Checks: no torch.optim optimiser; one dict per task with theta's names and shapes; the values of
    the reference after 0, 1 and 2 steps (step j samples all tasks together with seed ``seed + j``);
    the adapted parameters stay differentiable functions of theta (first order by default, second
    order when ``first_order=False``). Catches: an optimiser or ``.data`` updates, every task
    adapted from theta at every step (not from its own previous parameters), re-sampling with the
    wrong policy or seed, ``first_order`` not passed on.
    """
    fn = student_function("adapt", student_fn)
    policy, theta = _adapt_policy()
    tasks = list(ADAPT_TASKS)
    hint = (
        "at step j every task samples its episodes with its CURRENT parameters (all tasks in one call, seeded "
        "with seed + j), then takes one inner step on its own episodes from its own parameters after step j - 1 "
        "(the docstring's procedure)"
    )
    for num_steps in (0, 1, 2):
        case = f"{len(tasks)} flip tasks, num_steps={num_steps}, {ADAPT_SETTINGS}"
        where = f"adapt ({case})"
        expected = maml.adapt(policy, theta, tasks, num_steps, **ADAPT_SETTINGS)
        before = snapshot(theta)
        with no_optimiser("adapt"):
            got = fn(policy, theta, tasks, num_steps, **ADAPT_SETTINGS, case=case)
        assert isinstance(got, (list, tuple)) and len(got) == len(tasks), (
            f"{where}: expected a list of {len(tasks)} dicts (one per task), got "
            + (f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (list, tuple)) else type(got).__name__)
        )
        for k, (got_k, expected_k) in enumerate(zip(got, expected)):
            assert_param_dict_close(f"{where}, task {k}", got_k, expected_k, atol=1e-5, rtol=1e-4, hint=hint)
        assert_unchanged(where, before, theta, "the meta-parameter")
        if num_steps == 0:
            continue
        total = sum(p.sum() for task_params in got for p in task_params.values())
        grads = flat_gradient(total, list(theta.values()))
        expected_grads = flat_gradient(
            sum(p.sum() for task_params in expected for p in task_params.values()), list(theta.values())
        )
        assert relative_error(grads, expected_grads) < 1e-4, (
            f"{where}: the adapted parameters are not the differentiable function of theta that they should "
            "be (gradient back to theta differs from the reference's"
            + (", it is zero" if grads.abs().sum() == 0 else "")
            + "): build each step as theta_j - inner_lr * grad with inner_step, no .data, .detach() or optimiser"
        )

    case = f"{len(tasks)} flip tasks, num_steps=1, first_order=False"
    expected = maml.adapt(policy, theta, tasks, 1, **ADAPT_SETTINGS, first_order=False)
    with no_optimiser("adapt"):
        got = fn(policy, theta, tasks, 1, **ADAPT_SETTINGS, first_order=False, case=case)
    grads = flat_gradient(sum(p.sum() for task_params in got for p in task_params.values()), list(theta.values()))
    expected_grads = flat_gradient(
        sum(p.sum() for task_params in expected for p in task_params.values()), list(theta.values())
    )
    assert relative_error(grads, expected_grads) < 1e-4, (
        f"adapt ({case}): with first_order=False the adapted parameters must keep the second-order terms "
        "(their gradient back to theta differs from the reference's): pass first_order on to inner_step"
    )


# --------------------------------------------------------------------------------------------------
# Behaviour: a short meta-training run of the reference loop with the student's functions
# --------------------------------------------------------------------------------------------------
#: The QUICK budget (about 2 s on one CPU thread); evaluation happens outside, with the reference.
MAML_GRADING_CONFIG = dataclasses.replace(maml.MAML_QUICK, eval_tasks=0)
MAML_EVAL_TASKS = 16
#: One adaptation step must raise the trained policy's return by this much. Set from 20 reference
#: training seeds (``python benchmarks/training_checks.py --methods maml``): gain 0.196 to 0.370,
#: mean 0.30, sd 0.045, so the threshold is about 4 sd below the mean; an untrained policy gains 0.077.
MAML_MIN_ADAPTATION_GAIN = 0.12


def maml_adaptation_gain(model: maml.MAMLPolicy) -> tuple[float, float]:
    """Mean normalised return on 16 held-out flip tasks before and after one adaptation step
    (the reference ``maml_adaptation_curve``, seed 0): what meta-training is for."""
    tasks = meta_test_tasks(MAML_GRADING_CONFIG.family, n=MAML_EVAL_TASKS)
    before, after = maml.maml_adaptation_curve(model, tasks, num_units=1, seed=0).mean(axis=0)
    return float(before), float(after)


def maml_training(inner_step: Callable[..., Any], meta_loss: Callable[..., Any]) -> None:
    """Meta-train MAML (the reference ``train_maml``, QUICK budget, seed 0) with the student's
    ``inner_step`` and ``meta_loss`` patched in, each isolated (the TODOs it calls are the reference's:
    ``meta_step`` calls only these two). The trained policy must *adapt*: one adaptation step on 16
    held-out tasks (the reference ``maml_adaptation_curve``) must raise its return by
    ``MAML_MIN_ADAPTATION_GAIN``. About 3 s on one CPU thread.
    """
    config = MAML_GRADING_CONFIG
    description = "MAML training with your inner_step and meta_loss"
    with torch.random.fork_rng(devices=[]):
        with isolation.student_functions_in(maml, inner_step=inner_step, meta_loss=meta_loss):
            model, _ = run_with_students(description, maml.train_maml, config, seed=0, progress=False)
        before, after = maml_adaptation_gain(model)
    assert after - before >= MAML_MIN_ADAPTATION_GAIN, (
        f"MAML meta-training with your inner_step and meta_loss ({config.num_iterations} iterations, seed 0) "
        f"did not learn to adapt: one adaptation step on {MAML_EVAL_TASKS} held-out flip tasks takes the "
        f"normalised return from {before:.3f} to {after:.3f} (+{after - before:.3f}; the reference's "
        f"meta-training gives +0.20 to +0.37 over 20 seeds, at least +{MAML_MIN_ADAPTATION_GAIN} expected). "
        "The meta-gradient must flow through the inner step into theta"
    )
