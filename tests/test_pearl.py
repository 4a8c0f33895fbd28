"""Tests of solutions/pearl.py: the posterior (product of Gaussians), KL, reparameterised sampling,
the discrete SAC losses, the replay buffer, checkpoints and a PEARL_QUICK training run."""

from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest
import torch

from hw11_utils.networks import TransitionEncoder
from hw11_utils.tasks import meta_test_tasks, meta_train_tasks
from solutions import pearl

LATENT = 3
TRANSITION_DIM = 11  # s (4) + one-hot a (2) + r (1) + s' (4)


def random_factors(*shape: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mus = torch.randn(*shape, generator=generator, dtype=torch.float64)
    variances = torch.rand(*shape, generator=generator, dtype=torch.float64) * 2.0 + 0.1
    return mus, variances


def encoder(seed: int = 0) -> TransitionEncoder:
    torch.manual_seed(seed)
    return TransitionEncoder(TRANSITION_DIM, LATENT, hidden_sizes=(16,)).double()


def test_student_todos_have_solution_markers() -> None:
    for name in pearl.STUDENT_TODOS:
        source = inspect.getsource(getattr(pearl, name))
        assert source.count("### BEGIN SOLUTION") == 1 and source.count("### END SOLUTION") == 1, name
        assert "Inputs:" in source and "Returns:" in source, f"{name} needs a CS231n-style docstring"


# --- product of Gaussians -----------------------------------------------------------------------
def test_product_two_factors_by_hand() -> None:
    mus = torch.tensor([[1.0], [3.0]])
    variances = torch.tensor([[1.0], [3.0]])
    mu, var = pearl.product_of_gaussians(mus, variances)
    # precision 1 + 1/3 = 4/3 -> var 3/4; mu = 3/4 * (1/1 + 3/3) = 1.5
    assert torch.allclose(var, torch.tensor([0.75])), f"expected variance 0.75, got {var}"
    assert torch.allclose(mu, torch.tensor([1.5])), f"expected mean 1.5, got {mu}"


def test_product_matches_closed_form_and_density() -> None:
    mus, variances = random_factors(2, 7, LATENT)
    mu, var = pearl.product_of_gaussians(mus, variances)
    precision = (1.0 / variances).sum(dim=1)
    assert torch.allclose(var, 1.0 / precision, atol=1e-12)
    assert torch.allclose(mu, (mus / variances).sum(dim=1) / precision, atol=1e-12)
    # sum_n log N(z; mu_n, var_n) - log N(z; mu, var) does not depend on z (the product is that Gaussian)
    z = torch.randn(5, 2, 1, LATENT, dtype=torch.float64)
    factors = torch.distributions.Normal(mus, variances.sqrt()).log_prob(z).sum(dim=2)  # [5, 2, L]
    product = torch.distributions.Normal(mu, var.sqrt()).log_prob(z.squeeze(2))  # [5, 2, L]
    difference = factors - product
    assert torch.allclose(difference, difference[:1].expand_as(difference), atol=1e-9)


def test_product_is_not_the_average_of_the_factors() -> None:
    mus, variances = random_factors(4, 6, LATENT, seed=1)
    mu, var = pearl.product_of_gaussians(mus, variances)
    averaged_mu, averaged_var = mus.mean(dim=1), variances.mean(dim=1) / mus.shape[1]  # the typical wrong answer
    assert not torch.allclose(mu, averaged_mu, atol=1e-3), "the posterior mean must weight factors by precision"
    assert not torch.allclose(var, averaged_var, atol=1e-3)


def test_product_is_permutation_invariant() -> None:
    mus, variances = random_factors(3, 10, LATENT, seed=2)
    permutation = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    mu, var = pearl.product_of_gaussians(mus, variances)
    mu_p, var_p = pearl.product_of_gaussians(mus[:, permutation], variances[:, permutation])
    assert torch.allclose(mu, mu_p, atol=1e-6) and torch.allclose(var, var_p, atol=1e-6)


def test_product_ignores_masked_padding() -> None:
    mus, variances = random_factors(2, 5, LATENT, seed=3)
    padded_mus = torch.cat([mus, torch.full((2, 3, LATENT), 1e3, dtype=torch.float64)], dim=1)
    padded_vars = torch.cat([variances, torch.full((2, 3, LATENT), 1e-3, dtype=torch.float64)], dim=1)
    mask = torch.tensor([[1.0] * 5 + [0.0] * 3] * 2)
    mu, var = pearl.product_of_gaussians(mus, variances)
    mu_m, var_m = pearl.product_of_gaussians(padded_mus, padded_vars, mask)
    assert torch.allclose(mu, mu_m, atol=1e-9) and torch.allclose(var, var_m, atol=1e-9)


# --- posterior from an encoder ------------------------------------------------------------------
def test_infer_posterior_permutation_invariant_and_masked() -> None:
    net = encoder()
    context = torch.randn(2, 8, TRANSITION_DIM, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    mu, var = pearl.infer_posterior(net, context)
    assert mu.shape == (2, LATENT) and var.shape == (2, LATENT) and bool((var > 0).all())
    permutation = torch.tensor([3, 0, 7, 1, 6, 2, 5, 4])
    mu_p, var_p = pearl.infer_posterior(net, context[:, permutation])
    assert torch.allclose(mu, mu_p, atol=1e-6) and torch.allclose(var, var_p, atol=1e-6)
    garbage = torch.randn(2, 4, TRANSITION_DIM, dtype=torch.float64) * 100
    mask = torch.cat([torch.ones(2, 8), torch.zeros(2, 4)], dim=1)
    mu_m, var_m = pearl.infer_posterior(net, torch.cat([context, garbage], dim=1), mask)
    assert torch.allclose(mu, mu_m, atol=1e-6) and torch.allclose(var, var_m, atol=1e-6)


def test_infer_posterior_splits_mean_and_softplus_variance() -> None:
    net = encoder()
    context = torch.randn(1, 1, TRANSITION_DIM, dtype=torch.float64)
    raw = net(context)[0, 0]
    mu, var = pearl.infer_posterior(net, context, min_variance=0.0)
    assert torch.allclose(mu[0], raw[:LATENT]), "the first latent_dim outputs are the mean"
    assert torch.allclose(var[0], torch.nn.functional.softplus(raw[LATENT:])), "the variance is softplus(rest)"


def test_more_context_shrinks_the_variance() -> None:
    net = encoder()
    context = torch.randn(1, 12, TRANSITION_DIM, dtype=torch.float64)
    variances = [pearl.infer_posterior(net, context[:, :n])[1] for n in (1, 4, 12)]
    assert bool((variances[1] < variances[0]).all()) and bool((variances[2] < variances[1]).all())


def test_posterior_gradient_reaches_the_encoder() -> None:
    net = encoder()
    mu, var = pearl.infer_posterior(net, torch.randn(2, 5, TRANSITION_DIM, dtype=torch.float64))
    (mu.sum() + var.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


# --- KL and sampling ----------------------------------------------------------------------------
def test_kl_by_hand_and_zero_at_prior() -> None:
    mu, var = torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.5])
    expected = 0.5 * ((2.0 + 1.0 - 1.0 - math.log(2.0)) + (0.5 - 1.0 - math.log(0.5)))  # = 0.75
    assert abs(pearl.kl_to_standard_normal(mu, var).item() - expected) < 1e-6
    assert abs(expected - 0.75) < 1e-9
    prior = pearl.kl_to_standard_normal(torch.zeros(4, LATENT), torch.ones(4, LATENT))
    assert prior.shape == (4,) and torch.allclose(prior, torch.zeros(4))
    mus, variances = random_factors(6, LATENT, seed=5)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(mus, variances.sqrt()), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    assert torch.allclose(pearl.kl_to_standard_normal(mus, variances), reference, atol=1e-9)


def test_sample_latent_is_reparameterised() -> None:
    mu = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    var = torch.tensor([[0.25, 1.0, 4.0]], requires_grad=True)
    z = pearl.sample_latent(mu, var, torch.Generator().manual_seed(0))
    z.sum().backward()
    eps = (z.detach() - mu.detach()) / var.detach().sqrt()
    assert torch.allclose(mu.grad, torch.ones_like(mu)), "dz/dmu must be 1"
    assert torch.allclose(var.grad, eps / (2 * var.detach().sqrt()), atol=1e-6), "dz/dvar = eps / (2 sqrt(var))"
    again = pearl.sample_latent(mu.detach(), var.detach(), torch.Generator().manual_seed(0))
    assert torch.equal(again, z.detach()), "the same generator seed must give the same sample"


def test_sample_latent_statistics() -> None:
    mu, var = torch.tensor([1.0, -2.0]), torch.tensor([0.25, 4.0])
    samples = pearl.sample_latent(mu.expand(20_000, 2), var.expand(20_000, 2), torch.Generator().manual_seed(1))
    assert torch.allclose(samples.mean(0), mu, atol=0.05) and torch.allclose(samples.var(0), var, rtol=0.05)


# --- discrete SAC -------------------------------------------------------------------------------
def test_sac_critic_loss_by_hand() -> None:
    q1 = torch.tensor([[1.0, 2.0]], requires_grad=True)
    q2 = torch.tensor([[1.5, 0.5]], requires_grad=True)
    next_logits = torch.zeros(1, 2, requires_grad=True)  # pi(.|s') = [0.5, 0.5]
    inputs = dict(
        actions=torch.tensor([1]),
        rewards=torch.tensor([1.0]),
        next_target_q1=torch.tensor([[2.0, 4.0]]),
        next_target_q2=torch.tensor([[3.0, 1.0]]),
        alpha=0.5,
        gamma=0.9,
    )
    # min Q' = [2, 1]; V(s') = 0.5 (2 - 0.5 ln 0.5) + 0.5 (1 - 0.5 ln 0.5) = 1.5 + 0.5 ln 2
    target = 1.0 + 0.9 * (1.5 + 0.5 * math.log(2.0))
    expected = (2.0 - target) ** 2 + (0.5 - target) ** 2
    loss = pearl.sac_critic_loss(q1, q2, terminated=torch.tensor([0.0]), next_logits=next_logits, **inputs)
    assert abs(loss.item() - expected) < 1e-5, f"expected {expected:.5f}, got {loss.item():.5f}"
    loss.backward()
    assert next_logits.grad is None or next_logits.grad.abs().sum() == 0, "no gradient through the target"
    assert torch.allclose(q1.grad, torch.tensor([[0.0, 2 * (2.0 - target)]]), atol=1e-5)
    fell = pearl.sac_critic_loss(q1, q2, terminated=torch.tensor([1.0]), next_logits=next_logits, **inputs)
    assert abs(fell.item() - ((2.0 - 1.0) ** 2 + (0.5 - 1.0) ** 2)) < 1e-5, "no bootstrap after a fall"


def test_sac_actor_loss_by_hand_and_minimum() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)]], requires_grad=True)  # pi = [0.25, 0.75]
    q1, q2 = torch.tensor([[1.0, 2.0]], requires_grad=True), torch.tensor([[2.0, 1.0]], requires_grad=True)
    loss = pearl.sac_actor_loss(logits, q1, q2, alpha=1.0)
    expected = 0.25 * (math.log(0.25) - 1.0) + 0.75 * (math.log(0.75) - 1.0)
    assert abs(loss.item() - expected) < 1e-5, f"expected {expected:.5f}, got {loss.item():.5f}"
    loss.backward()
    assert q1.grad is None or q1.grad.abs().sum() == 0, "the critics are constants in the policy loss"
    # the loss is minimised by pi = softmax(min(Q1, Q2) / alpha)
    q_min, alpha = torch.tensor([[0.3, 1.1, -0.4]]), 0.2
    optimal = (q_min / alpha).clone().requires_grad_(True)
    pearl.sac_actor_loss(optimal, q_min, q_min + 1.0, alpha).backward()
    assert optimal.grad.abs().max() < 1e-6
    other = torch.zeros(1, 3, requires_grad=True)
    assert pearl.sac_actor_loss(other, q_min, q_min + 1.0, alpha) > pearl.sac_actor_loss(optimal, q_min, q_min, alpha)


# --- replay, agent, checkpoints, training -------------------------------------------------------
def test_replay_keeps_tasks_apart_and_recent_window() -> None:
    torch.manual_seed(0)
    agent = pearl.PEARLAgent(pearl.PEARL_QUICK)
    tasks = meta_test_tasks("target")[:3]
    batch = pearl.collect(agent, tasks, torch.zeros(3, 2, agent.latent_dim), 2, seed=0)
    replay = pearl.MultiTaskReplay(num_tasks=5, capacity=10)
    replay.add([4, 0, 2], batch)
    assert replay.size.tolist() == [10, 0, 10, 0, 10]
    sample = replay.sample(torch.tensor([0, 4]), 64, torch.Generator().manual_seed(0))
    # target rewards exp(-|x' - x*|) * reward_scale identify the task
    for row, task in ((0, tasks[1]), (1, tasks[0])):
        x_next = sample["next_observations"][row, :, 0]
        assert torch.allclose(sample["rewards"][row], task.reward_scale * torch.exp(-(x_next - task.target_x).abs()),
                              atol=1e-5)
    recent = replay.sample(torch.tensor([2]), 200, torch.Generator().manual_seed(0), recent=5)
    last_five = batch.transitions(task_index=2)["rewards"][-5:]
    assert set(recent["rewards"][0].tolist()) <= set(last_five.tolist())


def _one_sac_update(config: pearl.PEARLConfig) -> tuple[bool, torch.Tensor]:
    """One ``sac_update`` from seed 0 on four target tasks: (whether the encoder's weights changed,
    the z [4, latent_dim] the critics were given)."""
    torch.manual_seed(0)
    agent = pearl.PEARLAgent(config)
    batch = pearl.collect(agent, meta_test_tasks("target")[:4], torch.zeros(4, 1, agent.latent_dim), 1, seed=0)
    replay = pearl.MultiTaskReplay(num_tasks=4, capacity=1000)
    replay.add([0, 1, 2, 3], batch)
    optimizers = pearl.make_pearl_optimizers(agent, learning_rate=1e-2)
    before = [p.detach().clone() for p in agent.encoder.parameters()]
    seen: list[torch.Tensor] = []
    inputs = agent.inputs

    def recording_inputs(obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        seen.append(z.detach().clone())
        return inputs(obs, z)

    agent.inputs = recording_inputs
    pearl.sac_update(agent, optimizers, replay, torch.arange(4), torch.Generator().manual_seed(0))
    learned = any(not torch.equal(old, new) for old, new in zip(before, agent.encoder.parameters()))
    z_rows = seen[0].reshape(4, config.batch_size, -1)
    return learned, z_rows[:, 0]


def test_prior_z_fraction_replaces_the_posterior_z() -> None:
    # without the KL term, the encoder learns only through the z the critic sees: none when every z is from the prior
    def run(fraction: float) -> tuple[bool, torch.Tensor]:
        return _one_sac_update(dataclasses.replace(pearl.PEARL_QUICK, kl_weight=0.0, prior_z_fraction=fraction))

    (posterior_learns, posterior_z), (prior_learns, prior_z) = run(0.0), run(1.0)
    assert posterior_learns and not prior_learns
    assert not torch.allclose(prior_z, posterior_z)
    assert abs(prior_z.mean()) < 0.6 and 0.6 < prior_z.std() < 1.5, f"z should be N(0, I) draws: {prior_z}"
    assert posterior_z.std(dim=0).max() < prior_z.std(dim=0).max(), "posterior z as spread as the prior"


def test_adaptation_curve_shape_and_checkpoint_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    agent = pearl.PEARLAgent(pearl.PEARL_QUICK)
    tasks = meta_test_tasks("flip")[:4]
    curve = pearl.pearl_adaptation_curve(agent, tasks, num_units=2, seed=3)
    assert curve.shape == (4, 3) and np.all((curve >= 0) & (curve <= 1))
    path = tmp_path / "pearl.pt"
    pearl.save_pearl(agent, str(path))
    loaded = pearl.load_pearl(str(path))
    assert loaded.config == agent.config
    np.testing.assert_allclose(pearl.pearl_adaptation_curve(loaded, tasks, num_units=2, seed=3), curve)


def _spy_on_collect(monkeypatch) -> list[torch.Tensor]:
    """Record the z of every later ``pearl.collect`` call (the calls still run)."""
    seen: list[torch.Tensor] = []
    real_collect = pearl.collect

    def spy(model, tasks, z, episodes_per_task, seed, greedy=False):
        seen.append(z.clone())
        return real_collect(model, tasks, z, episodes_per_task, seed, greedy)

    monkeypatch.setattr(pearl, "collect", spy)
    return seen


def _collected_z(monkeypatch, scale: float, train: bool) -> list[torch.Tensor]:
    """The z of every ``collect`` call of a meta-test curve or a one-iteration training (no model selection)
    with a PEARL_QUICK agent whose ``exploration_scale`` is ``scale``."""
    seen = _spy_on_collect(monkeypatch)
    config = dataclasses.replace(pearl.PEARL_QUICK, exploration_scale=scale, num_train_tasks=4, num_iterations=1,
                                 tasks_per_iteration=2, gradient_steps_per_iteration=1, meta_batch_size=2)
    if train:
        pearl.train_pearl(config, "target", seed=0, progress=False)
    else:
        torch.manual_seed(0)
        pearl.pearl_adaptation_curve(pearl.PEARLAgent(config), meta_test_tasks("target")[:50], num_units=1, seed=1)
    return seen


def test_exploration_scale_widens_only_the_first_meta_test_episode(monkeypatch) -> None:
    """Meta-test episode 1 acts on z ~ N(0, scale^2 I): the same draws as with scale 1, times the scale.
    Training's prior episodes keep the prior itself (the data the encoder learns from)."""
    plain, wide = _collected_z(monkeypatch, 1.0, train=False), _collected_z(monkeypatch, 3.0, train=False)
    torch.testing.assert_close(wide[0], 3.0 * plain[0])
    assert 0.7 < plain[0].std() < 1.3, f"episode 1 should act on N(0, I) draws, std {plain[0].std():.2f}"
    assert not _collected_z(monkeypatch, 0.0, train=False)[0].any(), "scale 0: episode 1 acts on the prior's mean"
    plain, wide = _collected_z(monkeypatch, 1.0, train=True), _collected_z(monkeypatch, 2.0, train=True)
    torch.testing.assert_close(wide[0], plain[0])  # initial episodes
    torch.testing.assert_close(wide[1], plain[1])  # the prior episode of iteration 0


@pytest.mark.parametrize("family", ["target"])
def test_quick_training_improves_over_initial_policy(family: str) -> None:
    torch.set_num_threads(1)
    tasks = meta_test_tasks(family)[:20]
    torch.manual_seed(0)
    initial = pearl.pearl_adaptation_curve(pearl.PEARLAgent(pearl.PEARL_QUICK), tasks, num_units=1).mean()
    model, history = pearl.train_pearl(pearl.PEARL_QUICK, family, seed=0, progress=False)
    assert len(history["normalised_return"]) == pearl.PEARL_QUICK.num_iterations
    trained = pearl.pearl_adaptation_curve(model, tasks, num_units=1).mean()
    assert trained > initial + 0.2, f"PEARL_QUICK training should learn to balance: {initial:.3f} -> {trained:.3f}"


def test_model_selection_scores_the_return_after_selection_episodes(monkeypatch) -> None:
    """With ``selection_episodes`` = 2 each selection evaluation runs two episodes of context and
    scores the third episode's return (the criterion on ``target``), not the first adapted one."""
    calls: list[int] = []

    def fake_curve(model, tasks, num_units=3, seed=0, device="cpu"):
        calls.append(num_units)
        curve = np.zeros((len(tasks), num_units + 1))
        curve[:, -1] = len(calls)  # later evaluations score higher in the last column only
        curve[:, 1] = -float(len(calls))  # and lower after one episode
        return curve

    monkeypatch.setattr(pearl, "pearl_adaptation_curve", fake_curve)
    config = dataclasses.replace(pearl.PEARL_QUICK, num_iterations=4, gradient_steps_per_iteration=1,
                                 eval_every=2, selection_episodes=2)
    _, history = pearl.train_pearl(config, "target", seed=0, progress=False)
    assert calls == [2, 2]
    assert history["selection"] == [(1, 1.0), (3, 2.0)] and history["selected_iteration"] == 3


def test_choose_exploration_latent_keeps_the_candidate_after_which_the_agent_adapts_best(monkeypatch) -> None:
    """Candidates are seeded draws of N(0, s^2 I); each is scored by episodes 2.. of the meta-test protocol
    with episode 1 acting on it, and episode 1's own return does not count."""
    config = dataclasses.replace(pearl.PEARL_QUICK, exploration_candidates=5, exploration_scale=2.0)
    tasks = meta_train_tasks("target", n=3)
    seen = {}

    def fake_curve(model, tasks_run, num_units=3, seed=0, device="cpu", first_z=None):
        seen.update(tasks=tasks_run, first_z=first_z, num_units=num_units)
        curve = np.empty((len(tasks_run), num_units + 1))
        curve[:, 0] = -100.0 * first_z[:, 0].numpy()  # episode 1 favours the lowest first coordinate
        curve[:, 1:] = first_z[:, :1].numpy()  # the later episodes the highest one
        return curve

    monkeypatch.setattr(pearl, "pearl_adaptation_curve", fake_curve)
    z, scores = pearl.choose_exploration_latent(pearl.PEARLAgent(config), tasks, num_units=2, seed=7)
    candidates = 2.0 * torch.randn(5, config.latent_dim, generator=torch.Generator().manual_seed(7))
    assert seen["num_units"] == 2 and seen["tasks"] == [task for _ in range(5) for task in tasks]
    torch.testing.assert_close(seen["first_z"], candidates.repeat_interleave(3, dim=0))
    np.testing.assert_allclose(scores, candidates[:, 0].numpy(), rtol=1e-6)
    torch.testing.assert_close(z, candidates[int(candidates[:, 0].argmax())])
    with pytest.raises(ValueError, match="exploration_candidates"):
        pearl.choose_exploration_latent(pearl.PEARLAgent(pearl.PEARL_QUICK), tasks)


def test_first_meta_test_episode_acts_on_the_chosen_latent(monkeypatch, tmp_path) -> None:
    """With ``exploration_z`` set, episode 1 of every task acts on it (``first_z`` overrides it), the later
    episodes on posterior samples; a checkpoint keeps it, and one saved without it loads with none."""
    seen = _spy_on_collect(monkeypatch)
    torch.manual_seed(0)
    agent = pearl.PEARLAgent(pearl.PEARL_QUICK)
    tasks = meta_test_tasks("target")[:4]
    chosen = torch.arange(agent.latent_dim, dtype=torch.float32)
    agent.exploration_z = chosen
    curve = pearl.pearl_adaptation_curve(agent, tasks, num_units=1, seed=2)
    torch.testing.assert_close(seen[0][:, 0], chosen.expand(4, -1))
    assert not torch.allclose(seen[1][0, 0], seen[1][1, 0]), "episode 2 should act on each task's own posterior"
    override = torch.ones(4, agent.latent_dim)
    pearl.pearl_adaptation_curve(agent, tasks, num_units=1, seed=2, first_z=override)
    torch.testing.assert_close(seen[2][:, 0], override)
    with pytest.raises(ValueError, match=r"first_z must have shape \[4, 5\]"):
        pearl.pearl_adaptation_curve(agent, tasks, num_units=1, first_z=torch.ones(agent.latent_dim))

    path = tmp_path / "pearl.pt"
    pearl.save_pearl(agent, str(path))
    loaded = pearl.load_pearl(str(path))
    torch.testing.assert_close(loaded.exploration_z, chosen)
    np.testing.assert_allclose(pearl.pearl_adaptation_curve(loaded, tasks, num_units=1, seed=2), curve)
    saved = torch.load(path, weights_only=True)
    del saved["exploration_z"]
    torch.save(saved, path)
    assert pearl.load_pearl(str(path)).exploration_z is None


def test_training_chooses_the_exploration_latent_only_when_asked() -> None:
    config = dataclasses.replace(pearl.PEARL_QUICK, num_train_tasks=4, num_iterations=1, tasks_per_iteration=2,
                                 gradient_steps_per_iteration=1, meta_batch_size=2, exploration_candidates=3)
    model, history = pearl.train_pearl(config, "target", seed=0, progress=False)
    assert model.exploration_z is not None and model.exploration_z.shape == (config.latent_dim,)
    assert len(history["exploration_scores"]) == 3 and model.training
    model, history = pearl.train_pearl(dataclasses.replace(config, exploration_candidates=0), "target", seed=0,
                                       progress=False)
    assert model.exploration_z is None and "exploration_scores" not in history
    assert pearl.PEARL_HOMEWORK_COURSE.exploration_candidates == 0, "the course's families keep z = 0"


def test_meta_test_encodes_each_transition_once_with_the_same_posteriors() -> None:
    """pearl_adaptation_curve hands infer_posterior an ``EncodedContext``: the same curve as encoding the whole
    context again before every episode, and any other input (e.g. a reshaped context) goes to the encoder."""
    torch.manual_seed(0)
    agent = pearl.PEARLAgent(pearl.PEARL_QUICK).eval()
    tasks = meta_test_tasks("target")[:6]
    generator = torch.Generator().manual_seed(4)
    contexts, masks, expected = [], [], []
    for episode in range(3):  # the protocol, encoding every transition again before every episode
        if episode == 0:
            mu, var = torch.zeros(6, agent.latent_dim), torch.ones(6, agent.latent_dim)
        else:
            with torch.no_grad():
                mu, var = pearl.infer_posterior(agent.encoder, torch.cat(contexts, 1), torch.cat(masks, 1),
                                                agent.config.min_variance)
        z = pearl.sample_latent(mu, var, generator)
        batch = pearl.collect(agent, tasks, z.unsqueeze(1), 1, seed=4 * 3 + episode, greedy=True)
        expected.append(batch.normalised_returns()[:, 0].numpy())
        context, mask = pearl.batch_context(agent, batch)
        contexts.append(context)
        masks.append(mask)
    np.testing.assert_array_equal(pearl.pearl_adaptation_curve(agent, tasks, num_units=2, seed=4),
                                  np.stack(expected, axis=1))

    context = torch.cat(contexts, 1)
    with torch.no_grad():
        encoded = pearl.EncodedContext(agent.encoder, context, agent.encoder(context))
        assert encoded(context) is encoded.outputs
        flat = context.reshape(-1, context.shape[-1])
        torch.testing.assert_close(encoded(flat), agent.encoder(flat))
