"""Figures you can read: every line visible, legends off the data, CI captions, integer ticks; the animation."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from hw11_utils import plots  # noqa: E402
from hw11_utils.animation import adaptation_animation_html, episode_states  # noqa: E402
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


PLAYER_HARNESS = """
const vm = require("vm");
const html = require("fs").readFileSync(0, "utf8");
const script = html.split("<script>")[1].split("</script>")[0];
const image = {src: null}, slider = {value: "0"}, button = {innerHTML: ""};
const root = {querySelector: (tag) => ({img: image, input: slider, button: button})[tag]};
let tick = null;
const context = {document: {getElementById: () => root}, Number: Number,
                 setInterval: (f) => { tick = f; return 1; }, clearInterval: () => { tick = null; }};
vm.runInNewContext(script, context);
const seen = [];
button.onclick();
while (tick !== null) {
  const before = Number(slider.value);
  tick();
  if (Number(slider.value) !== before) seen.push(Number(slider.value));
}
slider.value = "1"; slider.oninput();
console.log(JSON.stringify({seen: seen, after_slider: image.src.length, playing: tick !== null}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the player's JavaScript")
def test_the_animation_player_plays_every_frame_once_and_the_slider_seeks():
    rng = np.random.default_rng(0)
    states = rng.normal(0, 0.05, size=(13, 4))
    html = adaptation_animation_html({"RL²": (states, states[:5])}, Task(action_sign=-1.0), every=4)
    result = subprocess.run(["node", "-e", PLAYER_HARNESS], input=html, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    played = json.loads(result.stdout)
    assert played["seen"] == [1, 2, 3]  # from frame 0 to the last frame, then it stops
    assert played["after_slider"] > 100 and not played["playing"]
