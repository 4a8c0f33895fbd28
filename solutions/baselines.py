"""Baselines for the meta-RL algorithms: multi-task PPO, fine-tuning it, and a task-conditioned oracle.

Three reference points for MAML, RL² and PEARL on the same held-out tasks:

* ``agnostic``: one feed-forward policy pi(a | s) trained with PPO on the whole family's meta-train
  tasks. It cannot tell tasks apart, so it learns the best *average* behaviour (on ``flip``: a
  coin flip; on ``target``: balance near the middle).
* ``finetune``: the agnostic policy, then a few PPO steps on each new task's own rollouts (the
  "just fine-tune it" answer to few-shot adaptation, without meta-learning).
* ``oracle``: a PPO policy pi(a | s, f(task)) that sees the task's features ``Task.features()``
  appended to the observation: an upper bound on what inferring the task can give.

PPO (Schulman et al., 2017) with GAE, as in CleanRL's ``ppo.py``: for a batch of episodes with
advantages A_t = GAE(gamma, lambda) (``gae``), normalised (``normalize_advantages``),

    L(theta) = L_clip(theta) + c_V * masked_mean((V(s_t) - (A_t + V_old(s_t)))^2) - c_H * H[pi(.|s_t)],

with the clipped surrogate L_clip of ``ppo_clip_loss``. No student TODOs here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from hw11_utils.networks import MLP
from hw11_utils.rl_math import categorical_entropy, gae, masked_mean, normalize_advantages, ppo_clip_loss
from hw11_utils.rollouts import PolicyFn, RolloutBatch, StepInput, sample_rollouts
from hw11_utils.tasks import TASK_FEATURE_DIM, Task, meta_test_tasks, meta_train_tasks

STUDENT_TODOS = ()

METHODS = ("agnostic", "finetune", "oracle")


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BaselineConfig:
    """Hyper-parameters of the baselines (defaults: the BASELINE_HOMEWORK budget).

    Attributes:
        method: ``"agnostic"``, ``"finetune"`` (trained as ``agnostic``; its adaptation curve
            fine-tunes) or ``"oracle"`` (task features appended to the observation).
        num_iterations: PPO iterations (one batch of rollouts and one update each).
        tasks_per_iteration: tasks drawn (with replacement) from the meta-train set per iteration.
        episodes_per_task: episodes sampled per task and iteration.
        episode_length: T, 200 in the homework.
        hidden_sizes: widths of the hidden layers of the policy and the value MLPs (tanh).
        learning_rate: Adam step size of training.
        gamma: discount factor.
        gae_lambda: GAE parameter lambda.
        clip: PPO clipping range epsilon.
        update_epochs: passes over each batch.
        num_minibatches: minibatches per pass.
        value_coef: c_V, weight of the value loss.
        entropy_coef: c_H, weight of the entropy bonus.
        max_grad_norm: clip the gradient's global norm to this value.
        finetune_lr: Adam step size of fine-tuning on a new task.
        finetune_episodes: episodes of the new task sampled before each fine-tuning step: one
            episode (200 env steps), the unit of new-task experience shared by every method.
        eval_episodes: episodes behind each entry of the flat curves of ``agnostic`` and ``oracle``.
        finetune_epochs: gradient steps (PPO epochs, full batch) on each fine-tuning batch.
        eval_tasks: held-out tasks whose adaptation curve is stored in the history at the end.
    """

    method: str = "agnostic"
    num_iterations: int = 200
    tasks_per_iteration: int = 16
    episodes_per_task: int = 2
    episode_length: int = 200
    hidden_sizes: tuple[int, ...] = (64, 64)
    learning_rate: float = 3e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    update_epochs: int = 4
    num_minibatches: int = 4
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    finetune_lr: float = 3e-3
    finetune_episodes: int = 1
    eval_episodes: int = 8
    finetune_epochs: int = 1
    eval_tasks: int = 50


#: The notebook's default run (a few minutes on a 2-core CPU).
BASELINE_HOMEWORK = BaselineConfig()
#: Seconds: tests, CI and autograding.
BASELINE_QUICK = dataclasses.replace(
    BASELINE_HOMEWORK, num_iterations=10, tasks_per_iteration=8, episode_length=100, update_epochs=2, eval_tasks=0
)


# --------------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------------
class ActorCritic(nn.Module):
    """Policy pi(a | x) and value V(x) MLPs; x is the observation, plus the task features for the oracle.

    Args:
        config: the baseline's config (kept in ``model.config``: fine-tuning reads its settings).
        num_actions: A.

    Shapes: inputs [..., D] with D = 4 (+ TASK_FEATURE_DIM for the oracle); logits [..., A]; values [...].
    """

    def __init__(self, config: BaselineConfig = BASELINE_HOMEWORK, num_actions: int = 2) -> None:
        super().__init__()
        if config.method not in METHODS:
            raise ValueError(f"unknown method {config.method!r}; valid methods are {list(METHODS)}")
        self.config = config
        self.task_conditioned = config.method == "oracle"
        self.input_dim = 4 + (TASK_FEATURE_DIM if self.task_conditioned else 0)
        self.actor = MLP(self.input_dim, num_actions, config.hidden_sizes, activation=nn.Tanh, output_gain=0.01)
        self.critic = MLP(self.input_dim, 1, config.hidden_sizes, activation=nn.Tanh, output_gain=1.0)

    def forward(self, inputs: Tensor) -> Tensor:
        """Logits [..., A]."""
        return self.actor(inputs)

    def value(self, inputs: Tensor) -> Tensor:
        """V(x) [...]."""
        return self.critic(inputs).squeeze(-1)


def policy_inputs(model: ActorCritic, observations: Tensor, features: Optional[Tensor]) -> Tensor:
    """The network's input: observations [K, ..., 4], with the features [K, F] of their tasks appended (oracle).

    Returns [K, ..., 4] unchanged for a task-agnostic model, else [K, ..., 4 + F].
    """
    if not model.task_conditioned:
        return observations
    features = features.to(observations.dtype).view(features.shape[0], *[1] * (observations.dim() - 2), -1)
    return torch.cat([observations, features.expand(*observations.shape[:-1], -1)], dim=-1)


def task_features(tasks: Sequence[Task], device: Union[str, torch.device] = "cpu") -> Tensor:
    """``Task.features()`` of every task: float32 [K, TASK_FEATURE_DIM]."""
    return torch.as_tensor(np.stack([task.features() for task in tasks]), device=device)


def model_policy(model: ActorCritic, tasks: Sequence[Task], episodes_per_task: int) -> PolicyFn:
    """The model as a PolicyFn for ``sample_rollouts(..., tasks, episodes_per_task)``.

    The oracle's environment k * E + e runs ``tasks[k]`` (task-major layout of ``sample_rollouts``),
    so it gets the features of ``tasks[k]``.
    """
    device = next(model.parameters()).device
    features = task_features(tasks, device).repeat_interleave(episodes_per_task, dim=0)

    def policy_fn(step: StepInput) -> tuple[Tensor, Any]:
        return model(policy_inputs(model, step.obs.to(device), features)), None

    return policy_fn


# --------------------------------------------------------------------------------------------------
# PPO
# --------------------------------------------------------------------------------------------------
def batch_advantages(
    model: ActorCritic, batch: RolloutBatch, features: Optional[Tensor], gamma: float, gae_lambda: float
) -> tuple[Tensor, Tensor]:
    """GAE advantages and value targets of a batch [K, E, T], bootstrapping at the time limit.

    An episode still alive after its last step T is cut by the time limit, not ended: its GAE
    bootstraps from V(s_T); a fallen one does not (``gae``'s masks stop the recursion at the fall).

    Returns:
        advantages [K, E, T] (not normalised) and value targets A_t + V(s_t) [K, E, T].
    """
    with torch.no_grad():
        values = model.value(policy_inputs(model, batch.observations, features))
        last_values = model.value(policy_inputs(model, batch.next_observations[:, :, -1], features))
        alive_at_end = batch.masks[..., -1] * (1.0 - batch.terminated[..., -1])
        advantages = gae(batch.rewards, values, batch.masks, gamma, gae_lambda, last_values * alive_at_end)
    return advantages, advantages + values


def ppo_loss(
    model: ActorCritic,
    inputs: Tensor,
    actions: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    value_targets: Tensor,
    mask: Tensor,
    config: BaselineConfig,
) -> tuple[Tensor, dict[str, float]]:
    """PPO's loss on a set of steps (any shape [...]):  L_clip + c_V L_V - c_H H."""
    logits = model(inputs)
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    policy_loss = ppo_clip_loss(log_probs, old_log_probs, advantages, mask, config.clip)
    value_loss = masked_mean((model.value(inputs) - value_targets) ** 2, mask)
    entropy = categorical_entropy(logits, mask)
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
    return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy.item()}


def ppo_update(
    model: ActorCritic, optimizer: torch.optim.Optimizer, batch: RolloutBatch, config: BaselineConfig
) -> dict[str, float]:
    """``update_epochs`` passes of minibatch PPO over the valid steps of a batch."""
    device = next(model.parameters()).device
    batch = batch.to(device)
    features = task_features(batch.tasks, device) if model.task_conditioned else None
    advantages, value_targets = batch_advantages(model, batch, features, config.gamma, config.gae_lambda)
    advantages = normalize_advantages(advantages, batch.masks)
    valid = batch.masks > 0  # keep the steps taken while alive, flattened: [M]
    steps = {
        "inputs": policy_inputs(model, batch.observations, features)[valid],
        "actions": batch.actions[valid],
        "old_log_probs": batch.log_probs[valid],
        "advantages": advantages[valid],
        "value_targets": value_targets[valid],
    }
    num_steps = steps["actions"].shape[0]
    ones = torch.ones(num_steps, device=device)
    stats: dict[str, float] = {}
    for _ in range(config.update_epochs):
        for index in torch.randperm(num_steps, device=device).chunk(config.num_minibatches):
            minibatch = {name: value[index] for name, value in steps.items()}
            loss, stats = ppo_loss(model, **minibatch, mask=ones[index], config=config)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
    return stats


# --------------------------------------------------------------------------------------------------
# Training loop
# --------------------------------------------------------------------------------------------------
def train_baseline(
    config: BaselineConfig = BASELINE_HOMEWORK,
    family: str = "flip",
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
) -> tuple[ActorCritic, dict[str, list]]:
    """Train a baseline with PPO on ``meta_train_tasks(family)`` (``finetune`` trains as ``agnostic``).

    Every iteration draws ``tasks_per_iteration`` meta-train tasks, samples
    ``episodes_per_task`` episodes of each with the current policy (all at once), and makes one
    :func:`ppo_update`. At the end, the mean adaptation curve on ``eval_tasks`` held-out tasks is
    stored in the history.

    Returns:
        (model, history): the trained :class:`ActorCritic` and a dict of lists per iteration with
        keys ``iteration``, ``normalised_return`` (of the iteration's rollouts, before its update),
        ``env_steps`` (cumulative steps taken while alive), ``policy_loss``, ``value_loss``,
        ``entropy``, ``wall_time``; plus ``eval_adaptation_curve`` (list of num_units + 1 means)
        when ``eval_tasks > 0``.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ActorCritic(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    train_tasks = meta_train_tasks(family)
    history: dict[str, list] = {"iteration": [], "normalised_return": [], "env_steps": [], "wall_time": []}
    env_steps = 0
    bar = tqdm(range(config.num_iterations), desc=f"baseline {config.method} ({family})", disable=not progress)
    for iteration in bar:
        tasks = [train_tasks[i] for i in rng.integers(len(train_tasks), size=config.tasks_per_iteration)]
        batch = sample_rollouts(
            model_policy(model, tasks, config.episodes_per_task), tasks, config.episodes_per_task,
            config.episode_length, seed=int(rng.integers(2**31)),
        )
        stats = ppo_update(model, optimizer, batch, config)
        env_steps += int(batch.masks.sum().item())
        history["iteration"].append(iteration)
        history["normalised_return"].append(batch.normalised_returns().mean().item())
        history["env_steps"].append(env_steps)
        history["wall_time"].append(time.perf_counter() - start)
        for key, value in stats.items():
            history.setdefault(key, []).append(value)
        bar.set_postfix(normalised_return=f"{history['normalised_return'][-1]:.2f}")
    if config.eval_tasks > 0:
        curve = baseline_adaptation_curve(model, meta_test_tasks(family, n=config.eval_tasks), seed=seed, device=device)
        history["eval_adaptation_curve"] = curve.mean(axis=0).tolist()
    return model, history


# --------------------------------------------------------------------------------------------------
# Few-shot evaluation: flat curves, and fine-tuning on each new task
# --------------------------------------------------------------------------------------------------
def evaluate(model: ActorCritic, tasks: Sequence[Task], episodes: int, seed: int = 0) -> np.ndarray:
    """Mean normalised return of ``episodes`` episodes (length 200, sampled actions) per task: [K]."""
    with torch.no_grad():
        batch = sample_rollouts(model_policy(model, tasks, episodes), tasks, episodes, episode_length=200, seed=seed)
    return batch.normalised_returns().mean(dim=1).cpu().numpy()


def per_task_policy(model: ActorCritic, params: dict[str, Tensor], episodes_per_task: int) -> PolicyFn:
    """A PolicyFn running task k's E environments with the actor parameters ``params[name][k]``.

    ``params`` holds one copy of the actor's parameters per task, stacked on a leading axis [K, ...];
    observations [K * E, 4] (task-major) are viewed as [K, E, 4] and the K copies applied at once
    with ``torch.func.vmap``.
    """
    forward_per_task = vmap(lambda task_params, obs: functional_call(model.actor, task_params, (obs,)))
    num_tasks = next(iter(params.values())).shape[0]

    def policy_fn(step: StepInput) -> tuple[Tensor, Any]:
        obs = step.obs.to(next(iter(params.values())).device).view(num_tasks, episodes_per_task, -1)
        with torch.no_grad():
            logits = forward_per_task(params, obs)
        return logits.reshape(num_tasks * episodes_per_task, -1), None

    return policy_fn


def finetune_curve(
    model: ActorCritic,
    tasks: Sequence[Task],
    num_units: int = 3,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
) -> np.ndarray:
    """Fine-tune a copy of the agnostic policy on every task; return its curve [K, num_units + 1].

    For each task k, starting from theta_0 = the trained actor's parameters:

        D_j ~ pi_{theta_j} in task k (``finetune_episodes`` episodes, seed ``seed + j``),
        theta_{j+1} = ``finetune_epochs`` Adam steps on the PPO loss of D_j (one step: plain policy
        gradient, since the ratio is 1), with advantages from the frozen multi-task critic,
        normalised per task.

    Entry j is the mean normalised return of D_j (so the returns and the adaptation data are the
    same on-policy episodes). All K tasks are fine-tuned at once: their parameters are stacked on a
    leading task axis and applied with ``vmap``; the loss is the sum of the K per-task losses, so
    each copy gets its own task's gradient. One Adam optimiser serves the whole adaptation (Adam is
    elementwise, so it treats the K copies independently).
    """
    model = model.to(device)
    config = model.config
    if model.task_conditioned:
        raise ValueError("fine-tuning starts from the task-agnostic policy, not the oracle")
    tasks = list(tasks)
    num_tasks, episodes = len(tasks), config.finetune_episodes
    params = {
        name: value.detach().unsqueeze(0).repeat(num_tasks, *([1] * value.dim())).requires_grad_(True)
        for name, value in model.actor.named_parameters()
    }
    optimizer = torch.optim.Adam(list(params.values()), lr=config.finetune_lr)

    def task_loss(task_params, inputs, actions, old_log_probs, advantages, mask):
        logits = functional_call(model.actor, task_params, (inputs,))
        log_probs = torch.log_softmax(logits, dim=-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return ppo_clip_loss(log_probs, old_log_probs, normalize_advantages(advantages, mask), mask, config.clip)

    loss_per_task = vmap(task_loss)
    curve = np.zeros((num_tasks, num_units + 1))
    for unit in range(num_units + 1):
        batch = sample_rollouts(per_task_policy(model, params, episodes), tasks, episodes, 200, seed=seed + unit)
        curve[:, unit] = batch.normalised_returns().mean(dim=1).cpu().numpy()
        if unit == num_units:
            break
        batch = batch.to(device)
        advantages, _ = batch_advantages(model, batch, None, config.gamma, config.gae_lambda)
        for _ in range(config.finetune_epochs):
            loss = loss_per_task(params, batch.observations, batch.actions, batch.log_probs, advantages,
                                 batch.masks).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return curve


def baseline_adaptation_curve(
    model: ActorCritic,
    tasks: Sequence[Task],
    num_units: int = 3,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    method: Optional[str] = None,
) -> np.ndarray:
    """Few-shot protocol: normalised return on each task after 0..num_units adaptation units.

    ``agnostic`` and ``oracle`` do not adapt: their curve is flat (the mean normalised return of
    ``eval_episodes`` episodes, repeated). ``finetune``: :func:`finetune_curve` (units are
    fine-tuning steps).

    Args:
        model: a trained :class:`ActorCritic`.
        tasks: held-out tasks.
        num_units: adaptation units.
        seed: seeds the initial states and the action sampling.
        device: where the networks run.
        method: overrides ``model.config.method`` (e.g. ``"finetune"`` with an agnostic model).

    Returns:
        float array [len(tasks), num_units + 1] of normalised returns.
    """
    method = method or model.config.method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods are {list(METHODS)}")
    if method == "finetune":
        return finetune_curve(model, tasks, num_units, seed, device)
    if (method == "oracle") != model.task_conditioned:
        raise ValueError(f"a {model.config.method!r} model cannot be evaluated as {method!r}")
    returns = evaluate(model.to(device), list(tasks), model.config.eval_episodes, seed=seed)
    return np.repeat(returns[:, None], num_units + 1, axis=1)


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
def save_baseline(model: ActorCritic, path: str, metadata: Optional[dict[str, Any]] = None) -> None:
    """Save the config, the weights and optional metadata (e.g. family, training time): a small file."""
    torch.save(
        {
            "config": dataclasses.asdict(model.config),
            "state_dict": {name: value.detach().cpu() for name, value in model.state_dict().items()},
            "metadata": dict(metadata or {}),
        },
        path,
    )


def load_baseline(path: str, device: Union[str, torch.device] = "cpu") -> ActorCritic:
    """Load an :class:`ActorCritic` saved by :func:`save_baseline` (metadata in ``model.metadata``)."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    values = dict(checkpoint["config"])
    values["hidden_sizes"] = tuple(values["hidden_sizes"])
    model = ActorCritic(BaselineConfig(**values))
    model.load_state_dict(checkpoint["state_dict"])
    model.metadata = checkpoint.get("metadata", {})
    return model.to(device)


# --------------------------------------------------------------------------------------------------
# Command line: train the BASELINE_HOMEWORK baselines of a family, save their checkpoints, print the few-shot table
# --------------------------------------------------------------------------------------------------
def main() -> None:
    """``python -m solutions.baselines --family flip [--quick] [--seed 0] [--save]``."""
    import argparse
    from pathlib import Path

    from hw11_utils.evaluation import few_shot_table, print_table

    parser = argparse.ArgumentParser(description="Train the baselines of one task family.")
    parser.add_argument("--family", default="flip")
    parser.add_argument("--quick", action="store_true", help="the BASELINE_QUICK budget instead of BASELINE_HOMEWORK")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-tasks", type=int, default=200, help="held-out tasks of the few-shot table")
    parser.add_argument("--save", action="store_true", help="save the checkpoints")
    args = parser.parse_args()
    torch.set_num_threads(1)
    budget = BASELINE_QUICK if args.quick else BASELINE_HOMEWORK
    checkpoints = Path(__file__).resolve().parent.parent / "hw11_utils" / "checkpoints"
    models = {}
    for method in ("agnostic", "oracle"):
        config = dataclasses.replace(budget, method=method)
        start = time.perf_counter()
        model, history = train_baseline(config, args.family, seed=args.seed)
        seconds = time.perf_counter() - start
        last = float(np.mean(history["normalised_return"][-10:]))
        print(f"{method}: trained in {seconds:.1f} s, {history['env_steps'][-1]:,} env steps, "
              f"mean normalised return of the last 10 iterations {last:.3f}")
        models[method] = model
        if args.save:
            checkpoints.mkdir(exist_ok=True)
            path = checkpoints / f"baseline_{method}_{args.family}.pt"
            save_baseline(model, str(path), metadata={
                "family": args.family, "seed": args.seed, "train_seconds": round(seconds, 1),
                "final_training_return": round(last, 4),
            })
            print(f"saved {path}")
    tasks = meta_test_tasks(args.family, n=args.eval_tasks)
    start = time.perf_counter()
    curves = {
        "agnostic": baseline_adaptation_curve(models["agnostic"], tasks, seed=args.seed),
        "finetune": baseline_adaptation_curve(models["agnostic"], tasks, seed=args.seed, method="finetune"),
        "oracle": baseline_adaptation_curve(models["oracle"], tasks, seed=args.seed),
    }
    print_table(few_shot_table(curves), title=f"{args.family}: normalised return after 0..3 adaptation units, "
                f"{len(tasks)} held-out tasks (mean ± 95% CI over tasks)")
    print(f"(evaluated in {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
