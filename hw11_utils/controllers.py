"""Reference policies: random, a task-agnostic LQR controller, and an oracle that knows the task.

They bound what a meta-learner can hope for. The *task-agnostic* controller is the linear-quadratic
regulator (LQR) of the nominal cart-pole, linearised around the upright position; it knows nothing
about the task. The *oracle* is given the task: it uses the LQR of the task's own physics,
multiplies its push by ``action_sign`` on ``flip`` tasks, and regulates around the hidden target
``x*`` on ``target`` tasks.

The cart can only be pushed with +-10 N, so a controller computes the LQR force
``u = -K (s - s_ref)`` and pushes in its direction (action 1 when ``action_sign * u > 0``).

Every controller works on N environments at once and can be used in two ways:

* ``controller.act(obs)``: numpy observations float [N, 4] -> actions int [N], for
  :class:`~hw11_utils.batched_env.BatchedCartPole`;
* ``controller(step)``: a :data:`~hw11_utils.rollouts.PolicyFn` for
  :func:`~hw11_utils.rollouts.sample_rollouts` (it returns logits of +-``LOGIT_SCALE``, so sampling
  picks its action with probability 1 - 1e-17; the random controller returns zero logits).

Example::

    tasks = meta_test_tasks("flip", n=8)
    batch = sample_rollouts(oracle_controller(tasks, episodes_per_task=2), tasks, episodes_per_task=2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from hw11_utils.physics import TIME_STEP
from hw11_utils.rollouts import StepInput
from hw11_utils.tasks import Task

#: LQR cost weights: state cost diag(Q) on (x, x_dot, theta, theta_dot) and control cost R on the force.
STATE_COST = (10.0, 1.0, 10.0, 1.0)
CONTROL_COST = 0.1
#: Largest distance (m) between the cart and the set point the oracle steers to on ``target`` tasks:
#: the set point moves with the cart, at most this far ahead of it, towards x* (a gentle ramp).
MAX_SET_POINT_OFFSET = 1.0
#: |logit| returned by the deterministic controllers as a PolicyFn.
LOGIT_SCALE = 20.0
CONTROLLERS = ("random", "agnostic", "oracle")


def linearised_dynamics(
    pole_length: Any = 0.5, pole_mass: Any = 0.1, gravity: Any = 9.8, cart_mass: Any = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Euler-discretised cart-pole linearised around the upright state (scalars or arrays [N]).

    Around s = 0 (sin θ ≈ θ, cos θ ≈ 1, θ̇² ≈ 0), with M = m_c + m_p and d = l (4/3 - m_p / M)::

        θ̈ = (g θ - F / M) / d,       ẍ = F / M - (m_p l / M) θ̈

    and one Euler step of the simulator gives s' = A s + B F with A = I + τ A_c, B = τ B_c.

    Returns:
        A float [..., 4, 4] and B float [..., 4] (leading shape that of the broadcast parameters).
    """
    pole_length, pole_mass, gravity, cart_mass = np.broadcast_arrays(
        *(np.asarray(value, dtype=float) for value in (pole_length, pole_mass, gravity, cart_mass))
    )
    total_mass = cart_mass + pole_mass
    denominator = pole_length * (4.0 / 3.0 - pole_mass / total_mass)
    ratio = pole_mass * pole_length / total_mass
    a_cont = np.zeros(pole_length.shape + (4, 4))
    a_cont[..., 0, 1] = 1.0
    a_cont[..., 1, 2] = -ratio * gravity / denominator
    a_cont[..., 2, 3] = 1.0
    a_cont[..., 3, 2] = gravity / denominator
    b_cont = np.zeros(pole_length.shape + (4,))
    b_cont[..., 1] = 1.0 / total_mass + ratio / (total_mass * denominator)
    b_cont[..., 3] = -1.0 / (total_mass * denominator)
    return np.eye(4) + TIME_STEP * a_cont, TIME_STEP * b_cont


def lqr_gains(
    tasks: Sequence[Task],
    state_cost: Sequence[float] = STATE_COST,
    control_cost: float = CONTROL_COST,
    tol: float = 1e-9,
    max_iterations: int = 20_000,
) -> np.ndarray:
    """Infinite-horizon discrete LQR gains K of every task's linearised physics: float [N, 4].

    Iterates the Riccati recursion (all tasks at once) until P stops changing::

        K = (R + Bᵀ P B)⁻¹ Bᵀ P A,      P ← Q + Aᵀ P (A - B K)

    The force u = -K s minimises sum_t (sᵀ Q s + R u²) for the linear model.
    """
    if len(tasks) == 0:
        return np.zeros((0, 4))
    a, b = linearised_dynamics(
        np.array([t.pole_length for t in tasks]),
        np.array([t.pole_mass for t in tasks]),
        np.array([t.gravity for t in tasks]),
        np.array([t.cart_mass for t in tasks]),
    )
    b = b[..., None]  # [N, 4, 1]
    q = np.diag(np.asarray(state_cost, dtype=float))
    p = np.broadcast_to(q, a.shape).copy()
    a_t, b_t = a.transpose(0, 2, 1), b.transpose(0, 2, 1)
    for _ in range(max_iterations):
        gain = (b_t @ p @ a) / (control_cost + b_t @ p @ b)  # [N, 1, 4]
        p_next = q + a_t @ p @ (a - b @ gain)
        converged = np.max(np.abs(p_next - p)) <= tol * max(1.0, np.max(np.abs(p)))
        p = p_next
        if converged:
            break
    else:
        raise RuntimeError("the Riccati iteration did not converge")
    return ((b_t @ p @ a) / (control_cost + b_t @ p @ b))[:, 0, :]


def lqr_gain(task: Optional[Task] = None) -> np.ndarray:
    """LQR gain K float [4] of one task (the nominal task by default)."""
    return lqr_gains([task if task is not None else Task()])[0]


def _actions_to_logits(actions: np.ndarray) -> Tensor:
    """Deterministic actions int [N] -> logits float32 [N, 2] of +-LOGIT_SCALE."""
    sign = torch.from_numpy(2.0 * np.asarray(actions, dtype=np.float32) - 1.0)
    return torch.stack([-sign, sign], dim=-1) * LOGIT_SCALE


class RandomController:
    """Pushes left or right with probability 1/2, whatever the state.

    Args:
        seed: seeds the generator used by :meth:`act` (as a PolicyFn it returns zero logits and
            :func:`~hw11_utils.rollouts.sample_rollouts` draws the actions).
    """

    def __init__(self, seed: Optional[int] = None) -> None:
        self.np_random = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Random actions int [N] for observations [N, 4]."""
        return self.np_random.integers(0, 2, size=len(obs))

    def __call__(self, step: StepInput) -> tuple[Tensor, Any]:
        return torch.zeros(step.obs.shape[0], 2), None


class LinearController:
    """Bang-bang linear state feedback on N environments: push in the direction of u = -K (s - s_ref).

    Args:
        gains: K, float [4] (shared by every environment) or [N, 4] (one per environment).
        action_sign: +-1, scalar or [N]; the action is 1 when ``action_sign * u > 0`` (so a flipped
            task gets the push it needs).
        set_point: target cart position x*, scalar or [N]; ``None`` regulates to x = 0.
        max_offset: the reference position is ``x + clip(x* - x, -max_offset, max_offset)``: a set
            point that moves with the cart towards x*, so a far target does not ask for a push so
            hard that the pole falls.
    """

    def __init__(
        self,
        gains: np.ndarray,
        action_sign: Any = 1.0,
        set_point: Any = None,
        max_offset: float = MAX_SET_POINT_OFFSET,
    ) -> None:
        self.gains = np.atleast_2d(np.asarray(gains, dtype=float))
        self.action_sign = np.asarray(action_sign, dtype=float)
        self.set_point = None if set_point is None else np.asarray(set_point, dtype=float)
        self.max_offset = float(max_offset)
        sizes = {len(self.gains)} | {a.size for a in (self.action_sign, self.set_point) if a is not None}
        self.num_envs = max(sizes) if len(sizes - {1}) <= 1 else None
        if self.num_envs is None:
            raise ValueError(f"per-environment arguments have inconsistent sizes {sorted(sizes)}")

    def force(self, obs: np.ndarray) -> np.ndarray:
        """LQR force u float [N] (before saturation) for observations [N, 4]."""
        obs = np.asarray(obs, dtype=float)
        if self.num_envs > 1 and obs.shape[0] != self.num_envs:
            raise ValueError(
                f"this controller was built for {self.num_envs} environments but got {obs.shape[0]} observations; "
                "build it with the tasks of the batch (and episodes_per_task) in the order sample_rollouts uses"
            )
        error = obs.copy()
        if self.set_point is not None:
            error[:, 0] = -np.clip(self.set_point - obs[:, 0], -self.max_offset, self.max_offset)
        return -np.sum(self.gains * error, axis=-1)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions int [N] in {0, 1} for observations [N, 4]."""
        return (self.action_sign * self.force(obs) > 0).astype(np.int64)

    def __call__(self, step: StepInput) -> tuple[Tensor, Any]:
        return _actions_to_logits(self.act(step.obs.cpu().numpy())), None


def random_controller(seed: Optional[int] = None) -> RandomController:
    """The random policy (a lower bound)."""
    return RandomController(seed)


def agnostic_controller() -> LinearController:
    """The task-agnostic controller: LQR of the nominal task, pushes as if action_sign = +1, regulates to x = 0.

    It works for any number of environments.
    """
    return LinearController(lqr_gain(Task()))


def env_tasks(tasks: Sequence[Task], episodes_per_task: int = 1) -> list[Task]:
    """The task of every environment of ``sample_rollouts(..., tasks, episodes_per_task)`` (task-major)."""
    return [task for task in tasks for _ in range(episodes_per_task)]


def oracle_controller(tasks: Sequence[Task], episodes_per_task: int = 1) -> LinearController:
    """The oracle: the LQR of each task's own physics, its action sign, and its target (if any).

    Args:
        tasks: the tasks of the batch, in the order given to
            :func:`~hw11_utils.rollouts.sample_rollouts` (or to ``BatchedCartPole`` with
            ``episodes_per_task=1``).
        episodes_per_task: E of ``sample_rollouts(..., carry_state=False)``: environment
            ``k * E + e`` runs ``tasks[k]``.
    """
    per_env = env_tasks(tasks, episodes_per_task)
    unique = list(dict.fromkeys(per_env))
    unique_gains = lqr_gains(unique)
    index = {task: i for i, task in enumerate(unique)}
    gains = unique_gains[[index[task] for task in per_env]]
    signs = np.array([task.action_sign for task in per_env])
    has_target = any(task.target_x is not None for task in per_env)
    set_point = np.array([task.target_x or 0.0 for task in per_env]) if has_target else None
    return LinearController(gains, action_sign=signs, set_point=set_point)


def make_controller(
    name: str, tasks: Sequence[Task], episodes_per_task: int = 1, seed: Optional[int] = None
) -> RandomController | LinearController:
    """One of :data:`CONTROLLERS` (``"random"``, ``"agnostic"``, ``"oracle"``) for a batch of tasks."""
    if name == "random":
        return random_controller(seed)
    if name == "agnostic":
        return agnostic_controller()
    if name == "oracle":
        return oracle_controller(tasks, episodes_per_task)
    raise ValueError(f"unknown controller {name!r}; valid names are {list(CONTROLLERS)}")
