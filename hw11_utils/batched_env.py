"""BatchedCartPole: N parameterised CartPoles stepped at once on numpy arrays.

Same physics as :class:`~hw11_utils.envs.ParameterizedCartPoleEnv` (it calls the same
:func:`~hw11_utils.envs.cartpole_physics_step` on arrays), with per-environment task parameters.
Episodes have a fixed length: an environment whose pole falls is *frozen* (state kept, reward 0,
``alive`` False) until the episode ends, so a batch never waits for, or loses, short episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from hw11_utils.envs import (
    FORCE_MAGNITUDE,
    INITIAL_STATE_BOUND,
    cartpole_physics_step,
    is_fallen,
)
from hw11_utils.tasks import Task


class BatchedCartPole:
    """N CartPole environments with their own tasks, stepped together.

    Args:
        tasks: one :class:`Task` per environment (N = ``len(tasks)``).
        episode_length: number of steps of every episode (T).
        seed: seeds ``self.np_random``, which draws the initial states.

    Shapes: observations float32 [N, 4]; actions int [N] in {0, 1}; rewards float32 [N].
    """

    observation_dim = 4
    num_actions = 2

    def __init__(self, tasks: Sequence[Task], episode_length: int = 200, seed: Optional[int] = None) -> None:
        if len(tasks) == 0:
            raise ValueError("BatchedCartPole needs at least one task")
        if episode_length <= 0:
            raise ValueError(f"episode_length must be positive, got {episode_length}")
        self.tasks = [Task.from_params(task) for task in tasks]
        self.num_envs = len(self.tasks)
        self.episode_length = int(episode_length)
        self.pole_length = np.array([t.pole_length for t in self.tasks])
        self.pole_mass = np.array([t.pole_mass for t in self.tasks])
        self.gravity = np.array([t.gravity for t in self.tasks])
        self.action_sign = np.array([t.action_sign for t in self.tasks])
        self.has_target = np.array([t.target_x is not None for t in self.tasks])
        self.target_x = np.array([0.0 if t.target_x is None else t.target_x for t in self.tasks])
        self.np_random = np.random.default_rng(seed)
        self.state = np.zeros((self.num_envs, 4))
        self.alive = np.ones(self.num_envs, dtype=bool)
        self.elapsed_steps = 0

    def reset(self, seed: Optional[int] = None) -> np.ndarray:
        """Start a new episode in every environment; returns observations float32 [N, 4]."""
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        states = self.np_random.uniform(-INITIAL_STATE_BOUND, INITIAL_STATE_BOUND, size=(self.num_envs, 4))
        return self.set_state(states)

    def set_state(self, states: np.ndarray) -> np.ndarray:
        """Start a new episode from given states [N, 4] (used by tests and demonstrations)."""
        states = np.asarray(states, dtype=np.float64)
        if states.shape != (self.num_envs, 4):
            raise ValueError(f"states must have shape ({self.num_envs}, 4), got {states.shape}")
        self.state = states.copy()
        self.alive = np.ones(self.num_envs, dtype=bool)
        self.elapsed_steps = 0
        return self.state.astype(np.float32)

    def step(self, actions: np.ndarray):
        """Advance every environment by one step.

        Returns:
            obs: float32 [N, 4]; reward: float32 [N] (0 for environments already fallen);
            done: bool [N], True everywhere at the last step of the episode;
            info: ``alive`` bool [N] (still balancing after this step) and ``terminated`` bool [N]
            (fell at this step).
        """
        if self.elapsed_steps >= self.episode_length:
            raise RuntimeError("the episode is over: call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        if not np.all((actions == 0) | (actions == 1)):
            raise ValueError("actions must be 0 or 1")
        force = self.action_sign * np.where(actions == 1, FORCE_MAGNITUDE, -FORCE_MAGNITUDE)
        next_state = np.stack(
            cartpole_physics_step(self.state.T, force, self.pole_length, self.pole_mass, self.gravity), axis=1
        )
        was_alive = self.alive
        x = next_state[:, 0]
        reward = np.where(self.has_target, np.exp(-np.abs(x - self.target_x)), 1.0)
        reward = np.where(was_alive, reward, 0.0).astype(np.float32)
        self.state = np.where(was_alive[:, None], next_state, self.state)
        terminated = was_alive & is_fallen(self.state[:, 0], self.state[:, 2])
        self.alive = was_alive & ~terminated
        self.elapsed_steps += 1
        done = np.full(self.num_envs, self.elapsed_steps >= self.episode_length)
        return self.state.astype(np.float32), reward, done, {"alive": self.alive.copy(), "terminated": terminated}
