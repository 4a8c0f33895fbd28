"""Correct submissions written differently from the reference: each must earn every autograded point.

    python -m tools.variants OUT_DIR [--only variants_a,variants_b]

writes ``OUT_DIR/<name>/HW11.ipynb``: the release with every TODO filled by one of the correct variants
below, in another style than the reference (explicit loops, in-place writes into fresh tensors,
``torch.distributions``, ``float(alpha)``, ``torch.tensor(alpha)``, other stable forms, inlined helper
TODOs). ``VARIANTS["variants_a"]`` and ``VARIANTS["variants_b"]`` together give at least two variants of
every TODO in the ``STUDENT_TODOS`` of ``solutions/*.py``. Some of them trigger harmless torch warnings
inside graded cells (``float(alpha)`` of a tensor that requires grad), which must not cost points.

The variants use the notebook's names (``torch``, ``nn``, ``np``, ``masked_mean``, ``functional_forward``,
``sample_rollouts``, ...) and call other TODOs by bare name, like a student's code does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from tools.mutate import fill_solutions, replace_function, write_submissions

# ---------------------------------------------------------------- style A: loops, explicit maths

A = {
    "discounted_returns": """
def discounted_returns(rewards, dones, gamma):
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + gamma * (1.0 - dones[..., t]) * running
        returns[..., t] = running  # in-place write into a fresh tensor
    return returns
""",
    "paired_difference": """
def paired_difference(curve_a, curve_b, unit):
    a = np.asarray(curve_a, dtype=float)
    b = np.asarray(curve_b, dtype=float)
    differences = a[..., unit] - b[..., unit]
    if differences.ndim == 2 and differences.shape[0] > 1:
        differences = np.array([row.mean() for row in differences])  # one mean per seed
    mean, half_width = mean_ci(np.ravel(differences))
    return float(mean), float(half_width)
""",
    "inner_loss": """
def inner_loss(policy, params, batch, gamma):
    masks = batch.masks
    returns = discounted_returns(batch.rewards, batch.dones, gamma)
    alive = masks.sum(dim=1, keepdim=True).clamp(min=1.0)
    baseline = (returns * masks).sum(dim=1, keepdim=True) / alive
    centred = (returns - baseline) * masks
    count = masks.sum()
    mean = centred.sum() / count
    std = ((((centred - mean) * masks) ** 2).sum() / count).sqrt()
    advantages = ((centred - mean) / (std + 1e-8) * masks).detach()
    logits = functional_forward(policy, params, batch.observations)
    log_probs = torch.distributions.Categorical(logits=logits).log_prob(batch.actions)
    return -(log_probs * advantages * masks).sum() / count
""",
    "inner_step": """
def inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    names = list(params.keys())
    tensors = [params[name] for name in names]
    loss = inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, tensors, create_graph=True)
    new_params = {}
    for name, theta, grad in zip(names, tensors, grads):
        if first_order:
            grad = grad.detach()
        new_params[name] = theta - inner_lr * grad
    return new_params
""",
    "meta_loss": """
def meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False):
    total = 0.0
    for i in range(len(inner_batches)):
        adapted = inner_step(policy, params, inner_batches[i], inner_lr, gamma, first_order=first_order)
        total = total + inner_loss(policy, adapted, outer_batches[i], gamma)
    return total / len(inner_batches)
""",
    "adapt": """
def adapt(policy, params, tasks, num_steps, inner_lr, gamma, episodes_per_step, episode_length, seed=0,
          first_order=True):
    device = next(iter(params.values())).device
    current = [dict(params) for _ in tasks]
    for j in range(num_steps):
        policy_fn = per_task_feedforward(policy, current, episodes_per_step)
        batch = sample_rollouts(policy_fn, tasks, episodes_per_step, episode_length, seed=seed + j)
        per_task = split_by_task(batch, device)
        updated = []
        for k in range(len(tasks)):
            updated.append(inner_step(policy, current[k], per_task[k], inner_lr, gamma, first_order))
        current = updated
    return current
""",
    "rl2_inputs": """
def rl2_inputs(obs, prev_action, prev_reward, prev_done, num_actions):
    scaled = obs.to(torch.float32).clone()
    scaled[..., 2] *= 5.0  # in-place on a copy
    one_hot = torch.eye(num_actions, dtype=torch.float32, device=obs.device)[prev_action.long()]
    extras = torch.stack([prev_reward.to(torch.float32), prev_done.to(torch.float32)], dim=-1)
    return torch.cat([scaled, one_hot, extras], dim=-1)
""",
    "rl2_policy_step": """
def rl2_policy_step(core, step):
    # builds x_t itself instead of calling rl2_inputs
    scale = torch.tensor([1.0, 1.0, 5.0, 1.0])
    one_hot = torch.nn.functional.one_hot(step.prev_action.long(), core.num_actions).float()
    x = torch.cat([step.obs.float() * scale, one_hot, step.prev_reward.float()[:, None],
                   step.prev_done.float()[:, None]], dim=-1)
    logits, values, hidden = core.step(x, step.state)
    return logits, hidden
""",
    "rl2_trial_forward": """
def rl2_trial_forward(core, batch):
    K, E, T = batch.actions.shape
    obs = batch.observations.reshape(K, E * T, 4)
    actions = batch.actions.reshape(K, E * T)
    rewards = batch.rewards.reshape(K, E * T)
    prev_action = torch.zeros_like(actions)
    prev_reward = torch.zeros_like(rewards)
    prev_done = torch.zeros_like(rewards)
    for i in range(1, E * T):
        prev_action[:, i] = actions[:, i - 1]
        prev_reward[:, i] = rewards[:, i - 1]
        if i % T == 0:
            prev_done[:, i] = 1.0
    x = rl2_inputs(obs, prev_action, prev_reward, prev_done, core.num_actions)
    logits, values, _ = core(x)
    return logits.view(K, E, T, -1), values.view(K, E, T)
""",
    "rl2_loss": """
def rl2_loss(core, batch, advantages, value_targets, clip=0.2, value_coef=0.5, entropy_coef=0.01):
    logits, values = rl2_trial_forward(core, batch)
    dist = torch.distributions.Categorical(logits=logits)
    new_log_probs = dist.log_prob(batch.actions)
    ratio = torch.exp(new_log_probs - batch.log_probs)
    adv = advantages.detach()
    objective = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv)
    masks = batch.masks
    policy_loss = -(objective * masks).sum() / masks.sum()
    value_loss = torch.mean((values - value_targets) ** 2)
    entropy = (dist.entropy() * masks).sum() / masks.sum()
    return policy_loss + value_coef * value_loss - entropy_coef * entropy
""",
    "product_of_gaussians": """
def product_of_gaussians(mus, variances, mask=None):
    precisions = torch.reciprocal(variances)
    if mask is not None:
        precisions = precisions.masked_fill(~mask.bool().unsqueeze(-1), 0.0)
    total_precision = precisions.sum(dim=-2)
    mu = (precisions * mus).sum(dim=-2) / total_precision
    return mu, 1.0 / total_precision
""",
    "kl_to_standard_normal": """
def kl_to_standard_normal(mu, var):
    q = torch.distributions.Normal(mu, var.sqrt())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(var))
    return torch.distributions.kl_divergence(q, p).sum(dim=-1)
""",
    "infer_posterior": """
def infer_posterior(encoder, context, mask=None, min_variance=1e-4):
    means, raw_variances = torch.chunk(encoder(context), 2, dim=-1)
    variances = torch.nn.functional.softplus(raw_variances) + min_variance
    return product_of_gaussians(means, variances, mask)
""",
    "sample_latent": """
def sample_latent(mu, var, generator=None):
    eps = torch.empty_like(mu).normal_(generator=generator)
    return mu + var.sqrt() * eps
""",
    "sac_critic_loss": """
def sac_critic_loss(q1_values, q2_values, actions, rewards, terminated, next_logits, next_target_q1, next_target_q2,
                    alpha, gamma):
    alpha = float(alpha)  # a 0-dim tensor with requires_grad: torch warns, harmlessly
    with torch.no_grad():
        probs = torch.softmax(next_logits, dim=-1)
        log_probs = torch.log_softmax(next_logits, dim=-1)
        soft_q = torch.minimum(next_target_q1, next_target_q2) - alpha * log_probs
        target = rewards + gamma * (1 - terminated) * (probs * soft_q).sum(-1)
    index = actions.long().view(-1, 1)
    q1 = q1_values.gather(1, index).view(-1)
    q2 = q2_values.gather(1, index).view(-1)
    return torch.nn.functional.mse_loss(q1, target) + torch.nn.functional.mse_loss(q2, target)
""",
    "sac_actor_loss": """
def sac_actor_loss(logits, q1_values, q2_values, alpha):
    alpha = float(alpha)  # warns when alpha is a tensor that requires grad
    log_pi = torch.log_softmax(logits, dim=-1)
    pi = log_pi.exp()
    min_q = torch.min(q1_values, q2_values).detach()
    per_state = torch.zeros(logits.shape[0], dtype=logits.dtype)
    for a in range(logits.shape[-1]):
        per_state = per_state + pi[:, a] * (alpha * log_pi[:, a] - min_q[:, a])
    return per_state.mean()
""",
}

# ---------------------------------------------------------------- style B: other library forms

B = {
    "discounted_returns": """
def discounted_returns(rewards, dones, gamma):
    steps = list(torch.unbind(rewards, dim=-1))
    ends = list(torch.unbind(dones, dim=-1))
    out = [None] * len(steps)
    future = 0.0
    for t in reversed(range(len(steps))):
        future = steps[t] + gamma * future * (1 - ends[t])
        out[t] = future
    return torch.stack(out, dim=-1)
""",
    "paired_difference": """
def paired_difference(curve_a, curve_b, unit):
    d = np.take(np.asarray(curve_a), unit, axis=-1) - np.take(np.asarray(curve_b), unit, axis=-1)
    if d.ndim == 2:
        d = d.mean(axis=-1) if len(d) >= 2 else d[0]
    mean, half = mean_ci(d.astype(np.float64), axis=0)
    return float(np.asarray(mean)), float(np.asarray(half))
""",
    "inner_loss": """
def inner_loss(policy, params, batch, gamma):
    G = discounted_returns(batch.rewards, batch.dones, gamma)
    b = masked_mean(G, batch.masks, dim=1, keepdim=True)
    A = normalize_advantages(G - b, batch.masks)
    logits = functional_forward(policy, params, batch.observations)
    flat = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch.actions.reshape(-1), reduction="none"
    )
    log_probs = -flat.view(batch.actions.shape)
    return policy_gradient_surrogate(log_probs, A, batch.masks)
""",
    "inner_step": """
def inner_step(policy, params, batch, inner_lr, gamma, first_order=False):
    loss = inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, tuple(params.values()), create_graph=not first_order, retain_graph=True)
    return dict(zip(params.keys(), [p - inner_lr * g for p, g in zip(params.values(), grads)]))
""",
    "meta_loss": """
def meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False):
    # the inner step written out here instead of calling inner_step
    losses = []
    for inner, outer in zip(inner_batches, outer_batches):
        loss = inner_loss(policy, params, inner, gamma)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
        adapted = {k: v - inner_lr * g for (k, v), g in zip(params.items(), grads)}
        losses.append(inner_loss(policy, adapted, outer, gamma))
    return torch.mean(torch.stack(losses))
""",
    "adapt": """
def adapt(policy, params, tasks, num_steps, inner_lr, gamma, episodes_per_step, episode_length, seed=0,
          first_order=True):
    task_params = {k: params for k in range(len(tasks))}
    for j in range(num_steps):
        ordered = [task_params[k] for k in range(len(tasks))]
        batch = sample_rollouts(
            per_task_feedforward(policy, ordered, episodes_per_step), tasks, episodes_per_step, episode_length,
            seed=seed + j,
        )
        batches = split_by_task(batch, next(iter(params.values())).device)
        task_params = {
            k: inner_step(policy, ordered[k], batches[k], inner_lr=inner_lr, gamma=gamma, first_order=first_order)
            for k in range(len(tasks))
        }
    return [task_params[k] for k in range(len(tasks))]
""",
    "rl2_inputs": """
def rl2_inputs(obs, prev_action, prev_reward, prev_done, num_actions):
    scale = obs.new_tensor([1.0, 1.0, 5.0, 1.0]).float()
    parts = [obs.float() * scale, torch.nn.functional.one_hot(prev_action.long(), num_classes=num_actions).float(),
             prev_reward.float()[..., None], prev_done.float()[..., None]]
    return torch.cat(parts, dim=-1)
""",
    "rl2_policy_step": """
def rl2_policy_step(core, step):
    x = rl2_inputs(obs=step.obs, prev_action=step.prev_action, prev_reward=step.prev_reward,
                   prev_done=step.prev_done, num_actions=core.num_actions)
    outputs = core.step(x, h=step.state)
    return outputs[0], outputs[2]
""",
    "rl2_trial_forward": """
def rl2_trial_forward(core, batch):
    K, E, T = batch.actions.shape
    actions = batch.actions.flatten(1)
    rewards = batch.rewards.flatten(1)
    prev_action = torch.roll(actions, shifts=1, dims=1)
    prev_action[:, 0] = 0
    prev_reward = torch.roll(rewards, shifts=1, dims=1)
    prev_reward[:, 0] = 0.0
    starts = (torch.arange(E * T) % T == 0) & (torch.arange(E * T) > 0)
    prev_done = starts.float().expand(K, E * T)
    x = rl2_inputs(batch.observations.flatten(1, 2), prev_action, prev_reward, prev_done, core.num_actions)
    logits, values, _ = core(x, None)
    return logits.unflatten(1, (E, T)), values.unflatten(1, (E, T))
""",
    "rl2_loss": """
def rl2_loss(core, batch, advantages, value_targets, clip=0.2, value_coef=0.5, entropy_coef=0.01):
    logits, values = rl2_trial_forward(core, batch)
    log_pi = torch.nn.functional.log_softmax(logits, dim=-1)
    taken = torch.gather(log_pi, -1, batch.actions[..., None])[..., 0]
    policy_loss = ppo_clip_loss(taken, batch.log_probs, advantages, batch.masks, clip=clip)
    value_loss = torch.nn.functional.mse_loss(values, value_targets.detach())
    return policy_loss + value_coef * value_loss - entropy_coef * categorical_entropy(logits, batch.masks)
""",
    "product_of_gaussians": """
def product_of_gaussians(mus, variances, mask=None):
    weights = torch.ones_like(variances) if mask is None else mask.to(variances.dtype)[..., None].expand_as(variances)
    log_precision = torch.logsumexp(torch.log(weights.clamp_min(1e-300)) - torch.log(variances), dim=-2)
    var = torch.exp(-log_precision)
    mu = var * (weights * mus / variances).sum(dim=-2)
    return mu, var
""",
    "kl_to_standard_normal": """
def kl_to_standard_normal(mu, var):
    log_var = torch.log(var)
    per_dim = 0.5 * (var - log_var - 1.0) + 0.5 * mu * mu
    return torch.sum(per_dim, dim=-1)
""",
    "infer_posterior": """
def infer_posterior(encoder, context, mask=None, min_variance=1e-4):
    # combines the factors itself instead of calling product_of_gaussians
    out = encoder(context)
    half = out.shape[-1] // 2
    precision = 1.0 / (torch.nn.functional.softplus(out[..., half:]) + min_variance)
    if mask is not None:
        precision = precision * mask.to(precision.dtype).unsqueeze(-1)
    var = 1.0 / precision.sum(-2)
    return var * (precision * out[..., :half]).sum(-2), var
""",
    "sample_latent": """
def sample_latent(mu, var, generator=None):
    noise = torch.randn(*mu.shape, generator=generator).to(dtype=mu.dtype, device=mu.device)
    return torch.addcmul(mu, var ** 0.5, noise)
""",
    "sac_critic_loss": """
def sac_critic_loss(q1_values, q2_values, actions, rewards, terminated, next_logits, next_target_q1, next_target_q2,
                    alpha, gamma):
    alpha = torch.tensor(alpha)  # copy-constructing from a tensor: torch warns, harmlessly
    dist = torch.distributions.Categorical(logits=next_logits.detach())
    soft_value = (dist.probs * (torch.min(next_target_q1, next_target_q2) - alpha * dist.logits)).sum(-1)
    target = (rewards + gamma * torch.where(terminated > 0, 0.0, 1.0) * soft_value).detach()
    rows = torch.arange(actions.shape[0])
    return ((q1_values[rows, actions] - target) ** 2).mean() + ((q2_values[rows, actions] - target) ** 2).mean()
""",
    "sac_actor_loss": """
def sac_actor_loss(logits, q1_values, q2_values, alpha):
    if torch.is_tensor(alpha):
        alpha = alpha.detach()
    dist = torch.distributions.Categorical(logits=logits)
    q = torch.minimum(q1_values, q2_values).detach()
    return ((dist.probs * q).sum(-1) * -1.0 - alpha * dist.entropy()).mean()
""",
}

VARIANTS: dict[str, dict[str, str]] = {"variants_a": A, "variants_b": B}


def make_variant(release: nbformat.NotebookNode, solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The release filled with the solutions, then every TODO replaced by its variant ``VARIANTS[name]``."""
    submission = fill_solutions(release, solution)
    for function, source in VARIANTS[name].items():
        replace_function(function, source)(submission)
    return submission


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.variants", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--only", help="comma-separated names (default: all)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(VARIANTS)
    return write_submissions(make_variant, names, args.out_dir)


if __name__ == "__main__":
    sys.exit(main())
