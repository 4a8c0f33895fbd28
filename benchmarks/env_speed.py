"""How much faster is the batched environment than stepping environments one at a time?

Two comparisons, measured in the same run (best of ``--repeats`` timings each, to damp the noise
of a shared machine):

1. Environment only, random actions: ``BatchedCartPole`` with N = 256 environments against
   gymnasium's ``CartPole-v1`` (``gym.make``, so with its standard wrappers) stepped one at a
   time and reset when an episode ends. Target: >= 30x.
2. Policy in the loop: ``sample_rollouts`` over 100 environments with an MLP policy (64, 64)
   against the course draft's loop: one ``ParameterizedCartPoleEnv``, one torch forward and one
   categorical sample per step. Target: >= 20x. Measured for a policy that balances (every
   episode lasts 200 steps; the target applies here) and, for information, for the untrained MLP
   (episodes of ~20 steps).

Counting: a batched step advances every one of its N environments, fallen ones included (they are
frozen but still computed), so it counts N env-steps ("slots"); the ``alive`` column counts only
steps taken while the pole was up, the experience a learner actually gets.

Usage: ``python benchmarks/env_speed.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from hw11_utils.batched_env import BatchedCartPole
from hw11_utils.controllers import agnostic_controller
from hw11_utils.envs import ParameterizedCartPoleEnv
from hw11_utils.networks import MLP
from hw11_utils.rollouts import feedforward, sample_rollouts
from hw11_utils.tasks import Task, meta_test_tasks

ENV_TARGET = 30.0
POLICY_TARGET = 20.0


def best_of(repeats: int, fn) -> tuple[float, int, int]:
    """Run ``fn() -> (slot_steps, alive_steps)`` ``repeats`` times; return (best seconds, slots, alive)."""
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        slots, alive = fn()
        elapsed = time.perf_counter() - start
        if best is None or elapsed < best[0]:
            best = (elapsed, slots, alive)
    return best


def batched_random(num_envs: int = 256, episode_length: int = 200, episodes: int = 10):
    env = BatchedCartPole([Task()] * num_envs, episode_length=episode_length, seed=0)
    rng = np.random.default_rng(0)
    alive_steps = 0
    for _ in range(episodes):
        env.reset()
        for _ in range(episode_length):
            _, _, _, info = env.step(rng.integers(0, 2, size=num_envs))
            alive_steps += int(info["alive"].sum() + info["terminated"].sum())
    return num_envs * episode_length * episodes, alive_steps


def gym_random(num_steps: int = 20_000):
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(num_steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(0, 2)))
        if terminated or truncated:
            env.reset()
    env.close()
    return num_steps, num_steps


def balancing_mlp(seed: int = 0) -> nn.Module:
    """An MLP (64, 64) that imitates the nominal LQR controller (a few seconds of behaviour cloning)."""
    torch.manual_seed(seed)
    policy = MLP(4, 2, (64, 64))
    states = torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, size=(8192, 4)).astype(np.float32))
    states *= torch.tensor([1.0, 1.0, 0.2, 1.0])
    targets = torch.from_numpy(agnostic_controller().act(states.numpy()))
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(600):
        loss = nn.functional.cross_entropy(policy(states), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return policy


def batched_policy(policy: nn.Module, num_envs: int = 100):
    tasks = meta_test_tasks("pole_length", n=num_envs)
    batch = sample_rollouts(feedforward(policy), tasks, 1, episode_length=200, seed=0)
    return num_envs * 200, int(batch.masks.sum())


def loop_policy(policy: nn.Module, min_steps: int = 4000):
    """The course draft: one environment, one forward and one sample per step, episodes until done."""
    tasks = meta_test_tasks("pole_length", n=1000)
    steps = 0
    for episode, task in enumerate(tasks):
        env = ParameterizedCartPoleEnv(task)
        obs, _ = env.reset(seed=episode)
        for _ in range(200):
            with torch.no_grad():
                logits = policy(torch.as_tensor(obs).unsqueeze(0))
            action = torch.distributions.Categorical(logits=logits).sample().item()
            obs, _, terminated, _, _ = env.step(action)
            steps += 1
            if terminated:
                break
        if steps >= min_steps:
            break
    return steps, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    untrained = MLP(4, 2, (64, 64), output_gain=0.01)
    balancing = balancing_mlp()

    rows = []  # (comparison, name, seconds, slots, alive)
    for name, fn in [("BatchedCartPole N=256, random", batched_random),
                     ("gymnasium CartPole-v1, one at a time", gym_random)]:
        rows.append(("env", name, *best_of(args.repeats, fn)))
    for label, policy in [("balancing MLP", balancing), ("untrained MLP", untrained)]:
        rows.append((label, "sample_rollouts, 100 envs", *best_of(args.repeats, lambda p=policy: batched_policy(p))))
        rows.append((label, "loop: 1 env + forward/step", *best_of(args.repeats, lambda p=policy: loop_policy(p))))

    print(f"{'comparison':<14} {'method':<38} {'seconds':>8} {'slot steps/s':>13} {'alive steps/s':>14}")
    for comparison, name, seconds, slots, alive in rows:
        print(f"{comparison:<14} {name:<38} {seconds:8.3f} {slots / seconds:13,.0f} {alive / seconds:14,.0f}")
    print()

    def rate(row, column):
        return row[3 + column] / row[2]

    checks = [
        ("env only, random actions (slot steps/s)", rate(rows[0], 0) / rate(rows[1], 0), ENV_TARGET),
        ("policy in the loop, balancing MLP (env-steps/s)", rate(rows[2], 0) / rate(rows[3], 0), POLICY_TARGET),
    ]
    info = [
        ("env only, random actions (alive steps/s)", rate(rows[0], 1) / rate(rows[1], 1)),
        ("policy in the loop, untrained MLP (alive steps/s)", rate(rows[4], 1) / rate(rows[5], 1)),
        ("policy in the loop, untrained MLP (slot steps/s)", rate(rows[4], 0) / rate(rows[5], 0)),
    ]
    for label, ratio, target in checks:
        print(f"{label:<52} ratio {ratio:7.1f}x  target >= {target:.0f}x  {'PASS' if ratio >= target else 'FAIL'}")
    for label, ratio in info:
        print(f"{label:<52} ratio {ratio:7.1f}x  (for information)")


if __name__ == "__main__":
    main()
