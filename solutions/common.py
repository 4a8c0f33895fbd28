"""Reference solutions shared by every algorithm of HW11 (hidden from students).

Each function here is a student TODO: the notebook includes its source with
``# include: solutions.common.<name>``; its body sits between the ``### BEGIN SOLUTION`` and
``### END SOLUTION`` markers, so nbgrader's ClearSolutions leaves only the signature and the
docstring in the student release.
"""

from __future__ import annotations

import numpy as np
import torch

from hw11_utils.evaluation import mean_ci

STUDENT_TODOS = ("discounted_returns", "paired_difference")


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float) -> torch.Tensor:
    """Discounted reward-to-go of every step, restarted at episode boundaries.

    The backward recursion (from t = T-1 down to 0)

        G_t = r_t + gamma * G_{t+1} * (1 - done_t),     G_T = 0,

    so a step that ends an episode (done_t = 1) does not bootstrap from the next episode.

    Inputs:
        rewards: float tensor [..., T], reward r_t of each step; time is the last axis, any
            leading dimensions (e.g. [tasks, episodes, T]) are batch dimensions.
        dones: float tensor [..., T] (same shape as rewards), 1.0 where step t is the last step
            of an episode, 0.0 otherwise.
        gamma: discount factor in [0, 1].

    Returns:
        float tensor [..., T], same shape and dtype as rewards: the returns G_t.
    """
    ### BEGIN SOLUTION
    discounts = gamma * (1.0 - dones)  # gamma inside an episode, 0 at its last step
    next_return = torch.zeros_like(rewards[..., 0])
    returns_reversed = []
    for reward, discount in zip(reversed(rewards.unbind(-1)), reversed(discounts.unbind(-1))):
        next_return = reward + discount * next_return
        returns_reversed.append(next_return)
    return torch.stack(returns_reversed[::-1], dim=-1)
    ### END SOLUTION


def paired_difference(curve_a: np.ndarray, curve_b: np.ndarray, unit: int) -> tuple[float, float]:
    """Mean difference between two methods at one adaptation unit, with a 95% confidence interval.

    Both methods were evaluated on the *same* held-out tasks, so compare them task by task: the
    paired differences d_i = a_i - b_i remove the task-to-task variation that both share, and give
    a much tighter interval than comparing two independent means.

    One training seed, curves [tasks, units + 1]: the n = tasks differences are the sample,

        d_i = A[i, unit] - B[i, unit],     mean = (1/n) sum_i d_i,     half-width = t_{0.975, n-1} s_d / sqrt(n).

    Several training seeds, curves [seeds, tasks, units + 1]: the tasks of one seed share that
    seed's trained models, so they are not independent draws across seeds. Average the paired
    differences over the tasks *within* each seed, then take the interval over the S seed means
    (it includes the seed-to-seed variation):

        dbar_s = (1/n) sum_i (A[s, i, unit] - B[s, i, unit]),   mean = (1/S) sum_s dbar_s,
        half-width = t_{0.975, S-1} s_dbar / sqrt(S)          (S = 1: the one-seed interval above).

    Inputs:
        curve_a, curve_b: float arrays of the same shape [tasks, units + 1] or [seeds, tasks, units + 1]
            (normalised returns after 0..units adaptation units; see ``*_adaptation_curve``).
        unit: which adaptation unit to compare (an index of the last axis).

    Returns:
        (mean, half_width): Python floats; the 95% interval is mean ± half_width. Use
        ``mean_ci(values, axis=None)`` from ``hw11_utils.evaluation`` for the t-interval.
    """
    ### BEGIN SOLUTION
    curve_a, curve_b = np.asarray(curve_a, dtype=float), np.asarray(curve_b, dtype=float)
    if curve_a.shape != curve_b.shape:
        raise ValueError(f"paired curves must have the same shape, got {curve_a.shape} and {curve_b.shape}")
    differences = curve_a[..., unit] - curve_b[..., unit]  # [tasks] or [seeds, tasks]
    if differences.ndim == 2:
        differences = differences.mean(axis=1) if differences.shape[0] >= 2 else differences[0]
    mean, half_width = mean_ci(differences, axis=None)
    return float(mean), float(half_width)
    ### END SOLUTION
