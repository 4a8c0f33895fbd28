"""Visible checks that students run right after a TODO.

Each check calls the student's function on a few small cases whose answers were computed by hand
(no reference implementation here), prints ``PASS`` or what went wrong with a hint, and returns
``True``/``False``. A check never raises on a wrong answer, so a notebook keeps running; the hidden
tests used for grading are stricter (random inputs, compared with the reference).

Adding a check: write its cases as :class:`Case` rows and call :func:`run_cases`, or, for
functions that return dicts or whose gradients matter, a small function that uses :func:`_attempt`
(calls the student's function and reports an exception) and :func:`_fail` / :func:`_pass`.
"""

from __future__ import annotations

import contextlib
import math
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hw11_utils.networks import MLP, GRUCore
from hw11_utils.rollouts import RolloutBatch, StepInput
from hw11_utils.tasks import Task

__all__ = [
    "Case",
    "run_cases",
    "check_discounted_returns",
    "check_paired_difference",
    "check_inner_loss",
    "check_inner_step",
    "check_meta_loss",
    "check_adapt",
    "check_rl2_inputs",
    "check_rl2_policy_step",
    "check_rl2_trial_forward",
    "check_rl2_loss",
    "check_product_of_gaussians",
    "check_kl_to_standard_normal",
    "check_infer_posterior",
    "check_sample_latent",
    "check_sac_critic_loss",
    "check_sac_actor_loss",
]


@dataclass(frozen=True)
class Case:
    """One hand-computed case: call ``fn(**inputs)`` and expect ``expected`` (a tensor)."""

    name: str
    inputs: dict[str, Any]
    expected: torch.Tensor
    hint: str


def run_cases(fn_name: str, fn: Callable[..., Any], cases: Sequence[Case], atol: float = 1e-5) -> bool:
    """Run ``fn`` on every case, print PASS or the first failure with its hint; return success."""
    for case in cases:
        inputs = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in case.inputs.items()}
        done, got = _attempt(fn_name, fn, case=case.name, **inputs)
        if not done:
            return False
        if not isinstance(got, torch.Tensor):
            print(f"FAIL: {fn_name} returned {type(got).__name__}, expected a torch.Tensor\n  case: {case.name}")
            return False
        if tuple(got.shape) != tuple(case.expected.shape):
            print(
                f"FAIL: {fn_name} returned shape {tuple(got.shape)}, expected {tuple(case.expected.shape)}"
                f"\n  case: {case.name}"
            )
            return False
        if not torch.allclose(got.detach().to(case.expected.dtype), case.expected, atol=atol):
            print(
                f"FAIL: {fn_name}, case: {case.name}\n  expected {_rounded(case.expected)}"
                f"\n  got      {_rounded(got)}\n  hint: {case.hint}"
            )
            return False
    print(f"PASS: {fn_name} ({len(cases)} hand-computed cases)")
    return True


def _not_done_message(fn_name: str, error: NotImplementedError) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    origin = frames[-1].name if frames else fn_name
    if origin in (fn_name, "<module>"):
        return f"NOT DONE: {fn_name} still raises NotImplementedError; write its body first."
    return f"NOT DONE: {fn_name} calls {origin}, which still raises NotImplementedError; finish {origin} first."


def _attempt(fn_name: str, fn: Callable[..., Any], *args: Any, case: str = "", **kwargs: Any) -> tuple[bool, Any]:
    """Call ``fn``; on an exception print NOT DONE / FAIL and return ``(False, None)``, else ``(True, result)``."""
    try:
        return True, fn(*args, **kwargs)
    except NotImplementedError as error:
        print(_not_done_message(fn_name, error))
    except Exception as error:  # a visible check reports, it does not crash the notebook
        where = f"\n  case: {case}" if case else ""
        print(f"FAIL: {fn_name} raised {type(error).__name__}: {error}{where}")
    return False, None


def _fail(fn_name: str, case: str, problem: str, hint: str) -> bool:
    print(f"FAIL: {fn_name}, case: {case}\n  {problem}\n  hint: {hint}")
    return False


def _pass(fn_name: str, what: str) -> bool:
    print(f"PASS: {fn_name} ({what})")
    return True


def _close(got: Any, expected: float, atol: float = 1e-4) -> bool:
    if isinstance(got, Tensor):
        got = got.detach()
    try:
        return abs(float(got) - expected) <= atol
    except (TypeError, ValueError, RuntimeError):
        return False


def _rounded(x: torch.Tensor) -> list:
    return x.detach().double().round(decimals=4).tolist()


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


_DISCOUNTED_RETURNS_CASES = [
    Case(
        "one episode of 3 steps, gamma = 0.5",
        dict(rewards=_t([1.0, 1.0, 1.0]), dones=_t([0.0, 0.0, 1.0]), gamma=0.5),
        _t([1.75, 1.5, 1.0]),
        "go backwards in time: G_2 = r_2, then G_1 = r_1 + gamma * G_2, ...",
    ),
    Case(
        "gamma = 0: returns equal rewards",
        dict(rewards=_t([3.0, -1.0, 2.0]), dones=_t([0.0, 0.0, 0.0]), gamma=0.0),
        _t([3.0, -1.0, 2.0]),
        "with gamma = 0 nothing is carried over from the future.",
    ),
    Case(
        "two episodes in one row (done at t = 1), gamma = 0.9",
        dict(rewards=_t([1.0, 2.0, 3.0, 4.0]), dones=_t([0.0, 1.0, 0.0, 1.0]), gamma=0.9),
        _t([2.8, 2.0, 6.6, 4.0]),
        "a step with done_t = 1 must not add gamma * G_{t+1}: multiply by (1 - done_t).",
    ),
    Case(
        "batch of 2 rows [2, 3], time last, gamma = 1",
        dict(rewards=_t([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]), dones=_t([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), gamma=1.0),
        _t([[6.0, 5.0, 3.0], [1.0, 1.0, 1.0]]),
        "time is the last axis; index with [..., t] so leading (batch) dimensions are kept.",
    ),
]


def check_discounted_returns(fn: Callable[..., torch.Tensor]) -> bool:
    """Visible check of ``discounted_returns(rewards, dones, gamma)`` on hand-computed cases."""
    return run_cases("discounted_returns", fn, _DISCOUNTED_RETURNS_CASES)


# --------------------------------------------------------------------------------------------------
# paired_difference
# --------------------------------------------------------------------------------------------------
def _array(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


def check_paired_difference(fn: Callable[..., Any]) -> bool:
    """Visible check of ``paired_difference(curve_a, curve_b, unit) -> (mean, half_width)``.

    Hand-computed cases (t quantiles from a table: t_{0.975, 2} = 4.302653, t_{0.975, 3} = 3.182446):

    * differences 1, 2, 3 at unit 1: mean 2, s_d = 1, half-width 4.302653 / sqrt(3) = 2.484138;
    * B = A - 0.25 on every task: all differences equal, so the paired half-width is 0, although
      the tasks' returns vary a lot (an unpaired interval would be wide);
    * [seeds, tasks, units] = [2, 2, 1], differences 1, 2, 3, 4: mean 2.5, s_d = sqrt(5/3),
      half-width 3.182446 * sqrt(5/3) / 2 = 2.054260 (seeds and tasks are all pairs).
    """
    name = "paired_difference"
    cases = [
        (
            "3 tasks, 2 units, differences 1, 2, 3 at unit 1",
            (_array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]]), _array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), 1),
            (2.0, 2.484138),
            "d_i = a[i, unit] - b[i, unit]; the half-width is t_{0.975, n-1} * std(d, ddof=1) / sqrt(n): "
            "mean_ci(d, axis=None)",
        ),
        (
            "paired: b = a - 0.25 on 3 very different tasks, unit 0",
            (_array([[0.1, 0.0], [0.5, 0.0], [0.9, 0.0]]), _array([[-0.15, 0.0], [0.25, 0.0], [0.65, 0.0]]), 0),
            (0.25, 0.0),
            "compute the interval of the differences d_i, not of each method: identical differences give "
            "a zero-width interval",
        ),
        (
            "[seeds, tasks, units] = [2, 2, 1], differences 1, 2, 3, 4",
            (_array([[[1.0], [2.0]], [[3.0], [4.0]]]), _array([[[0.0], [0.0]], [[0.0], [0.0]]]), 0),
            (2.5, 2.054260),
            "index the last axis (curve[..., unit]) and flatten the differences over seeds and tasks",
        ),
    ]
    for case, args, (mean, half_width), hint in cases:
        done, got = _attempt(name, fn, *args, case=case)
        if not done:
            return False
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return _fail(name, case, f"expected a tuple (mean, half_width), got {got!r}", "return mean, half_width")
        if not (_close(got[0], mean) and _close(got[1], half_width)):
            return _fail(name, case, f"expected ({mean}, {half_width}), got {tuple(got)}", hint)
    return _pass(name, f"{len(cases)} hand-computed cases")


# --------------------------------------------------------------------------------------------------
# MAML: a one-feature linear policy whose loss, gradient and Hessian can be computed by hand
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
        d^2 L / dW[1, 0]^2 = -(1/2) pi (1 - pi) c^2 = -(3/32) (ln 3)^2
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


_INNER_LOSS_HINT = (
    "returns G = discounted_returns(...); baseline = masked_mean of G over the episode axis (dim=1, keepdim); "
    "A = normalize_advantages(G - baseline, masks); log pi(a|s) from functional_forward(policy, params, obs); "
    "loss = policy_gradient_surrogate(log_probs, A, masks)"
)


def check_inner_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``inner_loss(policy, params, batch, gamma)`` on two hand-computed batches
    (see ``_batch_one_step`` and ``_batch_two_steps`` for the derivations), and of its gradient."""
    name = "inner_loss"
    cases = [
        ("two one-step episodes", _batch_one_step(), -math.log(2.0) / 2),
        ("two two-step episodes, one falls, gamma = 0.5", _batch_two_steps(), -math.sqrt(1.5) * math.log(2.0) / 3),
    ]
    for case, batch, expected in cases:
        policy, params = _linear_policy()
        done, loss = _attempt(name, fn, policy, params, batch, 0.5, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            return _fail(name, case, f"expected a scalar tensor, got {loss!r}", "return the loss as a 0-d tensor")
        if not _close(loss, expected):
            hint = _INNER_LOSS_HINT
            if _close(loss, -expected):
                hint = "the sign is flipped: the loss to minimise is MINUS the mean of log pi * A"
            return _fail(name, case, f"expected {expected:.6f}, got {float(loss.detach()):.6f}", hint)
    policy, params = _linear_policy()
    case = "gradient on the one-step episodes"
    done, loss = _attempt(name, fn, policy, params, _batch_one_step(), 0.5, case=case)
    if not done:
        return False
    if not loss.requires_grad:
        return _fail(name, case, "the loss does not depend on params", "use functional_forward(policy, params, ...)")
    (grad,) = torch.autograd.grad(loss, [params["weight"]])
    expected = -0.375 * _LN3
    if not (_close(grad[1, 0], expected) and _close(grad[0, 0], -expected)):
        return _fail(
            name,
            case,
            f"expected dL/dW[1,0] = {expected:.6f}, got {float(grad[1, 0]):.6f}",
            "the advantages are constants; only log pi(a|s) carries the gradient",
        )
    return _pass(name, "2 hand-computed losses and a gradient")


def check_inner_step(fn: Callable[..., dict]) -> bool:
    """Visible check of ``inner_step(policy, params, batch, inner_lr, gamma, first_order)`` on the
    one-step batch with inner_lr = 1: W'[1, 0] = 1 + (3/8) ln 3, W'[0, 0] = -(3/8) ln 3; the graph back
    to W is kept: dW'[1, 0] / dW[1, 0] = 1 + (3/32) (ln 3)^2 = 1.113151 (second order) or exactly 1
    (first order)."""
    name = "inner_step"
    step = 0.375 * _LN3
    for first_order, slope in ((False, 1.0 + 0.09375 * _LN3**2), (True, 1.0)):
        case = f"one-step episodes, inner_lr = 1, first_order = {first_order}"
        policy, params = _linear_policy()
        weight = params["weight"]
        done, new = _attempt(name, fn, policy, params, _batch_one_step(), 1.0, 0.5, first_order, case=case)
        if not done:
            return False
        if not isinstance(new, dict) or set(new) != set(params):
            return _fail(name, case, f"expected a dict with keys {sorted(params)}, got {new!r}", "keep the names")
        if not isinstance(new["weight"], Tensor) or new["weight"].shape != weight.shape:
            return _fail(name, case, "the new weight has the wrong type or shape", "one new tensor per parameter")
        if new["weight"] is weight or not torch.equal(weight.detach(), _t([[0, 0, 0, 0], [1, 0, 0, 0]])):
            return _fail(
                name, case, "params was modified in place", "return new tensors theta - lr * grad; leave params as is"
            )
        expected = _t([[-step, 0, 0, 0], [1 + step, 0, 0, 0]])
        if not torch.allclose(new["weight"].detach(), expected, atol=1e-4):
            return _fail(
                name,
                case,
                f"expected W' = {_rounded(expected)}, got {_rounded(new['weight'])}",
                "theta' = theta - inner_lr * grad of inner_loss (check inner_loss first; minus sign)",
            )
        if not new["weight"].requires_grad:
            return _fail(
                name,
                case,
                "W' is cut from W (no gradient can flow back to the meta-parameters)",
                "compute theta - inner_lr * grad from params: no .data, .detach(), torch.no_grad() or optimiser",
            )
        (grad,) = torch.autograd.grad(new["weight"][1, 0], [weight], allow_unused=True)
        got = 0.0 if grad is None else float(grad[1, 0])
        if not _close(got, slope):
            hint = (
                "with first_order=False the gradient must itself be differentiable: "
                "torch.autograd.grad(..., create_graph=True)"
                if not first_order
                else "with first_order=True treat the gradient as a constant (create_graph=False)"
            )
            return _fail(name, case, f"expected dW'[1,0]/dW[1,0] = {slope:.6f}, got {got:.6f}", hint)
    return _pass(name, "values, graph kept, second- and first-order derivatives")


def check_meta_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order)``.

    * inner_lr = 0: no adaptation, the mean of the two hand-computed losses (-0.346574 - 0.282976) / 2;
    * inner_lr = 1, the one-step batch as D and D': u' = 1 + (3/4) ln 3 and the meta-loss is
      (1/2) log sigmoid(-u' ln 3) + (ln 2) / 2 = -0.718575; its gradient dL/dW[1, 0] is L'(u') du'/du
      = -0.484047 * (1 + (3/16) (ln 3)^2) = -0.593589 with the second-order term, -0.484047 without.
    """
    name = "meta_loss"
    one, two = _batch_one_step(), _batch_two_steps()
    policy, params = _linear_policy()
    case = "inner_lr = 0, two tasks"
    done, loss = _attempt(name, fn, policy, params, [one, two], [one, two], 0.0, 0.5, False, case=case)
    if not done:
        return False
    expected = (-math.log(2.0) / 2 - math.sqrt(1.5) * math.log(2.0) / 3) / 2
    if not isinstance(loss, Tensor) or not _close(loss, expected):
        return _fail(
            name,
            case,
            f"expected {expected:.6f}, got {loss!r}",
            "the mean over tasks of inner_loss(policy, adapted_i, outer_batches[i], gamma) (check inner_loss first)",
        )
    for first_order, slope in ((False, -0.593589), (True, -0.484047)):
        case = f"inner_lr = 1, one task, first_order = {first_order}"
        policy, params = _linear_policy()
        done, loss = _attempt(name, fn, policy, params, [one], [one], 1.0, 0.5, first_order, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or not _close(loss, -0.718575):
            return _fail(
                name,
                case,
                f"expected -0.718575, got {loss!r}",
                "adapt with inner_step(policy, params, inner_batches[i], ...) and evaluate inner_loss with the "
                "adapted parameters on outer_batches[i]",
            )
        if not loss.requires_grad:
            return _fail(name, case, "the meta-loss does not depend on params", "no .detach() / torch.no_grad()")
        (grad,) = torch.autograd.grad(loss, [params["weight"]])
        if not _close(grad[1, 0], slope):
            hint = (
                "the meta-gradient ignores the second-order term: with first_order=False inner_step must use "
                "create_graph=True and meta_loss must pass first_order on (check_inner_step first)"
                if not first_order
                else "pass first_order on to inner_step"
            )
            return _fail(name, case, f"expected dL/dW[1,0] = {slope}, got {float(grad[1, 0]):.6f}", hint)
    return _pass(name, "hand-computed meta-losses and meta-gradients")


def _distance(params: dict, reference: dict) -> float:
    return float(sum(((params[key].detach() - value) ** 2).sum() for key, value in reference.items()).sqrt())


@contextlib.contextmanager
def _optimisers_refused() -> Iterator[None]:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("adapt must not create a torch.optim optimiser")

    original = torch.optim.Optimizer.__init__
    torch.optim.Optimizer.__init__ = refuse
    try:
        yield
    finally:
        torch.optim.Optimizer.__init__ = original


def check_adapt(fn: Callable[..., list]) -> bool:
    """Visible check of ``adapt(policy, params, tasks, num_steps, ...)``: invariants on two flip tasks.

    No optimiser; one dict per task with the names and shapes of ``params``; 0 steps leave theta; 2 steps
    change it, differently for the two tasks; the same seed gives the same result; theta is unchanged
    and the adapted parameters are differentiable functions of it.
    """
    name = "adapt"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        policy = MLP(4, 2, (16,), output_gain=0.5)
    theta = dict(policy.named_parameters())
    before = {key: value.detach().clone() for key, value in theta.items()}
    tasks = [Task("flip", action_sign=1.0), Task("flip", action_sign=-1.0)]
    settings = dict(inner_lr=2.0, gamma=0.99, episodes_per_step=8, episode_length=30, seed=0)
    results = {}
    for num_steps in (0, 2, 2):
        case = f"2 flip tasks, num_steps = {num_steps}"
        with _optimisers_refused():
            done, adapted = _attempt(name, fn, policy, theta, tasks, num_steps, **settings, case=case)
        if not done:
            return False
        if not (isinstance(adapted, (list, tuple)) and len(adapted) == len(tasks)):
            return _fail(
                name,
                case,
                f"expected a list of {len(tasks)} dicts, got {type(adapted).__name__}",
                "one dict of adapted parameters per task",
            )
        for task_params in adapted:
            if not isinstance(task_params, dict) or set(task_params) != set(theta):
                return _fail(
                    name,
                    case,
                    "a task's parameters are not a dict with the names of params",
                    "keep the names of params (inner_step does)",
                )
            if any(task_params[key].shape != theta[key].shape for key in theta):
                return _fail(name, case, "a parameter has the wrong shape", "keep the shapes of params")
        if any(not torch.equal(theta[key].detach(), before[key]) for key in theta):
            return _fail(name, case, "params were modified in place", "no optimiser, no .data: build new tensors")
        if num_steps == 0:
            if any(not torch.equal(p[key].detach(), before[key]) for p in adapted for key in theta):
                return _fail(name, case, "0 steps changed the parameters", "with num_steps = 0 return theta per task")
            continue
        if num_steps in results:
            same = all(torch.allclose(a[key], b[key]) for a, b in zip(adapted, results[num_steps]) for key in theta)
            if not same:
                return _fail(
                    name,
                    case,
                    "two calls with the same seed gave different parameters",
                    "sample step j with sample_rollouts(..., seed=seed + j)",
                )
            continue
        results[num_steps] = adapted
        with _optimisers_refused():
            done, one_step = _attempt(name, fn, policy, theta, tasks, 1, **settings, case="num_steps = 1")
        if not done:
            return False
        for k in range(len(tasks)):
            moved_once = _distance(one_step[k], before)
            moved_twice = _distance(adapted[k], before)
            if not moved_twice > moved_once:
                return _fail(
                    name,
                    case,
                    f"task {k}: 2 steps moved theta by {moved_twice:.3f}, 1 step by {moved_once:.3f}",
                    "step j + 1 continues from the task's parameters after step j (not from theta): "
                    "task_params[k] = inner_step(policy, task_params[k], ...)",
                )
        last = "2.bias"
        if torch.allclose(adapted[0][last], before[last]) or torch.allclose(adapted[0][last], adapted[1][last]):
            return _fail(
                name,
                case,
                "the parameters did not change, or are the same for both tasks",
                "each task takes its own inner steps on its own episodes (per_task_feedforward, split_by_task)",
            )
        total = sum(p.sum() for task_params in adapted for p in task_params.values())
        if not total.requires_grad:
            return _fail(
                name,
                case,
                "the adapted parameters are cut from params",
                "use inner_step; no .data, .detach() or optimiser",
            )
        grads = torch.autograd.grad(total, list(theta.values()), allow_unused=True)
        if any(g is None or g.abs().sum() == 0 for g in grads):
            return _fail(
                name,
                case,
                "no gradient flows back to some parameter of theta",
                "theta_{j+1} = theta_j - inner_lr * grad, computed from theta_j",
            )
    return _pass(name, "no optimiser, shapes, per-task adaptation, seeded, differentiable")


# --------------------------------------------------------------------------------------------------
# RL²
# --------------------------------------------------------------------------------------------------
# Hand-computed inputs: x_t = [x, x_dot, 5 * theta, theta_dot, onehot(a_{t-1}), r_{t-1}, d_{t-1}].
_RL2_OBS = _t([[0.5, -1.0, 0.1, 2.0], [0.0, 0.0, -0.2, 0.0]])
_RL2_X = _t([[0.5, -1.0, 0.5, 2.0, 0.0, 1.0, 0.25, 0.0], [0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
_RL2_INPUTS_HINT = "x_t = [s_t * (1, 1, 5, 1), onehot(a_{t-1}), r_{t-1}, d_{t-1}] concatenated on the last axis"

_RL2_INPUTS_CASES = [
    Case(
        "2 environments, A = 2",
        dict(
            obs=_RL2_OBS,
            prev_action=torch.tensor([1, 0]),
            prev_reward=_t([0.25, 0.0]),
            prev_done=_t([0.0, 1.0]),
            num_actions=2,
        ),
        _RL2_X,
        _RL2_INPUTS_HINT + " (the angle theta is multiplied by 5; the action is one-hot)",
    ),
    Case(
        "A = 3, previous action 2",
        dict(
            obs=_t([[0.0, 0.0, 0.0, 0.0]]),
            prev_action=torch.tensor([2]),
            prev_reward=_t([1.0]),
            prev_done=_t([1.0]),
            num_actions=3,
        ),
        _t([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]),
        "onehot(a) has num_actions entries: torch.nn.functional.one_hot(prev_action, num_actions)",
    ),
    Case(
        "leading dimensions [2, 1]",
        dict(
            obs=_RL2_OBS.view(2, 1, 4),
            prev_action=torch.tensor([[1], [0]]),
            prev_reward=_t([[0.25], [0.0]]),
            prev_done=_t([[0.0], [1.0]]),
            num_actions=2,
        ),
        _RL2_X.view(2, 1, 8),
        "work on any leading dimensions: concatenate on the last axis (dim=-1), unsqueeze(-1) the scalars",
    ),
]


def check_rl2_inputs(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``rl2_inputs(obs, prev_action, prev_reward, prev_done, num_actions)``."""
    return run_cases("rl2_inputs", fn, _RL2_INPUTS_CASES)


def _rl2_core(hidden_size: int = 8) -> GRUCore:
    """A seeded GRU core whose policy head is large enough for the hidden state to show in the logits."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        core = GRUCore(8, hidden_size, 2)
        with torch.no_grad():
            core.policy_head.weight.normal_(0.0, 1.0)
    return core


def check_rl2_policy_step(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``rl2_policy_step(core, step) -> (logits, hidden)``: the inputs of the
    ``check_rl2_inputs`` case (so x_t is known), at the start of a trial (state None: zeros) and with a
    carried hidden state where environment 1 starts episode 2 (prev_done = 1: the state is NOT reset)."""
    name = "rl2_policy_step"
    core = _rl2_core()
    carried = torch.full((1, 2, 8), 0.5)
    for state in (None, carried):
        case = "start of a trial (state None)" if state is None else "hidden state carried, prev_done = (0, 1)"
        step = StepInput(
            obs=_RL2_OBS,
            prev_action=torch.tensor([1, 0]),
            prev_reward=_t([0.25, 0.0]),
            prev_done=_t([0.0, 1.0]),
            episode_index=1,
            state=None if state is None else state.clone(),
        )
        with torch.no_grad():
            done, got = _attempt(name, fn, core, step, case=case)
            if not done:
                return False
            expected_logits, _, expected_hidden = core.step(_RL2_X, state)
            zero_logits, _, _ = core.step(_RL2_X, None)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return _fail(
                name,
                case,
                f"expected a tuple (logits, hidden), got {type(got).__name__}",
                "return the logits and the new hidden state",
            )
        logits, hidden = got
        if tuple(logits.shape) != (2, 2) or tuple(hidden.shape) != (1, 2, 8):
            return _fail(
                name,
                case,
                f"expected shapes (2, 2) and (1, 2, 8), got {tuple(logits.shape)} and {tuple(hidden.shape)}",
                "logits [N, A] and the GRU's hidden state [1, N, H]",
            )
        if state is not None and torch.allclose(logits[1], zero_logits[1], atol=1e-5):
            return _fail(
                name,
                case,
                "the hidden state was reset where prev_done = 1",
                "the hidden state must be carried across episode boundaries within a trial; reset it "
                "only at the start of a trial (state None)",
            )
        if not (
            torch.allclose(logits, expected_logits, atol=1e-5) and torch.allclose(hidden, expected_hidden, atol=1e-5)
        ):
            return _fail(
                name,
                case,
                f"expected logits {_rounded(expected_logits)}, got {_rounded(logits)}",
                "x_t = rl2_inputs(...) (check_rl2_inputs first), then core.step(x_t, step.state): "
                "it returns (logits, values, new hidden)",
            )
    return _pass(name, "start of a trial and hidden state carried over prev_done = 1")


def _rl2_trial() -> tuple[RolloutBatch, Tensor]:
    """One trial of 2 episodes of 2 steps, and its 4 input vectors written out by hand (episode-major)."""
    observations = _t([[[[0.1, 0.0, 0.02, 0.0], [0.2, 0.0, 0.04, 0.0]], [[0.0, 0.1, 0.0, 0.0], [0.0, 0.2, 0.0, 0.1]]]])
    actions = torch.tensor([[[1, 0], [1, 1]]])
    rewards = _t([[[1.0, 1.0], [1.0, 0.5]]])
    batch = RolloutBatch(
        observations=observations,
        actions=actions,
        rewards=rewards,
        next_observations=observations,
        masks=torch.ones(1, 2, 2),
        dones=_t([[[0.0, 1.0], [0.0, 1.0]]]),
        log_probs=torch.zeros(1, 2, 2),
        tasks=[Task()],
        episode_length=2,
    )
    inputs = _t(
        [
            [0.1, 0.0, 0.1, 0.0, 1.0, 0.0, 0.0, 0.0],  # episode 1, t = 0: nothing before
            [0.2, 0.0, 0.2, 0.0, 0.0, 1.0, 1.0, 0.0],  # t = 1: a = 1, r = 1 before
            [0.0, 0.1, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0],  # episode 2, t = 0: last step of episode 1 (a = 0, r = 1), d = 1
            [0.0, 0.2, 0.0, 0.1, 0.0, 1.0, 1.0, 0.0],  # t = 1: a = 1, r = 1 before
        ]
    )
    return batch, inputs


def check_rl2_trial_forward(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``rl2_trial_forward(core, batch)`` on one hand-written trial of 2 x 2 steps:
    the result must equal one GRU pass over the 4 input vectors (the trial as ONE sequence)."""
    name = "rl2_trial_forward"
    case = "1 trial, 2 episodes of 2 steps"
    core = _rl2_core()
    batch, inputs = _rl2_trial()
    done, got = _attempt(name, fn, core, batch, case=case)
    if not done:
        return False
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return _fail(name, case, f"expected a tuple (logits, values), got {type(got).__name__}", "return both")
    logits, values = got
    if tuple(logits.shape) != (1, 2, 2, 2) or tuple(values.shape) != (1, 2, 2):
        return _fail(
            name,
            case,
            f"expected shapes (1, 2, 2, 2) and (1, 2, 2), got {tuple(logits.shape)} and {tuple(values.shape)}",
            "reshape the [K, E * T, ...] outputs back to [K, E, T, ...]",
        )
    with torch.no_grad():
        expected_logits, expected_values, _ = core(inputs.unsqueeze(0))
        restarted_logits, _, _ = core(inputs[2:].unsqueeze(0))
    expected_logits, expected_values = expected_logits.view(1, 2, 2, 2), expected_values.view(1, 2, 2)
    if torch.allclose(logits.detach()[0, 1], restarted_logits[0], atol=1e-5):
        return _fail(
            name,
            case,
            "episode 2 was run from a zero hidden state",
            "process the trial as ONE sequence of E * T steps: do not restart the GRU at episode boundaries",
        )
    if not (
        torch.allclose(logits.detach(), expected_logits, atol=1e-5)
        and torch.allclose(values.detach(), expected_values, atol=1e-5)
    ):
        return _fail(
            name,
            case,
            f"expected logits {_rounded(expected_logits)}, got {_rounded(logits)}",
            "flattened step i = e * T + t; the previous action/reward of step i are those of step i - 1 "
            "(0 for i = 0, carried over episode boundaries); d = 1 on the first step of episodes 2..E",
        )
    if not logits.requires_grad:
        return _fail(
            name, case, "the logits carry no gradient", "no torch.no_grad() inside: rl2_loss trains through it"
        )
    return _pass(name, "one hand-written trial, one GRU pass")


def _rl2_constant_core() -> GRUCore:
    """A core with all GRU weights 0, so h_t = 0 at every step: logits = policy bias (0, ln 3), i.e.
    pi = (1/4, 3/4), and V = value bias = 0.5 everywhere."""
    core = GRUCore(8, 4, 2)
    with torch.no_grad():
        for parameter in core.parameters():
            parameter.zero_()
        core.policy_head.bias.copy_(_t([0.0, math.log(3.0)]))
        core.value_head.bias.fill_(0.5)
    return core


def check_rl2_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``rl2_loss`` on one hand-computed trial of 3 steps (the core of
    ``_rl2_constant_core``: pi = (1/4, 3/4), V = 0.5), clip 0.2, c_V = 0.5, c_H = 0.01.

    Actions (1, 0, 1), masks (1, 1, 0), old log-probs (log 3/8, log 1/4, log 3/4): ratios (2, 1, 1).
    Advantages (1, 3, 100): L_pi = -(min(2 * 1, 1.2 * 1) + 3) / 2 = -2.1 (step 3 is masked).
    Value targets (1.5, 0.5, 2.5): L_V = ((-1)^2 + 0^2 + (-2)^2) / 3 = 5/3 (every step counts).
    H = -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.562335.  L = -2.1 + 0.5 * 5/3 - 0.01 * 0.562335 = -1.272290.
    dL/d(value bias) = 0.5 * mean(2 (V - V_targ)) = -1.
    """
    name = "rl2_loss"
    case = "1 trial of 3 steps, hand-computed"
    core = _rl2_constant_core()
    observations = torch.zeros(1, 1, 3, 4)
    batch = RolloutBatch(
        observations=observations,
        actions=torch.tensor([[[1, 0, 1]]]),
        rewards=_t([[[1.0, 1.0, 0.0]]]),
        next_observations=observations,
        masks=_t([[[1.0, 1.0, 0.0]]]),
        dones=_t([[[0.0, 1.0, 0.0]]]),
        log_probs=torch.log(_t([[[3 / 8, 1 / 4, 3 / 4]]])),
        tasks=[Task()],
        episode_length=3,
    )
    done, loss = _attempt(
        name, fn, core, batch, _t([[[1.0, 3.0, 100.0]]]), _t([[[1.5, 0.5, 2.5]]]), 0.2, 0.5, 0.01, case=case
    )
    if not done:
        return False
    expected = -2.1 + 0.5 * 5 / 3 - 0.01 * 0.562335
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        return _fail(name, case, f"expected a scalar tensor, got {loss!r}", "return the loss as a 0-d tensor")
    if not _close(loss, expected):
        got = float(loss.detach())
        hint = "L = L_pi + c_V * L_V - c_H * H (ppo_clip_loss, categorical_entropy with the masks)"
        if _close(got, -2.1 + 0.5 * 0.5 - 0.01 * 0.562335):
            hint = "average the value loss over EVERY step, not only the valid ones (see the docstring)"
        return _fail(name, case, f"expected {expected:.6f}, got {got}", hint)
    if not loss.requires_grad:
        return _fail(name, case, "the loss carries no gradient", "no torch.no_grad() or .detach() on the outputs")
    (grad,) = torch.autograd.grad(loss, [core.value_head.bias])
    if not _close(grad[0], -1.0):
        return _fail(
            name,
            case,
            f"expected dL/d(value bias) = -1, got {float(grad[0]):.6f}",
            "the value loss is c_V * mean over every step of (V - V_targ)^2",
        )
    return _pass(name, "a hand-computed trial: clipping, masks, value loss, entropy")


# --------------------------------------------------------------------------------------------------
# PEARL
# --------------------------------------------------------------------------------------------------
def check_product_of_gaussians(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``product_of_gaussians(mus, variances, mask=None) -> (mu, var)`` by hand.

    N(0, 1) x N(2, 1): precisions 1 + 1, var = 1/2, mu = (0 + 2) / 2 = 1.
    N(0, 1) x N(3, 2): precisions 1 + 1/2, var = 2/3, mu = 2/3 * (0/1 + 3/2) = 1 (not the average 1.5).
    Adding a padded factor (mask 0) or reversing the order changes nothing.
    """
    name = "product_of_gaussians"
    cases = [
        ("N(0, 1) x N(2, 1)", (_t([[0.0], [2.0]]), _t([[1.0], [1.0]])), {}, ([1.0], [0.5])),
        ("N(0, 1) x N(3, 2): precision-weighted", (_t([[0.0], [3.0]]), _t([[1.0], [2.0]])), {}, ([1.0], [2 / 3])),
        ("the same in reverse order", (_t([[3.0], [0.0]]), _t([[2.0], [1.0]])), {}, ([1.0], [2 / 3])),
        (
            "a third, padded factor N(100, 0.01) with mask 0",
            (_t([[0.0], [3.0], [100.0]]), _t([[1.0], [2.0], [0.01]])),
            {"mask": _t([1.0, 1.0, 0.0])},
            ([1.0], [2 / 3]),
        ),
        (
            "2 latent dims, a leading task axis [1, 2, 2]",
            (_t([[[0.0, 1.0], [3.0, 1.0]]]), _t([[[1.0, 1.0], [2.0, 1.0]]])),
            {},
            ([[1.0, 1.0]], [[2 / 3, 0.5]]),
        ),
    ]
    hint = "var = 1 / sum_n (m_n / sigma_n^2), mu = var * sum_n (m_n * mu_n / sigma_n^2): sum over the N axis (-2)"
    for case, args, kwargs, (mu, var) in cases:
        done, got = _attempt(name, fn, *args, **kwargs, case=case)
        if not done:
            return False
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return _fail(name, case, f"expected a tuple (mu, var), got {type(got).__name__}", "return mu, var")
        expected_mu, expected_var = _t(mu), _t(var)
        got_mu, got_var = got
        if got_mu.shape != expected_mu.shape or got_var.shape != expected_var.shape:
            return _fail(
                name,
                case,
                f"expected shapes {tuple(expected_mu.shape)}, got {tuple(got_mu.shape)} and {tuple(got_var.shape)}",
                "reduce over the N axis (dim=-2) only",
            )
        if not (
            torch.allclose(got_mu.detach(), expected_mu, atol=1e-4)
            and torch.allclose(got_var.detach(), expected_var, atol=1e-4)
        ):
            extra = ""
            if "precision" in case and _close(got_mu.detach().reshape(-1)[0], 1.5):
                extra = " (the plain average of the means: a product of Gaussians weights each mean by its precision)"
            return _fail(
                name,
                case,
                f"expected mu {mu}, var {var}; got mu {_rounded(got_mu)}, var {_rounded(got_var)}{extra}",
                hint,
            )
    return _pass(name, f"{len(cases)} hand-computed products")


_KL_CASES = [
    Case("q = N(0, I): KL = 0", dict(mu=_t([0.0, 0.0]), var=_t([1.0, 1.0])), _t(0.0), "KL(p || p) = 0"),
    Case(
        "mu = (1, 0), var = (1, 1): KL = 1/2",
        dict(mu=_t([1.0, 0.0]), var=_t([1.0, 1.0])),
        _t(0.5),
        "KL = 1/2 * sum_l (var_l + mu_l^2 - 1 - log var_l), which is never negative",
    ),
    Case(
        "mu = 0, var = e: KL = (e - 2) / 2",
        dict(mu=_t([0.0]), var=_t([math.e])),
        _t((math.e - 2.0) / 2.0),
        "do not forget the - log var_l term (log e = 1)",
    ),
    Case(
        "a batch of 2 posteriors [2, 2]: one KL per row",
        dict(mu=_t([[1.0, 0.0], [0.0, 0.0]]), var=_t([[1.0, 1.0], [1.0, 1.0]])),
        _t([0.5, 0.0]),
        "sum over the last axis (latent dimensions) only: .sum(dim=-1)",
    ),
]


def check_kl_to_standard_normal(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``kl_to_standard_normal(mu, var)`` on hand-computed KLs."""
    return run_cases("kl_to_standard_normal", fn, _KL_CASES)


def check_infer_posterior(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``infer_posterior(encoder, context, mask, min_variance)`` with an encoder that
    copies its input: context c_n = (a_n, b_n) gives mu_n = a_n and rho_n = b_n (latent dim 1).

    b = (ln(e - 1), ln(e^2 - 1)) makes softplus(b) = (1, 2); with a = (0, 3):
    min_variance = 0: the product of N(0, 1) and N(3, 2) = (mu 1, var 2/3);
    min_variance = 0.5: variances (1.5, 2.5), var = 1 / (2/3 + 2/5) = 0.9375, mu = 0.9375 * 3 / 2.5 = 1.125.
    """
    name = "infer_posterior"
    encoder = nn.Linear(2, 2)
    with torch.no_grad():
        encoder.weight.copy_(torch.eye(2))
        encoder.bias.zero_()
    context = _t([[0.0, math.log(math.e - 1.0)], [3.0, math.log(math.e**2 - 1.0)]])
    padded = torch.cat([context, _t([[100.0, 0.0]])])
    cases = [
        ("two transitions, min_variance = 0", (context,), {"min_variance": 0.0}, (1.0, 2 / 3)),
        ("two transitions, min_variance = 0.5", (context,), {"min_variance": 0.5}, (1.125, 0.9375)),
        ("a third, padded transition (mask 0)", (padded, _t([1.0, 1.0, 0.0])), {"min_variance": 0.0}, (1.0, 2 / 3)),
    ]
    hint = (
        "first half of encoder(context) = means, second half -> variances softplus(.) + min_variance, "
        "then product_of_gaussians(means, variances, mask)"
    )
    for case, args, kwargs, (mu, var) in cases:
        done, got = _attempt(name, fn, encoder, *args, **kwargs, case=case)
        if not done:
            return False
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return _fail(name, case, f"expected a tuple (mu, var), got {type(got).__name__}", "return mu, var")
        got_mu, got_var = got
        if got_mu.shape != (1,) or got_var.shape != (1,):
            return _fail(
                name,
                case,
                f"expected shapes (1,), got {tuple(got_mu.shape)}, {tuple(got_var.shape)}",
                "split the last axis of the encoder output in two halves of L",
            )
        if not (_close(got_mu, mu) and _close(got_var, var)):
            return _fail(
                name,
                case,
                f"expected (mu, var) = ({mu:.4f}, {var:.4f}), got ({float(got_mu.detach()):.4f}, "
                f"{float(got_var.detach()):.4f})",
                hint,
            )
    if not got_mu.requires_grad:
        return _fail(name, "gradient", "the posterior carries no gradient to the encoder", "no torch.no_grad()")
    return _pass(name, "hand-computed posteriors with an identity encoder")


def check_sample_latent(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``sample_latent(mu, var, generator)``: shape; reparameterised (dz/dmu = 1 and
    dz/dvar = (z - mu) / (2 var), true of z = mu + sqrt(var) * eps for any eps); 20000 draws of
    N((0, 1.5, -2), (1, 0.25, 4)) have about that mean and variance; same generator seed, same z."""
    name = "sample_latent"
    mu = _t([[0.0, 1.0], [2.0, -1.0]]).requires_grad_(True)
    var = _t([[1.0, 4.0], [0.25, 2.0]]).requires_grad_(True)
    case = "mu, var [2, 2]"
    done, z = _attempt(name, fn, mu, var, torch.Generator().manual_seed(0), case=case)
    if not done:
        return False
    if not isinstance(z, Tensor) or z.shape != mu.shape:
        return _fail(name, case, f"expected z of shape (2, 2), got {z!r}", "one sample per row: the shape of mu")
    if not z.requires_grad:
        return _fail(
            name,
            case,
            "z carries no gradient",
            "reparameterise: z = mu + sqrt(var) * eps with eps ~ N(0, I) (torch.normal is not differentiable)",
        )
    d_mu, d_var = torch.autograd.grad(z.sum(), [mu, var], allow_unused=True)
    if d_mu is None or not torch.allclose(d_mu, torch.ones(2, 2)):
        return _fail(
            name,
            case,
            "dz/dmu is not 1",
            "reparameterise: z = mu + sqrt(var) * eps; torch.normal(mu, std) gives no gradient to mu and var",
        )
    if d_var is None or not torch.allclose(d_var, (z.detach() - mu.detach()) / (2 * var.detach()), atol=1e-5):
        return _fail(name, case, "dz/dvar is not eps / (2 sqrt(var))", "var is a variance: multiply eps by sqrt(var)")
    again = fn(mu.detach(), var.detach(), torch.Generator().manual_seed(0))
    if not torch.allclose(again, z.detach()):
        return _fail(
            name,
            "same generator seed twice",
            "different samples",
            "draw eps with the generator: torch.randn(mu.shape, generator=generator, ...)",
        )
    case = "20000 draws"
    big_mu, big_var = _t([0.0, 1.5, -2.0]).expand(20000, 3), _t([1.0, 0.25, 4.0]).expand(20000, 3)
    done, samples = _attempt(name, fn, big_mu, big_var, torch.Generator().manual_seed(1), case=case)
    if not done:
        return False
    mean, variance = samples.mean(0), samples.var(0)
    if not (torch.allclose(mean, big_mu[0], atol=0.05) and torch.allclose(variance, big_var[0], rtol=0.1)):
        return _fail(
            name,
            case,
            f"mean {_rounded(mean)}, variance {_rounded(variance)}; expected (0, 1.5, -2) and (1, 0.25, 4)",
            "z = mu + sqrt(var) * eps: the standard deviation is sqrt(var)",
        )
    return _pass(name, "shape, reparameterisation gradients, distribution, reproducible")


def check_sac_critic_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``sac_critic_loss`` by hand, A = 2, alpha = 0.5, gamma = 0.5, r = 1, action 1.

    next_logits (0, 0): pi = (1/2, 1/2); target critics (1, 4) and (2, 3): min = (1, 3);
    V(s') = 1/2 (1 + 0.5 ln 2) + 1/2 (3 + 0.5 ln 2) = 2 + 0.5 ln 2;  y = 1 + 0.5 V = 2.173287.
    Q1(s, 1) = 2, Q2(s, 1) = 3: L = (2 - y)^2 + (3 - y)^2 = 0.713482.  If terminated: y = 1, L = 1 + 4 = 5.
    Both rows in one batch: the means over the batch, (0.030028 + 1) / 2 + (0.683454 + 4) / 2 = 2.856741.
    """
    name = "sac_critic_loss"

    def inputs(terminated: list) -> dict:
        rows = len(terminated)
        return dict(
            q1_values=_t([[1.0, 2.0]] * rows).requires_grad_(True),
            q2_values=_t([[0.5, 3.0]] * rows).requires_grad_(True),
            actions=torch.tensor([1] * rows),
            rewards=_t([1.0] * rows),
            terminated=_t(terminated),
            next_logits=torch.zeros(rows, 2),
            next_target_q1=_t([[1.0, 4.0]] * rows).requires_grad_(True),
            next_target_q2=_t([[2.0, 3.0]] * rows).requires_grad_(True),
            alpha=0.5,
            gamma=0.5,
        )

    cases = [
        ("not terminated", [0.0], 0.713482, "V(s') = sum_a pi(a|s') (min(Q1_targ, Q2_targ) - alpha log pi(a|s'))"),
        ("terminated: no bootstrap", [1.0], 5.0, "y = r + gamma * (1 - d) * V(s')"),
        ("both rows in a batch of 2", [0.0, 1.0], 2.856741, "average each squared error over the batch"),
    ]
    for case, terminated, expected, hint in cases:
        args = inputs(terminated)
        done, loss = _attempt(name, fn, **args, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or not _close(loss, expected):
            return _fail(name, case, f"expected {expected}, got {loss!r}", hint)
        target_grads = torch.autograd.grad(
            loss, [args["next_target_q1"], args["next_target_q2"]], allow_unused=True, retain_graph=True
        )
        if any(g is not None and g.abs().sum() > 0 for g in target_grads):
            return _fail(
                name,
                case,
                "gradient flows into the target critics",
                "compute the target y under torch.no_grad() (or .detach() it)",
            )
        if not loss.requires_grad:
            return _fail(name, case, "no gradient reaches q1_values and q2_values", "only the target is constant")
    return _pass(name, f"{len(cases)} hand-computed losses, no gradient into the target")


def check_sac_actor_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``sac_actor_loss(logits, q1_values, q2_values, alpha)`` by hand.

    logits (0, 0), Q1 (1, 3), Q2 (2, 2), alpha 0.5: min Q = (1, 2);
    L = 1/2 (0.5 log 1/2 - 1) + 1/2 (0.5 log 1/2 - 2) = -0.5 ln 2 - 1.5 = -1.846574.
    logits (0, ln 3), Q = 0, alpha 1: L = sum_a pi log pi = -0.562335 (minus the entropy).
    """
    name = "sac_actor_loss"
    cases = [
        ("pi = (1/2, 1/2)", _t([[0.0, 0.0]]), _t([[1.0, 3.0]]), _t([[2.0, 2.0]]), 0.5, -0.5 * math.log(2.0) - 1.5),
        ("pi = (1/4, 3/4), Q = 0", _t([[0.0, math.log(3.0)]]), _t([[0.0, 0.0]]), _t([[0.0, 0.0]]), 1.0, -0.562335),
    ]
    for case, logits, q1, q2, alpha, expected in cases:
        q1, q2 = q1.requires_grad_(True), q2.requires_grad_(True)
        logits = logits.requires_grad_(True)
        done, loss = _attempt(name, fn, logits, q1, q2, alpha, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or not _close(loss, expected):
            return _fail(
                name,
                case,
                f"expected {expected:.6f}, got {loss!r}",
                "L = mean_b sum_a pi(a|s) * (alpha * log pi(a|s) - min(Q1, Q2)(s, a))",
            )
        grads = torch.autograd.grad(loss, [logits, q1, q2], allow_unused=True)
        if grads[0] is None:
            return _fail(name, case, "no gradient reaches the logits", "the policy is trained through pi(a|s)")
        if any(g is not None and g.abs().sum() > 0 for g in grads[1:]):
            return _fail(name, case, "gradient flows into the Q-values", "detach the Q-values: they are constants here")
    return _pass(name, f"{len(cases)} hand-computed losses, Q-values constant")
