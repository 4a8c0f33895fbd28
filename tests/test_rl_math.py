"""Tests of hw11_utils.rl_math on cases computed by hand."""

import math

import pytest
import torch

from hw11_utils.rl_math import (
    categorical_entropy,
    gae,
    masked_mean,
    normalize_advantages,
    policy_gradient_surrogate,
    ppo_clip_loss,
)


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


# ---------------------------------------------------------------- masked_mean
def test_masked_mean_ignores_masked_entries():
    x, mask = t(1.0, 2.0, 3.0, 100.0), t(1.0, 1.0, 1.0, 0.0)
    assert masked_mean(x, mask).item() == pytest.approx(2.0)


def test_masked_mean_over_a_dimension():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(masked_mean(x, mask, dim=-1), t(2.0, 5.0))
    assert masked_mean(x, mask, dim=-1, keepdim=True).shape == (2, 1)


def test_masked_mean_broadcasts_mask():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert masked_mean(x, t(0.0, 1.0)).item() == pytest.approx(3.0)  # mask [2] over x [2, 2]


def test_masked_mean_of_empty_mask_is_zero_with_finite_grad():
    x = t(1.0, 2.0).requires_grad_()
    mean = masked_mean(x, torch.zeros(2))
    mean.backward()
    assert mean.item() == 0.0
    assert torch.equal(x.grad, torch.zeros(2))


# ---------------------------------------------------------------- gae
def test_gae_lambda1_zero_values_is_discounted_return_to_go():
    # gamma 0.5: G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75
    rewards = t(1.0, 2.0, 3.0)
    adv = gae(rewards, torch.zeros(3), torch.ones(3), gamma=0.5, lam=1.0)
    torch.testing.assert_close(adv, t(2.75, 3.5, 3.0))


def test_gae_masked_steps_contribute_nothing():
    # the pole falls after step 1: the reward 7 on the masked step must be ignored
    rewards, masks = t(1.0, 2.0, 7.0), t(1.0, 1.0, 0.0)
    adv = gae(rewards, torch.zeros(3), masks, gamma=0.5, lam=1.0)
    torch.testing.assert_close(adv, t(2.0, 2.0, 0.0))


def test_gae_lambda0_is_td_error_and_stops_bootstrap_at_fall():
    # delta_0 = 1 + 0.5 * 1.0 - 0.5 = 1.0; delta_1 = 1 + 0.5 * 2.0 * m_2(=0) - 1.0 = 0.0; A_2 masked
    rewards, values, masks = t(1.0, 1.0, 1.0), t(0.5, 1.0, 2.0), t(1.0, 1.0, 0.0)
    adv = gae(rewards, values, masks, gamma=0.5, lam=0.0)
    torch.testing.assert_close(adv, t(1.0, 0.0, 0.0))


def test_gae_with_values_and_bootstrap_by_hand():
    # gamma 0.5, lambda 0.5, V_3 = 4:
    # delta_2 = 2 + 0.5*4 - 0.5 = 3.5                  A_2 = 3.5
    # delta_1 = 0 + 0.5*0.5 - 2 = -1.75                 A_1 = -1.75 + 0.25 * 3.5 = -0.875
    # delta_0 = 1 + 0.5*2 - 1 = 1.0                     A_0 = 1.0 + 0.25 * -0.875 = 0.78125
    rewards, values = t(1.0, 0.0, 2.0), t(1.0, 2.0, 0.5)
    adv = gae(rewards, values, torch.ones(3), gamma=0.5, lam=0.5, last_values=torch.tensor(4.0))
    torch.testing.assert_close(adv, t(0.78125, -0.875, 3.5))
    no_bootstrap = gae(rewards, values, torch.ones(3), gamma=0.5, lam=0.5)
    assert no_bootstrap[2].item() == pytest.approx(1.5)  # 2 - 0.5


def test_gae_is_batched_over_leading_dims():
    generator = torch.Generator().manual_seed(0)
    rewards = torch.rand(2, 3, 5, generator=generator)
    values = torch.rand(2, 3, 5, generator=generator)
    masks = (torch.arange(5) < torch.tensor([5, 3, 1, 4, 2, 0]).view(2, 3, 1)).float()
    last_values = torch.rand(2, 3, generator=generator)
    batched = gae(rewards, values, masks, 0.9, 0.8, last_values)
    for i in range(2):
        for j in range(3):
            single = gae(rewards[i, j], values[i, j], masks[i, j], 0.9, 0.8, last_values[i, j])
            torch.testing.assert_close(batched[i, j], single)
    assert torch.all(batched[masks == 0] == 0)


def test_gae_lambda1_plus_values_is_bootstrapped_return():
    rewards, values, masks = t(1.0, 1.0, 1.0, 1.0), t(0.3, -2.0, 5.0, 1.0), torch.ones(4)
    gamma, last = 0.9, 2.0
    adv = gae(rewards, values, masks, gamma, 1.0, last_values=torch.tensor(last))
    expected_return = sum(gamma**k for k in range(4)) + gamma**4 * last
    assert (adv[0] + values[0]).item() == pytest.approx(expected_return, rel=1e-5)


def test_gae_result_has_no_grad():
    values = t(1.0, 2.0).requires_grad_()
    assert not gae(t(1.0, 1.0), values, torch.ones(2), 0.9, 0.9).requires_grad


# ---------------------------------------------------------------- normalize_advantages
def test_normalize_advantages_by_hand():
    # valid [1, 2, 3]: mean 2, population std sqrt(2/3)
    adv, mask = t(1.0, 2.0, 3.0, 100.0), t(1.0, 1.0, 1.0, 0.0)
    expected = t(-1.0, 0.0, 1.0, 0.0) / math.sqrt(2.0 / 3.0)
    torch.testing.assert_close(normalize_advantages(adv, mask), expected)


def test_normalize_advantages_moments_on_valid_steps():
    generator = torch.Generator().manual_seed(1)
    adv = 5.0 + 3.0 * torch.randn(4, 50, generator=generator)
    mask = (torch.rand(4, 50, generator=generator) < 0.7).float()
    out = normalize_advantages(adv, mask)
    assert masked_mean(out, mask).item() == pytest.approx(0.0, abs=1e-5)
    assert masked_mean(out**2, mask).item() == pytest.approx(1.0, abs=1e-4)
    assert torch.all(out[mask == 0] == 0)


# ---------------------------------------------------------------- policy_gradient_surrogate
def test_policy_gradient_surrogate_value_and_gradient_by_hand():
    log_probs = t(-0.5, -1.0, -2.0).requires_grad_()
    advantages = t(2.0, -1.0, 5.0).requires_grad_()
    mask = t(1.0, 1.0, 0.0)
    loss = policy_gradient_surrogate(log_probs, advantages, mask)
    # L = -((-0.5 * 2) + (-1 * -1)) / 2 = 0;  dL/dlogp_t = -A_t m_t / 2
    assert loss.item() == pytest.approx(0.0)
    loss.backward()
    torch.testing.assert_close(log_probs.grad, t(-1.0, 0.5, 0.0))
    assert advantages.grad is None  # advantages are constants


# ---------------------------------------------------------------- categorical_entropy
def test_categorical_entropy_by_hand():
    logits = torch.tensor([[0.0, 0.0], [0.0, -math.inf], [math.log(3.0), 0.0]])
    h_uniform = math.log(2.0)
    h_skewed = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert categorical_entropy(logits).item() == pytest.approx((h_uniform + 0.0 + h_skewed) / 3, rel=1e-5)
    masked = categorical_entropy(logits, mask=t(1.0, 0.0, 1.0))
    assert masked.item() == pytest.approx((h_uniform + h_skewed) / 2, rel=1e-5)


def test_categorical_entropy_matches_torch_distribution():
    logits = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(2))
    expected = torch.distributions.Categorical(logits=logits).entropy().mean()
    torch.testing.assert_close(categorical_entropy(logits), expected)


# ---------------------------------------------------------------- ppo_clip_loss
def test_ppo_clip_loss_by_hand():
    # ratios 1.5, 1.5, 0.5, 0.5 with advantages +1, -1, +1, -1 and clip 0.2:
    # min terms: 1.2 (clipped), -1.5, 0.5, -0.8 (clipped)  ->  loss = -(1.2 - 1.5 + 0.5 - 0.8) / 4 = 0.15
    old = torch.zeros(4)
    new = torch.log(t(1.5, 1.5, 0.5, 0.5)).requires_grad_()
    advantages = t(1.0, -1.0, 1.0, -1.0)
    loss = ppo_clip_loss(new, old, advantages, torch.ones(4), clip=0.2)
    assert loss.item() == pytest.approx(0.15, rel=1e-5)
    loss.backward()
    # clipped terms have zero gradient; otherwise dL/dnew_t = -rho_t A_t / 4
    torch.testing.assert_close(new.grad, t(0.0, 0.375, -0.125, 0.0))


def test_ppo_clip_loss_equals_surrogate_gradient_at_ratio_one():
    generator = torch.Generator().manual_seed(3)
    log_probs = torch.randn(10, generator=generator).requires_grad_()
    advantages = torch.randn(10, generator=generator)
    mask = (torch.arange(10) < 7).float()
    ppo_grad = torch.autograd.grad(ppo_clip_loss(log_probs, log_probs.detach(), advantages, mask), log_probs)
    pg_grad = torch.autograd.grad(policy_gradient_surrogate(log_probs, advantages, mask), log_probs)
    torch.testing.assert_close(ppo_grad[0], pg_grad[0])
