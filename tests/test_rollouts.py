"""Tests of hw11_utils.rollouts: layout, masks, determinism, state carry-over, feedforward params."""

import math

import pytest
import torch

from hw11_utils.controllers import agnostic_controller
from hw11_utils.networks import MLP, param_dict
from hw11_utils.rollouts import RolloutBatch, StepInput, feedforward, sample_rollouts
from hw11_utils.tasks import Task

NOMINAL = Task()
FLIPPED = Task(family="flip", action_sign=-1.0)


def setup_module():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def uniform_policy(step: StepInput):
    return torch.zeros(step.obs.shape[0], 2), None


def constant_action_policy(action: int):
    def policy_fn(step: StepInput):
        logits = torch.full((step.obs.shape[0], 2), -20.0)
        logits[:, action] = 20.0
        return logits, None

    return policy_fn


class Recorder:
    """A policy that counts the steps of the trial in its state and records every StepInput."""

    def __init__(self):
        self.steps: list[StepInput] = []

    def __call__(self, step: StepInput):
        self.steps.append(step)
        count = (0 if step.state is None else step.state) + 1  # steps seen in this trial
        return torch.zeros(step.obs.shape[0], 2), count


def test_shapes_dtypes_and_masks():
    tasks = [NOMINAL, Task(family="mass", pole_mass=0.3), Task(family="target", target_x=1.0)]
    batch = sample_rollouts(uniform_policy, tasks, episodes_per_task=4, episode_length=30, seed=0)
    K, E, T = 3, 4, 30
    assert batch.observations.shape == (K, E, T, 4) and batch.next_observations.shape == (K, E, T, 4)
    for name in ("actions", "rewards", "masks", "dones", "log_probs", "terminated"):
        assert getattr(batch, name).shape == (K, E, T), name
    assert batch.actions.dtype == torch.long and batch.observations.dtype == torch.float32
    assert batch.tasks == tasks and batch.episode_length == T
    masks = batch.masks
    assert torch.all(masks[..., 0] == 1)
    assert torch.all(masks[..., 1:] <= masks[..., :-1])  # alive, then fallen for good
    assert torch.all(batch.rewards[masks == 0] == 0)
    assert torch.all(batch.dones.sum(-1) == 1)  # exactly one last valid step per episode
    last_valid = masks.sum(-1).long() - 1
    assert torch.all(batch.dones.gather(-1, last_valid.unsqueeze(-1)) == 1)
    assert torch.all(batch.terminated <= batch.dones)
    # a uniform random policy drops the pole quickly, so some episodes are cut short
    assert (masks == 0).any()
    # next observation of step t is the observation of step t + 1
    torch.testing.assert_close(batch.next_observations[..., :-1, :], batch.observations[..., 1:, :])
    assert not batch.log_probs.requires_grad
    torch.testing.assert_close(batch.log_probs, torch.full((K, E, T), -math.log(2.0)))


def test_returns():
    tasks = [NOMINAL, FLIPPED]
    batch = sample_rollouts(uniform_policy, tasks, episodes_per_task=3, episode_length=50, seed=1)
    x, theta = batch.next_observations[..., 0], batch.next_observations[..., 2]
    draft_reward = 1 - 0.1 * x.abs() - 0.1 * theta.abs()  # the draft's reward, on the state after the step
    torch.testing.assert_close(batch.rewards, draft_reward * batch.masks)
    torch.testing.assert_close(batch.episode_returns(), (draft_reward * batch.masks).sum(-1))
    torch.testing.assert_close(batch.normalised_returns(), batch.episode_returns() / 50)
    assert torch.all(batch.normalised_returns() <= 1)


def test_normalised_returns_and_successes_use_each_tasks_reward_scale():
    tasks = [Task(reward_scale=0.8), Task(reward_scale=1.2)]
    batch = sample_rollouts(agnostic_controller(), tasks, episodes_per_task=2, episode_length=200, seed=0)
    returns = batch.episode_returns()
    assert torch.all(returns[1] > returns[0])  # the same balanced episodes pay 1.5 times more
    torch.testing.assert_close(batch.normalised_returns()[0], returns[0] / 160)
    torch.testing.assert_close(batch.normalised_returns()[1], returns[1] / 240)
    assert torch.all(batch.successes() == 1), "a balanced pole scores >= 195 reward-scale units"
    torch.testing.assert_close(sample_rollouts(uniform_policy, tasks, 2, 200).successes(), torch.zeros(2, 2))


def test_sampler_stops_once_every_environment_has_fallen():
    calls = []

    def counting_uniform(step):
        calls.append(step.obs.shape[0])
        return uniform_policy(step)

    batch = sample_rollouts(counting_uniform, [NOMINAL] * 8, 4, episode_length=200, seed=0)
    longest = int(batch.masks.sum(-1).max())
    assert len(calls) == longest < 200, "no policy call after the last environment fell"
    assert torch.all(batch.masks[..., longest:] == 0) and torch.all(batch.rewards[..., longest:] == 0)
    frozen = batch.observations[..., longest:, :]
    torch.testing.assert_close(frozen, batch.observations[..., longest : longest + 1, :].expand_as(frozen))


@pytest.mark.parametrize("carry_state", [False, True])
def test_layout_is_task_major(carry_state):
    # always pushing "right" moves the cart right in the nominal task, left in the flipped one
    batch = sample_rollouts(
        constant_action_policy(1), [NOMINAL, FLIPPED], 3, episode_length=10, seed=0, carry_state=carry_state
    )
    assert torch.all(batch.actions[batch.masks > 0] == 1)
    assert torch.all(batch.observations[0, :, -1, 1] > 0)  # cart velocity
    assert torch.all(batch.observations[1, :, -1, 1] < 0)


@pytest.mark.parametrize("carry_state", [False, True])
def test_same_seed_same_batch(carry_state):
    def run(seed):
        return sample_rollouts(uniform_policy, [NOMINAL, FLIPPED], 3, 40, seed=seed, carry_state=carry_state)

    first, second, other = run(5), run(5), run(6)
    for name in ("observations", "actions", "rewards", "masks", "dones", "log_probs"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert not torch.equal(first.actions, other.actions)
    assert not torch.equal(first.observations[..., 0, :], other.observations[..., 0, :])


def test_sampling_follows_the_logits():
    log_odds = math.log(3.0)  # p(action 1) = 0.75

    def policy_fn(step):
        return torch.tensor([0.0, log_odds]).expand(step.obs.shape[0], 2), None

    batch = sample_rollouts(policy_fn, [NOMINAL], 100, episode_length=100, seed=0)
    valid = batch.masks > 0
    assert batch.actions[valid].float().mean().item() == pytest.approx(0.75, abs=0.02)
    expected = torch.where(batch.actions == 1, math.log(0.75), math.log(0.25))
    torch.testing.assert_close(batch.log_probs[valid], expected[valid])


def test_greedy_takes_argmax():
    def policy_fn(step):  # action 1 slightly preferred: sampled actions vary, greedy ones do not
        return torch.tensor([0.0, 0.1]).expand(step.obs.shape[0], 2), None

    greedy = sample_rollouts(policy_fn, [NOMINAL], 4, episode_length=20, seed=0, greedy=True)
    sampled = sample_rollouts(policy_fn, [NOMINAL], 4, episode_length=20, seed=0)
    assert torch.all(greedy.actions[greedy.masks > 0] == 1)
    assert (sampled.actions[sampled.masks > 0] == 0).any()


def test_carry_state_passes_state_across_episodes():
    recorder, T, E = Recorder(), 7, 3
    sample_rollouts(recorder, [NOMINAL, FLIPPED], E, episode_length=T, seed=0, carry_state=True)
    assert len(recorder.steps) == E * T
    assert recorder.steps[0].state is None
    assert recorder.steps[T].state == T  # start of episode 2: all T steps of episode 1 were counted
    assert recorder.steps[T].episode_index == 1
    assert [s.state for s in recorder.steps[1:]] == list(range(1, E * T))
    # a new call starts a new trial
    sample_rollouts(recorder, [NOMINAL, FLIPPED], E, episode_length=T, seed=0, carry_state=True)
    assert recorder.steps[E * T].state is None


def test_without_carry_state_every_episode_is_a_fresh_trial():
    recorder, T = Recorder(), 6
    sample_rollouts(recorder, [NOMINAL, FLIPPED], 3, episode_length=T, seed=0, carry_state=False)
    assert len(recorder.steps) == T  # all 2 * 3 episodes in parallel
    assert recorder.steps[0].obs.shape == (6, 4)
    assert recorder.steps[0].state is None and recorder.steps[-1].state == T - 1
    assert all(s.episode_index == 0 and torch.all(s.prev_done == 0) for s in recorder.steps)


def test_prev_done_action_and_reward_in_a_trial():
    recorder, T, E = Recorder(), 5, 3
    batch = sample_rollouts(recorder, [NOMINAL, FLIPPED], E, episode_length=T, seed=2, carry_state=True)
    prev_done = torch.stack([s.prev_done for s in recorder.steps]).view(E, T, 2)
    expected = torch.zeros(E, T, 2)
    expected[1:, 0] = 1.0  # first step of episodes after the first
    assert torch.equal(prev_done, expected)
    prev_action = torch.stack([s.prev_action for s in recorder.steps])  # [E * T, K]
    prev_reward = torch.stack([s.prev_reward for s in recorder.steps])
    actions = batch.actions.reshape(2, E * T).T  # trial time along the first axis
    rewards = batch.rewards.reshape(2, E * T).T
    assert torch.all(prev_action[0] == 0) and torch.all(prev_reward[0] == 0)
    assert torch.equal(prev_action[1:], actions[:-1])
    assert torch.equal(prev_reward[1:], rewards[:-1])
    assert [s.episode_index for s in recorder.steps] == [e for e in range(E) for _ in range(T)]


def test_feedforward_uses_explicit_params():
    net = MLP(4, 2, hidden_sizes=(8,))
    with torch.no_grad():
        net[-1].weight.zero_()
        net[-1].bias.copy_(torch.tensor([0.0, 5.0]))  # the module prefers action 1
    params = {name: p.clone() for name, p in param_dict(net).items()}
    params["2.bias"] = torch.tensor([5.0, 0.0])  # the explicit params prefer action 0
    own = sample_rollouts(feedforward(net), [NOMINAL], 2, episode_length=10, seed=0, greedy=True)
    explicit = sample_rollouts(feedforward(net, params), [NOMINAL], 2, episode_length=10, seed=0, greedy=True)
    assert torch.all(own.actions == 1) and torch.all(explicit.actions == 0)
    step = StepInput(torch.randn(3, 4), torch.zeros(3, dtype=torch.long), torch.zeros(3), torch.zeros(3), 0, None)
    logits, state = feedforward(net, param_dict(net))(step)
    torch.testing.assert_close(logits, net(step.obs))
    assert state is None


def test_transitions_and_to():
    batch = sample_rollouts(uniform_policy, [NOMINAL, FLIPPED], 3, episode_length=40, seed=0)
    flat = batch.transitions()
    num_valid = int(batch.masks.sum().item())
    assert flat["observations"].shape == (num_valid, 4) and flat["actions"].shape == (num_valid,)
    assert set(flat) >= {"observations", "actions", "rewards", "next_observations", "dones", "task_index"}
    assert torch.all(flat["rewards"] > 0.9)  # only valid steps (fallen ones pay 0)
    task1 = batch.transitions(task_index=1)
    assert task1["actions"].shape[0] == int(batch.masks[1].sum().item())
    assert torch.all(task1["task_index"] == 1)
    torch.testing.assert_close(task1["observations"], batch.observations[1][batch.masks[1] > 0])
    moved = batch.to("cpu")
    assert isinstance(moved, RolloutBatch) and torch.equal(moved.observations, batch.observations)
    assert moved.tasks == batch.tasks and moved.episode_length == batch.episode_length


def test_progress_bar_only_on_request(capsys):
    sample_rollouts(uniform_policy, [NOMINAL], 1, episode_length=5, seed=0)
    assert "rollouts" not in capsys.readouterr().err
    sample_rollouts(uniform_policy, [NOMINAL], 1, episode_length=5, seed=0, progress=True)
    assert "rollouts" in capsys.readouterr().err
