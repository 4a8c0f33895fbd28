"""Visible checks of the MAML TODOs (section 2): ``inner_loss``, ``inner_step``, ``meta_loss``, ``adapt``.

Each check tests its TODO alone. ``inner_loss`` is checked on hand-computed batches with a stand-in for
``discounted_returns`` (the masked discounted returns from ``hw11_utils.rl_math.gae``); ``inner_step``,
``meta_loss`` and ``adapt`` are checked with a *toy* inner loss in place of ``inner_loss`` (and the toy
loss's exact gradient step in place of ``inner_step``):

    L_toy(theta; D) = sum over the entries p of theta of (a_D p^2 / 2 + c_D gamma p),

where a_D is the mean reward of the batch D and c_D the mean of its observations (for ``adapt``, the
mean cart velocity of its valid steps). Its gradient a_D p + c_D gamma and Hessian a_D are known, so
every value and (meta-)gradient below is computed by hand, and a mistake in your ``inner_loss`` cannot
make ``inner_step``'s check fail.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hw11_utils.checks_core import Spy, attempt, close, fail, passed, rounded, visible_check, with_stand_ins
from hw11_utils.checks_core import tensor as _t
from hw11_utils.networks import MLP
from hw11_utils.rl_math import gae, normalize_advantages
from hw11_utils.rollouts import RolloutBatch
from hw11_utils.tasks import Task


# --------------------------------------------------------------------------------------------------
# Stand-ins
# --------------------------------------------------------------------------------------------------
def returns_stand_in(rewards: Tensor, dones: Tensor, gamma: float) -> Tensor:
    """Discounted returns of batches with one episode per row (all the checks use): ``gae`` with
    lambda = 1 and V = 0, alive until the first done."""
    alive = ((torch.cumsum(dones, dim=-1) - dones) == 0).to(rewards.dtype)
    return gae(rewards, torch.zeros_like(rewards), alive, gamma, 1.0)


def _toy_coefficients(batch: RolloutBatch, velocity: bool = False) -> tuple[float, float]:
    if velocity:
        masks = batch.masks.to(batch.observations.dtype)
        return 0.5, float((batch.observations[..., 1] * masks).sum() / masks.sum())
    return float(batch.rewards.mean()), float(batch.observations.mean())


def _toy_loss(velocity: bool) -> Callable[..., Tensor]:
    def inner_loss(policy: nn.Module, params: dict, batch: RolloutBatch, gamma: float) -> Tensor:
        a, c = _toy_coefficients(batch, velocity)
        return sum((0.5 * a * p**2 + c * gamma * p).sum() for p in params.values())

    return inner_loss


def _toy_step(velocity: bool) -> Callable[..., dict]:
    """The exact gradient step on the toy loss (its gradient is known: no autograd needed)."""

    def inner_step(policy, params, batch, inner_lr, gamma, first_order=False):  # noqa: ANN001
        a, c = _toy_coefficients(batch, velocity)
        stepped = {}
        for name, p in params.items():
            slope = a * p + c * gamma
            stepped[name] = p - inner_lr * (slope.detach() if first_order else slope)
        return stepped

    return inner_step


def _toy_batch(a: float, c: float) -> RolloutBatch:
    """A one-step batch whose toy-loss coefficients are (a, c)."""
    return RolloutBatch(
        observations=torch.full((1, 1, 1, 4), c),
        actions=torch.zeros(1, 1, 1, dtype=torch.long),
        rewards=torch.full((1, 1, 1), a),
        next_observations=torch.full((1, 1, 1, 4), c),
        masks=torch.ones(1, 1, 1),
        dones=torch.ones(1, 1, 1),
        log_probs=torch.zeros(1, 1, 1),
        tasks=[Task()],
        episode_length=1,
    )


@contextlib.contextmanager
def _optimisers_refused(fn_name: str) -> Iterator[None]:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            f"{fn_name} must not create a torch.optim optimiser: theta' is a differentiable expression of theta"
        )

    original = torch.optim.Optimizer.__init__
    torch.optim.Optimizer.__init__ = refuse
    try:
        yield
    finally:
        torch.optim.Optimizer.__init__ = original


# --------------------------------------------------------------------------------------------------
# inner_loss: a one-feature linear policy whose loss and gradient can be computed by hand
# --------------------------------------------------------------------------------------------------
# The policy is nn.Linear(4, 2, bias=False) with weight W; only observation feature 0 is non-zero,
# so the log-odds of action 1 are u * x with u = W[1, 0] - W[0, 0]: pi(1 | x) = sigmoid(u x).
# We evaluate it at W[1, 0] = 1, W[0, 0] = 0 (u = 1), with c = -ln 3, so that pi(1 | c) = 1/4.
_LN3 = math.log(3.0)


def _linear_policy() -> tuple[nn.Module, dict[str, Tensor]]:
    """The module (its own weights are ones: a loss computed with them is wrong) and params {"weight": W}."""
    policy = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        policy.weight.fill_(1.0)
    weight = torch.zeros(2, 4)
    weight[1, 0] = 1.0
    return policy, {"weight": weight.requires_grad_(True)}


def _hand_batch(feature: list, actions: list, rewards: list, masks: list, dones: list) -> RolloutBatch:
    """One task, episodes x steps, observations (feature, 0, 0, 0)."""
    observations = torch.zeros(1, len(feature), len(feature[0]), 4)
    observations[0, :, :, 0] = _t(feature)
    return RolloutBatch(
        observations=observations,
        actions=torch.tensor([actions]),
        rewards=_t([rewards]),
        next_observations=observations.clone(),
        masks=_t([masks]),
        dones=_t([dones]),
        log_probs=torch.zeros(1, len(feature), len(feature[0])),
        tasks=[Task()],
        episode_length=len(feature[0]),
    )


def _batch_one_step() -> RolloutBatch:
    """Two one-step episodes, both take action 1: episode 0 at x = 0 (pi = 1/2) gets reward 1, episode 1 at
    x = c (pi = 1/4) gets reward 0. Returns G = (1, 0); baseline 1/2; normalised advantages A = (+1, -1).

        L = -(1/2) [ log(1/2) * 1 + log(1/4) * (-1) ] = -(ln 2) / 2 = -0.346574
        dL/dW[1, 0] = -dL/dW[0, 0] = (1/2) (1 - pi(1 | c)) c = -(3/8) ln 3 = -0.411980 (only episode 1, x != 0)
    """
    return _hand_batch([[0.0], [-_LN3]], [[1], [1]], [[1.0], [0.0]], [[1.0], [1.0]], [[1.0], [1.0]])


def _batch_two_steps() -> RolloutBatch:
    """Two episodes of two steps, gamma = 1/2. Episode 0 stays up (rewards 1, 1); episode 1 falls after its
    first step (reward 1, then masked). Returns G = (1.5, 1) and (1, -); baseline b = (1.25, 1) (the mean over
    the episodes alive at each step); G - b = (0.25, 0, -0.25) on the 3 valid steps, normalised to
    (sqrt(1.5), 0, -sqrt(1.5)). Action 1 everywhere; pi = 1/2 except at x = c (episode 1, t = 0): 1/4.

        L = -(1/3) [ sqrt(1.5) log(1/2) - sqrt(1.5) log(1/4) ] = -sqrt(1.5) ln 2 / 3 = -0.282976
    """
    return _hand_batch(
        [[0.0, 0.0], [-_LN3, 0.0]],
        [[1, 1], [1, 1]],
        [[1.0, 1.0], [1.0, 0.0]],
        [[1.0, 1.0], [1.0, 0.0]],
        [[0.0, 1.0], [1.0, 0.0]],
    )


def _two_step_mistakes() -> list[tuple[float, str]]:
    """What typical mistakes give on the two-step batch (log pi of its 3 valid steps known by hand)."""
    log_pi = _t([[[math.log(0.5), math.log(0.5)], [math.log(0.25), 0.0]]])
    masks = _t([[[1.0, 1.0], [1.0, 0.0]]])
    returns = _t([[[1.5, 1.0], [1.0, 0.0]]])

    def loss(advantages: Tensor, count: float = 3.0) -> float:
        return float(-(masks * log_pi * advantages).sum() / count)

    centred = _t([[[0.25, 0.0], [-0.25, 0.0]]])
    per_episode = _t([[[0.25, -0.25], [0.0, 0.0]]])
    return [
        (
            loss(normalize_advantages(returns, masks)),
            "no baseline: subtract b_t, the mean return at step t over the episodes of the task that are alive at t",
        ),
        (loss(centred), "the advantages G - b are not normalised (zero mean, unit std over the valid steps)"),
        (
            loss(normalize_advantages(per_episode, masks)),
            "the baseline is a mean over the EPISODES at each time "
            "step (the episode axis), not over the time steps of one episode",
        ),
        (
            loss(normalize_advantages(centred, masks), 4.0),
            "the mean runs over every step, masked ones too: average over the valid steps only (the masks)",
        ),
    ]


@visible_check("inner_loss")
def check_inner_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``inner_loss(policy, params, batch, gamma)`` on two hand-computed batches
    (see ``_batch_one_step`` and ``_batch_two_steps`` for the derivations), and of its gradient.
    ``discounted_returns`` is replaced by a stand-in, so only ``inner_loss`` itself is checked."""
    name = "inner_loss"
    fn = with_stand_ins(fn, discounted_returns=returns_stand_in)
    general = (
        "L = -(1 / sum m) sum m log pi_theta(a|s) A with A = normalise(G - b) and the per-step baseline b_t "
        "(the docstring's equations)"
    )
    cases = [
        ("two one-step episodes", _batch_one_step(), -math.log(2.0) / 2, []),
        (
            "two two-step episodes, one falls, gamma = 0.5",
            _batch_two_steps(),
            -math.sqrt(1.5) * math.log(2.0) / 3,
            _two_step_mistakes(),
        ),
    ]
    for case, batch, expected, mistakes in cases:
        policy, params = _linear_policy()
        done, loss = attempt(name, fn, policy, params, batch, 0.5, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            return fail(name, case, f"expected a scalar tensor, got {loss!r}", "return the loss as a 0-d tensor")
        if not close(loss, expected):
            hint = general
            if close(loss, -expected):
                hint = "the sign is flipped: the loss to minimise is MINUS the mean of log pi * A"
            elif close(loss, 0.0) and not loss.requires_grad:
                hint = "the loss does not depend on params: evaluate the policy with the given params"
            for value, diagnosis in mistakes:
                if close(loss, value):
                    hint = diagnosis
            return fail(name, case, f"expected {expected:.6f}, got {float(loss.detach()):.6f}", hint)
    policy, params = _linear_policy()
    case = "gradient on the one-step episodes"
    done, loss = attempt(name, fn, policy, params, _batch_one_step(), 0.5, case=case)
    if not done:
        return False
    if not loss.requires_grad:
        return fail(
            name,
            case,
            "the loss does not depend on params",
            "evaluate the policy with the tensors of params (functional_forward), not with the module's own weights",
        )
    (grad,) = torch.autograd.grad(loss, [params["weight"]], allow_unused=True)
    expected = -0.375 * _LN3
    if grad is None or not (close(grad[1, 0], expected) and close(grad[0, 0], -expected)):
        got = "none" if grad is None else f"{float(grad[1, 0]):.6f}"
        return fail(
            name,
            case,
            f"expected dL/dW[1,0] = {expected:.6f}, got {got}",
            "the advantages are constants; only log pi(a|s) carries the gradient",
        )
    return passed(name, "2 hand-computed losses and a gradient")


# --------------------------------------------------------------------------------------------------
# inner_step
# --------------------------------------------------------------------------------------------------
def _toy_params() -> dict[str, Tensor]:
    return {
        "weight": _t([[1.0, -0.5], [0.25, 2.0]]).requires_grad_(True),
        "bias": _t([0.5, -1.0]).requires_grad_(True),
    }


def _explain_graph_error(error: str) -> str:
    if "not have been used in the graph" in error:
        return (
            "\n  hint: differentiate the loss with respect to the tensors of `params` (the dict you were given), "
            "not the module's own parameters"
        )
    return ""


@visible_check("inner_step")
def check_inner_step(fn: Callable[..., dict]) -> bool:
    """Visible check of ``inner_step(policy, params, batch, inner_lr, gamma, first_order)`` with the toy loss
    (a = 1, c = -1: gradient p - 0.9 at gamma = 0.9) instead of ``inner_loss``, inner_lr = 0.5:

        theta' = theta - 0.5 (theta - 0.9) = 0.5 theta + 0.45,
        d theta' / d theta = 1 - inner_lr * a = 0.5 (second order), exactly 1 (first order: gradient constant).
    """
    name = "inner_step"
    fn = with_stand_ins(fn, inner_loss=_toy_loss(velocity=False))
    batch = _toy_batch(1.0, -1.0)
    policy = nn.Linear(2, 2)
    for first_order, slope in ((False, 0.5), (True, 1.0)):
        case = f"toy loss, inner_lr = 0.5, gamma = 0.9, first_order = {first_order}"
        params = _toy_params()
        before = {key: value.detach().clone() for key, value in params.items()}
        with _optimisers_refused(name):
            try:
                new = fn(policy, params, batch, 0.5, 0.9, first_order)
            except NotImplementedError:
                return attempt(name, fn, policy, params, batch, 0.5, 0.9, first_order)[0]
            except Exception as error:
                print(
                    f"FAIL: {name} raised {type(error).__name__}: {error}\n  case: {case}"
                    f"{_explain_graph_error(str(error))}"
                )
                return False
        if not isinstance(new, dict) or set(new) != set(params):
            return fail(name, case, f"expected a dict with keys {sorted(params)}, got {new!r}", "keep the names")
        if any(not isinstance(new[k], Tensor) or new[k].shape != params[k].shape for k in params):
            return fail(name, case, "a new parameter has the wrong type or shape", "one new tensor per parameter")
        if any(new[k] is params[k] or not torch.equal(params[k].detach(), before[k]) for k in params):
            return fail(name, case, "params was modified in place", "return new tensors; leave the input dict as it is")
        for key, value in before.items():
            expected = 0.5 * value + 0.45
            if not torch.allclose(new[key].detach(), expected, atol=1e-5):
                hint = "theta' = theta - inner_lr * (gradient of the inner loss with respect to params)"
                if torch.allclose(new[key].detach(), 1.5 * value - 0.45, atol=1e-5):
                    hint = "you stepped UP the gradient: theta' = theta MINUS inner_lr times the gradient"
                return fail(name, case, f"expected {key}' = {rounded(expected)}, got {rounded(new[key])}", hint)
        if not new["weight"].requires_grad:
            return fail(
                name,
                case,
                "theta' is cut from theta (no gradient can flow back to the meta-parameters)",
                "compute theta' as an expression of params: no .data, .detach(), torch.no_grad() or optimiser",
            )
        (grad,) = torch.autograd.grad(new["weight"][0, 0], [params["weight"]], allow_unused=True)
        got = 0.0 if grad is None else float(grad[0, 0])
        if not close(got, slope):
            hint = "d theta'/d theta = I - inner_lr * H needs the gradient to stay differentiable"
            if not first_order and close(got, 1.0):
                hint = (
                    "the gradient was treated as a constant although first_order = False: the Hessian term is "
                    "missing (the gradient must itself be differentiable: create_graph)"
                )
            elif first_order and close(got, 0.5):
                hint = "first_order = True must treat the gradient as a constant (no second-order term)"
            return fail(name, case, f"expected dW'[0,0]/dW[0,0] = {slope}, got {got:.6f}", hint)
    return passed(name, "values, graph kept, second- and first-order derivatives (toy loss)")


# --------------------------------------------------------------------------------------------------
# meta_loss
# --------------------------------------------------------------------------------------------------
_META_INNER = ((1.0, -1.0), (2.0, 0.5))  # (a, c) of the inner batches D_1, D_2
_META_OUTER = ((0.5, 1.0), (1.5, -0.5))  # (a, c) of the outer batches D'_1, D'_2


def _toy_losses(
    theta: dict,
    adapt_on: Sequence,
    evaluate_on: Sequence,
    lr: float,
    gamma: float,
    first_order: bool,
    adapted: bool = True,
) -> list[Tensor]:
    """Toy post-update losses L_toy(theta'_i; D'_i), theta'_i the toy step from theta on D_i."""
    losses = []
    for (a, c), (a_out, c_out) in zip(adapt_on, evaluate_on):
        total = torch.zeros(())
        for p in theta.values():
            slope = a * p + c * gamma
            q = p - lr * (slope.detach() if first_order else slope) if adapted else p
            total = total + (0.5 * a_out * q**2 + c_out * gamma * q).sum()
        losses.append(total)
    return losses


@visible_check("meta_loss")
def check_meta_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order)``
    on 2 tasks, with the toy loss and its exact gradient step in place of ``inner_loss`` and ``inner_step``
    (inner batches (a, c) = (1, -1), (2, 0.5); outer (0.5, 1), (1.5, -0.5); inner_lr 0.5, gamma 0.9): value and
    meta-gradient, second and first order."""
    name = "meta_loss"
    fn = with_stand_ins(fn, inner_loss=_toy_loss(velocity=False), inner_step=_toy_step(velocity=False))
    inner = [_toy_batch(a, c) for a, c in _META_INNER]
    outer = [_toy_batch(a, c) for a, c in _META_OUTER]
    policy, lr, gamma = nn.Linear(2, 2), 0.5, 0.9
    for first_order in (False, True):
        case = f"2 tasks, toy loss, inner_lr = 0.5, gamma = 0.9, first_order = {first_order}"
        params = _toy_params()
        with _optimisers_refused(name):
            done, loss = attempt(name, fn, policy, params, inner, outer, lr, gamma, first_order, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            return fail(name, case, f"expected a scalar tensor, got {loss!r}", "return the loss as a 0-d tensor")
        losses = _toy_losses(params, _META_INNER, _META_OUTER, lr, gamma, first_order)
        expected = float(torch.stack(losses).mean())
        if not close(loss, expected, atol=1e-4):
            mistakes = [
                (float(torch.stack(losses).sum()), "the meta-loss is the MEAN over the tasks of the meta-batch"),
                (
                    float(
                        torch.stack(
                            _toy_losses(params, _META_INNER, _META_OUTER, lr, gamma, first_order, adapted=False)
                        ).mean()
                    ),
                    "the post-update loss must be evaluated with the ADAPTED parameters theta'_i, not theta",
                ),
                (
                    float(torch.stack(_toy_losses(params, _META_OUTER, _META_INNER, lr, gamma, first_order)).mean()),
                    "the batches are swapped: adapt on inner_batches[i] (D_i), evaluate on outer_batches[i] (D'_i)",
                ),
                (
                    float(torch.stack(_toy_losses(params, _META_INNER, _META_INNER, lr, gamma, first_order)).mean()),
                    "the post-update loss is evaluated on the inner batches: use outer_batches[i] (D'_i)",
                ),
            ]
            hint = "L_meta = (1/N) sum_i L(theta'_i; D'_i) with theta'_i adapted on D_i (the docstring's equation)"
            for value, diagnosis in mistakes:
                if close(loss, value, atol=1e-4):
                    hint = diagnosis
            return fail(name, case, f"expected {expected:.6f}, got {float(loss.detach()):.6f}", hint)
        if not loss.requires_grad:
            return fail(name, case, "the meta-loss does not depend on params", "no .detach() / torch.no_grad()")
        got = torch.autograd.grad(loss, [params["weight"]], allow_unused=True)[0]
        target = torch.autograd.grad(torch.stack(losses).mean(), [params["weight"]])[0]
        other_losses = _toy_losses(params, _META_INNER, _META_OUTER, lr, gamma, not first_order)
        other = torch.autograd.grad(torch.stack(other_losses).mean(), [params["weight"]])[0]
        if got is None or not torch.allclose(got, target, atol=1e-4):
            hint = "differentiate through theta'_i: it must stay a function of params"
            if got is not None and torch.allclose(got, other, atol=1e-4):
                hint = (
                    "the meta-gradient has no second-order term although first_order = False: pass first_order on "
                    "to the inner step"
                    if not first_order
                    else "first_order = True must drop the second-order term"
                )
            shown = "none" if got is None else rounded(got)
            return fail(name, case, f"expected dL/dW = {rounded(target)}, got {shown}", hint)
    return passed(name, "toy-loss meta-losses and meta-gradients, second and first order")


# --------------------------------------------------------------------------------------------------
# adapt
# --------------------------------------------------------------------------------------------------
def _distance(params: dict, reference: dict) -> float:
    return float(sum(((params[key].detach() - value) ** 2).sum() for key, value in reference.items()).sqrt())


@visible_check("adapt")
def check_adapt(fn: Callable[..., list]) -> bool:
    """Visible check of ``adapt(policy, params, tasks, num_steps, ...)``: invariants on two flip tasks, with the
    toy loss (a = 0.5, c = mean cart velocity of the batch) and its gradient step instead of ``inner_loss`` and
    ``inner_step``.

    No optimiser; one dict per task with the names and shapes of ``params``; 0 steps leave theta; each inner
    step gets one task's episodes; step 2 continues from the task's parameters after step 1; the two tasks
    end up different; the same seed gives the same result; theta is unchanged and the adapted parameters are
    differentiable functions of it.
    """
    name = "adapt"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        policy = MLP(4, 2, (16,), output_gain=0.5)
    theta = dict(policy.named_parameters())
    before = {key: value.detach().clone() for key, value in theta.items()}
    tasks = [Task("flip", action_sign=1.0), Task("flip", action_sign=-1.0)]
    settings = dict(inner_lr=0.5, gamma=0.99, episodes_per_step=8, episode_length=30, seed=0)
    step = _toy_step(velocity=True)
    results = {}
    for num_steps in (0, 2, 2):
        case = f"2 flip tasks, num_steps = {num_steps}"
        outputs: list = []

        def recorded(*args: Any, outputs: list = outputs, **kwargs: Any) -> dict:
            result = step(*args, **kwargs)
            outputs.append(result)
            return result

        spy = Spy(recorded)
        student = with_stand_ins(fn, inner_loss=_toy_loss(velocity=True), inner_step=spy)
        with _optimisers_refused(name):
            done, adapted = attempt(name, student, policy, theta, tasks, num_steps, **settings, case=case)
        if not done:
            return False
        if not (isinstance(adapted, (list, tuple)) and len(adapted) == len(tasks)):
            return fail(
                name,
                case,
                f"expected a list of {len(tasks)} dicts, got {type(adapted).__name__}",
                "one dict of adapted parameters per task",
            )
        for task_params in adapted:
            if not isinstance(task_params, dict) or set(task_params) != set(theta):
                return fail(
                    name,
                    case,
                    "a task's parameters are not a dict with the names of params",
                    "keep the names of params",
                )
            if any(task_params[key].shape != theta[key].shape for key in theta):
                return fail(name, case, "a parameter has the wrong shape", "keep the shapes of params")
        if any(not torch.equal(theta[key].detach(), before[key]) for key in theta):
            return fail(name, case, "params were modified in place", "no optimiser, no .data: build new tensors")
        if num_steps == 0:
            if any(not torch.equal(p[key].detach(), before[key]) for p in adapted for key in theta):
                return fail(name, case, "0 steps changed the parameters", "with num_steps = 0 every task keeps theta")
            continue
        if spy.calls:  # the structure of the inner steps (skipped if adapt does the steps itself)
            if len(spy.calls) != num_steps * len(tasks):
                return fail(
                    name,
                    case,
                    f"inner_step was called {len(spy.calls)} times",
                    f"one inner step per task and step: {num_steps} x {len(tasks)} calls",
                )
            for (args, kwargs), task in zip(spy.calls, tasks * num_steps):
                batch = args[2] if len(args) > 2 else kwargs.get("batch")
                if not isinstance(batch, RolloutBatch) or batch.num_tasks != 1:
                    shown = batch.num_tasks if isinstance(batch, RolloutBatch) else type(batch).__name__
                    return fail(
                        name,
                        case,
                        f"an inner step got a batch of {shown} tasks",
                        "each task adapts on its OWN episodes: one task per inner step",
                    )
                if batch.tasks[0] != task or batch.episodes_per_task != settings["episodes_per_step"]:
                    return fail(
                        name,
                        case,
                        f"the inner step of {task} got the episodes of {batch.tasks[0]} "
                        f"({batch.episodes_per_task} episodes)",
                        "adapt each task on episodes_per_step episodes of that task, in the order of tasks",
                    )
            for k in range(len(tasks)):
                args, kwargs = spy.calls[len(tasks) + k]
                start = args[1] if len(args) > 1 else kwargs.get("params")
                if not all(torch.allclose(start[key].detach(), outputs[k][key].detach()) for key in theta):
                    return fail(
                        name,
                        case,
                        f"step 2 of task {k} did not start from its parameters after step 1",
                        "step j + 1 continues from the task's parameters after step j, not from theta",
                    )
        if num_steps in results:
            same = all(torch.allclose(a[key], b[key]) for a, b in zip(adapted, results[num_steps]) for key in theta)
            if not same:
                return fail(
                    name,
                    case,
                    "two calls with the same seed gave different parameters",
                    "the episodes of step j are sampled with the seed the docstring gives (seed + j)",
                )
            continue
        results[num_steps] = adapted
        for k in range(len(tasks)):
            if _distance(adapted[k], before) == 0.0:
                return fail(name, case, f"task {k}'s parameters did not change", "take num_steps inner steps")
        if all(torch.allclose(adapted[0][key], adapted[1][key]) for key in theta):
            return fail(
                name,
                case,
                "both tasks got the same parameters",
                "each task takes its own inner steps on its own episodes",
            )
        total = sum(p.sum() for task_params in adapted for p in task_params.values())
        if not total.requires_grad:
            return fail(
                name,
                case,
                "the adapted parameters are cut from params",
                "build each step from the previous parameters: no .data, .detach() or optimiser",
            )
        grads = torch.autograd.grad(total, list(theta.values()), allow_unused=True)
        if any(g is None or g.abs().sum() == 0 for g in grads):
            return fail(
                name,
                case,
                "no gradient flows back to some parameter of theta",
                "theta_{j+1} is computed from theta_j, which is computed from theta",
            )
    return passed(name, "no optimiser, shapes, one task per inner step, steps chained, seeded, differentiable")
