"""Evaluation: normalised returns, means with 95% confidence intervals, and the few-shot protocol.

The few-shot protocol (see ``docs/ARCHITECTURE.md``): every algorithm module has
``adaptation_curve(model, tasks, num_units=3, seed=0) -> [len(tasks), num_units + 1]``, the
normalised return on each held-out task after 0..num_units adaptation units. A unit is one
episode's worth (at most 200 env steps) of experience in the new task for every method: one MAML
inner step on 4 episodes of 50 steps, one fine-tuning step on one episode, or one episode of RL² or
PEARL context. Run it for a few training seeds, stack the curves into
``[seeds, tasks, units + 1]`` arrays, and :func:`few_shot_table` turns a dict of them into a table
of means and confidence intervals per unit; :func:`format_table` prints it.

Confidence intervals are Student-t intervals, ``mean +- t_{(1+c)/2, n-1} * s / sqrt(n)``, with the
sample standard deviation ``s`` (ddof = 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from hw11_utils.rollouts import PolicyFn, sample_rollouts
from hw11_utils.tasks import FAMILIES, Task, meta_test_tasks

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[float]]


def normalised_return(returns: ArrayLike, episode_length: int = 200, reward_scale: ArrayLike = 1.0) -> np.ndarray:
    """Return divided by an upper bound of it: ``G / (episode_length * reward_scale)``, at most 1.

    Args:
        returns: undiscounted episode returns, any shape (numpy, torch or a list).
        episode_length: T, the number of steps of an episode.
        reward_scale: the task's ``reward_scale`` (no step pays more), a number or an array that
            broadcasts against ``returns``.

    Returns:
        float64 array of the shape of ``returns``.
    """
    scale = _as_numpy(reward_scale)
    if episode_length <= 0 or np.any(scale <= 0):
        raise ValueError(f"episode_length and reward_scale must be positive, got {episode_length}, {reward_scale}")
    return _as_numpy(returns) / (episode_length * scale)


def _as_numpy(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def student_t_quantile(probability: float, dof: int) -> float:
    """Quantile of Student's t distribution with ``dof`` degrees of freedom (numpy only, |error| < 1e-7).

    Integrates the density f(t) = Γ((ν+1)/2) / (√(νπ) Γ(ν/2)) (1 + t²/ν)^(-(ν+1)/2) with Simpson's
    rule after the substitution t = tan(φ) (which maps the real line to (-π/2, π/2)), then
    inverts the CDF by bisection.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    if dof < 1:
        raise ValueError(f"the t distribution needs dof >= 1, got {dof}")
    if probability < 0.5:
        return -student_t_quantile(1.0 - probability, dof)
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def cdf(t: float) -> float:
        phi = np.linspace(0.0, math.atan(t), 2001)  # Simpson on an even number of intervals
        integrand = np.exp(log_norm - (dof + 1) / 2 * np.log1p(np.tan(phi) ** 2 / dof)) / np.cos(phi) ** 2
        weights = np.ones_like(phi)
        weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
        return 0.5 + (phi[1] - phi[0]) / 3.0 * float(np.sum(weights * integrand))

    low, high = 0.0, 1.0
    while cdf(high) < probability:
        low, high = high, 2.0 * high
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return 0.5 * (low + high)


def mean_ci(values: ArrayLike, axis: Optional[int] = None, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of its Student-t confidence interval along ``axis``.

        half_width = t_{(1 + confidence) / 2, n - 1} * std(values, ddof=1) / sqrt(n)

    Args:
        values: samples (numpy, torch or a list); NaNs are not allowed.
        axis: the axis of the samples; ``None`` uses every entry.
        confidence: coverage of the interval, e.g. 0.95.

    Returns:
        ``(mean, half_width)``, arrays with ``axis`` removed (0-d for ``axis=None``). With a single
        sample the half-width is NaN (the interval is undefined).
    """
    values = _as_numpy(values)
    if axis is None:
        values, axis = values.reshape(-1), 0
    n = values.shape[axis]
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    sem = values.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean, student_t_quantile(0.5 + confidence / 2.0, n - 1) * sem


def score_policy(
    policy: PolicyFn,
    tasks: Sequence[Task],
    episodes: int = 1,
    seed: int = 0,
    episode_length: int = 200,
    greedy: bool = False,
) -> np.ndarray:
    """Normalised return of a policy on every task: float64 [len(tasks), episodes].

    Runs ``sample_rollouts(policy, tasks, episodes, episode_length, seed, greedy=greedy)`` (all
    episodes independent and in parallel; environment ``k * episodes + e`` runs ``tasks[k]``).
    """
    batch = sample_rollouts(policy, tasks, episodes, episode_length=episode_length, seed=seed, greedy=greedy)
    return _as_numpy(batch.normalised_returns())


def adaptation_gain(curves: ArrayLike, unit: int = -1) -> np.ndarray:
    """What adaptation bought: ``curve[..., unit] - curve[..., 0]`` (normalised-return points).

    Args:
        curves: float [..., units + 1] adaptation curves (e.g. [seeds, tasks, units + 1]).
        unit: the adaptation unit compared with zero-shot (default: the last).

    Returns:
        float64 [...] (the last axis removed).
    """
    curves = _as_numpy(curves)
    return curves[..., unit] - curves[..., 0]


def _as_seed_task_unit(curve: ArrayLike, name: str) -> np.ndarray:
    curve = _as_numpy(curve)
    if curve.ndim == 2:
        curve = curve[None]
    if curve.ndim != 3:
        raise ValueError(f"curves[{name!r}] must have shape [seeds, tasks, units + 1] (or [tasks, units + 1]), "
                         f"got {curve.shape}")
    return curve


def few_shot_table(
    curves: Mapping[str, ArrayLike],
    confidence: float = 0.95,
    steps_per_unit: Optional[Mapping[str, float]] = None,
) -> pd.DataFrame:
    """Mean and confidence interval of the normalised return per method and adaptation unit.

    The interval is over seeds (of each seed's mean over tasks) when there are 2 or more seeds,
    else over tasks; the column ``ci_over`` says which.

    Args:
        curves: method name -> adaptation curves float [seeds, tasks, units + 1] (or
            [tasks, units + 1] for one seed), as returned by ``adaptation_curve`` and stacked.
        confidence: coverage of the intervals.
        steps_per_unit: method name -> env steps of new-task experience one unit consumes (e.g. MAML:
            inner episodes x their length; RL²: 200; 0 for methods that do not adapt). When given,
            the table has an ``env_steps`` column (``unit * steps_per_unit``): the common axis on
            which methods are compared.

    Returns:
        A long-format DataFrame, one row per (method, unit), with columns ``method``, ``unit``,
        ``mean``, ``ci`` (half-width), ``lower``, ``upper``, ``gain`` (mean minus the unit-0 mean),
        ``seeds``, ``tasks``, ``ci_over`` (and ``env_steps``).
    """
    rows = []
    for name, curve in curves.items():
        curve = _as_seed_task_unit(curve, name)
        num_seeds, num_tasks, num_units = curve.shape
        samples = curve.mean(axis=1) if num_seeds >= 2 else curve[0]  # [samples, units + 1]
        mean, half_width = mean_ci(samples, axis=0, confidence=confidence)
        for unit in range(num_units):
            rows.append({
                "method": name,
                "unit": unit,
                "mean": float(mean[unit]),
                "ci": float(half_width[unit]),
                "lower": float(mean[unit] - half_width[unit]),
                "upper": float(mean[unit] + half_width[unit]),
                "gain": float(mean[unit] - mean[0]),
                "seeds": num_seeds,
                "tasks": num_tasks,
                "ci_over": "seeds" if num_seeds >= 2 else "tasks",
            })
            if steps_per_unit is not None:
                rows[-1]["env_steps"] = unit * float(steps_per_unit[name])
    return pd.DataFrame(rows)


def summary_table(
    values: Mapping[Any, ArrayLike], confidence: float = 0.95, key_names: Sequence[str] = ("name",)
) -> pd.DataFrame:
    """Mean and CI of each sample in a dict (e.g. (family, policy) -> normalised returns [tasks]).

    Args:
        values: key -> samples (any shape, flattened); tuple keys are split into ``key_names``.
        confidence: coverage of the intervals.
        key_names: column names of the key's parts.

    Returns:
        DataFrame with the key columns and ``mean``, ``ci``, ``n``.
    """
    rows = []
    for key, samples in values.items():
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) != len(key_names):
            raise ValueError(f"key {key!r} does not match key_names {tuple(key_names)}")
        mean, half_width = mean_ci(samples, confidence=confidence)
        rows.append({**dict(zip(key_names, parts)), "mean": float(mean), "ci": float(half_width),
                     "n": int(_as_numpy(samples).size)})
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, index: str = "method", columns: str = "unit", digits: int = 3) -> str:
    """A table of ``mean ± ci`` strings, ``index`` down and ``columns`` across, as text.

    Works on the output of :func:`few_shot_table` (methods x units) or of :func:`summary_table`
    (e.g. ``index="policy", columns="family"``).
    """
    cells = table.assign(cell=[
        f"{m:.{digits}f} ± {c:.{digits}f}" if np.isfinite(c) else f"{m:.{digits}f}"
        for m, c in zip(table["mean"], table["ci"])
    ])
    wide = cells.pivot(index=index, columns=columns, values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(table[index])), columns=list(dict.fromkeys(table[columns])))
    return wide.to_string()


def print_table(table: pd.DataFrame, title: Optional[str] = None, **kwargs: Any) -> None:
    """Print :func:`format_table` (with an optional title)."""
    if title:
        print(title)
    print(format_table(table, **kwargs))


def evaluate_curves(
    curve_fn: Any,
    models: Mapping[str, Sequence[Any]],
    tasks: Sequence[Task],
    num_units: int = 3,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Run an ``adaptation_curve`` for every method and seed: name -> float [seeds, tasks, units + 1].

    Args:
        curve_fn: ``name -> adaptation_curve`` function (a dict or a callable), e.g.
            ``{"MAML": maml.adaptation_curve, "RL²": rl2.adaptation_curve}``.
        models: name -> list of trained models (one per training seed).
        tasks: held-out tasks.
        num_units: adaptation units.
        seed: evaluation seed, passed to every ``adaptation_curve``. The held-out *tasks* are the same
            for every method (so curves can be paired by task), but the initial states and action
            noise are not: each method lays its environments out differently.
        progress: show a ``tqdm`` bar over (method, seed) pairs.
    """
    jobs = [(name, model) for name, seeds in models.items() for model in seeds]
    curves: dict[str, list[np.ndarray]] = {name: [] for name in models}
    for name, model in tqdm(jobs, desc="adaptation curves", disable=not progress):
        fn = curve_fn[name] if isinstance(curve_fn, Mapping) else curve_fn
        curves[name].append(_as_numpy(fn(model, tasks, num_units=num_units, seed=seed)))
    return {name: np.stack(values) for name, values in curves.items()}


def score_reference_policies(
    families: Sequence[str] = FAMILIES, num_tasks: int = 200, episodes: int = 4, seed: int = 0, progress: bool = True
) -> pd.DataFrame:
    """Score the reference controllers (random, task-agnostic LQR, oracle) on held-out tasks.

    Returns a long-format table, one row per (family, policy, task), with the task's mean
    normalised return and its success rate (the draft's ``success_threshold``: the fraction of
    episodes whose return reaches 195 in units of ``reward_scale``) over ``episodes`` episodes of
    ``meta_test_tasks(family, n=num_tasks)``.
    """
    from hw11_utils.controllers import CONTROLLERS, make_controller

    rows = []
    for family in tqdm(families, desc="reference policies", disable=not progress):
        tasks = meta_test_tasks(family, n=num_tasks)
        for policy in CONTROLLERS:
            controller = make_controller(policy, tasks, episodes_per_task=episodes, seed=seed)
            batch = sample_rollouts(controller, tasks, episodes, seed=seed)
            returns = _as_numpy(batch.normalised_returns()).mean(axis=1)
            successes = _as_numpy(batch.successes()).mean(axis=1)
            rows += [{"family": family, "policy": policy, "task": k, "normalised_return": float(r),
                      "success_rate": float(s)} for k, (r, s) in enumerate(zip(returns, successes))]
    return pd.DataFrame(rows)
