"""A picture of adaptation: episodes of CartPole before and after adaptation, side by side, as an animation.

The animation is HTML with JavaScript (matplotlib's ``to_jshtml``): it plays inline in Jupyter,
Colab and Kaggle and needs no ffmpeg or other system program. Frames come from
:func:`hw11_utils.rendering.render_cartpole`, drawn from the states that a rollout visited, so any
method whose rollouts are a :class:`~hw11_utils.rollouts.RolloutBatch` can be shown::

    rows = {"RL²": (episode_states(trial, episode=0), episode_states(trial, episode=1))}
    display(adaptation_animation(rows, task, title="flip task"))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import matplotlib.pyplot as plt
import numpy as np

from hw11_utils.rendering import render_cartpole
from hw11_utils.tasks import Task

COLUMNS = ("before adaptation", "after adaptation")


def episode_states(batch: Any, task_index: int = 0, episode: int = 0) -> np.ndarray:
    """The states one episode of a rollout batch visited: float [steps + 1, 4] (x, x_dot, theta, theta_dot).

    Inputs:
        batch: a :class:`~hw11_utils.rollouts.RolloutBatch` ([K, E, T, ...] tensors and ``masks``).
        task_index, episode: which episode (task k, episode e of that task).

    Returns:
        the observation of every step taken while alive, then the state after the last of them.
    """
    observations = np.asarray(batch.observations[task_index, episode].detach().cpu(), dtype=np.float64)
    next_observations = np.asarray(batch.next_observations[task_index, episode].detach().cpu(), dtype=np.float64)
    alive = np.asarray(batch.masks[task_index, episode].detach().cpu()) > 0
    steps = int(alive.sum())
    if steps == 0:
        return observations[:1]
    return np.concatenate([observations[:steps], next_observations[steps - 1 : steps]], axis=0)


def _frame(state: np.ndarray, task: Task, shrink: int) -> np.ndarray:
    return render_cartpole(state, task)[::shrink, ::shrink]


def adaptation_animation_html(
    rows: Mapping[str, Sequence[np.ndarray]],
    task: Task,
    title: str = "",
    every: int = 4,
    fps: int = 12,
    shrink: int = 2,
    episode_length: int = 200,
) -> str:
    """HTML/JS animation: one row per method, its episode before (left) and after (right) adaptation.

    Inputs:
        rows: method name -> (states before, states after), each float [steps + 1, 4] as returned by
            :func:`episode_states`.
        task: the task both episodes ran in (it sets the pole's length and colour and the target line).
        title: figure title.
        every: draw one step out of ``every`` (fewer frames, a smaller notebook).
        fps: frames per second of the player.
        shrink: keep one pixel out of ``shrink`` in each direction of the rendered frames.
        episode_length: the episode's time limit, for the captions.

    Returns:
        the HTML of the animation (a player with play/pause and a slider).
    """
    from matplotlib import animation

    if not rows:
        raise ValueError("adaptation_animation needs at least one method")
    for name, pair in rows.items():
        if len(pair) != 2:
            raise ValueError(f"{name!r}: give (states before, states after), got {len(pair)} episodes")
    names = list(rows)
    longest = max(len(states) for pair in rows.values() for states in pair)
    steps = list(range(0, longest, every))
    if steps[-1] != longest - 1:
        steps.append(longest - 1)
    fig, axes = plt.subplots(len(names), 2, figsize=(6.4, 2.1 * len(names) + 0.5), squeeze=False, dpi=72)
    images, captions = [], []
    for row, name in enumerate(names):
        for column, states in enumerate(rows[name]):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            images.append((ax.imshow(_frame(states[0], task, shrink)), states))
            caption = ax.set_title(f"{name}: {COLUMNS[column]}", fontsize=9)
            captions.append((ax.text(0.02, 0.04, "", transform=ax.transAxes, fontsize=8), states, caption))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()

    def update(frame_index: int):
        step = steps[frame_index]
        artists = []
        for image, states in images:
            image.set_data(_frame(states[min(step, len(states) - 1)], task, shrink))
            artists.append(image)
        for text, states, _ in captions:
            last = len(states) - 1
            if step < last or last >= episode_length:
                text.set_text(f"step {min(step, last)}")
            else:
                text.set_text(f"fell after {last} steps")
            artists.append(text)
        return artists

    anim = animation.FuncAnimation(fig, update, frames=len(steps), interval=1000 / fps, blit=False)
    html = anim.to_jshtml(fps=fps, default_mode="once")
    plt.close(fig)
    return html


def adaptation_animation(rows: Mapping[str, Sequence[np.ndarray]], task: Task, **kwargs: Any) -> Union[Any, str]:
    """:func:`adaptation_animation_html` as an ``IPython.display.HTML`` object (the HTML string without IPython)."""
    html = adaptation_animation_html(rows, task, **kwargs)
    try:
        from IPython.display import HTML
    except ImportError:  # pragma: no cover - IPython is there in every notebook
        return html
    return HTML(html)
