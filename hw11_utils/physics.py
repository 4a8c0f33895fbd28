"""The course draft's cart-pole physics, reward and termination, on scalars or numpy arrays.

One implementation serves both :class:`~hw11_utils.envs.ParameterizedCartPoleEnv` (one task) and
:class:`~hw11_utils.batched_env.BatchedCartPole` (N tasks at once). The equations are gymnasium's
``classic_control/cartpole.py`` (Barto, Sutton & Anderson, 1983) with the cart's mass as a task
parameter and explicit Euler integration. Like the draft, the state is float32 and every step is
computed in float32, with the draft's operation order: the two environments and the draft's own
class give bit-identical trajectories (``tests/test_draft_fidelity.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

FORCE_MAGNITUDE = 10.0  # N: action 1 pushes right with +10 N, action 0 left with -10 N
TIME_STEP = 0.02  # s between state updates (tau)
X_THRESHOLD = 2.4  # m: the episode ends when |x| exceeds it
THETA_THRESHOLD = 0.2095  # rad (~12 degrees), the draft's value
INITIAL_STATE_BOUND = 0.1  # initial state ~ U(-0.1, 0.1)^4, the draft's range
DEFAULT_MAX_STEPS = 200  # the draft's max_steps: episodes are truncated after this many steps
POSITION_PENALTY = 0.1  # reward per step: (1 - 0.1 |x| - 0.1 |theta|) * reward_scale
ANGLE_PENALTY = 0.1

F32 = np.float32


class PhysicsConstants(NamedTuple):
    """float32 constants of the equations for one task (scalars) or N tasks (arrays [N])."""

    pole_length: np.ndarray  # l
    pole_mass: np.ndarray  # m_p
    total_mass: np.ndarray  # M = m_c + m_p
    pole_mass_length: np.ndarray  # m_p l
    gravity: np.ndarray  # g


def physics_constants(pole_length, pole_mass, cart_mass, gravity) -> PhysicsConstants:
    """The float32 constants of :func:`cartpole_physics_step`; sums and products of parameters are
    formed in float64 first, as the draft does with its Python-float parameters."""
    as32 = lambda value: np.asarray(value, dtype=np.float64).astype(F32)  # noqa: E731
    pole_length, pole_mass = np.asarray(pole_length, dtype=np.float64), np.asarray(pole_mass, dtype=np.float64)
    return PhysicsConstants(
        pole_length=as32(pole_length),
        pole_mass=as32(pole_mass),
        total_mass=as32(np.asarray(cart_mass, dtype=np.float64) + pole_mass),
        pole_mass_length=as32(pole_mass * pole_length),
        gravity=as32(gravity),
    )


def cartpole_physics_step(state, force, constants: PhysicsConstants):
    """One Euler step of the cart-pole equations of motion, in float32 (scalars or arrays [N]).

    With total mass M = m_c + m_p and pole half-length l::

        temp = (F + m_p l θ̇² sin θ) / M
        θ̈    = (g sin θ - cos θ · temp) / (l (4/3 - m_p cos² θ / M))
        ẍ    = temp - m_p l θ̈ cos θ / M
        x ← x + τ ẋ,  ẋ ← ẋ + τ ẍ,  θ ← θ + τ θ̇,  θ̇ ← θ̇ + τ θ̈

    Args:
        state: ``(x, x_dot, theta, theta_dot)``, float32 scalars or float32 arrays [N].
        force: horizontal force on the cart (N), float32 scalar or [N].
        constants: :func:`physics_constants` of the task(s).

    Returns:
        The next ``(x, x_dot, theta, theta_dot)`` (float32).
    """
    x, x_dot, theta, theta_dot = state
    l, m_p, total_mass, m_p_l, g = constants
    sin_theta, cos_theta = np.sin(theta), np.cos(theta)
    temp = (force + m_p_l * theta_dot**2 * sin_theta) / total_mass
    theta_acc = (g * sin_theta - cos_theta * temp) / (l * (F32(4.0 / 3.0) - m_p * cos_theta**2 / total_mass))
    x_acc = temp - m_p_l * theta_acc * cos_theta / total_mass
    tau = F32(TIME_STEP)
    return x + x_dot * tau, x_dot + x_acc * tau, theta + theta_dot * tau, theta_dot + theta_acc * tau


def push_force(actions, action_sign) -> np.ndarray:
    """Force (N, float32) of actions in {0, 1}: ``action_sign * (+10 if action == 1 else -10)``."""
    return (np.where(np.asarray(actions) == 1, FORCE_MAGNITUDE, -FORCE_MAGNITUDE) * action_sign).astype(F32)


def task_reward(x, theta, reward_scale, target_x=None):
    """Reward of one step (float32), computed on the state *after* the step, the falling step included.

    The draft's reward ``(1 - 0.1 |x| - 0.1 |θ|) · reward_scale``; on ``target`` tasks the distance to
    the hidden target replaces the centring terms: ``exp(-|x - x*|) · reward_scale``.

    Args:
        x, theta: float32 scalars or arrays [N].
        reward_scale: scalar or [N].
        target_x: ``None`` (the draft's reward), a number, or an array [N] with NaN where there is no target.
    """
    x, theta = np.asarray(x, dtype=F32), np.asarray(theta, dtype=F32)
    scale = np.asarray(reward_scale, dtype=np.float64).astype(F32)
    centred = (F32(1.0) - np.abs(x) * F32(POSITION_PENALTY) - np.abs(theta) * F32(ANGLE_PENALTY)) * scale
    if target_x is None:
        return centred
    target = np.asarray(target_x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        towards_target = np.exp(-np.abs(x - target.astype(F32))) * scale
    return np.where(np.isnan(target), centred, towards_target).astype(F32)


def is_fallen(x, theta):
    """Termination: the cart left the track (|x| > 2.4) or the pole tilted more than 0.2095 rad."""
    return (np.abs(x) > F32(X_THRESHOLD)) | (np.abs(theta) > F32(THETA_THRESHOLD))
