"""Score the reference policies (random, task-agnostic LQR, oracle) on held-out tasks of every family.

For each family: ``meta_test_tasks(family)`` (200 tasks), ``--episodes`` episodes of length 200 per
task, normalised return averaged over a task's episodes; the table shows the mean over tasks and the
half-width of its 95% t-interval.

Expected: on ``flip`` the agnostic controller gets ~0.5 (it balances the tasks whose sign is +1) and
the oracle ~1.0; on ``target`` the agnostic ~0.5 (it stays at x = 0) and the oracle >= 0.7; on the
four physics families both are near 1.0 (one robust controller solves them all).

Usage: ``python benchmarks/reference_policies.py [--episodes 4] [--save]``
(``--save`` writes ``outputs/reference_policies.csv`` and ``.png``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from hw11_utils.controllers import CONTROLLERS
from hw11_utils.evaluation import print_table, score_reference_policies, summary_table
from hw11_utils.tasks import FAMILIES

OUTPUT_DIR = Path(__file__).resolve().parent.parent / "outputs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4, help="episodes per task")
    parser.add_argument("--tasks", type=int, default=200, help="held-out tasks per family")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true", help="write outputs/reference_policies.{csv,png}")
    args = parser.parse_args()
    torch.set_num_threads(1)

    start = time.perf_counter()
    scores = score_reference_policies(num_tasks=args.tasks, episodes=args.episodes, seed=args.seed)
    groups = {key: group["normalised_return"].to_numpy() for key, group in scores.groupby(["family", "policy"])}
    table = summary_table(groups, key_names=("family", "policy"))
    table["family"] = pd.Categorical(table["family"], FAMILIES, ordered=True)
    table["policy"] = pd.Categorical(table["policy"], CONTROLLERS, ordered=True)
    table = table.sort_values(["policy", "family"])
    print_table(
        table,
        title=f"Normalised return on {args.tasks} held-out tasks per family, {args.episodes} episodes each "
        "(mean ± 95% CI over tasks)",
        index="policy",
        columns="family",
    )
    successes = {key: group["success_rate"].to_numpy() for key, group in scores.groupby(["family", "policy"])}
    success_table = summary_table(successes, key_names=("family", "policy"))
    success_table["family"] = pd.Categorical(success_table["family"], FAMILIES, ordered=True)
    success_table["policy"] = pd.Categorical(success_table["policy"], CONTROLLERS, ordered=True)
    print_table(
        success_table.sort_values(["policy", "family"]),
        title="\nSuccess rate (the draft's success_threshold: return >= 195 in units of reward_scale; mean ± 95% CI)",
        index="policy",
        columns="family",
    )
    print(f"({time.perf_counter() - start:.1f} s)")
    if args.save:
        from hw11_utils.plots import plot_reference_policies

        OUTPUT_DIR.mkdir(exist_ok=True)
        scores.to_csv(OUTPUT_DIR / "reference_policies.csv", index=False)
        plot_reference_policies(scores, save_path=OUTPUT_DIR / "reference_policies.png")
        print(f"saved {OUTPUT_DIR / 'reference_policies.csv'} and .png")


if __name__ == "__main__":
    main()
