"""A picture of adaptation: episodes of CartPole before and after adaptation, side by side, as an animation.

The animation is HTML with a few lines of JavaScript (PNG frames, a slider and play/pause): it plays
inline in Jupyter, Colab and Kaggle and needs no ffmpeg or other system program. Only what moves is
redrawn per frame (matplotlib blitting): three methods' 51 frames take about 2 s, against 8 s with
``FuncAnimation.to_jshtml``, which draws the whole figure three times per frame. Frames come from
:func:`hw11_utils.rendering.render_cartpole`, drawn from the states that a rollout visited, so any
method whose rollouts are a :class:`~hw11_utils.rollouts.RolloutBatch` can be shown::

    rows = {"RL²": (episode_states(trial, episode=0), episode_states(trial, episode=1))}
    display(adaptation_animation(rows, task, title="flip task"))
"""

from __future__ import annotations

import base64
import html
import io
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

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
    frames = render_adaptation_frames(rows, task, title=title, every=every, shrink=shrink,
                                      episode_length=episode_length)
    return frames_player_html(frames, fps)


def render_adaptation_frames(
    rows: Mapping[str, Sequence[np.ndarray]],
    task: Task,
    title: str = "",
    every: int = 4,
    shrink: int = 2,
    episode_length: int = 200,
    blit: bool = True,
) -> list[np.ndarray]:
    """The frames of :func:`adaptation_animation_html`: uint8 [height, width, 3] each, one per drawn step.

    With ``blit`` (the default) the figure is drawn once and each frame redraws only what moves (the
    images, the captions and the frames of the axes over them) on a copy of that background; without
    it every frame is a full redraw, slower and the same picture (the tests compare the two).
    """
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
    # a figure of its own on an Agg canvas: no pyplot state, the same pixels under any backend
    fig = Figure(figsize=(6.4, 2.1 * len(names) + 0.5), dpi=72)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(len(names), 2, squeeze=False)
    panels = []  # (image, caption, states) per panel
    for row, name in enumerate(names):
        for column, states in enumerate(rows[name]):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}: {COLUMNS[column]}", fontsize=9)
            image = ax.imshow(_frame(states[0], task, shrink))
            caption = ax.text(0.02, 0.04, "", transform=ax.transAxes, fontsize=8)
            for artist in _moving_artists(image, caption):
                artist.set_animated(blit)
            panels.append((image, caption, states))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    canvas.draw()  # with blit: everything that does not move (titles, the figure's background), once
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for step in steps:
        for image, caption, states in panels:
            last = len(states) - 1
            image.set_data(_frame(states[min(step, last)], task, shrink))
            caption.set_text(f"step {min(step, last)}" if step < last or last >= episode_length
                             else f"fell after {last} steps")
        if blit:
            canvas.restore_region(background)
            for image, caption, _ in panels:
                for artist in _moving_artists(image, caption):
                    image.axes.draw_artist(artist)
        else:
            canvas.draw()
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return frames


def _moving_artists(image: Any, caption: Any) -> tuple:
    """What a frame redraws in a panel: its image, its caption and the spines that lie over the image's edge."""
    return (image, caption, *image.axes.spines.values())


def _png_base64(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _player_html(frames: Sequence[str], fps: int) -> str:
    """A self-contained player: the first frame, a slider over the frames and a play/pause button."""
    player = f"hw11anim{uuid.uuid4().hex[:8]}"
    sources = ",".join(f'"data:image/png;base64,{frame}"' for frame in frames)
    return f"""<div id="{player}">
<img src="data:image/png;base64,{frames[0]}" style="display:block"><br>
<button type="button">&#9654; play</button>
<input type="range" min="0" max="{len(frames) - 1}" value="0" style="width:60%;vertical-align:middle">
<script>
(function() {{
  const frames = [{sources}];
  // every copy of this output (the same HTML displayed twice) gets its own player, bound once
  document.querySelectorAll('div[id="{player}"]').forEach(function(root) {{
    if (root.getAttribute("data-bound")) return;
    root.setAttribute("data-bound", "1");
    const image = root.querySelector("img"), slider = root.querySelector("input");
    const button = root.querySelector("button");
    let timer = null;
    function show(i) {{ slider.value = i; image.src = frames[i]; }}
    function stop() {{ clearInterval(timer); timer = null; button.innerHTML = "&#9654; play"; }}
    slider.oninput = function() {{ stop(); show(Number(slider.value)); }};
    button.onclick = function() {{
      if (timer !== null) {{ stop(); return; }}
      if (Number(slider.value) >= frames.length - 1) show(0);
      button.innerHTML = "&#10074;&#10074; pause";
      timer = setInterval(function() {{
        const next = Number(slider.value) + 1;
        if (next >= frames.length) {{ stop(); return; }}
        show(next);
      }}, {1000 / fps:.0f});
    }};
  }});
}})();
</script>
</div>"""


def frames_player_html(frames: Sequence[np.ndarray], fps: int = 50, title: Optional[str] = None) -> str:
    """RGB frames (uint8 [H, W, 3] each) as the same self-contained HTML player, with an optional title."""
    if len(frames) == 0:
        raise ValueError("an animation needs at least one frame")
    heading = f'<div style="font-weight:bold">{html.escape(title)}</div>\n' if title else ""
    return heading + _player_html([_png_base64(frame) for frame in frames], fps)


def adaptation_animation(rows: Mapping[str, Sequence[np.ndarray]], task: Task, **kwargs: Any) -> Union[Any, str]:
    """:func:`adaptation_animation_html` as an ``IPython.display.HTML`` object (the HTML string without IPython)."""
    return as_html(adaptation_animation_html(rows, task, **kwargs))


def as_html(markup: str) -> Union[Any, str]:
    """``IPython.display.HTML(markup)``, or the string itself where IPython is not installed."""
    try:
        from IPython.display import HTML
    except ImportError:  # pragma: no cover - IPython is there in every notebook
        return markup
    return HTML(markup)
