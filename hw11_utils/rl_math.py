"""RL maths shared by every algorithm: masked means, GAE, advantage normalisation and policy losses.

Conventions (as in :class:`~hw11_utils.rollouts.RolloutBatch`):

* tensors are batched over any leading dimensions, e.g. ``[tasks, episodes, time]``;
* time is the **last** axis of ``rewards``, ``values``, ``masks``, ``log_probs`` and ``advantages``;
* ``masks`` is 1.0 on steps taken while the pole was up and 0.0 after it fell (fixed-length
  episodes); masked steps contribute nothing to any mean or loss.

Symbols used in the docstrings: r_t reward, V_t value estimate, m_t mask, gamma discount,
lambda GAE parameter, A_t advantage, pi policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
from torch import Tensor

Dim = Union[int, Sequence[int], None]

#: Smallest denominator of a masked mean: a mean over zero valid entries is 0 (and its gradient finite).
_MIN_COUNT = 1e-8


def masked_mean(x: Tensor, mask: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    """Mean of ``x`` over the entries where ``mask`` is non-zero.

        masked_mean(x, m) = sum_i m_i x_i / sum_i m_i

    Args:
        x: float tensor of any shape.
        mask: float (or bool) tensor broadcastable with ``x``; 1 = keep, 0 = ignore (weights allowed).
        dim: dimension(s) to reduce; ``None`` reduces over all of them (returns a scalar).
        keepdim: keep the reduced dimensions with size 1.

    Returns:
        The masked mean, with the reduced dimensions removed. Where ``mask`` sums to 0 the result
        is 0 (not NaN), and so is its gradient.
    """
    x, mask = torch.broadcast_tensors(x, mask.to(x.dtype))
    if dim is None:
        dim = tuple(range(x.dim()))
    total = (x * mask).sum(dim=dim, keepdim=keepdim)
    count = mask.sum(dim=dim, keepdim=keepdim)
    return total / count.clamp_min(_MIN_COUNT)


def gae(
    rewards: Tensor,
    values: Tensor,
    masks: Tensor,
    gamma: float,
    lam: float,
    last_values: Optional[Tensor] = None,
) -> Tensor:
    """Generalised advantage estimation (Schulman et al., 2016) over fixed-length, masked episodes.

    With the TD errors

        delta_t = r_t + gamma * V_{t+1} * m_{t+1} - V_t

    the advantages follow the backward recursion (from t = T-1 down to 0)

        A_t = m_t * (delta_t + gamma * lambda * m_{t+1} * A_{t+1}),     A_T = 0,

    where beyond the last step V_T = ``last_values`` (0 if not given) and m_T = 1. So a fall
    (m_{t+1} = 0) stops both the bootstrap and the recursion, and masked steps get A_t = 0.

    Special case: with ``lam = 1`` and ``values = 0`` (and no ``last_values``) the advantages are
    the masked discounted returns-to-go, A_t = sum_{k >= t} gamma^(k-t) m_k r_k.

    Args:
        rewards: float [..., T].
        values: float [..., T], V(s_t) (treated as constants: the result is computed without grad).
        masks: float [..., T], 1 while alive, 0 after the fall.
        gamma: discount factor in [0, 1].
        lam: GAE parameter lambda in [0, 1] (0: one-step TD error, 1: Monte-Carlo return minus V_t).
        last_values: float [...], V(s_T) of the state after the last step, used to bootstrap
            episodes cut by the time limit. Pass 0 where the episode ended by a fall.

    Returns:
        advantages: float [..., T] (no grad). Value targets are ``advantages + values``.
    """
    with torch.no_grad():
        rewards, values, masks = torch.broadcast_tensors(rewards, values.detach(), masks.to(rewards.dtype))
        next_value = values.new_zeros(values.shape[:-1])
        if last_values is not None:
            next_value = next_value + last_values.detach().to(values.dtype)
        next_mask = masks.new_ones(masks.shape[:-1])
        next_advantage = values.new_zeros(values.shape[:-1])
        advantages = values.new_zeros(values.shape)
        for t in reversed(range(values.shape[-1])):
            delta = rewards[..., t] + gamma * next_value * next_mask - values[..., t]
            next_advantage = masks[..., t] * (delta + gamma * lam * next_mask * next_advantage)
            advantages[..., t] = next_advantage
            next_value, next_mask = values[..., t], masks[..., t]
    return advantages


def normalize_advantages(advantages: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """Standardise advantages over the valid steps of the whole batch.

        A'_t = m_t * (A_t - mu) / (sigma + eps),
        mu = masked_mean(A, m),  sigma = sqrt(masked_mean((A - mu)^2, m))  (population std).

    Args:
        advantages: float [...] (any shape).
        mask: float [...] broadcastable with ``advantages``; 1 = valid step.
        eps: added to the standard deviation to avoid dividing by 0.

    Returns:
        float [...] of the shape of ``advantages``: zero mean and unit std over valid steps,
        exactly 0 where ``mask`` is 0.
    """
    mask = mask.to(advantages.dtype)
    mean = masked_mean(advantages, mask)
    std = masked_mean((advantages - mean) ** 2, mask).sqrt()
    return (advantages - mean) / (std + eps) * mask


def policy_gradient_surrogate(log_probs: Tensor, advantages: Tensor, mask: Tensor) -> Tensor:
    """REINFORCE / vanilla policy-gradient surrogate loss (to minimise).

        L(theta) = - masked_mean_t( log pi_theta(a_t | s_t) * A_t ),

    whose gradient is minus the policy-gradient estimate; the advantages are constants
    (detached).

    Args:
        log_probs: float [...], log pi_theta(a_t | s_t), differentiable in theta.
        advantages: float [...] (or returns-to-go), detached inside.
        mask: float [...], 1 = valid step.

    Returns:
        Scalar loss.
    """
    return -masked_mean(log_probs * advantages.detach(), mask)


def categorical_entropy(logits: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean entropy of categorical distributions given by logits (a bonus term of the loss).

        H_t = - sum_a pi(a | s_t) log pi(a | s_t),   returns masked_mean_t(H_t, m_t)

    Args:
        logits: float [..., A] (unnormalised log-probabilities; -inf allowed for impossible actions).
        mask: float [...] (the shape of ``logits`` without the action axis), or ``None`` to average
            over every entry.

    Returns:
        Scalar mean entropy (in nats).
    """
    logits = logits.clamp_min(torch.finfo(logits.dtype).min)
    log_pi = torch.log_softmax(logits, dim=-1)
    entropy = -(log_pi.exp() * log_pi).sum(dim=-1)
    if mask is None:
        return entropy.mean()
    return masked_mean(entropy, mask)


def ppo_clip_loss(
    new_log_probs: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip: float = 0.2,
) -> Tensor:
    """PPO clipped surrogate loss (Schulman et al., 2017), to minimise.

        rho_t = exp(log pi_theta(a_t|s_t) - log pi_old(a_t|s_t))
        L(theta) = - masked_mean_t( min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t) ),  eps = ``clip``

    Args:
        new_log_probs: float [...], log-probabilities under the current policy (differentiable).
        old_log_probs: float [...], log-probabilities under the policy that sampled the data (detached).
        advantages: float [...] (detached).
        mask: float [...], 1 = valid step.
        clip: clipping range eps of the probability ratio.

    Returns:
        Scalar loss.
    """
    advantages = advantages.detach()
    ratio = torch.exp(new_log_probs - old_log_probs.detach())
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    return -masked_mean(torch.min(ratio * advantages, clipped * advantages), mask)
