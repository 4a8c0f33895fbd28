"""Reference solutions shared by every algorithm of HW11 (hidden from students).

Each function here is a student TODO: the notebook includes its source with
``# include: solutions.common.<name>``; its body sits between the ``### BEGIN SOLUTION`` and
``### END SOLUTION`` markers, so nbgrader's ClearSolutions leaves only the signature and the
docstring in the student release.
"""

from __future__ import annotations

import torch

STUDENT_TODOS = ("discounted_returns",)


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
    next_return = torch.zeros_like(rewards[..., 0])
    returns_reversed = []
    for t in reversed(range(rewards.shape[-1])):
        next_return = rewards[..., t] + gamma * next_return * (1.0 - dones[..., t])
        returns_reversed.append(next_return)
    return torch.stack(returns_reversed[::-1], dim=-1)
    ### END SOLUTION
