"""Tests for solutions/rl2.py: hidden-state carry-over, trial forward pass, loss, training, checkpoints."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hw11_utils.networks import LSTMCore
from hw11_utils.rollouts import StepInput, sample_rollouts
from hw11_utils.tasks import Task, meta_test_tasks
from solutions import rl2
from solutions.rl2 import (
    RL2_QUICK,
    make_rl2_core,
    rl2_inputs,
    rl2_loss,
    rl2_policy,
    rl2_policy_step,
    rl2_trial_forward,
    trial_advantages,
)

CHECKPOINTS = Path(__file__).resolve().parents[1] / "hw11_utils" / "checkpoints"
HIDDEN = 16


def _core(seed: int = 0) -> LSTMCore:
    """A small RL² core whose policy head is large enough for the hidden state to show in the logits."""
    torch.manual_seed(seed)
    core = make_rl2_core(HIDDEN)
    with torch.no_grad():
        core.policy_head.weight.normal_(0.0, 1.0)
    return core


def _recording_policy(core: LSTMCore, record: list):
    """rl2_policy_step, also recording (step, logits, new hidden) of every call."""

    def policy_fn(step: StepInput):
        logits, hidden = rl2_policy_step(core, step)
        record.append((step, logits.clone(), hidden.clone()))
        return logits, hidden

    return policy_fn


def _step_input(num_envs: int, prev_done: float, state, seed: int = 0) -> StepInput:
    generator = torch.Generator().manual_seed(seed)
    return StepInput(
        obs=0.1 * torch.randn(num_envs, 4, generator=generator),
        prev_action=torch.randint(0, 2, (num_envs,), generator=generator),
        prev_reward=torch.rand(num_envs, generator=generator),
        prev_done=torch.full((num_envs,), prev_done),
        episode_index=int(prev_done),
        state=state,
    )


def _per_episode_reset_forward(core: LSTMCore, batch) -> torch.Tensor:
    """The typical mistake, written out: every episode run as its own sequence from a zero state."""
    num_tasks, num_episodes, horizon = batch.actions.shape
    logits = []
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
        inputs = rl2_inputs(batch.observations[:, episode], prev_action, prev_reward, prev_done, 2)
        episode_logits, _, _ = core(inputs)  # h0 = zeros: the hidden state is reset
        logits.append(episode_logits)
    return torch.stack(logits, dim=1)


# ------------------------------------------------------------------------------------- inputs


def test_rl2_inputs_shape_order_and_one_hot():
    obs = torch.tensor([[[0.5, -1.0, 0.1, 2.0], [0.0, 0.0, -0.2, 0.0]]])  # [1, 2, 4]
    prev_action = torch.tensor([[1, 0]])
    prev_reward = torch.tensor([[0.25, 0.0]])
    prev_done = torch.tensor([[0.0, 1.0]])
    x = rl2_inputs(obs, prev_action, prev_reward, prev_done, num_actions=2)
    assert x.shape == (1, 2, 4 + 2 + 2) and x.dtype == torch.float32
    expected = torch.tensor([[[0.5, -1.0, 0.5, 2.0, 0.0, 1.0, 0.25, 0.0],
                              [0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 1.0]]])
    torch.testing.assert_close(x, expected, msg="expected [x, x_dot, 5 * theta, theta_dot, onehot(a), r, done]")
    x3 = rl2_inputs(obs[0], torch.tensor([2, 0]), prev_reward[0], prev_done[0], num_actions=3)
    assert x3.shape == (2, 4 + 3 + 2)
    torch.testing.assert_close(x3[:, 4:7], torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))


# ------------------------------------------------------------------------- hidden-state carry


def test_policy_step_keeps_hidden_state_when_a_new_episode_starts():
    core = _core()
    hidden = 0.5 * torch.randn(1, 3, 2 * HIDDEN, generator=torch.Generator().manual_seed(1))
    step = _step_input(3, prev_done=1.0, state=hidden)
    with torch.no_grad():
        logits, new_hidden = rl2_policy_step(core, step)
        inputs = rl2_inputs(step.obs, step.prev_action, step.prev_reward, step.prev_done, 2)
        expected_logits, _, expected_hidden = core.step(inputs, hidden)
        reset_logits, _, _ = core.step(inputs, None)
    assert logits.shape == (3, 2) and new_hidden.shape == (1, 3, 2 * HIDDEN)
    assert not torch.allclose(expected_logits, reset_logits, atol=1e-3), "test is blind: state does not matter"
    torch.testing.assert_close(
        logits, expected_logits, atol=1e-6, rtol=0,
        msg="with prev_done = 1 the hidden state must be carried (not reset to zeros) within a trial",
    )
    torch.testing.assert_close(new_hidden, expected_hidden, atol=1e-6, rtol=0)


def test_policy_step_starts_from_zeros_when_state_is_none():
    core = _core()
    step = _step_input(4, prev_done=0.0, state=None)
    with torch.no_grad():
        logits, hidden = rl2_policy_step(core, step)
        inputs = rl2_inputs(step.obs, step.prev_action, step.prev_reward, step.prev_done, 2)
        expected_logits, _, _ = core.step(inputs, torch.zeros(1, 4, 2 * HIDDEN))
    torch.testing.assert_close(logits, expected_logits, atol=1e-6, rtol=0)
    assert hidden.shape == (1, 4, 2 * HIDDEN)


def test_sampler_carries_hidden_state_into_episode_two():
    core, record, horizon = _core(), [], 12
    tasks = [Task("flip", action_sign=1.0), Task("flip", action_sign=-1.0)]
    sample_rollouts(_recording_policy(core, record), tasks, 2, horizon, seed=3, carry_state=True)
    first_step_ep2, logits_ep2, _ = record[horizon]
    assert first_step_ep2.episode_index == 1 and torch.all(first_step_ep2.prev_done == 1.0)
    assert first_step_ep2.state is not None, "the state at the start of episode 2 should be episode 1's last state"
    torch.testing.assert_close(first_step_ep2.state, record[horizon - 1][2])
    with torch.no_grad():
        reset_logits, _ = rl2_policy_step(core, StepInput(**{**vars(first_step_ep2), "state": None}))
    assert not torch.allclose(logits_ep2, reset_logits, atol=1e-3), (
        "episode-2 logits should depend on episode-1 experience through the hidden state"
    )


def test_each_sample_call_starts_a_trial_from_zeros():
    core = _core()
    tasks = meta_test_tasks("flip", n=3)
    first_logits = []
    for _ in range(2):
        record = []
        batch = sample_rollouts(_recording_policy(core, record), tasks, 2, 10, seed=5, carry_state=True)
        assert record[0][0].state is None
        first_logits.append(record[0][1])
        with torch.no_grad():
            zero_logits, _ = rl2_policy_step(core, StepInput(**{**vars(record[0][0]), "state": None}))
        torch.testing.assert_close(record[0][1], zero_logits)
    torch.testing.assert_close(first_logits[0], first_logits[1], atol=0, rtol=0)
    assert batch.log_probs.shape == (3, 2, 10)


# ------------------------------------------------------------------------ trial forward pass


def test_trial_forward_equals_stepping_the_policy_through_the_trial():
    core, record = _core(), []
    num_episodes, horizon = 3, 30  # long enough for some random-policy episodes to fall (frozen steps)
    tasks = meta_test_tasks("target", n=5)
    batch = sample_rollouts(_recording_policy(core, record), tasks, num_episodes, horizon, seed=1, carry_state=True)
    assert (batch.masks == 0).any(), "the test should include frozen steps after a fall"
    # every step of episodes 1..E-1 is run (frozen ones too: they feed the LSTM); the sampler may stop
    # the last episode once every pole is down, since nothing after it can matter
    steps_run = len(record)
    assert (num_episodes - 1) * horizon < steps_run <= num_episodes * horizon
    stepped = torch.stack([logits for _, logits, _ in record], dim=1)  # [5, steps_run, 2]
    with torch.no_grad():
        logits, values = rl2_trial_forward(core, batch)
    assert logits.shape == (5, num_episodes, horizon, 2) and values.shape == (5, num_episodes, horizon)
    torch.testing.assert_close(
        logits.reshape(5, num_episodes * horizon, 2)[:, :steps_run], stepped, atol=1e-5, rtol=0,
        msg="rl2_trial_forward must equal stepping rl2_policy_step through the trial (one sequence of E*T steps)",
    )
    log_probs = torch.log_softmax(logits, -1).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    valid = batch.masks > 0
    torch.testing.assert_close(log_probs[valid], batch.log_probs[valid], atol=1e-5, rtol=0)

    buggy = _per_episode_reset_forward(core, batch).detach()
    carried = logits.reshape(5, num_episodes, horizon, 2)
    torch.testing.assert_close(buggy[:, 0], carried[:, 0], atol=1e-5, rtol=0)
    assert (buggy[:, 1:] - carried[:, 1:]).abs().max() > 1e-2, "a per-episode reset must give different logits"


# --------------------------------------------------------------------------- advantages, loss


def test_trial_advantages_discount_across_episode_boundaries():
    core = _core()
    batch = sample_rollouts(rl2_policy(core), [Task("flip")], 2, 4, seed=0, carry_state=True)
    batch.rewards = torch.ones(1, 2, 4)
    gamma = 0.5
    advantages, targets = trial_advantages(batch, torch.zeros(1, 2, 4), gamma, gae_lambda=1.0)
    # one sequence of 8 steps: the last step of episode 1 still sees the 4 rewards of episode 2
    expected = (1 - gamma) * torch.tensor([sum(gamma**k for k in range(8 - i)) for i in range(8)])
    torch.testing.assert_close(advantages.reshape(8), expected)
    torch.testing.assert_close(targets, advantages)


def test_rl2_loss_value_and_gradient():
    core = _core()
    batch = sample_rollouts(rl2_policy(core), meta_test_tasks("flip", n=4), 2, 15, seed=2, carry_state=True)
    generator = torch.Generator().manual_seed(0)
    advantages = torch.randn(batch.actions.shape, generator=generator)
    targets = torch.rand(batch.actions.shape, generator=generator)
    loss = rl2_loss(core, batch, advantages, targets, clip=0.2, value_coef=0.5, entropy_coef=0.01)
    with torch.no_grad():
        logits, values = rl2_trial_forward(core, batch)
        log_pi = torch.log_softmax(logits, -1)
        entropy = -(log_pi.exp() * log_pi).sum(-1)
        mask = batch.masks
        # the sampling policy is the current one: ratio 1, so the PPO term is -mean(A) on valid steps
        expected = (-(advantages * mask).sum() / mask.sum() + 0.5 * ((values - targets) ** 2).mean()
                    - 0.01 * (entropy * mask).sum() / mask.sum())
    assert loss.shape == ()
    torch.testing.assert_close(loss.detach(), expected, atol=1e-5, rtol=1e-5)
    loss.backward()
    assert core.lstm.weight_hh_l0.grad is not None and core.lstm.weight_hh_l0.grad.abs().sum() > 0


# ------------------------------------------------------------------ training and checkpoints


def test_quick_training_improves_mean_trial_return():
    torch.set_num_threads(1)
    model, history = rl2.train_rl2(RL2_QUICK, "flip", seed=0, progress=False)
    assert len(history["normalised_return"]) == RL2_QUICK.num_iterations
    torch.manual_seed(0)
    initial = make_rl2_core(RL2_QUICK.hidden_size)  # train_rl2() draws the same initial network from seed 0
    tasks = meta_test_tasks("flip", n=64)

    def mean_return(core):
        batch = sample_rollouts(rl2_policy(core), tasks, RL2_QUICK.episodes_per_trial, RL2_QUICK.episode_length,
                                seed=123, carry_state=True)
        return batch.normalised_returns().mean().item()

    before, after = mean_return(initial), mean_return(model)
    assert after > before + 0.1, f"RL2_QUICK training should improve the mean return: {before:.3f} -> {after:.3f}"


def test_checkpoint_round_trip_and_adaptation_curve(tmp_path):
    core = _core()
    path = tmp_path / "rl2.pt"
    rl2.save_rl2(core, str(path), {"family": "flip"})
    loaded = rl2.load_rl2(str(path))
    assert loaded.metadata == {"family": "flip"}
    tasks = meta_test_tasks("flip", n=4)
    curve = rl2.rl2_adaptation_curve(core, tasks, num_units=2, seed=0)
    assert curve.shape == (4, 3) and np.all((curve >= 0) & (curve <= 1))
    np.testing.assert_array_equal(curve, rl2.rl2_adaptation_curve(loaded, tasks, num_units=2, seed=0))


def test_reward_input_gain_scales_the_reward_column_and_survives_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    amplified = make_rl2_core(HIDDEN, reward_input_gain=10.0)
    plain = make_rl2_core(HIDDEN)
    plain.load_state_dict(amplified.state_dict())
    inputs = torch.rand(3, 5, 8)
    scaled = inputs.clone()
    scaled[..., 6] *= 10.0  # x_t = [obs (4), onehot(a) (2), r, d]: the reward is column 6
    torch.testing.assert_close(amplified(inputs)[0], plain(scaled)[0])
    assert not torch.allclose(amplified(inputs)[0], plain(inputs)[0])
    path = tmp_path / "rl2.pt"
    rl2.save_rl2(amplified, str(path))
    torch.testing.assert_close(rl2.load_rl2(str(path))(inputs)[0], amplified(inputs)[0])


@pytest.mark.parametrize("family", ["flip", "target"])
def test_shipped_checkpoint_loads_and_acts(family):
    path = CHECKPOINTS / f"rl2_{family}.pt"
    model = rl2.load_rl2(str(path))
    assert model.metadata["family"] == family
    curve = rl2.rl2_adaptation_curve(model, meta_test_tasks(family, n=20), num_units=1, seed=0)
    if family == "flip":
        assert curve[:, 1].mean() >= 0.9, f"flip checkpoint: episode-2 return {curve[:, 1].mean():.3f} < 0.9"
    else:
        assert curve.mean() > 0.3, f"target checkpoint balances poorly: {curve.mean(0)}"
