"""The hidden training-behaviour checks, measured over many reference training seeds.

Each ``*_training`` grader trains the reference loop with the student's functions at seed 0 and tests
one statistic of what the method is for against a threshold:

* MAML: one adaptation step raises the trained policy's return on held-out flip tasks
  (:func:`maml_adaptation_gain`);
* RL²: the trained policy balances the held-out flip tasks of *both* action signs, which no policy
  that ignores its history can (:func:`rl2_sign_returns`: the return on the weaker sign);
* PEARL: z inferred from a task's own episode beats z inferred from another task's episode
  (:func:`pearl_context_benefit`).

A correct implementation that differs from the reference in floating-point detail follows a
different training trajectory, much as another seed does. This script trains the reference at seeds
0..N-1 and prints each statistic's distribution beside its threshold: the thresholds are set so that
a normal fit to the distribution puts less than 1% below them. It also prints the statistic of an
untrained model, which must fail.

Usage: ``python benchmarks/training_checks.py [--seeds 20] [--methods maml,rl2,pearl] [--threads 1]``
(about 6 minutes for 20 seeds on one CPU thread).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "autograder")]  # ``solutions`` and the graders are not installed

from hw11_grading import maml_graders, pearl_graders, rl2_graders  # noqa: E402

from solutions import maml, pearl, rl2  # noqa: E402


def maml_statistic(seed: int, trained: bool = True) -> float:
    config = maml_graders.MAML_GRADING_CONFIG
    if trained:
        model, _ = maml.train_maml(config, seed=seed, progress=False)
    else:
        torch.manual_seed(seed)
        model = maml.MAMLPolicy(config)
    before, after = maml_graders.maml_adaptation_gain(model)
    return after - before


def rl2_statistic(seed: int, trained: bool = True) -> float:
    config = rl2_graders.RL2_GRADING_CONFIG
    if trained:
        model, _ = rl2.train_rl2(config, rl2_graders.RL2_GRADING_FAMILY, seed=seed, progress=False)
    else:
        torch.manual_seed(seed)
        model = rl2.make_rl2_core(config.hidden_size)
    return min(rl2_graders.rl2_sign_returns(model))


def pearl_statistic(seed: int, trained: bool = True) -> float:
    config = pearl_graders.PEARL_GRADING_CONFIG
    if trained:
        model, _ = pearl.train_pearl(config, pearl_graders.PEARL_GRADING_FAMILY, seed=seed, progress=False)
    else:
        torch.manual_seed(seed)
        model = pearl.PEARLAgent(config)
    own, other = pearl_graders.pearl_context_benefit(model)
    return own - other


CHECKS = {
    "maml": ("adaptation gain (after - before one step)", maml_statistic, maml_graders.MAML_MIN_ADAPTATION_GAIN),
    "rl2": ("return on the weaker action sign", rl2_statistic, rl2_graders.RL2_MIN_WEAKER_SIGN_RETURN),
    "pearl": ("own - other task's context", pearl_statistic, pearl_graders.PEARL_MIN_CONTEXT_BENEFIT),
}


def normal_tail(threshold: float, mean: float, sd: float) -> float:
    """P(X < threshold) for X ~ N(mean, sd^2)."""
    return 0.5 * math.erfc((mean - threshold) / (sd * math.sqrt(2.0))) if sd > 0 else float(threshold > mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="reference training seeds 0..N-1")
    parser.add_argument("--methods", default="maml,rl2,pearl")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (notebook: HW11_TORCH_THREADS, else torch's default)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.seeds} reference seeds, {args.threads} torch thread(s)")
    for method in args.methods.split(","):
        label, statistic, threshold = CHECKS[method]
        start = time.perf_counter()
        values = np.array([statistic(seed) for seed in tqdm(range(args.seeds), desc=method)])
        seconds = (time.perf_counter() - start) / args.seeds
        untrained = statistic(0, trained=False)
        mean, sd = values.mean(), values.std(ddof=1)
        print(f"\n{method}: {label}, {args.seeds} reference seeds ({seconds:.1f} s per training run)")
        print("  values: " + " ".join(f"{v:.3f}" for v in values))
        print(f"  min {values.min():.3f}  1st percentile {np.percentile(values, 1):.3f}  mean {mean:.3f}  sd {sd:.3f}")
        failing = int((values < threshold).sum())
        print(
            f"  threshold {threshold}: {failing}/{args.seeds} seeds below it; normal fit P(below) = "
            f"{normal_tail(threshold, mean, sd):.2%} ({(mean - threshold) / sd:.1f} sd below the mean)"
        )
        verdict = "fails, as it must" if untrained < threshold else "PASSES: the check cannot tell"
        print(f"  untrained model: {untrained:.3f} ({verdict})")


if __name__ == "__main__":
    main()
