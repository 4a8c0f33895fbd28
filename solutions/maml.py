"""MAML for reinforcement learning (Finn, Abbeel & Levine, 2017) on parameterised CartPole.

Model-agnostic meta-learning looks for initial policy parameters theta from which ONE policy-gradient
step on a new task already gives a good policy for that task. For every task T_i of a meta-batch:

    D_i   ~ pi_theta          (K_in pre-update episodes of T_i)
    theta'_i = theta - alpha * grad_theta L_{T_i}(theta; D_i)            (inner step, REINFORCE)
    D'_i  ~ pi_{theta'_i}     (post-update episodes of T_i)

and the meta-parameters follow the gradient of the post-update loss, differentiated *through* the
inner step (second order: the Hessian-vector terms of grad_theta theta'_i are kept):

    theta <- theta - beta * grad_theta (1/N) sum_i L_{T_i}(theta'_i; D'_i).

Adapted parameters are plain dicts name -> tensor computed from theta, evaluated with
``functional_forward`` (torch.func.functional_call); they are never written into the module, which
would cut the meta-gradient. The outer update uses Adam on the same REINFORCE loss (the paper uses
TRPO); the sampling distribution's dependence on theta is ignored, as in the paper.

Student TODOs (``STUDENT_TODOS``): ``inner_loss``, ``inner_step``, ``meta_loss``, ``adapt``.
The rest (config, batching helpers, ``meta_step``, ``train_maml``, ``maml_adaptation_curve``, checkpoints,
and the course draft's ``PolicyNetwork`` / ``MAMLAgent`` API built on them) is given code.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from hw11_utils.networks import MLP, functional_forward, param_dict, stacked_forward
from hw11_utils.rl_math import masked_mean, normalize_advantages, policy_gradient_surrogate
from hw11_utils.rollouts import PolicyFn, RolloutBatch, StepInput, feedforward, sample_rollouts
from hw11_utils.selection import SELECTION_SEED, BestWeights, should_evaluate
from hw11_utils.tasks import Task, as_task, meta_test_tasks, meta_train_tasks
from solutions.common import discounted_returns

STUDENT_TODOS = ("inner_loss", "inner_step", "meta_loss", "adapt")


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MAMLConfig:
    """Hyper-parameters of MAML (defaults: the homework budget on the ``flip`` family).

    Attributes:
        family: task family to meta-train on (see ``hw11_utils.tasks.FAMILIES``).
        num_train_tasks: size of the fixed meta-training task set ``meta_train_tasks(family, n)``.
        hidden_sizes: widths of the policy MLP's hidden layers (tanh activations).
        meta_batch_size: N, tasks per meta-update.
        inner_episodes: K_in, pre-update episodes per task behind one inner gradient (more episodes,
            less noisy inner step): 20 episodes of 50 steps, so one inner step consumes at most 1000 env
            steps of the task (5 episodes' worth; the few-shot plots put every method on that env-step
            axis). With 4 episodes (200 steps) flip reached 0.88 after one step, but the noisy steps
            degraded the already-optimal policy on ``mass`` (0.94 -> 0.82 after 3 steps).
        inner_episode_length: length of the pre-update episodes; short, since a near-uniform policy
            drops the pole within ~20 steps and the first steps are what reveal the task.
        outer_episodes: post-update episodes per task behind the meta-loss.
        outer_episode_length: length of the post-update episodes during meta-training (200, as in
            evaluation: a policy trained on 100 steps may still drift off the track later).
        inner_steps: S, inner steps per task during meta-training (each on freshly sampled
            episodes); the meta-gradient flows through all of them.
        inner_lr: alpha, step size of the inner (adaptation) gradient step; it is large because
            the REINFORCE loss uses normalised advantages.
        meta_lr: beta, Adam step size of the meta-update.
        max_grad_norm: clip the meta-gradient's global norm to this value.
        gamma: discount factor.
        num_iterations: number of meta-updates.
        first_order: drop the second-order terms (FOMAML): treat grad_theta L(theta) as a constant.
        eval_tasks: held-out tasks measured at the end of training (history "eval_*").
        eval_every: model selection (:mod:`hw11_utils.selection`): every ``eval_every`` iterations the
            return after one inner step on the first ``selection_tasks`` meta-training tasks; the best
            meta-parameters are returned (0: keep the last ones).
        selection_tasks: meta-training tasks of that evaluation.
    """

    family: str = "flip"
    num_train_tasks: int = 100
    hidden_sizes: tuple[int, ...] = (64, 64)
    meta_batch_size: int = 20
    inner_episodes: int = 20
    inner_episode_length: int = 50
    outer_episodes: int = 10
    outer_episode_length: int = 200
    inner_steps: int = 1
    inner_lr: float = 2.0
    meta_lr: float = 3e-3
    max_grad_norm: float = 1.0
    gamma: float = 0.99
    num_iterations: int = 100
    first_order: bool = False
    eval_tasks: int = 50
    eval_every: int = 10
    selection_tasks: int = 20


#: The notebook's default run (a few minutes on a 2-core CPU).
MAML_HOMEWORK = MAMLConfig()
#: Seconds: tests, CI and autograding.
MAML_QUICK = dataclasses.replace(
    MAML_HOMEWORK,
    meta_batch_size=8,
    inner_episodes=10,
    outer_episodes=4,
    outer_episode_length=50,
    num_iterations=20,
    eval_tasks=16,
    eval_every=0,
)


# --------------------------------------------------------------------------------------------------
# Model: the meta-learned policy pi_theta (logits over 2 actions) and its inner-loop settings
# --------------------------------------------------------------------------------------------------
class MAMLPolicy(nn.Module):
    """The meta-parameters theta: an MLP ``obs [..., 4] -> logits [..., 2]``, plus the config it uses.

    ``model.policy`` is the network whose parameters are adapted; ``model.config`` keeps the
    inner-loop settings (``inner_lr``, ``inner_episodes``, ...) used by :func:`maml_adaptation_curve`.
    """

    def __init__(self, config: MAMLConfig = MAML_HOMEWORK) -> None:
        super().__init__()
        self.config = config
        self.policy = MLP(4, 2, config.hidden_sizes, activation=nn.Tanh, output_gain=0.01)

    def forward(self, obs: Tensor) -> Tensor:
        """Logits [..., 2] of pi_theta for observations [..., 4]."""
        return self.policy(obs)


# --------------------------------------------------------------------------------------------------
# Batching helpers: one set of parameters per task
# --------------------------------------------------------------------------------------------------
def split_by_task(batch: RolloutBatch, device: Union[str, torch.device, None] = None) -> list[RolloutBatch]:
    """Split a batch of K tasks [K, E, T, ...] into K batches of one task each [1, E, T, ...].

    The sampler returns CPU tensors; ``device`` (if given) moves them where the parameters live.
    """
    if device is not None:
        batch = batch.to(device)
    tensor_fields = ("observations", "actions", "rewards", "next_observations", "masks", "dones", "log_probs")
    return [
        dataclasses.replace(
            batch,
            **{name: getattr(batch, name)[k : k + 1] for name in tensor_fields},
            terminated=None if batch.terminated is None else batch.terminated[k : k + 1],
            tasks=[batch.tasks[k]],
        )
        for k in range(batch.num_tasks)
    ]


def per_task_feedforward(
    policy: nn.Module, params_per_task: Sequence[dict[str, Tensor]], episodes_per_task: int
) -> PolicyFn:
    """A PolicyFn that runs task k's environments with ``params_per_task[k]``.

    ``sample_rollouts(..., carry_state=False)`` lays its N = K * E environments out task-major
    (task 0's E episodes first), so observations [N, 4] are viewed as [K, E, 4] and the K parameter
    dicts are applied at once (:func:`~hw11_utils.networks.stacked_forward`). Parameters are detached
    (sampling needs no gradient); observations are moved to the parameters' device.
    """
    names = list(params_per_task[0])
    stacked = {name: torch.stack([params[name].detach() for params in params_per_task]) for name in names}
    device = stacked[names[0]].device
    num_tasks = len(params_per_task)

    def policy_fn(step: StepInput) -> tuple[Tensor, None]:
        obs = step.obs.to(device).view(num_tasks, episodes_per_task, -1)
        return stacked_forward(policy, stacked, obs).reshape(num_tasks * episodes_per_task, -1), None

    return policy_fn


# --------------------------------------------------------------------------------------------------
# The maths (student TODOs)
# --------------------------------------------------------------------------------------------------
def inner_loss(policy: nn.Module, params: dict[str, Tensor], batch: RolloutBatch, gamma: float) -> Tensor:
    """REINFORCE loss L_{T_i}(theta) of a batch of episodes, evaluated with the parameters ``params``.

    With the discounted returns-to-go of every episode e (``discounted_returns``),

        G_{e,t} = sum_{k >= t} gamma^(k-t) r_{e,k},

    a time-dependent baseline, the mean return of the episodes still alive at step t of the same
    task (``masked_mean`` over the episode axis),

        b_t = sum_e m_{e,t} G_{e,t} / sum_e m_{e,t},

    and the advantages A_{e,t} = normalise(G_{e,t} - b_t) (``normalize_advantages``: zero mean,
    unit std over the valid steps of the batch):

        L(theta) = - (1 / sum m) * sum_{k,e,t} m_{e,t} * log pi_theta(a_{e,t} | s_{e,t}) * A_{e,t}

    (``policy_gradient_surrogate``); A_t is a constant, so grad L is the policy-gradient estimate.

    Inputs:
        policy: the policy network (nn.Module), ``obs [..., 4] -> logits [..., 2]``.
        params: dict name -> tensor, the parameters to evaluate pi with (theta or an adapted theta'),
            used through ``functional_forward(policy, params, obs)``.
        batch: RolloutBatch of K tasks, E episodes, T steps: ``observations`` float [K, E, T, 4],
            ``actions`` long [K, E, T], ``rewards`` float [K, E, T], ``dones`` float [K, E, T],
            ``masks`` float [K, E, T] (1 = step taken while the pole was up).
        gamma: discount factor.

    Returns:
        Scalar tensor, differentiable with respect to the tensors of ``params``.
    """
    ### BEGIN SOLUTION
    returns = discounted_returns(batch.rewards, batch.dones, gamma)  # G_t [K, E, T]
    baseline = masked_mean(returns, batch.masks, dim=1, keepdim=True)  # b_t [K, 1, T]
    advantages = normalize_advantages(returns - baseline, batch.masks)  # A_t [K, E, T]
    logits = functional_forward(policy, params, batch.observations)  # [K, E, T, 2]
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    return policy_gradient_surrogate(log_probs, advantages, batch.masks)
    ### END SOLUTION


def inner_step(
    policy: nn.Module,
    params: dict[str, Tensor],
    batch: RolloutBatch,
    inner_lr: float,
    gamma: float,
    first_order: bool = False,
) -> dict[str, Tensor]:
    """One adaptation step: a gradient step on the inner loss of one task's batch.

        theta' = theta - alpha * grad_theta L_{T_i}(theta; D_i)

    The new parameters are computed *from* ``params`` (no ``.data``, no ``.detach()``, no optimiser),
    so a loss of theta' can be differentiated back to theta. Second order (``first_order=False``):
    the gradient is itself differentiable (``create_graph=True``), so the meta-gradient contains the
    Hessian term d theta' / d theta = I - alpha * H. First order: the gradient is a constant and
    d theta' / d theta = I.

    Inputs:
        policy: the policy network (nn.Module).
        params: dict name -> tensor, theta (each tensor requires grad, or depends on one that does).
        batch: RolloutBatch of the task's pre-update episodes D_i, [1, E, T, ...].
        inner_lr: alpha.
        gamma: discount factor.
        first_order: drop the second-order terms.

    Returns:
        dict name -> tensor, theta', same names and shapes as ``params``.
    """
    ### BEGIN SOLUTION
    loss = inner_loss(policy, params, batch, gamma)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    return {name: theta - inner_lr * grad for (name, theta), grad in zip(params.items(), grads)}
    ### END SOLUTION


def meta_loss(
    policy: nn.Module,
    params: dict[str, Tensor],
    inner_batches: Sequence[RolloutBatch],
    outer_batches: Sequence[RolloutBatch],
    inner_lr: float,
    gamma: float,
    first_order: bool = False,
) -> Tensor:
    """MAML's meta-objective: the post-update loss, averaged over the meta-batch of N tasks.

        L_meta(theta) = (1/N) sum_i L_{T_i}(theta'_i; D'_i),
        theta'_i = theta - alpha * grad_theta L_{T_i}(theta; D_i)        (``inner_step``)

    The adapted parameters theta'_i are recomputed from theta here, so the gradient of L_meta flows
    through the inner step (through its Hessian term unless ``first_order``).

    Inputs:
        policy: the policy network (nn.Module).
        params: dict name -> tensor, the meta-parameters theta.
        inner_batches: N RolloutBatches [1, E_in, T_in, ...], D_i sampled with theta in task i.
        outer_batches: N RolloutBatches [1, E_out, T, ...], D'_i sampled with theta'_i in task i.
        inner_lr: alpha.
        gamma: discount factor.
        first_order: use first-order inner steps.

    Returns:
        Scalar tensor, differentiable with respect to theta.
    """
    ### BEGIN SOLUTION
    task_losses = []
    for inner_batch, outer_batch in zip(inner_batches, outer_batches):
        adapted = inner_step(policy, params, inner_batch, inner_lr, gamma, first_order)
        task_losses.append(inner_loss(policy, adapted, outer_batch, gamma))
    return torch.stack(task_losses).mean()
    ### END SOLUTION


def adapt(
    policy: nn.Module,
    params: dict[str, Tensor],
    tasks: Sequence[Task],
    num_steps: int,
    inner_lr: float,
    gamma: float,
    episodes_per_step: int,
    episode_length: int,
    seed: int = 0,
    first_order: bool = True,
) -> list[dict[str, Tensor]]:
    """Meta-test adaptation: ``num_steps`` inner steps on each task, re-sampling after every step.

    For every task T_k, starting from theta_0 = theta:

        D_j ~ pi_{theta_j} in T_k  (``episodes_per_step`` episodes),
        theta_{j+1} = theta_j - alpha * grad L_{T_k}(theta_j; D_j),       j = 0 .. num_steps - 1

    (``inner_step``). All tasks are sampled together: ``per_task_feedforward`` runs task k with its
    own parameters, ``split_by_task`` cuts the batch into one batch per task (on the parameters'
    device). Step j samples with seed ``seed + j``. No optimiser: each step is the explicit update
    above, so theta_{num_steps} stays a differentiable function of theta.

    Inputs:
        policy: the policy network (nn.Module).
        params: dict name -> tensor, theta (requires grad).
        tasks: the K tasks to adapt to.
        num_steps: number of inner steps (0 returns theta for every task).
        inner_lr: alpha.
        gamma: discount factor.
        episodes_per_step: episodes sampled per task before each step.
        episode_length: length of those episodes.
        seed: seed of the first step's sampling.
        first_order: first-order inner steps (the default: no second-order graph is needed to adapt).

    Returns:
        list of K dicts name -> tensor, the adapted parameters of each task.
    """
    ### BEGIN SOLUTION
    device = next(iter(params.values())).device
    task_params = [params] * len(tasks)
    for step in range(num_steps):
        batch = sample_rollouts(
            per_task_feedforward(policy, task_params, episodes_per_step),
            tasks,
            episodes_per_step,
            episode_length,
            seed=seed + step,
        )
        task_params = [
            inner_step(policy, theta, task_batch, inner_lr, gamma, first_order)
            for theta, task_batch in zip(task_params, split_by_task(batch, device))
        ]
    return task_params
    ### END SOLUTION


# --------------------------------------------------------------------------------------------------
# Meta-training loop
# --------------------------------------------------------------------------------------------------
def meta_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    tasks: Sequence[Task],
    config: MAMLConfig,
    seed: int,
) -> dict[str, float]:
    """One meta-update on a meta-batch of tasks; returns statistics for the learning curve.

    1. D_i ~ pi_theta in every task (all tasks sampled at once);
    2. theta'_i = inner_step(theta, D_i) (without graph: only to sample); repeated on fresh
       episodes when ``config.inner_steps`` S > 1;
    3. D'_i ~ pi_{theta'_i};
    4. theta <- Adam step on grad_theta ``meta_loss`` (which recomputes theta'_i with its graph;
       :func:`multi_step_meta_loss` when S > 1).

    ``model`` is anything with a ``policy`` network (:class:`MAMLPolicy`, :class:`PolicyNetwork`).
    """
    policy = model.policy
    device = next(policy.parameters()).device
    theta = param_dict(policy)
    adapted = [theta] * len(tasks)
    inner_batches_per_step = []
    for step in range(config.inner_steps):
        batch = sample_rollouts(
            per_task_feedforward(policy, adapted, config.inner_episodes),
            tasks,
            config.inner_episodes,
            config.inner_episode_length,
            seed=seed + 2 * step,
        )
        if step == 0:
            pre_adaptation_return = batch.normalised_returns().mean().item()
        task_batches = split_by_task(batch, device)
        adapted = [
            inner_step(policy, params, task_batch, config.inner_lr, config.gamma, first_order=True)
            for params, task_batch in zip(adapted, task_batches)
        ]
        inner_batches_per_step.append(task_batches)
    post_batch = sample_rollouts(
        per_task_feedforward(policy, adapted, config.outer_episodes),
        tasks,
        config.outer_episodes,
        config.outer_episode_length,
        seed=seed + 1,
    )
    outer_batches = split_by_task(post_batch, device)
    if config.inner_steps == 1:
        loss = meta_loss(
            policy, theta, inner_batches_per_step[0], outer_batches, config.inner_lr, config.gamma, config.first_order
        )
    else:
        loss = multi_step_meta_loss(policy, theta, inner_batches_per_step, outer_batches, config)
    optimizer.zero_grad()
    loss.backward()
    grad_norm = nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
    optimizer.step()
    return {
        "meta_loss": loss.item(),
        "grad_norm": float(grad_norm),
        "pre_adaptation_return": pre_adaptation_return,
        "normalised_return": post_batch.normalised_returns().mean().item(),
    }


def multi_step_meta_loss(
    policy: nn.Module,
    theta: dict[str, Tensor],
    inner_batches_per_step: Sequence[Sequence[RolloutBatch]],
    outer_batches: Sequence[RolloutBatch],
    config: MAMLConfig,
) -> Tensor:
    """The meta-objective after S inner steps: theta_{i,s+1} = inner_step(theta_{i,s}; D_{i,s}),
    L_meta = (1/N) sum_i L_{T_i}(theta_{i,S}; D'_i), differentiated through all S steps."""
    task_losses = []
    for task, outer_batch in enumerate(outer_batches):
        params = theta
        for task_batches in inner_batches_per_step:
            params = inner_step(policy, params, task_batches[task], config.inner_lr, config.gamma, config.first_order)
        task_losses.append(inner_loss(policy, params, outer_batch, config.gamma))
    return torch.stack(task_losses).mean()


def train_maml(
    config: MAMLConfig = MAML_HOMEWORK,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
) -> tuple[MAMLPolicy, dict[str, list]]:
    """Meta-train a MAML policy on ``config.family``.

    Every iteration draws ``meta_batch_size`` tasks from the fixed meta-training set and makes one
    :func:`meta_step`. At the end, the held-out curve of :func:`maml_adaptation_curve` on
    ``config.eval_tasks`` meta-test tasks is stored in the history.

    Returns:
        (model, history): the trained :class:`MAMLPolicy` (on ``device``) and a dict of lists with keys
        ``iteration``, ``normalised_return`` (post-update return of the training batch),
        ``pre_adaptation_return`` (of the short pre-update episodes, divided by their length),
        ``meta_loss``, ``grad_norm``, ``wall_time``, and
        ``eval_adaptation_curve`` (mean normalised return after 0..3 steps on held-out tasks); with model
        selection also ``selection`` ((iteration, score) pairs) and ``selected_iteration``.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MAMLPolicy(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.meta_lr)
    train_tasks = meta_train_tasks(config.family, n=config.num_train_tasks)
    history: dict[str, list] = {"iteration": [], "wall_time": []}
    best, selection_tasks = BestWeights(), train_tasks[: config.selection_tasks]
    start = time.perf_counter()
    bar = tqdm(range(config.num_iterations), desc=f"MAML ({config.family})", disable=not progress)
    for iteration in bar:
        task_ids = rng.choice(len(train_tasks), size=config.meta_batch_size, replace=False)
        tasks = [train_tasks[i] for i in task_ids]
        stats = meta_step(model, optimizer, tasks, config, seed=int(rng.integers(2**31 - 1)))
        history["iteration"].append(iteration)
        history["wall_time"].append(time.perf_counter() - start)
        for key, value in stats.items():
            history.setdefault(key, []).append(value)
        bar.set_postfix(post_return=f"{stats['normalised_return']:.2f}")
        if should_evaluate(iteration, config.num_iterations, config.eval_every):
            curve = maml_adaptation_curve(model, selection_tasks, num_units=1, seed=SELECTION_SEED, device=device)
            best.update(model, curve[:, 1].mean(), iteration)
    if best.iteration is not None:
        best.restore(model)
        history["selection"], history["selected_iteration"] = best.scores, best.iteration
    if config.eval_tasks > 0:
        eval_tasks = meta_test_tasks(config.family, n=config.eval_tasks)
        curve = maml_adaptation_curve(model, eval_tasks, seed=seed, device=device)
        history["eval_adaptation_curve"] = curve.mean(axis=0).tolist()
    return model, history


# --------------------------------------------------------------------------------------------------
# Few-shot evaluation and checkpoints
# --------------------------------------------------------------------------------------------------
def maml_adaptation_curve(
    model: MAMLPolicy,
    tasks: Sequence[Task],
    num_units: int = 3,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    eval_episodes: int = 10,
) -> np.ndarray:
    """Normalised return on each task after 0, 1, ..., ``num_units`` inner steps.

    Entry [k, j] is the mean normalised return of ``eval_episodes`` episodes of length 200 (stochastic
    policy) on ``tasks[k]`` with the parameters after j :func:`adapt` steps, using the model's
    ``inner_lr``, ``inner_episodes`` and ``inner_episode_length``. The j-step adaptation uses the
    same samples as the (j-1)-step one, plus one more step, so a row is one adaptation trajectory.

    Returns:
        float array [len(tasks), num_units + 1].
    """
    model = model.to(device)
    config = model.config
    theta = param_dict(model.policy)
    tasks = list(tasks)
    curve = np.zeros((len(tasks), num_units + 1))
    for num_steps in range(num_units + 1):
        adapted = adapt(
            model.policy,
            theta,
            tasks,
            num_steps,
            config.inner_lr,
            config.gamma,
            config.inner_episodes,
            config.inner_episode_length,
            seed=seed,
        )
        batch = sample_rollouts(
            per_task_feedforward(model.policy, adapted, eval_episodes),
            tasks,
            eval_episodes,
            episode_length=200,
            seed=seed + 1000 + num_steps,
        )
        curve[:, num_steps] = batch.normalised_returns().mean(dim=1).cpu().numpy()
    return curve


def save_maml(model: MAMLPolicy, path: str) -> None:
    """Save the meta-parameters and the config (a small file)."""
    torch.save({"config": dataclasses.asdict(model.config), "state_dict": model.state_dict()}, path)


def load_maml(path: str, device: Union[str, torch.device] = "cpu") -> MAMLPolicy:
    """Load a :class:`MAMLPolicy` saved by :func:`save_maml`."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    values = checkpoint["config"]
    values["hidden_sizes"] = tuple(values["hidden_sizes"])
    model = MAMLPolicy(MAMLConfig(**values)).to(device)
    model.load_state_dict(checkpoint["state_dict"])
    return model


# --------------------------------------------------------------------------------------------------
# The course draft's API: PolicyNetwork and MAMLAgent, built on the functions above
# --------------------------------------------------------------------------------------------------
class PolicyNetwork(nn.Module):
    """Policy network for MAML (the course draft's): a policy MLP and a value MLP, both with ReLU.

    ``policy``: ``state [..., state_dim] -> logits [..., action_dim]`` (the part MAML adapts);
    ``value``: ``state -> V [..., 1]`` (kept from the draft; this MAML's REINFORCE loss uses a
    per-time-step mean-return baseline instead, so the value head is not trained).
    """

    def __init__(self, state_dim: int, action_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.policy = nn.Sequential(
            nn.Linear(state_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, action_dim),
        )
        self.value = nn.Sequential(
            nn.Linear(state_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """Policy logits [..., action_dim] and value [..., 1]."""
        return self.policy(state), self.value(state)

    def get_action(self, state: Tensor, deterministic: bool = False) -> tuple[Tensor, Tensor]:
        """An action long [B] (argmax, or sampled from softmax(logits)) and the value [B, 1], for states [B, D]."""
        policy_logits, value = self.forward(state)
        if deterministic:
            action = torch.argmax(policy_logits, dim=-1)
        else:
            action = torch.multinomial(torch.softmax(policy_logits, dim=-1), 1).squeeze(-1)
        return action, value

    def log_prob(self, state: Tensor, action: Tensor) -> Tensor:
        """log pi(a | s) [B] for states [B, state_dim] and actions long [B]."""
        log_probs = torch.log_softmax(self.policy(state), dim=-1)
        return log_probs.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)


class MAMLAgent:
    """MAML agent for meta-learning in RL (the course draft's API, without the draft's bugs).

    * ``meta_update(tasks)`` is :func:`meta_step`: the adapted parameters are tensors computed from
      ``meta_network``'s (never written into a module with ``.data``), so the meta-gradient flows
      through the inner step(s) into ``meta_network``;
    * ``adapt_to_task(task, k)`` runs :func:`adapt`: k explicit inner steps
      theta <- theta - inner_lr * grad, the same update as meta-training (no optimiser is built).

    Tasks are ``ParameterizedCartPoleEnv``s (from ``TaskDistribution.sample_tasks``) or ``Task``
    values; all episodes are sampled in parallel on the batched environment.

    Args (the draft's): state_dim, action_dim, meta_lr (beta, Adam), inner_lr (alpha), inner_steps (S
        inner steps per task in ``meta_update``), hidden_dim. Keyword-only: gamma, episode counts
        (the draft's 3 pre-update, 2 post-update and 2 per adaptation step, of up to 200 steps) and
        seed (of the episode sampling; ``None`` draws one).
    """

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        meta_lr: float = 0.001,
        inner_lr: float = 0.01,
        inner_steps: int = 1,
        hidden_dim: int = 64,
        *,
        gamma: float = 0.99,
        inner_episodes: int = 3,
        outer_episodes: int = 2,
        adaptation_episodes: int = 2,
        max_steps: int = 200,
        seed: Union[int, None] = None,
    ) -> None:
        self.state_dim, self.action_dim = state_dim, action_dim
        self.meta_lr, self.inner_lr, self.inner_steps = meta_lr, inner_lr, inner_steps
        self.adaptation_episodes = adaptation_episodes
        self.config = dataclasses.replace(
            MAML_HOMEWORK,
            hidden_sizes=(hidden_dim, hidden_dim),
            meta_batch_size=4,
            inner_episodes=inner_episodes,
            inner_episode_length=max_steps,
            outer_episodes=outer_episodes,
            outer_episode_length=max_steps,
            inner_steps=inner_steps,
            inner_lr=inner_lr,
            meta_lr=meta_lr,
            gamma=gamma,
        )
        self.meta_network = PolicyNetwork(state_dim, action_dim, hidden_dim)
        self.meta_optimizer = torch.optim.Adam(self.meta_network.parameters(), lr=meta_lr)
        self.rng = np.random.default_rng(seed)

    def _seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    def collect_trajectories(self, env, network: PolicyNetwork, num_episodes: int = 5, max_steps: int = 200) -> list:
        """Episodes of ``network`` on the task of ``env``: a list of dicts of lists (the draft's format)
        ``states``, ``actions``, ``rewards``, ``values``, ``log_probs`` (valid steps only)."""
        batch = sample_rollouts(feedforward(network.policy), [env], num_episodes, max_steps, seed=self._seed())
        trajectories = []
        for episode in range(num_episodes):
            valid = batch.masks[0, episode] > 0
            states = batch.observations[0, episode][valid]
            with torch.no_grad():
                values = network.value(states).squeeze(-1)
            trajectories.append({
                "states": states.numpy().tolist(),
                "actions": batch.actions[0, episode][valid].tolist(),
                "rewards": batch.rewards[0, episode][valid].tolist(),
                "values": values.tolist(),
                "log_probs": batch.log_probs[0, episode][valid].tolist(),
            })
        return trajectories

    def compute_returns(self, rewards: Sequence[float], gamma: float = 0.99) -> list[float]:
        """Discounted returns-to-go G_t = r_t + gamma G_{t+1} of one episode's rewards (``discounted_returns``)."""
        rewards = torch.as_tensor(list(rewards), dtype=torch.float32)
        dones = torch.zeros_like(rewards)
        if len(dones):
            dones[-1] = 1.0
        return discounted_returns(rewards, dones, gamma).tolist()

    def meta_update(self, tasks: Sequence, num_tasks: int = 4) -> float:
        """One meta-update on the first ``num_tasks`` tasks (:func:`meta_step`); returns the meta-loss."""
        tasks = [as_task(task) for task in list(tasks)[:num_tasks]]
        return meta_step(self.meta_network, self.meta_optimizer, tasks, self.config, self._seed())["meta_loss"]

    def adapt_to_task(self, task, num_adaptation_steps: int = 5) -> PolicyNetwork:
        """A copy of ``meta_network`` whose policy took ``num_adaptation_steps`` inner steps on ``task``
        (:func:`adapt`, ``adaptation_episodes`` fresh episodes per step)."""
        config = self.config
        adapted = adapt(
            self.meta_network.policy, param_dict(self.meta_network.policy), [as_task(task)], num_adaptation_steps,
            config.inner_lr, config.gamma, self.adaptation_episodes, config.inner_episode_length, seed=self._seed(),
        )[0]
        network = PolicyNetwork(self.state_dim, self.action_dim, config.hidden_sizes[0])
        network.load_state_dict(self.meta_network.state_dict())
        with torch.no_grad():  # an evaluation copy: no meta-gradient is needed through it
            for name, value in adapted.items():
                network.policy.get_parameter(name).copy_(value)
        return network
