"""Plots for the notebook (seaborn): learning curves, adaptation curves, reference policies, frames.

Every function returns the matplotlib ``Figure`` and saves it when given ``save_path``. Bands are
95% confidence intervals, and every title says so: across seeds for learning curves, and as
computed by :func:`~hw11_utils.evaluation.few_shot_table` for adaptation curves. Every line stays
visible (its own colour, line style and marker; a small offset where lines may coincide) and the
legend sits outside the axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hw11_utils.evaluation import few_shot_table, student_t_quantile

PathLike = Union[str, Path, None]
History = Mapping[str, Sequence[float]]


CI_NOTE = "mean ± 95% CI"

# One look per method, so that the same method looks the same in every figure. Lines that may
# coincide (task-agnostic and fine-tuning, oracle and a method that reaches it) differ in colour,
# line style and marker, and are drawn with a small horizontal offset.
METHOD_STYLES: dict[str, dict[str, Any]] = {
    "task-agnostic": dict(color="#7f7f7f", linestyle="-", marker="s"),
    "fine-tuning": dict(color="#8c564b", linestyle="--", marker="v"),
    "oracle": dict(color="#000000", linestyle=":", marker="*"),
    "MAML": dict(color="#1f77b4", linestyle="-", marker="o"),
    "RL²": dict(color="#ff7f0e", linestyle="-.", marker="D"),
    "PEARL": dict(color="#2ca02c", linestyle=(0, (5, 1)), marker="^"),
}
_EXTRA_STYLES = [dict(color=c, linestyle=s, marker=m) for c, s, m in zip(
    ["#9467bd", "#d62728", "#e377c2", "#17becf", "#bcbd22"], ["-", "--", "-.", ":", "-"], ["P", "X", "h", "<", ">"])]


def method_style(name: str, index: int = 0) -> dict[str, Any]:
    """Colour, line style and marker of a method (a fixed look for the course's methods)."""
    for known, style in METHOD_STYLES.items():
        if name == known or name.startswith(known):
            return dict(style)
    return dict(_EXTRA_STYLES[index % len(_EXTRA_STYLES)])


def with_ci_note(title: str, note: str = CI_NOTE) -> str:
    """``title`` with ``(mean ± 95% CI ...)`` appended, unless it already says so."""
    return title if "CI" in title else f"{title} ({note})"


def _legend_outside(ax: Any, title: str) -> None:
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


def _finish(fig: Figure, save_path: PathLike) -> Figure:
    fig.tight_layout()
    if save_path is not None:
        Path(save_path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save_path, dpi=120, bbox_inches="tight")
    return fig


def plot_learning_curves(
    histories: Mapping[str, Union[History, Sequence[History]]],
    x: str = "iteration",
    y: str = "normalised_return",
    title: Optional[str] = None,
    save_path: PathLike = None,
) -> Figure:
    """Learning curves of several methods, with a 95% CI band across seeds (no band for one seed).

    Args:
        histories: method name -> a training history (dict of lists, as returned by ``train``) or a
            list of them (one per seed).
        x, y: the history keys plotted on the horizontal and vertical axes.
        title: figure title; the caption of the band is appended.
        save_path: where to save the figure (``None``: do not save).
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    num_seeds = 1
    for index, (name, runs) in enumerate(histories.items()):
        runs = [runs] if isinstance(runs, Mapping) else list(runs)
        num_seeds = max(num_seeds, len(runs))
        frames = []
        for seed, history in enumerate(runs):
            if x not in history or y not in history:
                raise KeyError(f"history of {name!r} needs keys {x!r} and {y!r}; it has {sorted(history)}")
            frames.append(pd.DataFrame({x: history[x], y: history[y], "seed": seed}))
        data = pd.concat(frames, ignore_index=True)
        style = method_style(name, index)
        stats = data.groupby(x)[y].agg(["mean", "std", "count"]).reset_index()
        marker_every = max(1, len(stats) // 12)
        ax.plot(stats[x], stats["mean"], label=name, color=style["color"], linestyle=style["linestyle"],
                marker=style["marker"], markevery=marker_every, markersize=5)
        if len(runs) >= 2:
            quantile = np.array([student_t_quantile(0.975, max(int(n) - 1, 1)) for n in stats["count"]])
            half_width = quantile * stats["std"].fillna(0.0) / np.sqrt(stats["count"])
            ax.fill_between(stats[x], stats["mean"] - half_width, stats["mean"] + half_width,
                            color=style["color"], alpha=0.15, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    if y == "normalised_return":
        ax.set_ylim(-0.02, 1.02)
    note = f"{CI_NOTE} across {num_seeds} seeds" if num_seeds >= 2 else "one seed, no band"
    ax.set_title(with_ci_note(title or "Learning curves", note))
    _legend_outside(ax, "method")
    return _finish(fig, save_path)


def plot_adaptation_curves(
    table_or_curves: Union[pd.DataFrame, Mapping[str, Any]],
    unit_label: str = "adaptation units (gradient steps or episodes)",
    title: Optional[str] = None,
    save_path: PathLike = None,
    offset: float = 0.06,
) -> Figure:
    """Normalised return after 0, 1, ... adaptation units per method, with 95% confidence bands.

    Every method has its own colour, line style and marker, and is shifted sideways by a small
    ``offset`` (in units), so that two methods with the same numbers are both visible. The legend
    sits to the right of the axes, off the data. When the table has an ``env_steps`` column
    (``few_shot_table(..., steps_per_unit=...)``), the horizontal axis is the env steps of new-task
    experience, the common measure of every method, and methods that do not adapt (0 steps per unit)
    are drawn as horizontal reference lines across it.

    Args:
        table_or_curves: a :func:`~hw11_utils.evaluation.few_shot_table` DataFrame, or the dict of
            curves it takes (name -> float [seeds, tasks, units + 1]).
        unit_label: label of the horizontal axis.
        title: figure title; "(mean ± 95% CI)" is appended.
        save_path: where to save the figure.
        offset: horizontal distance between neighbouring methods (0: no offset).
    """
    table = table_or_curves if isinstance(table_or_curves, pd.DataFrame) else few_shot_table(table_or_curves)
    fig, ax = plt.subplots(figsize=(8, 4))
    groups = list(table.groupby("method", sort=False))
    by_steps = "env_steps" in table.columns
    if by_steps:
        span = float(table["env_steps"].max()) or 1.0
        offset *= span / max(1, int(table["unit"].max()))
        if unit_label == "adaptation units (gradient steps or episodes)":
            unit_label = "env steps of experience in the new task"
    for index, (name, rows) in enumerate(groups):
        style = method_style(name, index)
        shift = (index - (len(groups) - 1) / 2) * offset
        if by_steps and rows["env_steps"].max() == 0:  # does not adapt: a reference line across the axis
            rows = pd.concat([rows.iloc[:1]] * 2).assign(env_steps=[0.0, span])
        x = rows["env_steps"] if by_steps else rows["unit"]
        units = x.to_numpy(dtype=float) + shift
        ax.fill_between(units, rows["lower"], rows["upper"], color=style["color"], alpha=0.12, linewidth=0)
        ax.errorbar(units, rows["mean"], yerr=rows["ci"], color=style["color"], linestyle=style["linestyle"],
                    marker=style["marker"], markersize=6, capsize=3, linewidth=1.8, label=name,
                    zorder=3 + index)
    if not by_steps:
        ax.set_xticks(sorted(table["unit"].unique()))
    ax.set_xlabel(unit_label)
    ax.set_ylabel("normalised return")
    ax.set_ylim(-0.02, 1.05)
    _legend_outside(ax, "method")
    ax.set_title(with_ci_note(title or "Few-shot adaptation on held-out tasks"))
    return _finish(fig, save_path)


def plot_reference_policies(
    df: pd.DataFrame, title: Optional[str] = None, save_path: PathLike = None
) -> Figure:
    """Bar chart of the reference policies' normalised return per family, with 95% CI error bars.

    Args:
        df: long format, one row per (family, policy, task) with columns ``family``, ``policy`` and
            ``normalised_return`` (as written by ``benchmarks/reference_policies.py``).
        title: figure title.
        save_path: where to save the figure.
    """
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.barplot(data=df, x="family", y="normalised_return", hue="policy", errorbar=("ci", 95), ax=ax)
    ax.set_xlabel("task family")
    ax.set_ylabel("normalised return")
    ax.set_ylim(0.0, 1.05)
    ax.legend(title="policy", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(with_ci_note(title or "Reference policies on held-out tasks"))
    return _finish(fig, save_path)


def show_frames(
    frames: Sequence[np.ndarray],
    titles: Optional[Sequence[str]] = None,
    num_columns: int = 4,
    save_path: PathLike = None,
) -> Figure:
    """Show RGB frames (uint8 [H, W, 3]) in a grid."""
    if len(frames) == 0:
        raise ValueError("show_frames needs at least one frame")
    num_columns = min(num_columns, len(frames))
    num_rows = -(-len(frames) // num_columns)
    fig, axes = plt.subplots(num_rows, num_columns, figsize=(3 * num_columns, 2.1 * num_rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(frames):
            ax.imshow(frames[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    return _finish(fig, save_path)


def animate_frames(frames: Sequence[np.ndarray], fps: int = 50, title: Optional[str] = None) -> Any:
    """RGB frames as an HTML animation (the player of :mod:`hw11_utils.animation`: the first frame, a
    slider and play/pause); display it in a notebook with ``IPython.display``.

    Returns:
        an ``IPython.display.HTML`` object if IPython is installed, else the HTML string.
    """
    from hw11_utils.animation import as_html, frames_player_html

    return as_html(frames_player_html(frames, fps=fps, title=title))


def rollout_frames(policy: Any, task: Any, num_steps: int = 200, seed: int = 0, every: int = 1) -> list[np.ndarray]:
    """Render one episode of a policy on one task: a list of uint8 [400, 600, 3] frames.

    Args:
        policy: a :data:`~hw11_utils.rollouts.PolicyFn` (called with N = 1; the greedy action is
            taken) or a controller with ``act(obs [1, 4]) -> actions [1]``.
        task: a :class:`~hw11_utils.tasks.Task`.
        num_steps: steps at most (the episode stops when the pole falls).
        seed: seeds the initial state.
        every: keep one frame out of ``every``.
    """
    import torch

    from hw11_utils.envs import ParameterizedCartPoleEnv
    from hw11_utils.rollouts import StepInput

    env = ParameterizedCartPoleEnv(task, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    frames, state = [env.render()], None
    prev_action, prev_reward = torch.zeros(1, dtype=torch.long), torch.zeros(1)
    for t in range(num_steps):
        if hasattr(policy, "act"):
            action = int(policy.act(obs[None])[0])
        else:
            step = StepInput(torch.from_numpy(obs)[None], prev_action, prev_reward, torch.zeros(1), 0, state)
            with torch.no_grad():
                logits, state = policy(step)
            action = int(logits.argmax(dim=-1)[0])
        obs, reward, terminated, _, _ = env.step(action)
        prev_action, prev_reward = torch.tensor([action]), torch.tensor([reward], dtype=torch.float32)
        if (t + 1) % every == 0 or terminated:
            frames.append(env.render())
        if terminated:
            break
    return frames
