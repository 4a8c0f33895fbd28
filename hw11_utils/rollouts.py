"""Sampling batches of episodes on :class:`~hw11_utils.batched_env.BatchedCartPole`.

A policy is a function of one time step (a :class:`StepInput` for N environments at once) that
returns action logits and an opaque recurrent state, which :func:`sample_rollouts` hands back at
the next step. Feed-forward policies ignore the state (:func:`feedforward`); recurrent ones (RL²)
keep their hidden state in it; PEARL keeps its latent sample there.

:func:`sample_rollouts` returns a :class:`RolloutBatch` of tensors shaped
``[tasks K, episodes E, time T, ...]``. Episodes have a fixed length T: after the pole falls the
environment is frozen, rewards are 0 and ``masks`` is 0, so every loss is a masked mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.auto import tqdm

from hw11_utils.batched_env import BatchedCartPole
from hw11_utils.tasks import Task, as_task


@dataclass
class StepInput:
    """What a policy sees at one time step, for N environments at once (all torch, on CPU).

    Attributes:
        obs: float32 [N, 4], current observations.
        prev_action: long [N], action of the previous step of the trial (0 at the start of a trial).
        prev_reward: float32 [N], reward of the previous step of the trial (0 at the start of a trial).
        prev_done: float32 [N], 1.0 on the first step of every episode after the first of a trial.
        episode_index: which episode of the trial is running (0-based).
        state: ``None`` at the start of every trial; otherwise what the policy returned last step.
    """

    obs: Tensor
    prev_action: Tensor
    prev_reward: Tensor
    prev_done: Tensor
    episode_index: int
    state: Any


#: ``policy_fn(step) -> (logits float [N, A], new_state)``.
PolicyFn = Callable[[StepInput], tuple[Tensor, Any]]


def feedforward(module: nn.Module, params: Optional[dict[str, Tensor]] = None) -> PolicyFn:
    """Wrap a network ``obs [N, 4] -> logits [N, A]`` as a :data:`PolicyFn` (the state stays ``None``).

    Args:
        module: the policy network.
        params: parameters to use instead of the module's own (e.g. MAML's adapted parameters),
            through :func:`torch.func.functional_call`; ``None`` uses the module's parameters.

    Observations are moved to the device of the parameters; the logits stay there.
    """

    first_param = next(iter(params.values())) if params else next(module.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")

    def policy_fn(step: StepInput) -> tuple[Tensor, Any]:
        obs = step.obs.to(device)
        if params is None:
            return module(obs), None
        return functional_call(module, params, (obs,)), None

    return policy_fn


@dataclass
class RolloutBatch:
    """Episodes of K tasks, E episodes per task, T steps per episode (torch tensors, no grad).

    Attributes:
        observations: float32 [K, E, T, 4], s_t.
        actions: long [K, E, T], a_t.
        rewards: float32 [K, E, T], r_t (0 on masked steps).
        next_observations: float32 [K, E, T, 4], s_{t+1}.
        masks: float32 [K, E, T], 1 = step taken while the pole was up.
        dones: float32 [K, E, T], 1 = last valid step of the episode (fall or time limit).
        log_probs: float32 [K, E, T], log pi(a_t | s_t) of the sampling policy.
        tasks: the K tasks (row k of every tensor belongs to ``tasks[k]``).
        episode_length: T.
        terminated: float32 [K, E, T], 1 = the pole fell (or the cart left) at this step; unlike
            ``dones`` it is 0 at the time limit, so it tells where *not* to bootstrap.
    """

    observations: Tensor
    actions: Tensor
    rewards: Tensor
    next_observations: Tensor
    masks: Tensor
    dones: Tensor
    log_probs: Tensor
    tasks: list[Task]
    episode_length: int
    terminated: Optional[Tensor] = None

    @property
    def num_tasks(self) -> int:
        """K."""
        return self.actions.shape[0]

    @property
    def episodes_per_task(self) -> int:
        """E."""
        return self.actions.shape[1]

    def episode_returns(self) -> Tensor:
        """Undiscounted return of every episode, sum_t m_t r_t: float32 [K, E]."""
        return (self.rewards * self.masks).sum(dim=-1)

    def normalised_returns(self) -> Tensor:
        """Returns divided by ``T * reward_scale`` of their task: float32 [K, E], at most 1.

        Every step pays at most ``reward_scale``, so 1 is an upper bound (a pole balanced exactly
        upright at x = 0, or exactly at the target, for all T steps).
        """
        return self.episode_returns() / (self.episode_length * self._task_column("reward_scale"))

    def successes(self) -> Tensor:
        """1.0 where an episode succeeded, ``return / reward_scale >= success_threshold`` (the draft's
        195 of 200 steps), else 0.0: float32 [K, E]."""
        unscaled = self.episode_returns() / self._task_column("reward_scale")
        return (unscaled >= self._task_column("success_threshold")).float()

    def _task_column(self, name: str) -> Tensor:
        values = torch.tensor([getattr(task, name) for task in self.tasks], dtype=torch.float32)
        return values.to(self.rewards.device).view(-1, 1)

    def transitions(self, task_index: Optional[int] = None) -> dict[str, Tensor]:
        """The valid steps (mask 1) as flat arrays, for a replay buffer.

        Args:
            task_index: keep only the steps of ``tasks[task_index]``; ``None`` keeps all tasks.

        Returns:
            dict of tensors with M rows (one per valid step, in order task, episode, time):
            ``observations`` [M, 4], ``actions`` [M], ``rewards`` [M], ``next_observations`` [M, 4],
            ``dones`` [M], ``terminated`` [M] (if recorded), ``task_index`` long [M] (row's task k).
        """
        task_ids = torch.arange(self.num_tasks).view(-1, 1, 1).expand_as(self.actions)
        arrays = {
            "observations": self.observations,
            "actions": self.actions,
            "rewards": self.rewards,
            "next_observations": self.next_observations,
            "dones": self.dones,
            "task_index": task_ids.to(self.actions.device),
        }
        if self.terminated is not None:
            arrays["terminated"] = self.terminated
        valid = self.masks > 0
        if task_index is not None:
            valid = valid & (arrays["task_index"] == task_index)
        return {name: value[valid] for name, value in arrays.items()}

    def to(self, device: Union[str, torch.device]) -> RolloutBatch:
        """A copy with every tensor moved to ``device``."""
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            moved[field.name] = value.to(device) if isinstance(value, Tensor) else value
        return RolloutBatch(**moved)


def _sample_actions(logits: Tensor, generator: torch.Generator, greedy: bool) -> tuple[Tensor, Tensor]:
    """Actions a ~ Categorical(logits) (argmax if greedy) and log pi(a): long [N], float32 [N]."""
    log_pi = torch.log_softmax(logits.float(), dim=-1)
    if greedy:
        actions = logits.argmax(dim=-1)
    else:
        # inverse-CDF sampling: the first action whose cumulative probability exceeds u ~ U[0, 1)
        cdf = log_pi.exp().cumsum(dim=-1)
        u = torch.rand(logits.shape[0], 1, generator=generator)
        actions = torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_max(logits.shape[-1] - 1)
    return actions, log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def sample_rollouts(
    policy_fn: PolicyFn,
    tasks: Sequence[Task],
    episodes_per_task: int,
    episode_length: int = 200,
    seed: int = 0,
    carry_state: bool = False,
    greedy: bool = False,
    progress: bool = False,
) -> RolloutBatch:
    """Run a policy on every task and record the episodes.

    ``carry_state=False``: the K * E episodes are independent trials run in parallel
    (N = K * E environments, each task repeated E times); the policy state starts at ``None``
    in every episode. ``carry_state=True``: one trial per task (N = K environments) of E
    consecutive episodes; the policy state, ``prev_action`` and ``prev_reward`` carry over episode
    boundaries, ``prev_done`` is 1 on the first step of episodes 2..E, and the state is ``None``
    only at the start of the trial (as RL² and PEARL need).

    Sampling is deterministic given ``seed`` (initial states and action draws), and runs without
    gradients; the policy is called once per time step for all environments together. Once every
    environment has fallen in an episode whose steps can no longer matter (every episode of
    independent trials, the last episode of a trial), the sampler stops: the remaining steps are
    recorded as frozen (mask 0, reward 0, action 0) without calling the policy.

    Args:
        policy_fn: ``StepInput -> (logits [N, A], state)``.
        tasks: the K tasks (:class:`Task` values, dicts, or ``ParameterizedCartPoleEnv``s).
        episodes_per_task: E.
        episode_length: T.
        seed: seeds the environments' initial states and the action sampler.
        carry_state: run each task's episodes one after another as one trial (see above).
        greedy: take ``argmax`` of the logits instead of sampling.
        progress: show a ``tqdm`` progress bar over time steps.

    Returns:
        A :class:`RolloutBatch` of shape [K, E, T].
    """
    tasks = [as_task(task) for task in tasks]
    num_tasks, num_episodes = len(tasks), episodes_per_task
    if carry_state:
        env_tasks, num_trial_episodes = tasks, num_episodes
    else:
        env_tasks, num_trial_episodes = [task for task in tasks for _ in range(num_episodes)], 1
    env = BatchedCartPole(env_tasks, episode_length=episode_length, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    record = _run_trials(policy_fn, env, num_trial_episodes, generator, greedy, progress)

    def to_batch(buffer: Tensor) -> Tensor:
        # [E_trial, T, N, ...] -> [N, E_trial, T, ...] -> [K, E, T, ...] (environments are task-major)
        buffer = buffer.movedim(2, 0)
        return buffer.reshape(num_tasks, num_episodes, episode_length, *buffer.shape[3:])

    return RolloutBatch(
        **{name: to_batch(buffer) for name, buffer in record.items()},
        tasks=tasks,
        episode_length=episode_length,
    )


def _run_trials(
    policy_fn: PolicyFn,
    env: BatchedCartPole,
    num_episodes: int,
    generator: torch.Generator,
    greedy: bool,
    progress: bool,
) -> dict[str, Tensor]:
    """Run ``num_episodes`` consecutive episodes in every environment of ``env`` as one trial.

    Returns buffers shaped [num_episodes, T, N, ...], named as the fields of :class:`RolloutBatch`.
    Steps after every environment fell in the last episode are not run (see :func:`sample_rollouts`).
    """
    num_envs, horizon = env.num_envs, env.episode_length
    shape = (num_episodes, horizon, num_envs)
    record = {
        "observations": torch.zeros(*shape, env.observation_dim),
        "actions": torch.zeros(shape, dtype=torch.long),
        "rewards": torch.zeros(shape),
        "next_observations": torch.zeros(*shape, env.observation_dim),
        "masks": torch.zeros(shape),
        "dones": torch.zeros(shape),
        "log_probs": torch.zeros(shape),
        "terminated": torch.zeros(shape),
    }
    prev_action = torch.zeros(num_envs, dtype=torch.long)
    prev_reward = torch.zeros(num_envs)
    state = None
    bar = tqdm(total=num_episodes * horizon, desc="rollouts", disable=not progress)
    with torch.no_grad():
        for episode in range(num_episodes):
            obs = torch.from_numpy(env.reset())
            alive = torch.ones(num_envs)
            prev_done = torch.full((num_envs,), float(episode > 0))
            for t in range(horizon):
                if episode == num_episodes - 1 and not alive.any():
                    _record_frozen(record, episode, t, obs)
                    bar.update(horizon - t)
                    break
                step = StepInput(obs, prev_action, prev_reward, prev_done, episode, state)
                logits, state = policy_fn(step)
                actions, log_probs = _sample_actions(logits.detach().cpu(), generator, greedy)
                next_obs, reward, done, info = env.step(actions.numpy())
                next_obs, reward = torch.from_numpy(next_obs), torch.from_numpy(reward)
                terminated = torch.from_numpy(info["terminated"]).float()
                last_step = terminated if t < horizon - 1 else torch.ones(num_envs)
                for name, value in (
                    ("observations", obs),
                    ("actions", actions),
                    ("rewards", reward),
                    ("next_observations", next_obs),
                    ("masks", alive),
                    ("dones", alive * last_step),
                    ("log_probs", log_probs),
                    ("terminated", terminated),
                ):
                    record[name][episode, t] = value
                obs, prev_action, prev_reward = next_obs, actions, reward
                alive = torch.from_numpy(info["alive"]).float()
                prev_done = torch.zeros(num_envs)
                bar.update()
    bar.close()
    return record


def _record_frozen(record: dict[str, Tensor], episode: int, start: int, obs: Tensor) -> None:
    """Fill steps ``start..T-1`` of ``episode`` as an environment frozen at ``obs`` would record them."""
    record["observations"][episode, start:] = obs
    record["next_observations"][episode, start:] = obs
