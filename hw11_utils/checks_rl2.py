"""Visible checks of the RL² TODOs (section 3): ``rl2_inputs``, ``rl2_policy_step``, ``rl2_trial_forward``,
``rl2_loss``.

The checks of ``rl2_policy_step`` and ``rl2_trial_forward`` replace ``rl2_inputs`` by a stand-in: a
different (but fixed) encoding of (s, a, r, d) of the same width, so they test only how *those* functions
build the sequence and carry the hidden state. If your function builds x_t itself without calling
``rl2_inputs``, it is compared with the real encoding instead. The check of ``rl2_loss`` replaces
``rl2_trial_forward`` by the exact output of its constant network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from hw11_utils.checks_core import Case, Spy, attempt, close, fail, passed, rounded, visible_check, with_stand_ins
from hw11_utils.checks_core import tensor as _t
from hw11_utils.networks import LSTMCore
from hw11_utils.rollouts import RolloutBatch, StepInput
from hw11_utils.tasks import Task


# --------------------------------------------------------------------------------------------------
# rl2_inputs: what each column of x_t holds
# --------------------------------------------------------------------------------------------------
def describe_input_columns(
    got: Tensor, obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor, num_actions: int
) -> str:
    """A diagnosis of an ``rl2_inputs`` result: what each column of its last axis holds, compared with the
    pieces it should hold, e.g. 'the last axis of your x_t holds [x, x_dot, 5 theta, theta_dot, [a_{t-1} = 0],
    [a_{t-1} = 1], d_{t-1}] (7 numbers) ...: it lacks r_{t-1}'. Empty when the columns are the expected ones."""
    onehot = [f"[a_{{t-1}} = {k}]" for k in range(num_actions)]
    expected = ["x", "x_dot", "5 theta", "theta_dot", *onehot, "r_{t-1}", "d_{t-1}"]
    pieces = [obs[..., 0], obs[..., 1], 5.0 * obs[..., 2], obs[..., 3]]
    pieces += [(prev_action == k).float() for k in range(num_actions)] + [prev_reward, prev_done]
    candidates = dict(zip(expected, pieces))
    candidates["theta (not scaled by 5)"] = obs[..., 2]
    if not isinstance(got, Tensor) or got.dim() != obs.dim() or got.shape[:-1] != obs.shape[:-1]:
        return ""
    labels = []
    for j in range(got.shape[-1]):
        column = got.detach()[..., j].double()
        match = (label for label, value in candidates.items() if torch.allclose(column, value.double(), atol=1e-5))
        labels.append(next(match, "?"))
    if labels == expected:
        return ""
    text = (
        f"the last axis of your x_t holds [{', '.join(labels)}] ({len(labels)} numbers); expected "
        f"[{', '.join(expected)}] (4 + A + 2 = {len(expected)})"
    )
    missing = [label for label in expected if label not in labels]
    if missing:
        text += f": it lacks {', '.join(missing)}"
    index = prev_action.double()
    if any(label in missing for label in onehot) and any(
        torch.allclose(got.detach()[..., j].double(), index) for j in range(got.shape[-1])
    ):
        text += " (one column equals the action index a_{t-1}: the previous action is one-hot, A entries)"
    return text


_RL2_OBS = _t([[0.5, -1.0, 0.1, 2.0], [0.0, 0.0, -0.2, 0.0]])
_RL2_X = _t([[0.5, -1.0, 0.5, 2.0, 0.0, 1.0, 0.25, 0.0], [0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
_RL2_INPUTS_HINT = "x_t = [s_t * (1, 1, 5, 1), onehot(a_{t-1}), r_{t-1}, d_{t-1}] on the last axis (see the docstring)"

RL2_INPUTS_CASES = [
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
        _RL2_INPUTS_HINT,
    ),
    Case(
        "A = 3, previous action 2",
        dict(
            obs=_t([[0.1, 0.2, 0.3, 0.4]]),
            prev_action=torch.tensor([2]),
            prev_reward=_t([0.7]),
            prev_done=_t([1.0]),
            num_actions=3,
        ),
        _t([[0.1, 0.2, 1.5, 0.4, 0.0, 0.0, 1.0, 0.7, 1.0]]),
        "the one-hot previous action has num_actions entries",
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
        "any number of leading dimensions: the pieces are joined on the LAST axis",
    ),
]


@visible_check("rl2_inputs")
def check_rl2_inputs(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``rl2_inputs(obs, prev_action, prev_reward, prev_done, num_actions)``; a wrong result
    is described column by column."""
    name = "rl2_inputs"
    for case in RL2_INPUTS_CASES:
        inputs = {k: v.clone() if isinstance(v, Tensor) else v for k, v in case.inputs.items()}
        done, got = attempt(name, fn, **inputs, case=case.name)
        if not done:
            return False
        if not isinstance(got, Tensor):
            return fail(name, case.name, f"expected a torch.Tensor, got {type(got).__name__}", _RL2_INPUTS_HINT)
        if got.dtype != torch.float32:
            return fail(name, case.name, f"expected dtype torch.float32, got {got.dtype}", "x_t is float32")
        if tuple(got.shape) == tuple(case.expected.shape) and torch.allclose(got.detach(), case.expected, atol=1e-5):
            continue
        observed = describe_input_columns(got, **{k: v for k, v in case.inputs.items()})
        problem = observed or f"expected {rounded(case.expected)}, got {rounded(got)} (shape {tuple(got.shape)})"
        return fail(name, case.name, problem, case.hint)
    return passed(name, f"{len(RL2_INPUTS_CASES)} hand-computed cases")


def inputs_stand_in(
    obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor, num_actions: int
) -> Tensor:
    """A stand-in for ``rl2_inputs`` used by the checks (NOT the encoding asked for): the same width
    4 + A + 2, a different fixed code of (s, a, r, d)."""
    action = prev_action.to(torch.float32).unsqueeze(-1)
    levels = torch.arange(1, num_actions + 1, dtype=torch.float32) / num_actions
    return torch.cat(
        [
            obs.to(torch.float32),
            0.5 * action * levels - 0.25,
            0.5 * prev_reward.to(torch.float32).unsqueeze(-1),
            prev_done.to(torch.float32).unsqueeze(-1) - 0.5,
        ],
        dim=-1,
    )


def _encoded(rows: Tensor, spied: bool) -> Tensor:
    """Real encodings ``rows`` [..., 8] (A = 2), re-encoded with the stand-in when the student called it."""
    if not spied:
        return rows
    obs = rows[..., :4] * _t([1.0, 1.0, 0.2, 1.0])
    return inputs_stand_in(obs, rows[..., 5].long(), rows[..., 6], rows[..., 7], 2)


# --------------------------------------------------------------------------------------------------
# rl2_policy_step
# --------------------------------------------------------------------------------------------------
def _rl2_core(hidden_size: int = 8) -> LSTMCore:
    """A seeded LSTM core whose policy head is large enough for the hidden state to show in the logits."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        core = LSTMCore(8, hidden_size, 2)
        with torch.no_grad():
            core.policy_head.weight.normal_(0.0, 1.0)
    return core


@visible_check("rl2_policy_step")
def check_rl2_policy_step(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``rl2_policy_step(core, step) -> (logits, hidden)``: the inputs of the
    ``check_rl2_inputs`` case, at the start of a trial (state None: zeros) and with a carried hidden state
    where environment 1 starts episode 2 (prev_done = 1: the state is NOT reset)."""
    name = "rl2_policy_step"
    core = _rl2_core()
    carried = torch.full((1, 2, core.state_size), 0.5)
    for state in (None, carried):
        case = "start of a trial (state None)" if state is None else "hidden state carried, prev_done = (0, 1)"
        spy = Spy(inputs_stand_in)
        step = StepInput(
            obs=_RL2_OBS,
            prev_action=torch.tensor([1, 0]),
            prev_reward=_t([0.25, 0.0]),
            prev_done=_t([0.0, 1.0]),
            episode_index=1,
            state=None if state is None else state.clone(),
        )
        with torch.no_grad():
            done, got = attempt(name, with_stand_ins(fn, rl2_inputs=spy), core, step, case=case)
            if not done:
                return False
            x = _encoded(_RL2_X, bool(spy.calls))
            expected_logits, expected_values, expected_hidden = core.step(x, state)
            zero_logits, _, _ = core.step(x, None)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return fail(
                name,
                case,
                f"expected a tuple (logits, hidden), got {type(got).__name__}",
                "return the logits and the new hidden state",
            )
        logits, hidden = got
        if tuple(logits.shape) != (2, 2) or tuple(hidden.shape) != (1, 2, core.state_size):
            return fail(
                name,
                case,
                f"expected shapes (2, 2) and (1, 2, {core.state_size}), got {tuple(logits.shape)} and "
                f"{tuple(hidden.shape)}",
                "logits [N, A] and the new recurrent state [1, N, 2H] that core.step returns",
            )
        if state is not None and torch.allclose(logits[1], zero_logits[1], atol=1e-5):
            return fail(
                name,
                case,
                "the hidden state was reset where prev_done = 1",
                "the hidden state is carried across episode boundaries within a trial; it starts from "
                "zeros only at the start of a trial (state None)",
            )
        if torch.allclose(logits, expected_values.unsqueeze(-1).expand(2, 2), atol=1e-5):
            return fail(name, case, "you returned the values, not the logits", "core.step returns three things")
        if not (
            torch.allclose(logits, expected_logits, atol=1e-5) and torch.allclose(hidden, expected_hidden, atol=1e-5)
        ):
            return fail(
                name,
                case,
                f"expected logits {rounded(expected_logits)}, got {rounded(logits)}",
                "one LSTM step on x_t from the given state (step.state); return its logits and new hidden state",
            )
    return passed(name, "start of a trial and hidden state carried over prev_done = 1")


# --------------------------------------------------------------------------------------------------
# rl2_trial_forward
# --------------------------------------------------------------------------------------------------
def _rl2_trial() -> tuple[RolloutBatch, Tensor]:
    """One trial of 2 episodes of 2 steps, and its 4 input vectors written out by hand (episode-major)."""
    observations = _t([[[[0.1, 0.0, 0.02, 0.0], [0.2, 0.0, 0.04, 0.0]], [[0.0, 0.1, 0.0, 0.0], [0.0, 0.2, 0.0, 0.1]]]])
    batch = RolloutBatch(
        observations=observations,
        actions=torch.tensor([[[1, 0], [1, 1]]]),
        rewards=_t([[[1.0, 1.0], [1.0, 0.5]]]),
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


def _with(rows: Tensor, **columns: list) -> Tensor:
    """``rows`` with some of its (a, r, d) columns replaced (a: the previous action index)."""
    rows = rows.clone()
    if "a" in columns:
        action = torch.tensor(columns["a"])
        rows[:, 4], rows[:, 5] = (action == 0).float(), (action == 1).float()
    if "r" in columns:
        rows[:, 6] = _t(columns["r"])
    if "d" in columns:
        rows[:, 7] = _t(columns["d"])
    return rows


@visible_check("rl2_trial_forward")
def check_rl2_trial_forward(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``rl2_trial_forward(core, batch)`` on one hand-written trial of 2 x 2 steps:
    the result must equal one LSTM pass over the 4 input vectors (the trial as ONE sequence)."""
    name = "rl2_trial_forward"
    case = "1 trial, 2 episodes of 2 steps"
    core = _rl2_core()
    batch, rows = _rl2_trial()
    spy = Spy(inputs_stand_in)
    done, got = attempt(name, with_stand_ins(fn, rl2_inputs=spy), core, batch, case=case)
    if not done:
        return False
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return fail(name, case, f"expected a tuple (logits, values), got {type(got).__name__}", "return both")
    logits, values = got
    if tuple(logits.shape) != (1, 2, 2, 2) or tuple(values.shape) != (1, 2, 2):
        return fail(
            name,
            case,
            f"expected shapes (1, 2, 2, 2) and (1, 2, 2), got {tuple(logits.shape)} and {tuple(values.shape)}",
            "the outputs are [K, E, T, A] and [K, E, T]: one entry per step of each episode",
        )
    spied = bool(spy.calls)

    def run(inputs: Tensor) -> Tensor:
        with torch.no_grad():
            return core(_encoded(inputs, spied).unsqueeze(0))[0].view(1, 2, 2, 2)

    expected_logits = run(rows)
    with torch.no_grad():
        expected_values = core(_encoded(rows, spied).unsqueeze(0))[1].view(1, 2, 2)
        restarted = core(_encoded(rows[2:], spied).unsqueeze(0))[0]
    got_logits = logits.detach()
    if torch.allclose(got_logits[0, 1], restarted[0], atol=1e-5):
        return fail(
            name,
            case,
            "episode 2 was run from a zero hidden state",
            "the trial is ONE sequence of E * T steps: the LSTM is not restarted at episode boundaries",
        )
    mistakes = [
        (
            _with(rows, a=[1, 0, 1, 1], r=[1.0, 1.0, 1.0, 0.5]),
            "x_t got the action and reward of step t itself; it "
            "holds those of the PREVIOUS step (a_{t-1}, r_{t-1}; zeros at the very first step)",
        ),
        (
            _with(rows, d=[0.0, 0.0, 0.0, 0.0]),
            "d_{t-1} is 1 on the first step of episodes 2..E (it tells the network a new episode began)",
        ),
        (
            _with(rows, a=[0, 1, 0, 1], r=[0.0, 1.0, 0.0, 1.0]),
            "at the first step of episode 2 the previous action and "
            "reward are those of the LAST step of episode 1 (they are carried over the boundary)",
        ),
    ]
    if not torch.allclose(got_logits, expected_logits, atol=1e-5) or not torch.allclose(
        values.detach(), expected_values, atol=1e-5
    ):
        hint = (
            "flatten the trial episode-major (step i = e * T + t); x_i holds the action and reward of step i - 1 "
            "and d = 1 on the first step of episodes 2..E; one LSTM pass over the whole sequence"
        )
        for wrong_rows, diagnosis in mistakes:
            if torch.allclose(got_logits, run(wrong_rows), atol=1e-5):
                hint = diagnosis
        return fail(name, case, f"expected logits {rounded(expected_logits)}, got {rounded(logits)}", hint)
    if not logits.requires_grad:
        return fail(name, case, "the logits carry no gradient", "no torch.no_grad() inside: rl2_loss trains through it")
    return passed(name, "one hand-written trial, one LSTM pass")


# --------------------------------------------------------------------------------------------------
# rl2_loss
# --------------------------------------------------------------------------------------------------
def _rl2_constant_core() -> LSTMCore:
    """A core with all LSTM weights 0, so c_t = h_t = 0 at every step: logits = policy bias (0, ln 3), i.e.
    pi = (1/4, 3/4), and V = value bias = 0.5 everywhere."""
    core = LSTMCore(8, 4, 2)
    with torch.no_grad():
        for parameter in core.parameters():
            parameter.zero_()
        core.policy_head.bias.copy_(_t([0.0, math.log(3.0)]))
        core.value_head.bias.fill_(0.5)
    return core


def _constant_core_forward(core: LSTMCore, batch: RolloutBatch) -> tuple[Tensor, Tensor]:
    """Stand-in for ``rl2_trial_forward`` on the constant core: its exact outputs (the heads' biases)."""
    shape = tuple(batch.actions.shape)
    return core.policy_head.bias.expand(*shape, -1), core.value_head.bias.expand(*shape)


@visible_check("rl2_loss")
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
    student = with_stand_ins(fn, rl2_trial_forward=_constant_core_forward)
    done, loss = attempt(
        name, student, core, batch, _t([[[1.0, 3.0, 100.0]]]), _t([[[1.5, 0.5, 2.5]]]), 0.2, 0.5, 0.01, case=case
    )
    if not done:
        return False
    entropy = 0.562335
    expected = -2.1 + 0.5 * 5 / 3 - 0.01 * entropy
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        return fail(name, case, f"expected a scalar tensor, got {loss!r}", "return the loss as a 0-d tensor")
    if not close(loss, expected):
        got = float(loss.detach())
        hint = "L = L_pi + c_V * L_V - c_H * H (the docstring's equation)"
        mistakes = [
            (
                -2.1 + 0.5 * 0.5 - 0.01 * entropy,
                "the value loss is averaged over EVERY step, not only the valid ones (see the docstring)",
            ),
            (-2.1 + 0.5 * 5 / 3 + 0.01 * entropy, "the entropy is a bonus: it is SUBTRACTED (- c_H * H)"),
            (
                -2.5 + 0.5 * 5 / 3 - 0.01 * entropy,
                "the ratio 2 was not clipped: the policy term uses min(r A, clip(r, 1 - eps, 1 + eps) A)",
            ),
            (-2.1 + 5 / 3 - 0.01 * entropy, "the value loss is weighted by value_coef"),
        ]
        for value, diagnosis in mistakes:
            if close(got, value):
                hint = diagnosis
        return fail(name, case, f"expected {expected:.6f}, got {got:.6f}", hint)
    if not loss.requires_grad:
        return fail(name, case, "the loss carries no gradient", "no torch.no_grad() or .detach() on the outputs")
    (grad,) = torch.autograd.grad(loss, [core.value_head.bias])
    if not close(grad[0], -1.0):
        return fail(
            name,
            case,
            f"expected dL/d(value bias) = -1, got {float(grad[0]):.6f}",
            "the value targets are constants: only V carries gradient in (V - V_targ)^2",
        )
    return passed(name, "a hand-computed trial: clipping, masks, value loss, entropy")


__all__: list[Any] = [
    "check_rl2_inputs",
    "check_rl2_policy_step",
    "check_rl2_trial_forward",
    "check_rl2_loss",
    "describe_input_columns",
    "inputs_stand_in",
]
