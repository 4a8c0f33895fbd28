"""Graders of the PEARL TODOs (``solutions/pearl.py``): ``product_of_gaussians``,
``kl_to_standard_normal``, ``infer_posterior``, ``sample_latent``, ``sac_critic_loss``, ``sac_actor_loss``.

Values are compared with the reference on seeded random inputs (float64 where the function allows
it, so gradients can be compared tightly); behaviour is checked where it matters: permutation
invariance and padding of the posterior, precision weighting, the reparameterisation trick, and
where gradient may (and may not) flow in the SAC losses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Optional

import torch
from torch import Tensor

from hw11_grading import isolation
from hw11_grading.support import (
    assert_scalar,
    assert_tensor_close,
    describe_mismatch,
    flat_gradient,
    relative_error,
    run_with_students,
    student_function,
)
from hw11_utils.networks import TransitionEncoder
from hw11_utils.tasks import meta_test_tasks
from solutions import pearl


def _pair(where: str, got: Any, what: str = "(mu, var)") -> tuple[Tensor, Tensor]:
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        f"{where}: expected a tuple {what} of two tensors, got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
    )
    assert all(isinstance(x, Tensor) for x in got), f"{where}: expected a tuple {what} of two tensors"
    return got[0], got[1]


def _gaussian_factors(seed: int, shape: tuple[int, ...], padded: bool, bool_mask: bool = False) -> dict:
    """mus, variances [..., N, L] (float64, requires grad) and an optional mask [..., N] with padding."""
    generator = torch.Generator().manual_seed(seed)
    mus = torch.randn(shape, generator=generator, dtype=torch.float64)
    variances = torch.exp(torch.randn(shape, generator=generator, dtype=torch.float64))  # varied precisions
    mask = None
    if padded:
        lengths = torch.randint(1, shape[-2] + 1, shape[:-2] + (1,), generator=generator)
        mask = torch.arange(shape[-2]) < lengths
        mask = mask if bool_mask else mask.double()
    return dict(mus=mus.requires_grad_(True), variances=variances.requires_grad_(True), mask=mask)


# --------------------------------------------------------------------------------------------------
# product_of_gaussians
# --------------------------------------------------------------------------------------------------
#: (description, seed, shape [..., N, L], padded, boolean mask)
PRODUCT_CASES = (
    ("[N, L] = [6, 3], no mask", 0, (6, 3), False, False),
    ("[tasks, N, L] = [4, 8, 5], float mask with padding", 1, (4, 8, 5), True, False),
    ("[2, 3, 7, 2], bool mask with padding", 2, (2, 3, 7, 2), True, True),
    ("one factor [1, 1, 4]: the posterior is that factor", 3, (1, 1, 4), False, False),
)


def product_of_gaussians(student_fn: Callable[..., tuple]) -> None:
    """Grade ``product_of_gaussians(mus, variances, mask=None) -> (mu, var)``.

    Values and gradients (w.r.t. mus and variances) vs the reference, with and without float/bool
    masks and 0 to 2 leading dimensions; invariance to permuting the factors; padded factors
    ignored whatever their values. Catches: a plain average of the means ("a product of Gaussians
    weights each mean by its precision ..."), variances averaged or summed instead of precisions,
    the mask ignored or applied to the means only, reduction over the wrong axis.
    """
    fn = student_function("product_of_gaussians", student_fn)
    for name, seed, shape, padded, bool_mask in PRODUCT_CASES:
        where = f"product_of_gaussians, case '{name}'"
        inputs = _gaussian_factors(seed, shape, padded, bool_mask)
        expected_mu, expected_var = pearl.product_of_gaussians(**inputs)
        mu, var = _pair(where, fn(inputs["mus"], inputs["variances"], inputs["mask"], case=name))
        if tuple(mu.shape) == tuple(expected_mu.shape) and not torch.allclose(
            mu.detach(), expected_mu.detach(), atol=1e-8, rtol=1e-6
        ):
            weights = torch.ones(shape[:-1], dtype=torch.float64) if inputs["mask"] is None else inputs["mask"].double()
            plain_mean = (inputs["mus"] * weights.unsqueeze(-1)).sum(-2) / weights.sum(-1, keepdim=True)
            if torch.allclose(mu.detach(), plain_mean.detach(), atol=1e-6):
                raise AssertionError(
                    f"{where}: your posterior mean is the plain average of the factor means; a product of Gaussians "
                    "weights each mean by its precision: var = 1 / sum_n (m_n / sigma_n^2), "
                    "mu = var * sum_n (m_n mu_n / sigma_n^2)"
                )
        hint = (
            "var = 1 / sum_n (m_n / sigma_n^2) and mu = var * sum_n (m_n * mu_n / sigma_n^2), "
            "summed over the N axis (-2)"
        )
        assert_tensor_close(f"{where}, var", var, expected_var, atol=1e-8, rtol=1e-6, hint=hint)
        assert_tensor_close(f"{where}, mu", mu, expected_mu, atol=1e-8, rtol=1e-6, hint=hint)
        leaves = [inputs["mus"], inputs["variances"]]
        got_grad = flat_gradient(mu.sum() + var.sum(), leaves)
        expected_grad = flat_gradient(expected_mu.sum() + expected_var.sum(), leaves)
        assert relative_error(got_grad, expected_grad) < 1e-6, (
            f"{where}: the values are right but the gradient w.r.t. mus and variances differs from the reference "
            "(the posterior must stay differentiable: the encoder is trained through it)"
        )

        # behaviour: permutation invariance and padding ignored
        generator = torch.Generator().manual_seed(seed + 100)
        order = torch.randperm(shape[-2], generator=generator)
        mask = inputs["mask"]
        permuted = fn(
            inputs["mus"].detach()[..., order, :],
            inputs["variances"].detach()[..., order, :],
            None if mask is None else mask[..., order],
            case=name + ", factors permuted",
        )
        permuted_mu, permuted_var = _pair(where, permuted)
        assert torch.allclose(permuted_mu, mu.detach(), atol=1e-8) and torch.allclose(
            permuted_var, var.detach(), atol=1e-8
        ), f"{where}: the posterior changed when the factors were permuted; it must not depend on their order"
        if mask is not None:
            padding = ~mask.bool()
            noisy_mus = inputs["mus"].detach().masked_fill(padding.unsqueeze(-1), 1e3)
            noisy_variances = inputs["variances"].detach().masked_fill(padding.unsqueeze(-1), 1e-3)
            padded_mu, padded_var = _pair(where, fn(noisy_mus, noisy_variances, mask, case=name + ", padding changed"))
            assert torch.allclose(padded_mu, mu.detach(), atol=1e-8) and torch.allclose(
                padded_var, var.detach(), atol=1e-8
            ), (
                f"{where}: the posterior changed when only padded factors (mask 0) changed; multiply each precision "
                "1 / sigma_n^2 by the mask m_n so padding contributes nothing"
            )


# --------------------------------------------------------------------------------------------------
# kl_to_standard_normal
# --------------------------------------------------------------------------------------------------
def kl_to_standard_normal(student_fn: Callable[..., Tensor]) -> None:
    """Grade ``kl_to_standard_normal(mu, var) -> [...]`` on random Gaussians ([L], [B, L], [K, B, L]):
    values, gradients w.r.t. mu and var, and KL(N(0, I) || N(0, I)) = 0.

    Catches: a wrong sign (the KL is never negative), a missing 1/2, -log var or -1, a mean instead of a
    sum over latent dimensions, std used as var, the sum taken over the wrong axis.
    """
    fn = student_function("kl_to_standard_normal", student_fn)
    cases = (("[L] = [5]", 0, (5,)), ("[B, L] = [8, 3]", 1, (8, 3)), ("[K, B, L] = [2, 4, 6]", 2, (2, 4, 6)))
    for name, seed, shape in cases:
        where = f"kl_to_standard_normal, case '{name}'"
        generator = torch.Generator().manual_seed(seed)
        mu = torch.randn(shape, generator=generator, dtype=torch.float64).requires_grad_(True)
        var = torch.exp(0.7 * torch.randn(shape, generator=generator, dtype=torch.float64)).requires_grad_(True)
        expected = pearl.kl_to_standard_normal(mu, var)
        got = fn(mu, var, case=name)
        if isinstance(got, Tensor) and got.shape == expected.shape:
            reversed_kl = 0.5 * (1.0 / var + mu**2 / var - 1.0 + torch.log(var)).sum(-1)
            for wrong, diagnosis in (
                (
                    reversed_kl,
                    "that is the reversed KL(N(0, I) || q); the KL asked for is KL(q || N(0, I)) with q = N(mu, var)",
                ),
                (0.5 * (var + mu**2 - 1.0).sum(-1), "the - log var_l term is missing"),
                ((var + mu**2 - 1.0 - torch.log(var)).sum(-1), "the factor 1/2 is missing"),
                (0.5 * (var + mu**2 - 1.0 - torch.log(var)).mean(-1), "sum over the latent dimensions, not a mean"),
            ):
                if torch.allclose(got.detach(), wrong.detach(), atol=1e-8, rtol=1e-6):
                    raise AssertionError(f"{where}: {diagnosis} (KL = 1/2 * sum_l (var_l + mu_l^2 - 1 - log var_l))")
        if isinstance(got, Tensor) and got.shape == expected.shape and bool((got.detach() < -1e-9).any()):
            raise AssertionError(
                f"{where}: your KL is negative (e.g. {got.detach().min().item():.4g}); a KL divergence is never "
                "negative: KL = 1/2 * sum_l (var_l + mu_l^2 - 1 - log var_l)"
            )
        assert_tensor_close(
            where,
            got,
            expected,
            atol=1e-8,
            rtol=1e-6,
            hint="KL = 1/2 * sum_l (var_l + mu_l^2 - 1 - log var_l), summed over the last axis only",
        )
        got_grad, expected_grad = flat_gradient(got.sum(), [mu, var]), flat_gradient(expected.sum(), [mu, var])
        assert relative_error(got_grad, expected_grad) < 1e-6, (
            f"{where}: the values are right but the gradient w.r.t. mu and var differs from the reference "
            "(the KL is part of the encoder's loss: keep it differentiable)"
        )
    zero = fn(torch.zeros(3, 4), torch.ones(3, 4), case="standard normal")
    assert_tensor_close("kl_to_standard_normal, case 'q = N(0, I)'", zero, torch.zeros(3), atol=1e-6)


# --------------------------------------------------------------------------------------------------
# infer_posterior
# --------------------------------------------------------------------------------------------------
def _encoder(seed: int, transition_dim: int = 11, latent_dim: int = 3) -> TransitionEncoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TransitionEncoder(transition_dim, latent_dim, (16,)).double()


def infer_posterior(student_fn: Callable[..., tuple]) -> None:
    """Grade ``infer_posterior(encoder, context, mask=None, min_variance=1e-4) -> (mu, var)``.

    A seeded float64 encoder on random contexts ([N, D_c], [K, N, D_c] with padding, larger
    ``min_variance``): values and gradients w.r.t. the encoder's parameters vs the reference.
    Catches: the halves of the encoder output swapped, exp or abs instead of softplus, min_variance
    ignored or defaulted wrongly, the mask ignored, a posterior cut from the encoder.
    """
    fn = student_function("infer_posterior", student_fn)
    encoder = _encoder(50)
    params = list(encoder.parameters())
    generator = torch.Generator().manual_seed(51)
    full = torch.randn(7, 11, generator=generator, dtype=torch.float64)
    batched = torch.randn(4, 9, 11, generator=generator, dtype=torch.float64)
    lengths = torch.tensor([[9], [1], [5], [3]])
    mask = (torch.arange(9) < lengths).double()
    cases = (
        ("[N, D_c] = [7, 11], no mask, default min_variance", (full,), {}),
        ("[K, N, D_c] = [4, 9, 11] with padding", (batched, mask), {}),
        ("[4, 9, 11] with padding, min_variance = 0.5", (batched, mask), {"min_variance": 0.5}),
    )
    for name, args, kwargs in cases:
        where = f"infer_posterior, case '{name}'"
        expected_mu, expected_var = pearl.infer_posterior(encoder, *args, **kwargs)
        mu, var = _pair(where, fn(encoder, *args, **kwargs, case=name))
        hint = (
            "the encoder gives 2 L numbers per transition: the means mu_n (first half) and rho_n (second half), "
            "with sigma_n^2 = softplus(rho_n) + min_variance; the posterior is the product of the N factors"
        )
        raw = encoder(args[0]).detach()
        latent = raw.shape[-1] // 2
        mask_in = args[1] if len(args) > 1 else None
        min_var = kwargs.get("min_variance", 1e-4)
        softplus = torch.nn.functional.softplus
        candidates = [
            (raw[..., :latent], raw[..., latent:].exp() + min_var, mask_in, "the variances come from softplus(rho_n)"),
            (raw[..., :latent], softplus(raw[..., latent:]) + 1e-4, mask_in, "use the min_variance you were given"),
            (
                raw[..., latent:],
                softplus(raw[..., :latent]) + min_var,
                mask_in,
                "the halves are swapped: the FIRST L numbers are the means",
            ),
        ]
        if mask_in is not None:
            candidates.append(
                (
                    raw[..., :latent],
                    softplus(raw[..., latent:]) + min_var,
                    None,
                    "the mask was ignored: padded transitions (mask 0) must not count",
                )
            )
        for wrong_mu, wrong_var, wrong_mask, diagnosis in candidates:
            candidate_var = pearl.product_of_gaussians(wrong_mu, wrong_var, wrong_mask)[1]
            if (
                isinstance(var, Tensor)
                and var.shape == candidate_var.shape
                and torch.allclose(var.detach(), candidate_var, atol=1e-8, rtol=1e-6)
                and not torch.allclose(candidate_var, expected_var.detach(), atol=1e-8, rtol=1e-6)
            ):
                hint = diagnosis
                break
        assert_tensor_close(f"{where}, var", var, expected_var, atol=1e-8, rtol=1e-6, hint=hint)
        assert_tensor_close(f"{where}, mu", mu, expected_mu, atol=1e-8, rtol=1e-6, hint=hint)
        got_grad = flat_gradient(mu.sum() + var.sum(), params)
        expected_grad = flat_gradient(expected_mu.sum() + expected_var.sum(), params)
        assert got_grad.abs().sum() > 0, (
            f"{where}: the posterior carries no gradient to the encoder's parameters (no torch.no_grad() or "
            ".detach(): the encoder is trained through the posterior)"
        )
        assert relative_error(got_grad, expected_grad) < 1e-6, (
            f"{where}: the values are right but the gradient w.r.t. the encoder's parameters differs from the reference"
        )


# --------------------------------------------------------------------------------------------------
# sample_latent
# --------------------------------------------------------------------------------------------------
def _seeded_sample(fn: Callable[..., Any], mu: Tensor, var: Tensor, seed: int, case: str) -> Any:
    """Call ``fn(mu, var, generator)`` with a seeded generator and a seeded global RNG (deterministic either way)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn(mu, var, torch.Generator().manual_seed(seed), case=case)


def sample_latent(student_fn: Callable[..., Tensor]) -> None:
    """Grade ``sample_latent(mu, var, generator=None) -> z``.

    * shape [..., L] like mu, one sample per row;
    * reparameterised: dz/dmu = 1 and dz/dvar = (z - mu) / (2 var) for every entry (true of
      z = mu + sqrt(var) * eps whatever eps was drawn);
    * the right distribution: the mean and variance of 20000 seeded draws of N(mu, var) per entry
      (within 5 standard errors);
    * reproducible: two calls with generators seeded alike give the same z (eps drawn from ``generator``);
    * without a generator it still works (eps from the global generator).

    Catches: torch.normal / sampling under no_grad (not reparameterised: "gradient must flow to mu and
    var"), std and var confused, the generator ignored, eps of the wrong shape.
    """
    fn = student_function("sample_latent", student_fn)
    generator = torch.Generator().manual_seed(60)
    mu = torch.randn(3, 4, generator=generator, dtype=torch.float64).requires_grad_(True)
    var = torch.exp(torch.randn(3, 4, generator=generator, dtype=torch.float64)).requires_grad_(True)
    where = "sample_latent, case 'mu, var [3, 4]'"
    z = _seeded_sample(fn, mu, var, 61, "mu, var [3, 4]")
    assert isinstance(z, Tensor) and z.shape == mu.shape, f"{where}: expected z of shape {tuple(mu.shape)}, got " + (
        str(tuple(z.shape)) if isinstance(z, Tensor) else type(z).__name__
    )
    assert z.requires_grad, (
        f"{where}: z carries no gradient: sample_latent must be reparameterised (z = mu + sqrt(var) * eps with "
        "eps ~ N(0, I) drawn separately), so the gradient flows to mu and var; torch.normal(mu, std) and sampling "
        "under torch.no_grad() are not differentiable"
    )
    d_mu, d_var = torch.autograd.grad(z.sum(), [mu, var], allow_unused=True)
    d_mu = torch.zeros_like(mu) if d_mu is None else d_mu
    d_var = torch.zeros_like(var) if d_var is None else d_var
    expected_d_var = (z.detach() - mu.detach()) / (2 * var.detach())
    assert torch.allclose(d_mu, torch.ones_like(mu), atol=1e-6), (
        f"{where}: sample_latent is not reparameterised: the gradient must flow to mu and var as through "
        "z = mu + sqrt(var) * eps with eps ~ N(0, I) drawn separately (dz/dmu = 1); got dz/dmu: "
        f"{describe_mismatch(d_mu, torch.ones_like(mu), 1e-6, 0)}. torch.normal(mu, std) is not differentiable"
    )
    assert torch.allclose(d_var, expected_d_var, atol=1e-6), (
        f"{where}: the gradient w.r.t. var is not that of z = mu + sqrt(var) * eps (dz/dvar = eps / (2 sqrt(var))): "
        f"{describe_mismatch(d_var, expected_d_var, 1e-6, 0)} (var is a variance: the standard deviation is sqrt(var))"
    )

    # reproducible with the generator
    again = _seeded_sample(fn, mu.detach(), var.detach(), 61, "same seed again")
    other_global = _seeded_sample_global_changed(fn, mu.detach(), var.detach(), 61)
    assert torch.allclose(again.detach(), z.detach()) and torch.allclose(other_global.detach(), z.detach()), (
        f"{where}: two calls with generators seeded alike gave different samples: draw eps with the generator given "
        "(torch's random functions take a generator argument)"
    )

    # the distribution
    draws = 20000
    big_mu = torch.tensor([0.0, 1.5, -2.0], dtype=torch.float64).expand(draws, 3)
    big_var = torch.tensor([1.0, 0.25, 4.0], dtype=torch.float64).expand(draws, 3)
    samples = _seeded_sample(fn, big_mu, big_var, 62, "20000 draws").detach()
    assert samples.shape == big_mu.shape, (
        f"sample_latent: expected {tuple(big_mu.shape)} samples, got {tuple(samples.shape)}"
    )
    mean, variance = samples.mean(0), samples.var(0)
    true_mean, true_var = big_mu[0], big_var[0]
    mean_ok = ((mean - true_mean).abs() < 5 * (true_var / draws).sqrt()).all()
    var_ok = ((variance - true_var).abs() < 5 * true_var * (2.0 / draws) ** 0.5).all()
    assert mean_ok and var_ok, (
        f"sample_latent: 20000 draws of N(mu = {true_mean.tolist()}, var = {true_var.tolist()}) have mean "
        f"{[round(v, 3) for v in mean.tolist()]} and variance {[round(v, 3) for v in variance.tolist()]}: "
        "z = mu + sqrt(var) * eps with eps ~ N(0, 1) (var is the variance, not the standard deviation)"
    )

    # the generator is optional
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(63)
        plain = fn(mu.detach(), var.detach(), case="no generator")
    assert isinstance(plain, Tensor) and plain.shape == mu.shape, (
        "sample_latent, case 'no generator': with generator=None expected a sample of the shape of mu"
    )


def _seeded_sample_global_changed(fn: Callable[..., Any], mu: Tensor, var: Tensor, seed: int) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 12345)  # a different global state: only the generator decides
        return fn(mu, var, torch.Generator().manual_seed(seed), case="same generator seed, other global seed")


# --------------------------------------------------------------------------------------------------
# SAC losses
# --------------------------------------------------------------------------------------------------
def _sac_inputs(seed: int, batch: int, num_actions: int, alpha_tensor: bool) -> dict:
    generator = torch.Generator().manual_seed(seed)

    def values(scale: float = 1.0) -> Tensor:
        return (scale * torch.randn(batch, num_actions, generator=generator, dtype=torch.float64)).requires_grad_(True)

    alpha: Any = 0.2
    if alpha_tensor:
        alpha = torch.tensor(0.3, dtype=torch.float64).log().requires_grad_(True).exp()
    return dict(
        q1_values=values(),
        q2_values=values(),
        actions=torch.randint(0, num_actions, (batch,), generator=generator),
        rewards=torch.rand(batch, generator=generator, dtype=torch.float64),
        terminated=(torch.rand(batch, generator=generator) < 0.3).double(),
        next_logits=values(2.0),
        next_target_q1=values(),
        next_target_q2=values(),
        alpha=alpha,
        gamma=0.9,
    )


#: (description, seed, batch size B, actions A, alpha as a tensor with a graph)
SAC_CASES = (
    ("B = 32, A = 2, alpha 0.2", 70, 32, 2, False),
    ("B = 16, A = 3, alpha a 0-dim tensor exp(log_alpha)", 71, 16, 3, True),
)

SAC_CRITIC_HINT = (
    "V(s') = sum_a pi(a|s') (min(Q1_targ, Q2_targ)(s', a) - alpha log pi(a|s')); y = r + gamma (1 - d) V(s') "
    "without gradient; L = mean (Q1(s, a) - y)^2 + mean (Q2(s, a) - y)^2 at the taken actions"
)


def sac_critic_loss(student_fn: Callable[..., Tensor]) -> None:
    """Grade ``sac_critic_loss(q1_values, q2_values, actions, rewards, terminated, next_logits,
    next_target_q1, next_target_q2, alpha, gamma)``.

    Values and gradients w.r.t. the online Q-values vs the reference on random float64 inputs, then:
    no gradient may reach the target y (target critics, next-state logits, alpha). Catches: a target
    that lets gradient into the target network or the policy, max instead of min of the target
    critics, the bootstrap not cut where terminated, the entropy term missing or with the wrong sign,
    a sampled instead of exact expectation over next actions, Q-values of the wrong actions.
    """
    fn = student_function("sac_critic_loss", student_fn)
    for name, seed, batch, num_actions, alpha_tensor in SAC_CASES:
        where = f"sac_critic_loss, case '{name}'"
        inputs = _sac_inputs(seed, batch, num_actions, alpha_tensor)
        expected = pearl.sac_critic_loss(**inputs)
        got = fn(**inputs, case=name)
        got = assert_scalar(where, got)
        assert_tensor_close(where, got, expected, atol=1e-8, rtol=1e-6, hint=SAC_CRITIC_HINT)
        online = [inputs["q1_values"], inputs["q2_values"]]
        got_grad, expected_grad = flat_gradient(got, online), flat_gradient(expected, online)
        assert relative_error(got_grad, expected_grad) < 1e-6, (
            f"{where}: the value is right but the gradient w.r.t. the online Q-values q1_values, q2_values differs "
            "from the reference (each critic regresses its Q(s, a) on the same target y)"
        )
        target_side = {
            "next_target_q1": inputs["next_target_q1"],
            "next_target_q2": inputs["next_target_q2"],
            "next_logits": inputs["next_logits"],
        }
        if alpha_tensor:
            target_side["alpha"] = inputs["alpha"]
        for label, tensor in target_side.items():
            leak = flat_gradient(got, [tensor]).abs().sum()
            assert leak == 0, (
                f"{where}: gradient flows into '{label}': the target y = r + gamma (1 - d) V(s') must be a constant "
                "(compute it under torch.no_grad() or .detach() it), so no gradient reaches the target network, "
                "the policy or alpha through the critic loss"
            )


def sac_actor_loss(student_fn: Callable[..., Tensor]) -> None:
    """Grade ``sac_actor_loss(logits, q1_values, q2_values, alpha)``: value and gradient w.r.t. the
    logits vs the reference; no gradient into the Q-values or alpha.

    Catches: max instead of min of the critics, the entropy term with the wrong sign or without
    alpha, a sum instead of a mean over the batch, log-probabilities of sampled actions instead of the
    exact expectation, gradient into the critics.
    """
    fn = student_function("sac_actor_loss", student_fn)
    for name, seed, batch, num_actions, alpha_tensor in SAC_CASES:
        where = f"sac_actor_loss, case '{name}'"
        inputs = _sac_inputs(seed + 10, batch, num_actions, alpha_tensor)
        args = dict(
            logits=inputs["next_logits"],
            q1_values=inputs["q1_values"],
            q2_values=inputs["q2_values"],
            alpha=inputs["alpha"],
        )
        expected = pearl.sac_actor_loss(**args)
        got = fn(**args, case=name)
        got = assert_scalar(where, got)
        assert_tensor_close(
            where,
            got,
            expected,
            atol=1e-8,
            rtol=1e-6,
            hint="L = mean_b sum_a pi(a|s_b) (alpha log pi(a|s_b) - min(Q1, Q2)(s_b, a))",
        )
        got_grad = flat_gradient(got, [args["logits"]])
        expected_grad = flat_gradient(expected, [args["logits"]])
        assert relative_error(got_grad, expected_grad) < 1e-6, (
            f"{where}: the value is right but the gradient w.r.t. the logits differs from the reference"
        )
        leaks: dict[str, Optional[Tensor]] = {"q1_values": args["q1_values"], "q2_values": args["q2_values"]}
        if alpha_tensor:
            leaks["alpha"] = args["alpha"]
        for label, tensor in leaks.items():
            assert flat_gradient(got, [tensor]).abs().sum() == 0, (
                f"{where}: gradient flows into '{label}': the actor loss must treat the Q-values and alpha as "
                "constants (.detach() them); only the policy's logits are trained by it"
            )


# --------------------------------------------------------------------------------------------------
# Behaviour: a short training run of the reference loop with the student's functions
# --------------------------------------------------------------------------------------------------
PEARL_GRADING_FAMILY = "flip"
#: PEARL_QUICK trained three times as long: at 20 iterations the agent does not use its context yet (own
#: minus other context 0.013 on average over 20 seeds; at 40 iterations 0.27 ± sd 0.11). About 10 s.
PEARL_GRADING_CONFIG = dataclasses.replace(pearl.PEARL_QUICK, num_iterations=60)
PEARL_EVAL_TASKS = 40
#: The posterior of a task's own context must beat the posterior of another task's context by this
#: much. Set from 20 reference training seeds (``python benchmarks/training_checks.py --methods pearl``):
#: 0.163 to 0.463, mean 0.348, sd 0.097 (a normal fit puts 0.55% below 0.1); untrained 0.008.
PEARL_MIN_CONTEXT_BENEFIT = 0.1


def pearl_context_benefit(model: pearl.PEARLAgent, seed: int = 0) -> tuple[float, float]:
    """Does the agent use what its context says about the task? On 40 held-out flip tasks: one episode
    with z from the prior, then one episode with z from the posterior of (a) the task's own first
    episode and (b) the first episode of the next task in the list (contexts rolled by one, so about
    half come from a task of the other sign). Returns the mean normalised return of (a) and (b)."""
    model.eval()
    tasks = meta_test_tasks(PEARL_GRADING_FAMILY)[:PEARL_EVAL_TASKS]
    greedy, latent_dim = model.config.greedy_evaluation, model.latent_dim
    prior = torch.zeros(len(tasks), latent_dim), torch.ones(len(tasks), latent_dim)
    z = pearl.sample_latent(*prior, torch.Generator().manual_seed(seed))
    context, mask = pearl.batch_context(model, pearl.collect(model, tasks, z.unsqueeze(1), 1, seed, greedy))
    returns = []
    for order in (torch.arange(len(tasks)), torch.arange(len(tasks)).roll(1)):
        with torch.no_grad():
            mu, var = pearl.infer_posterior(model.encoder, context[order], mask[order], model.config.min_variance)
        z = pearl.sample_latent(mu, var, torch.Generator().manual_seed(seed + 1))
        batch = pearl.collect(model, tasks, z.unsqueeze(1), 1, seed + 1, greedy)
        returns.append(batch.normalised_returns().mean().item())
    return returns[0], returns[1]


def pearl_training(
    infer_posterior: Callable[..., Any],
    sample_latent: Callable[..., Any],
    kl_to_standard_normal: Callable[..., Any],
    sac_critic_loss: Callable[..., Any],
    sac_actor_loss: Callable[..., Any],
) -> None:
    """Train PEARL (the reference ``train_pearl``, ``PEARL_GRADING_CONFIG``, ``flip`` family, seed 0) with
    the student's functions patched in, each isolated (``product_of_gaussians`` is only called inside
    ``infer_posterior``, so it is the reference's here). The trained agent must infer the task: on 40
    held-out tasks, z inferred from a task's own first episode must beat z inferred from another task's
    episode by ``PEARL_MIN_CONTEXT_BENEFIT`` (:func:`pearl_context_benefit`, with the reference functions).
    About 10 s on one CPU thread.
    """
    config = PEARL_GRADING_CONFIG
    fns = {
        "infer_posterior": infer_posterior,
        "sample_latent": sample_latent,
        "kl_to_standard_normal": kl_to_standard_normal,
        "sac_critic_loss": sac_critic_loss,
        "sac_actor_loss": sac_actor_loss,
    }
    description = "PEARL training with your " + ", ".join(fns)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        with isolation.student_functions_in(pearl, **fns):
            model, _ = run_with_students(
                description, pearl.train_pearl, config, PEARL_GRADING_FAMILY, seed=0, progress=False
            )
        own, other = pearl_context_benefit(model)
    assert own - other >= PEARL_MIN_CONTEXT_BENEFIT, (
        f"{description} ({config.num_iterations} iterations, seed 0) did not learn to infer the task: on "
        f"{PEARL_EVAL_TASKS} held-out {PEARL_GRADING_FAMILY} tasks, z inferred from each task's own first episode "
        f"gives a normalised return of {own:.3f}, z inferred from another task's episode {other:.3f} (at least "
        f"+{PEARL_MIN_CONTEXT_BENEFIT} expected). The encoder must learn from the critic's loss through z "
        "(reparameterised sample_latent), with the KL term weighting the posterior towards the prior"
    )
