"""The course draft's ``ParameterizedCartPoleEnv`` and ``TaskDistribution``, with its bugs fixed.

Kept from the draft: the constructor ``ParameterizedCartPoleEnv(task_params=None)``, its
``default_params``, ``params`` (a dict), ``set_task_params``, ``max_steps = 200`` and ``steps``, the
dynamics with the cart's mass as a parameter, the reward ``(1 - 0.1|x| - 0.1|θ|) · reward_scale``,
termination, the initial-state range U(-0.1, 0.1) and the env's own truncation at ``max_steps``;
``TaskDistribution(task_type)`` with the draft's ``param_ranges``, whose ``sample_task()`` returns an
environment. Fixed: ``reset(seed=...)`` seeds ``self.np_random`` (the draft used numpy's global
generator), ``TaskDistribution`` takes a seed or generator, unknown parameters, bad values and unknown
families raise ``ValueError`` naming them, and the env passes gymnasium's ``check_env``.
The physics itself is :mod:`hw11_utils.physics`, shared with the batched environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hw11_utils.physics import (
    DEFAULT_MAX_STEPS,
    F32,
    INITIAL_STATE_BOUND,
    THETA_THRESHOLD,
    X_THRESHOLD,
    cartpole_physics_step,
    is_fallen,
    physics_constants,
    push_force,
    task_reward,
)
from hw11_utils.rendering import render_cartpole
from hw11_utils.tasks import (
    DEFAULT_PARAMS,
    PARAM_CHOICES,
    PARAM_RANGES,
    SeedLike,
    Task,
    as_generator,
    as_task,
    check_family,
    sample_task_value,
)

ENV_ID = "HW11/ParamCartPole-v0"


class TaskParams(dict):
    """A read-only dict of a task's parameters (``env.params``): change them with ``set_task_params``."""

    def _read_only(self, *args: Any, **kwargs: Any):
        raise TypeError("env.params is read-only: call env.set_task_params({...}) to change the task")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _read_only


class ParameterizedCartPoleEnv(gym.Env):
    """Parameterized CartPole environment for meta-learning (the course draft's, with its bugs fixed).

    Tasks differ in pole length, pole mass, cart mass, gravity and reward scale (and, in the families
    ``flip`` and ``target``, in the action's direction or a hidden target position).

    Observation: float32 ``[cart_pos, cart_vel, pole_angle, pole_vel]``. Actions: 0 (push left),
    1 (push right), before ``action_sign`` is applied. Reward per step, on the state after it:
    ``(1 - 0.1 |x| - 0.1 |θ|) · reward_scale`` (``exp(-|x - x*|) · reward_scale`` on target tasks).
    ``terminated`` when |x| > 2.4 or |θ| > 0.2095; ``truncated`` after ``max_steps`` (200) steps.

    Args:
        task_params: a dict of parameters (any of ``default_params``' keys, plus ``action_sign`` and
            ``target_x``) updating the defaults, a :class:`~hw11_utils.tasks.Task`, or another env
            (its task). Unknown keys or invalid values raise ``ValueError`` naming the key.
        render_mode: ``None`` or ``"rgb_array"``.

    Attributes:
        default_params: the draft's defaults (a copy; changing it changes nothing).
        params: the task's parameters, a read-only dict (the draft's keys, plus the extensions in use).
        task: the same task as an immutable :class:`Task` value (what the batched code uses).
        max_steps, steps: the truncation length and the steps taken in the current episode.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, task_params: Union[Task, Mapping[str, Any], None] = None, render_mode: Optional[str] = None):
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.default_params = dict(DEFAULT_PARAMS)
        self.task = as_task(task_params)
        high = np.array([X_THRESHOLD * 2, np.finfo(F32).max, THETA_THRESHOLD * 2, np.finfo(F32).max], dtype=F32)
        self.observation_space = spaces.Box(-high, high, dtype=F32)
        self.action_space = spaces.Discrete(2)
        self.state: Optional[np.ndarray] = None
        self.steps = 0
        self.max_steps = DEFAULT_MAX_STEPS

    @property
    def task(self) -> Task:
        """The current task (an immutable value)."""
        return self._task

    @task.setter
    def task(self, task: Task) -> None:
        self._task = task
        self._constants = physics_constants(task.pole_length, task.pole_mass, task.cart_mass, task.gravity)

    @property
    def params(self) -> TaskParams:
        """The task's parameters as a read-only dict (see :meth:`Task.params`)."""
        return TaskParams(self.task.params())

    def set_task_params(self, task_params: Union[Task, Mapping[str, Any]]) -> None:
        """Update some task parameters (as the draft: the other ones keep their values); a Task replaces all."""
        self.task = task_params if isinstance(task_params, Task) else self.task.replace(**task_params)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Start an episode from a state ~ U(-0.1, 0.1)^4 drawn from ``self.np_random``."""
        super().reset(seed=seed)  # seeds self.np_random, never numpy's global generator
        self.state = self.np_random.uniform(-INITIAL_STATE_BOUND, INITIAL_STATE_BOUND, size=(4,)).astype(F32)
        self.steps = 0
        return self.state.copy(), {"task": self.task}

    def step(self, action):
        """Apply an action (0 or 1); returns ``(obs, reward, terminated, truncated, info)``."""
        if self.state is None:
            raise RuntimeError("Environment not reset: call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        force = push_force(action, self.task.action_sign)
        self.state = np.array(cartpole_physics_step(tuple(self.state), force, self._constants), dtype=F32)
        self.steps += 1
        x, theta = self.state[0], self.state[2]
        reward = float(task_reward(x, theta, self.task.reward_scale, self.task.target_x))
        terminated = bool(is_fallen(x, theta))
        truncated = self.steps >= self.max_steps
        return self.state.copy(), reward, terminated, truncated, {"task": self.task}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return render_cartpole(self.state if self.state is not None else np.zeros(4), self.task)

    def __repr__(self) -> str:
        return f"ParameterizedCartPoleEnv({self.params})"


class TaskDistribution:
    """Distribution over parameterized tasks for meta-learning (the course draft's, seeded).

    Example:
        >>> dist = TaskDistribution("pole_length", rng=0)
        >>> env = dist.sample_task()          # a ParameterizedCartPoleEnv
        >>> envs = dist.sample_tasks(4)       # a list of them; env.task is the immutable Task value

    Args:
        task_type: one of :data:`~hw11_utils.tasks.FAMILIES` (unknown names raise ``ValueError``).
        rng: a ``numpy.random.Generator`` (used as is), an int seed, or ``None`` (fresh entropy).

    Attributes:
        param_ranges: dict parameter -> (low, high), drawn uniformly in this order (the draft's dict).
        param_choices: dict parameter -> finite set, drawn uniformly after the ranges (``flip``'s sign).
    """

    def __init__(self, task_type: str = "pole_length", rng: SeedLike = None) -> None:
        self.task_type = check_family(task_type)
        self.param_ranges = {key: tuple(bounds) for key, bounds in PARAM_RANGES[task_type].items()}
        self.param_choices = {key: tuple(values) for key, values in PARAM_CHOICES.get(task_type, {}).items()}
        self.rng = as_generator(rng)

    def sample_task_value(self) -> Task:
        """Draw one task as an immutable :class:`Task` value."""
        return sample_task_value(self.task_type, self.rng)

    def sample_task(self) -> ParameterizedCartPoleEnv:
        """Sample a random task from the distribution: an environment of that task."""
        return ParameterizedCartPoleEnv(self.sample_task_value())

    def sample_tasks(self, n_tasks: int) -> list[ParameterizedCartPoleEnv]:
        """Sample ``n_tasks`` tasks (environments)."""
        if n_tasks < 0:
            raise ValueError(f"n_tasks must be >= 0, got {n_tasks}")
        return [self.sample_task() for _ in range(n_tasks)]

    def __repr__(self) -> str:
        return f"TaskDistribution({self.task_type!r})"


def register_envs() -> None:
    """Register ``HW11/ParamCartPole-v0`` with gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(
            id=ENV_ID,
            entry_point="hw11_utils.envs:ParameterizedCartPoleEnv",
            max_episode_steps=DEFAULT_MAX_STEPS,
        )



