"""Visible checks of the PEARL TODOs (section 4): ``product_of_gaussians``, ``kl_to_standard_normal``,
``infer_posterior``, ``sample_latent``, ``sac_critic_loss``, ``sac_actor_loss``.

``infer_posterior`` is checked with a stand-in for ``product_of_gaussians`` that records what it was given, so
the check can say which factor means or variances are wrong. The SAC losses are called with ``alpha`` both
as a number and as a 0-dim tensor that carries a graph (as the training loop passes it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import torch
from torch import Tensor, nn

from hw11_utils.checks_core import (
    Case,
    Spy,
    attempt,
    grad_alpha,
    passed,
    rounded,
    run_cases,
    visible_check,
    with_stand_ins,
)
from hw11_utils.checks_core import close as _close
from hw11_utils.checks_core import fail as _fail
from hw11_utils.checks_core import tensor as _t

_attempt = attempt
_pass = passed
_rounded = rounded


@visible_check("product_of_gaussians")
def check_product_of_gaussians(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``product_of_gaussians(mus, variances, mask=None) -> (mu, var)`` by hand.

    N(0, 1) x N(2, 1): precisions 1 + 1, var = 1/2, mu = (0 + 2) / 2 = 1.
    N(0, 1) x N(3, 2): precisions 1 + 1/2, var = 2/3, mu = 2/3 * (0/1 + 3/2) = 1 (not the average 1.5).
    Adding a padded factor (mask 0) or reversing the order changes nothing.
    """
    name = "product_of_gaussians"
    cases = [
        ("N(0, 1) x N(2, 1)", (_t([[0.0], [2.0]]), _t([[1.0], [1.0]])), {}, ([1.0], [0.5])),
        ("N(0, 1) x N(3, 2): precision-weighted", (_t([[0.0], [3.0]]), _t([[1.0], [2.0]])), {}, ([1.0], [2 / 3])),
        ("the same in reverse order", (_t([[3.0], [0.0]]), _t([[2.0], [1.0]])), {}, ([1.0], [2 / 3])),
        (
            "a third, padded factor N(100, 0.01) with mask 0",
            (_t([[0.0], [3.0], [100.0]]), _t([[1.0], [2.0], [0.01]])),
            {"mask": _t([1.0, 1.0, 0.0])},
            ([1.0], [2 / 3]),
        ),
        (
            "2 latent dims, a leading task axis [1, 2, 2]",
            (_t([[[0.0, 1.0], [3.0, 1.0]]]), _t([[[1.0, 1.0], [2.0, 1.0]]])),
            {},
            ([[1.0, 1.0]], [[2 / 3, 0.5]]),
        ),
    ]
    hint = "var = 1 / sum_n (m_n / sigma_n^2), mu = var * sum_n (m_n * mu_n / sigma_n^2): sum over the N axis (-2)"
    for case, args, kwargs, (mu, var) in cases:
        done, got = _attempt(name, fn, *args, **kwargs, case=case)
        if not done:
            return False
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return _fail(name, case, f"expected a tuple (mu, var), got {type(got).__name__}", "return mu, var")
        expected_mu, expected_var = _t(mu), _t(var)
        got_mu, got_var = got
        if got_mu.shape != expected_mu.shape or got_var.shape != expected_var.shape:
            return _fail(
                name,
                case,
                f"expected shapes {tuple(expected_mu.shape)}, got {tuple(got_mu.shape)} and {tuple(got_var.shape)}",
                "reduce over the N axis (dim=-2) only",
            )
        if not (
            torch.allclose(got_mu.detach(), expected_mu, atol=1e-4)
            and torch.allclose(got_var.detach(), expected_var, atol=1e-4)
        ):
            extra = ""
            if "precision" in case and _close(got_mu.detach().reshape(-1)[0], 1.5):
                extra = " (the plain average of the means: a product of Gaussians weights each mean by its precision)"
            return _fail(
                name,
                case,
                f"expected mu {mu}, var {var}; got mu {_rounded(got_mu)}, var {_rounded(got_var)}{extra}",
                hint,
            )
    return _pass(name, f"{len(cases)} hand-computed products")


_KL_EQUATION = "KL(N(mu, var) || N(0, I)) = 1/2 * sum_l (var_l + mu_l^2 - 1 - log var_l) (the docstring's equation)"
_REVERSED = "that is the reversed KL(N(0, I) || q): the KL asked for is that of q = N(mu, var) FROM the prior N(0, I)"
_KL_CASES = [
    Case("q = N(0, I): KL = 0", dict(mu=_t([0.0, 0.0]), var=_t([1.0, 1.0])), _t(0.0), "KL(p || p) = 0"),
    Case(
        "mu = (1, 0), var = (1, 1): KL = 1/2",
        dict(mu=_t([1.0, 0.0]), var=_t([1.0, 1.0])),
        _t(0.5),
        _KL_EQUATION,
        mistakes=[
            (_t(-0.5), "the sign is flipped: a KL divergence is never negative"),
            (_t(1.0), "the factor 1/2 is missing"),
            (_t(0.25), "sum over the latent dimensions, do not average them"),
        ],
    ),
    Case(
        "mu = 0, var = e: KL = (e - 2) / 2",
        dict(mu=_t([0.0]), var=_t([math.e])),
        _t((math.e - 2.0) / 2.0),
        _KL_EQUATION,
        mistakes=[
            (_t((math.e - 1.0) / 2.0), "the - log var_l term is missing (here log var = 1)"),
            (_t(0.5 / math.e), _REVERSED),
            (_t(math.e - 2.0), "the factor 1/2 is missing"),
            (_t((math.sqrt(math.e) - 1.5) / 2.0), "var is the variance: use it as is, not its square root"),
        ],
    ),
    Case(
        "mu = 1, var = 2: KL = (2 - ln 2) / 2",
        dict(mu=_t([1.0]), var=_t([2.0])),
        _t((2.0 - math.log(2.0)) / 2.0),
        _KL_EQUATION,
        mistakes=[
            (_t(1.0), "the - log var_l term is missing"),
            (_t(math.log(2.0) / 2.0), _REVERSED),
        ],
    ),
    Case(
        "a batch of 2 posteriors [2, 2]: one KL per row",
        dict(mu=_t([[1.0, 0.0], [0.0, 0.0]]), var=_t([[1.0, 1.0], [1.0, 1.0]])),
        _t([0.5, 0.0]),
        "one KL per posterior: the sum runs over the last axis (the latent dimensions) only",
    ),
]


@visible_check("kl_to_standard_normal")
def check_kl_to_standard_normal(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``kl_to_standard_normal(mu, var)`` on hand-computed KLs."""
    return run_cases("kl_to_standard_normal", fn, _KL_CASES)


def product_stand_in(mus: Tensor, variances: Tensor, mask: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """A stand-in for ``product_of_gaussians`` used by the check of ``infer_posterior`` (NOT a product of
    Gaussians): (sum_n m_n mu_n / 2, 1 + sum_n m_n var_n)."""
    weights = torch.ones(mus.shape[:-1]) if mask is None else mask.to(mus.dtype)
    weights = weights.unsqueeze(-1)
    return (weights * mus).sum(dim=-2) / 2.0, 1.0 + (weights * variances).sum(dim=-2)


@visible_check("infer_posterior")
def check_infer_posterior(fn: Callable[..., tuple]) -> bool:
    """Visible check of ``infer_posterior(encoder, context, mask, min_variance)`` with an encoder that
    copies its input: context c_n = (a_n, b_n) gives mu_n = a_n and rho_n = b_n (latent dim 1).

    b = (ln(e - 1), ln(e^2 - 1)) makes softplus(b) = (1, 2); with a = (0, 3) the factors are
    N(0, 1 + min_variance) and N(3, 2 + min_variance). ``product_of_gaussians`` is replaced by a recording
    stand-in, so the check sees the factor means, variances and mask you pass it; if you combine the factors
    yourself, the result is compared with the true product: (mu 1, var 2/3) for min_variance = 0 and
    (1.125, 0.9375) for min_variance = 0.5.
    """
    name = "infer_posterior"
    encoder = nn.Linear(2, 2)
    with torch.no_grad():
        encoder.weight.copy_(torch.eye(2))
        encoder.bias.zero_()
    raw_b = _t([math.log(math.e - 1.0), math.log(math.e**2 - 1.0)])
    context = torch.stack([_t([0.0, 3.0]), raw_b], dim=-1)
    padded = torch.cat([context, _t([[100.0, 0.0]])])
    cases = [
        ("two transitions, min_variance = 0", (context,), 0.0, None, (1.0, 2 / 3)),
        ("two transitions, min_variance = 0.5", (context,), 0.5, None, (1.125, 0.9375)),
        ("a third, padded transition (mask 0)", (padded, _t([1.0, 1.0, 0.0])), 0.0, _t([1.0, 1.0, 0.0]), (1.0, 2 / 3)),
    ]
    for case, args, min_variance, mask, (mu, var) in cases:
        spy = Spy(product_stand_in)
        student = with_stand_ins(fn, product_of_gaussians=spy)
        done, got = _attempt(name, student, encoder, *args, min_variance=min_variance, case=case)
        if not done:
            return False
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return _fail(name, case, f"expected a tuple (mu, var), got {type(got).__name__}", "return mu, var")
        got_mu, got_var = got
        if got_mu.shape != (1,) or got_var.shape != (1,):
            return _fail(
                name,
                case,
                f"expected shapes (1,), got {tuple(got_mu.shape)}, {tuple(got_var.shape)}",
                "the encoder's output has 2 L numbers per transition: the first L are the means",
            )
        rows = args[0].shape[0]
        means = args[0][:, 0:1]
        variances = nn.functional.softplus(args[0][:, 1:2]) + min_variance
        if spy.calls:
            call_args, call_kwargs = spy.calls[-1]
            passed_in = list(call_args) + [call_kwargs.get(k) for k in ("mus", "variances", "mask")[len(call_args) :]]
            got_means, got_variances, got_mask = (passed_in + [None, None, None])[:3]
            if not (isinstance(got_means, Tensor) and torch.allclose(got_means.detach(), means, atol=1e-5)):
                return _fail(
                    name,
                    case,
                    f"the factor means you passed on are {rounded(got_means)}, expected {rounded(means)}",
                    "mu_n is the FIRST half of the encoder's output for transition n",
                )
            if not (
                isinstance(got_variances, Tensor)
                and got_variances.shape == variances.shape
                and torch.allclose(got_variances.detach(), variances, atol=1e-5)
            ):
                shown = rounded(got_variances)
                hint = "sigma_n^2 = softplus(rho_n) + min_variance, rho_n the SECOND half of the encoder's output"
                raw = args[0][:, 1:2]
                for wrong, diagnosis in (
                    (raw.exp() + min_variance, "the variances come from softplus(rho_n), not exp(rho_n)"),
                    (nn.functional.softplus(raw), "min_variance is added to every variance"),
                    (nn.functional.softplus(raw) + 1e-4, "use the min_variance you were given, not the default"),
                ):
                    if (
                        isinstance(got_variances, Tensor)
                        and got_variances.shape == wrong.shape
                        and torch.allclose(got_variances.detach(), wrong, atol=1e-5)
                        and not torch.allclose(wrong, variances, atol=1e-5)
                    ):
                        hint = diagnosis
                return _fail(
                    name, case, f"the factor variances you passed on are {shown}, expected {rounded(variances)}", hint
                )
            if mask is not None and not (isinstance(got_mask, Tensor) and torch.equal(got_mask, mask)):
                return _fail(
                    name,
                    case,
                    "the mask was not passed on to product_of_gaussians",
                    "padded transitions (mask 0) must not count",
                )
            mu, var = (float(x) for x in product_stand_in(means, variances, mask))
        if not (_close(got_mu, mu) and _close(got_var, var)):
            return _fail(
                name,
                case,
                f"expected (mu, var) = ({mu:.4f}, {var:.4f}), got ({float(got_mu.detach()):.4f}, "
                f"{float(got_var.detach()):.4f})",
                f"combine the factors with product_of_gaussians, without changing its result ({rows} transitions here)",
            )
    if not got_mu.requires_grad:
        return _fail(name, "gradient", "the posterior carries no gradient to the encoder", "no torch.no_grad()")
    return _pass(name, "factor means and variances from an identity encoder, min_variance, mask")


@visible_check("sample_latent")
def check_sample_latent(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``sample_latent(mu, var, generator)``: shape; reparameterised (dz/dmu = 1 and
    dz/dvar = (z - mu) / (2 var), true of z = mu + sqrt(var) * eps for any eps); 20000 draws of
    N((0, 1.5, -2), (1, 0.25, 4)) have about that mean and variance; same generator seed, same z."""
    name = "sample_latent"
    mu = _t([[0.0, 1.0], [2.0, -1.0]]).requires_grad_(True)
    var = _t([[1.0, 4.0], [0.25, 2.0]]).requires_grad_(True)
    case = "mu, var [2, 2]"
    done, z = _attempt(name, fn, mu, var, torch.Generator().manual_seed(0), case=case)
    if not done:
        return False
    if not isinstance(z, Tensor) or z.shape != mu.shape:
        return _fail(name, case, f"expected z of shape (2, 2), got {z!r}", "one sample per row: the shape of mu")
    if not z.requires_grad:
        return _fail(
            name,
            case,
            "z carries no gradient",
            "reparameterise: z = mu + sqrt(var) * eps with eps ~ N(0, I) (torch.normal is not differentiable)",
        )
    d_mu, d_var = torch.autograd.grad(z.sum(), [mu, var], allow_unused=True)
    if d_mu is None or not torch.allclose(d_mu, torch.ones(2, 2)):
        return _fail(
            name,
            case,
            "dz/dmu is not 1",
            "reparameterise: z = mu + sqrt(var) * eps; torch.normal(mu, std) gives no gradient to mu and var",
        )
    if d_var is None or not torch.allclose(d_var, (z.detach() - mu.detach()) / (2 * var.detach()), atol=1e-5):
        return _fail(name, case, "dz/dvar is not eps / (2 sqrt(var))", "var is a variance: multiply eps by sqrt(var)")
    again = fn(mu.detach(), var.detach(), torch.Generator().manual_seed(0))
    if not torch.allclose(again, z.detach()):
        return _fail(
            name,
            "same generator seed twice",
            "different samples",
            "draw eps from the generator you were given (torch's random functions take a generator argument)",
        )
    case = "20000 draws"
    big_mu, big_var = _t([0.0, 1.5, -2.0]).expand(20000, 3), _t([1.0, 0.25, 4.0]).expand(20000, 3)
    done, samples = _attempt(name, fn, big_mu, big_var, torch.Generator().manual_seed(1), case=case)
    if not done:
        return False
    mean, variance = samples.mean(0), samples.var(0)
    if not (torch.allclose(mean, big_mu[0], atol=0.05) and torch.allclose(variance, big_var[0], rtol=0.1)):
        return _fail(
            name,
            case,
            f"mean {_rounded(mean)}, variance {_rounded(variance)}; expected (0, 1.5, -2) and (1, 0.25, 4)",
            "z = mu + sqrt(var) * eps: the standard deviation is sqrt(var)",
        )
    return _pass(name, "shape, reparameterisation gradients, distribution, reproducible")


@visible_check("sac_critic_loss")
def check_sac_critic_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``sac_critic_loss`` by hand, A = 2, alpha = 0.5, gamma = 0.5, r = 1, action 1.

    next_logits (0, 0): pi = (1/2, 1/2); target critics (1, 4) and (2, 3): min = (1, 3);
    V(s') = 1/2 (1 + 0.5 ln 2) + 1/2 (3 + 0.5 ln 2) = 2 + 0.5 ln 2;  y = 1 + 0.5 V = 2.173287.
    Q1(s, 1) = 2, Q2(s, 1) = 3: L = (2 - y)^2 + (3 - y)^2 = 0.713482.  If terminated: y = 1, L = 1 + 4 = 5.
    Both rows in one batch: the means over the batch, (0.030028 + 1) / 2 + (0.683454 + 4) / 2 = 2.856741.
    """
    name = "sac_critic_loss"

    def inputs(terminated: list, alpha: object) -> dict:
        rows = len(terminated)
        return dict(
            q1_values=_t([[1.0, 2.0]] * rows).requires_grad_(True),
            q2_values=_t([[0.5, 3.0]] * rows).requires_grad_(True),
            actions=torch.tensor([1] * rows),
            rewards=_t([1.0] * rows),
            terminated=_t(terminated),
            next_logits=torch.zeros(rows, 2),
            next_target_q1=_t([[1.0, 4.0]] * rows).requires_grad_(True),
            next_target_q2=_t([[2.0, 3.0]] * rows).requires_grad_(True),
            alpha=alpha,
            gamma=0.5,
        )

    cases = [
        ("not terminated", [0.0], 0.713482, "V(s') = sum_a pi(a|s') (min(Q1_targ, Q2_targ) - alpha log pi(a|s'))"),
        ("terminated: no bootstrap", [1.0], 5.0, "y = r + gamma * (1 - d) * V(s')"),
        ("both rows in a batch of 2", [0.0, 1.0], 2.856741, "average each squared error over the batch"),
        (
            "both rows, alpha a 0-dim tensor with a graph (as in training)",
            [0.0, 1.0],
            2.856741,
            "alpha may be a tensor: the target y is a constant all the same",
        ),
    ]
    for case, terminated, expected, hint in cases:
        alpha = grad_alpha(0.5) if "tensor" in case else 0.5
        args = inputs(terminated, alpha)
        done, loss = _attempt(name, fn, **args, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or not _close(loss, expected):
            return _fail(name, case, f"expected {expected}, got {loss!r}", hint)
        if not loss.requires_grad:
            return _fail(name, case, "no gradient reaches q1_values and q2_values", "only the target is constant")
        target_side = [args["next_target_q1"], args["next_target_q2"]]
        if isinstance(alpha, Tensor):
            target_side.append(alpha)
        target_grads = torch.autograd.grad(loss, target_side, allow_unused=True, retain_graph=True)
        if any(g is not None and g.abs().sum() > 0 for g in target_grads):
            return _fail(
                name,
                case,
                "gradient flows into the target critics" + (" or alpha" if isinstance(alpha, Tensor) else ""),
                "the target y is a constant for the critics: compute it without gradient",
            )
    return _pass(name, f"{len(cases)} hand-computed losses, no gradient into the target")


@visible_check("sac_actor_loss")
def check_sac_actor_loss(fn: Callable[..., Tensor]) -> bool:
    """Visible check of ``sac_actor_loss(logits, q1_values, q2_values, alpha)`` by hand.

    logits (0, 0), Q1 (1, 3), Q2 (2, 2), alpha 0.5: min Q = (1, 2);
    L = 1/2 (0.5 log 1/2 - 1) + 1/2 (0.5 log 1/2 - 2) = -0.5 ln 2 - 1.5 = -1.846574.
    logits (0, ln 3), Q = 0, alpha 1: L = sum_a pi log pi = -0.562335 (minus the entropy).
    """
    name = "sac_actor_loss"
    cases = [
        ("pi = (1/2, 1/2)", _t([[0.0, 0.0]]), _t([[1.0, 3.0]]), _t([[2.0, 2.0]]), 0.5, -0.5 * math.log(2.0) - 1.5),
        ("pi = (1/4, 3/4), Q = 0", _t([[0.0, math.log(3.0)]]), _t([[0.0, 0.0]]), _t([[0.0, 0.0]]), 1.0, -0.562335),
        (
            "pi = (1/2, 1/2), alpha a 0-dim tensor with a graph (as in training)",
            _t([[0.0, 0.0]]),
            _t([[1.0, 3.0]]),
            _t([[2.0, 2.0]]),
            "tensor",
            -0.5 * math.log(2.0) - 1.5,
        ),
    ]
    for case, logits, q1, q2, alpha, expected in cases:
        q1, q2 = q1.requires_grad_(True), q2.requires_grad_(True)
        logits = logits.requires_grad_(True)
        alpha = grad_alpha(0.5) if alpha == "tensor" else alpha
        done, loss = _attempt(name, fn, logits, q1, q2, alpha, case=case)
        if not done:
            return False
        if not isinstance(loss, Tensor) or not _close(loss, expected):
            return _fail(
                name,
                case,
                f"expected {expected:.6f}, got {loss!r}",
                "L = mean_b sum_a pi(a|s) * (alpha * log pi(a|s) - min(Q1, Q2)(s, a))",
            )
        if not loss.requires_grad:
            return _fail(name, case, "no gradient reaches the logits", "the policy is trained through pi(a|s)")
        constants = [q1, q2] + ([alpha] if isinstance(alpha, Tensor) else [])
        grads = torch.autograd.grad(loss, [logits, *constants], allow_unused=True)
        if grads[0] is None:
            return _fail(name, case, "no gradient reaches the logits", "the policy is trained through pi(a|s)")
        if any(g is not None and g.abs().sum() > 0 for g in grads[1:]):
            return _fail(
                name,
                case,
                "gradient flows into the Q-values" + (" or alpha" if len(grads) > 3 else ""),
                "the actor loss trains only the policy: the Q-values and alpha are constants in it",
            )
    return _pass(name, f"{len(cases)} hand-computed losses, Q-values constant")
