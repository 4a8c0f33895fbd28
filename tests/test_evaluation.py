"""Tests of hw11_utils.evaluation: normalised returns, t-intervals, few-shot tables."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from hw11_utils.controllers import agnostic_controller
from hw11_utils.evaluation import (
    adaptation_gain,
    few_shot_table,
    format_table,
    mean_ci,
    normalised_return,
    score_policy,
    student_t_quantile,
    summary_table,
)
from hw11_utils.tasks import Task


def test_normalised_return():
    np.testing.assert_allclose(normalised_return([200.0, 50.0], 200), [1.0, 0.25])
    np.testing.assert_allclose(normalised_return(torch.tensor([10.0]), 100, reward_scale=0.5), [0.2])
    with pytest.raises(ValueError):
        normalised_return([1.0], 0)


@pytest.mark.parametrize(("probability", "dof", "expected"), [
    (0.975, 1, 12.706204736), (0.975, 4, 2.776445105), (0.975, 9, 2.262157163), (0.975, 199, 1.971956544),
    (0.995, 30, 2.749995654), (0.025, 9, -2.262157163),
])
def test_student_t_quantile_known_values(probability, dof, expected):
    assert student_t_quantile(probability, dof) == pytest.approx(expected, abs=1e-6)


def test_mean_ci_on_a_known_sample():
    values = np.arange(1.0, 11.0)  # mean 5.5, sample std sqrt(55/6)
    mean, half_width = mean_ci(values)
    assert mean == pytest.approx(5.5)
    assert half_width == pytest.approx(2.262157163 * math.sqrt(55 / 6) / math.sqrt(10), rel=1e-6)
    # along an axis, and a wider interval for a higher confidence
    means, widths = mean_ci(np.stack([values, 2 * values], axis=1), axis=0)
    np.testing.assert_allclose(means, [5.5, 11.0])
    np.testing.assert_allclose(widths, [half_width, 2 * half_width])
    assert mean_ci(values, confidence=0.99)[1] > half_width
    assert np.isnan(mean_ci([3.0])[1])


def test_few_shot_table_shapes_and_values():
    rng = np.random.default_rng(0)
    curves = {
        "flat": np.full((3, 5, 4), 0.5),  # 3 seeds, 5 tasks, 3 units
        "rising": 0.2 * np.arange(4) + rng.normal(0, 0.01, size=(3, 5, 4)),
        "one seed": rng.uniform(size=(6, 4)),  # [tasks, units + 1]
    }
    table = few_shot_table(curves)
    assert isinstance(table, pd.DataFrame)
    assert len(table) == 12 and list(table["unit"][:4]) == [0, 1, 2, 3]
    flat = table[table.method == "flat"]
    np.testing.assert_allclose(flat["mean"], 0.5)
    np.testing.assert_allclose(flat["ci"], 0.0)
    rising = table[table.method == "rising"]
    np.testing.assert_allclose(rising["gain"], [0.0, 0.2, 0.4, 0.6], atol=0.02)
    assert set(rising["ci_over"]) == {"seeds"} and rising["seeds"].iloc[0] == 3
    single = table[table.method == "one seed"]
    expected_mean, expected_ci = mean_ci(curves["one seed"], axis=0)
    np.testing.assert_allclose(single["mean"], expected_mean)
    np.testing.assert_allclose(single["ci"], expected_ci)
    np.testing.assert_allclose(single["upper"] - single["lower"], 2 * expected_ci)
    assert set(single["ci_over"]) == {"tasks"} and single["tasks"].iloc[0] == 6
    text = format_table(table)
    assert "±" in text and "rising" in text
    with pytest.raises(ValueError, match="shape"):
        few_shot_table({"bad": np.zeros(3)})


def test_adaptation_gain():
    curves = np.array([[[0.1, 0.3, 0.6]], [[0.2, 0.2, 0.1]]])
    np.testing.assert_allclose(adaptation_gain(curves), [[0.5], [-0.1]])
    np.testing.assert_allclose(adaptation_gain(curves, unit=1), [[0.2], [0.0]])


def test_summary_table():
    table = summary_table({("flip", "oracle"): np.ones(4), ("flip", "random"): [0.1, 0.2, 0.3]},
                          key_names=("family", "policy"))
    assert list(table.columns) == ["family", "policy", "mean", "ci", "n"]
    assert table["mean"].tolist() == pytest.approx([1.0, 0.2])
    assert "1.000 ± 0.000" in format_table(table, index="policy", columns="family")


def test_score_policy_shape_and_seed():
    torch.set_num_threads(1)
    tasks = [Task(), Task(pole_length=0.9)]
    scores = score_policy(agnostic_controller(), tasks, episodes=3, seed=0, episode_length=50)
    assert scores.shape == (2, 3) and np.all(scores > 0.97) and np.all(scores <= 1.0)
    again = score_policy(agnostic_controller(), tasks, episodes=3, seed=0, episode_length=50)
    np.testing.assert_array_equal(scores, again)


def test_plots_return_figures_and_save(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hw11_utils import plots
    from hw11_utils.controllers import oracle_controller

    rng = np.random.default_rng(0)
    history = {"iteration": [0, 1, 2], "normalised_return": [0.1, 0.5, 0.9]}
    fig = plots.plot_learning_curves({"PPO": [history, history]}, save_path=tmp_path / "curves.png")
    assert fig.axes[0].get_ylabel() == "normalised return" and (tmp_path / "curves.png").exists()
    fig = plots.plot_adaptation_curves({"a": rng.uniform(size=(2, 5, 4))}, save_path=tmp_path / "adapt.png")
    assert fig.axes[0].get_xlabel().startswith("adaptation units") and (tmp_path / "adapt.png").exists()
    scores = pd.DataFrame({"family": ["flip"] * 4, "policy": ["random", "random", "oracle", "oracle"],
                           "normalised_return": [0.1, 0.2, 1.0, 1.0]})
    assert plots.plot_reference_policies(scores).axes[0].get_xlabel() == "task family"
    task = Task("target", target_x=1.0)
    frames = plots.rollout_frames(oracle_controller([task]), task, num_steps=20, every=10)
    assert len(frames) == 3 and frames[0].shape == (400, 600, 3)
    assert len(plots.show_frames(frames, titles=["a", "b", "c"]).axes) == 3
    markup = str(getattr(plots.animate_frames(frames[:2], title="a < b"), "data", ""))  # img + 2 in the player
    assert "<script" in markup and markup.count('"data:image/png;base64,') == 1 + 2 and "a &lt; b" in markup
    with pytest.raises(ValueError, match="at least one frame"):
        plots.animate_frames([])
    plt.close("all")


def test_evaluate_curves_stacks_seeds():
    from hw11_utils.evaluation import evaluate_curves

    def fake_curve(model, tasks, num_units=3, seed=0):
        return np.full((len(tasks), num_units + 1), float(model))

    curves = evaluate_curves(fake_curve, {"a": [0.1, 0.3], "b": [0.5]}, [Task()] * 4, num_units=2, progress=False)
    assert curves["a"].shape == (2, 4, 3) and curves["b"].shape == (1, 4, 3)
    assert few_shot_table(curves).query("method == 'a'")["mean"].tolist() == pytest.approx([0.2] * 3)
