"""ParameterizedCartPoleEnv: gymnasium's CartPole with task parameters.

The physics is gymnasium's ``classic_control/cartpole.py`` (Barto, Sutton & Anderson, 1983) with
explicit Euler integration; :func:`cartpole_physics_step` implements it on scalars or on numpy
arrays, so the single environment here and :class:`~hw11_utils.batched_env.BatchedCartPole` share
the same equations.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hw11_utils.tasks import Task

CART_MASS = 1.0  # kg
FORCE_MAGNITUDE = 10.0  # N
TIME_STEP = 0.02  # s between state updates (tau)
X_THRESHOLD = 2.4  # m: the episode ends when |x| exceeds it
THETA_THRESHOLD = 12 * 2 * math.pi / 360  # rad (12 degrees)
INITIAL_STATE_BOUND = 0.05  # initial state ~ U(-0.05, 0.05)^4
DEFAULT_MAX_STEPS = 200
ENV_ID = "HW11/ParamCartPole-v0"


def cartpole_physics_step(state, force, pole_length, pole_mass, gravity):
    """One Euler step of the cart-pole equations of motion (scalars or numpy arrays).

    With total mass M = m_c + m_p and pole half-length l::

        temp     = (F + m_p l thetȧ² sin θ) / M
        θ̈        = (g sin θ - cos θ · temp) / (l (4/3 - m_p cos² θ / M))
        ẍ        = temp - m_p l θ̈ cos θ / M
        x ← x + τ ẋ,  ẋ ← ẋ + τ ẍ,  θ ← θ + τ θ̇,  θ̇ ← θ̇ + τ θ̈

    Args:
        state: ``(x, x_dot, theta, theta_dot)`` as a sequence of scalars or of arrays [N].
        force: horizontal force on the cart (N), scalar or [N].
        pole_length, pole_mass, gravity: task parameters, scalar or [N].

    Returns:
        The next ``(x, x_dot, theta, theta_dot)``.
    """
    x, x_dot, theta, theta_dot = state
    total_mass = CART_MASS + pole_mass
    pole_mass_length = pole_mass * pole_length
    cos_theta, sin_theta = np.cos(theta), np.sin(theta)
    temp = (force + pole_mass_length * theta_dot**2 * sin_theta) / total_mass
    theta_acc = (gravity * sin_theta - cos_theta * temp) / (
        pole_length * (4.0 / 3.0 - pole_mass * cos_theta**2 / total_mass)
    )
    x_acc = temp - pole_mass_length * theta_acc * cos_theta / total_mass
    return (
        x + TIME_STEP * x_dot,
        x_dot + TIME_STEP * x_acc,
        theta + TIME_STEP * theta_dot,
        theta_dot + TIME_STEP * theta_acc,
    )


def task_reward(x, target_x: Optional[float]):
    """Reward of one step taken while alive: 1, or ``exp(-|x - x*|)`` when the task has a target."""
    if target_x is None:
        return np.ones_like(np.asarray(x, dtype=np.float32))
    return np.exp(-np.abs(np.asarray(x) - target_x)).astype(np.float32)


def is_fallen(x, theta):
    """Termination: the cart left the track or the pole tilted more than 12 degrees."""
    return (np.abs(x) > X_THRESHOLD) | (np.abs(theta) > THETA_THRESHOLD)


class ParameterizedCartPoleEnv(gym.Env):
    """CartPole whose physics, action direction and reward depend on a task.

    Observation: float32 ``[x, x_dot, theta, theta_dot]``. Actions: 0 (push left), 1 (push right),
    before ``action_sign`` is applied. Reward: 1 per step taken (or ``exp(-|x - target_x|)``),
    the falling step included as in gymnasium; the episode terminates when the pole falls or the
    cart leaves the track.

    Args:
        task_params: a :class:`~hw11_utils.tasks.Task` or a dict of its fields (``pole_length``,
            ``pole_mass``, ``gravity``, ``action_sign``, ``target_x``). Invalid values or unknown
            keys raise ``ValueError`` naming the key.
        render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, task_params: Union[Task, dict, None] = None, render_mode: Optional[str] = None):
        super().__init__()
        self.task = Task.from_params(task_params)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        high = np.array([X_THRESHOLD * 2, np.finfo(np.float32).max, THETA_THRESHOLD * 2, np.finfo(np.float32).max],
                        dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.state: Optional[np.ndarray] = None

    def set_task(self, task_params: Union[Task, dict]) -> None:
        """Switch to another task (takes effect immediately)."""
        self.task = Task.from_params(task_params)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)  # seeds self.np_random
        self.state = self.np_random.uniform(-INITIAL_STATE_BOUND, INITIAL_STATE_BOUND, size=(4,))
        return self.state.astype(np.float32), {"task": self.task}

    def step(self, action: int):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        force = self.task.action_sign * (FORCE_MAGNITUDE if action == 1 else -FORCE_MAGNITUDE)
        self.state = np.array(
            cartpole_physics_step(
                tuple(self.state), force, self.task.pole_length, self.task.pole_mass, self.task.gravity
            ),
            dtype=np.float64,
        )
        x, theta = self.state[0], self.state[2]
        terminated = bool(is_fallen(x, theta))
        reward = float(task_reward(x, self.task.target_x))  # as gymnasium: the falling step still pays
        return self.state.astype(np.float32), reward, terminated, False, {"task": self.task}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from hw11_utils.rendering import render_cartpole

        state = self.state if self.state is not None else np.zeros(4)
        return render_cartpole(state, self.task)


def register_envs() -> None:
    """Register ``HW11/ParamCartPole-v0`` with gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(
            id=ENV_ID,
            entry_point="hw11_utils.envs:ParameterizedCartPoleEnv",
            max_episode_steps=DEFAULT_MAX_STEPS,
        )
