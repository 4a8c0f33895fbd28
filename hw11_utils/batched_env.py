"""BatchedCartPole: N parameterised CartPoles stepped at once on numpy arrays.

Same physics and reward as :class:`~hw11_utils.envs.ParameterizedCartPoleEnv` (both call
:mod:`hw11_utils.physics`, in float32), with per-environment task parameters. Episodes have a fixed
length: an environment whose pole falls is *frozen* (state kept, reward 0, ``alive`` False) until
the episode ends, so a batch never waits for, or loses, short episodes. Only the environments
still alive are simulated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from hw11_utils.physics import (
    DEFAULT_MAX_STEPS,
    F32,
    INITIAL_STATE_BOUND,
    PhysicsConstants,
    cartpole_physics_step,
    is_fallen,
    physics_constants,
    push_force,
    task_reward,
)
from hw11_utils.tasks import Task, as_task


class BatchedCartPole:
    """N CartPole environments with their own tasks, stepped together.

    Args:
        tasks: one task per environment (N = ``len(tasks)``): :class:`Task` values, dicts of
            parameters, or ``ParameterizedCartPoleEnv``s (their ``.task`` is used).
        episode_length: number of steps of every episode (T).
        seed: seeds ``self.np_random``, which draws the initial states.

    Shapes: observations float32 [N, 4]; actions int [N] in {0, 1}; rewards float32 [N].
    """

    observation_dim = 4
    num_actions = 2

    def __init__(self, tasks: Sequence[Any], episode_length: int = DEFAULT_MAX_STEPS, seed: Optional[int] = None):
        if len(tasks) == 0:
            raise ValueError("BatchedCartPole needs at least one task")
        if episode_length <= 0:
            raise ValueError(f"episode_length must be positive, got {episode_length}")
        self.tasks: list[Task] = [as_task(task) for task in tasks]
        self.num_envs = len(self.tasks)
        self.episode_length = int(episode_length)
        column = lambda name: np.array([getattr(t, name) for t in self.tasks], dtype=np.float64)  # noqa: E731
        self.constants = physics_constants(
            column("pole_length"), column("pole_mass"), column("cart_mass"), column("gravity")
        )
        self.action_sign = column("action_sign")
        self.reward_scale = column("reward_scale")
        self.target_x = np.array([np.nan if t.target_x is None else t.target_x for t in self.tasks])  # NaN: none
        self.np_random = np.random.default_rng(seed)
        self.state = np.zeros((self.num_envs, 4), dtype=F32)
        self.alive = np.ones(self.num_envs, dtype=bool)
        self.elapsed_steps = 0

    def reset(self, seed: Optional[int] = None) -> np.ndarray:
        """Start a new episode in every environment; returns observations float32 [N, 4]."""
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        states = self.np_random.uniform(-INITIAL_STATE_BOUND, INITIAL_STATE_BOUND, size=(self.num_envs, 4))
        return self.set_state(states.astype(F32))

    def set_state(self, states: np.ndarray) -> np.ndarray:
        """Start a new episode from given states [N, 4] (stored as float32)."""
        states = np.asarray(states, dtype=F32)
        if states.shape != (self.num_envs, 4):
            raise ValueError(f"states must have shape ({self.num_envs}, 4), got {states.shape}")
        self.state = states.copy()
        self.alive = np.ones(self.num_envs, dtype=bool)
        self.elapsed_steps = 0
        return self.state.copy()

    def step(self, actions: np.ndarray):
        """Advance every environment by one step (only the alive ones are simulated).

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
        live = np.flatnonzero(self.alive)
        reward = np.zeros(self.num_envs, dtype=F32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        if live.size:
            constants = PhysicsConstants(*(c[live] for c in self.constants))
            force = push_force(actions[live], self.action_sign[live])
            next_state = np.stack(cartpole_physics_step(tuple(self.state[live].T), force, constants), axis=1)
            self.state[live] = next_state
            x, theta = next_state[:, 0], next_state[:, 2]
            reward[live] = task_reward(x, theta, self.reward_scale[live], self.target_x[live])
            terminated[live] = is_fallen(x, theta)
            self.alive[live] = ~terminated[live]
        self.elapsed_steps += 1
        done = np.full(self.num_envs, self.elapsed_steps >= self.episode_length)
        return self.state.copy(), reward, done, {"alive": self.alive.copy(), "terminated": terminated}
