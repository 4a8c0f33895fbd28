"""Tests for hw11_utils.envs, hw11_utils.tasks and hw11_utils.batched_env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hw11_utils import (
    ENV_ID,
    FAMILIES,
    BatchedCartPole,
    ParameterizedCartPoleEnv,
    Task,
    TaskDistribution,
    meta_test_tasks,
    meta_train_tasks,
)


def test_check_env_passes_for_every_family():
    for family in FAMILIES:
        task = TaskDistribution(family, rng=0).sample_task()
        check_env(ParameterizedCartPoleEnv(task_params=task), skip_render_check=True)


def test_gymnasium_make_registered_id_with_task_params():
    env = gym.make(ENV_ID, task_params={"pole_length": 0.8, "gravity": 12.0})
    obs, _ = env.reset(seed=3)
    assert obs.shape == (4,) and obs.dtype == np.float32
    assert env.unwrapped.task.pole_length == 0.8
    steps = 0
    truncated = terminated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(steps % 2)
        steps += 1
    assert steps <= 200


def test_nominal_task_matches_gymnasium_cartpole_step_for_step():
    ours = ParameterizedCartPoleEnv()
    theirs = gym.make("CartPole-v1").unwrapped
    ours.reset(seed=5)
    theirs.reset(seed=5)
    theirs.state = ours.state.copy()
    rng = np.random.default_rng(0)
    for _ in range(100):
        action = int(rng.integers(2))
        obs_a, reward_a, term_a, _, _ = ours.step(action)
        obs_b, reward_b, term_b, _, _ = theirs.step(action)
        np.testing.assert_allclose(obs_a, obs_b, rtol=1e-6, atol=1e-6)
        assert (reward_a, term_a) == (reward_b, term_b)
        if term_a:
            break


def test_reset_seed_is_reproducible_and_does_not_touch_global_numpy():
    env = ParameterizedCartPoleEnv()
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first, _ = env.reset(seed=42)
    second, _ = env.reset(seed=42)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(before, np.random.get_state()[1])


def test_flip_reverses_the_push():
    pushes = {}
    for sign in (1.0, -1.0):
        env = ParameterizedCartPoleEnv(task_params={"action_sign": sign})
        env.reset(seed=0)
        env.state = np.zeros(4)
        obs, *_ = env.step(1)
        pushes[sign] = obs[1]
    assert pushes[1.0] > 0 > pushes[-1.0]


def test_target_reward_falls_with_distance():
    env = ParameterizedCartPoleEnv(task_params={"target_x": 1.0})
    env.reset(seed=0)
    env.state = np.array([1.0, 0.0, 0.0, 0.0])
    _, near, *_ = env.step(0)
    env.state = np.array([-1.0, 0.0, 0.0, 0.0])
    _, far, *_ = env.step(0)
    assert 0.9 < near <= 1.0 and far < 0.2


@pytest.mark.parametrize("bad, key", [({"pole_length": -1.0}, "pole_length"), ({"pole_mass": 0.0}, "pole_mass"),
                                      ({"lenght": 0.5}, "lenght"), ({"action_sign": 2.0}, "action_sign")])
def test_invalid_parameters_raise_value_error_naming_the_key(bad, key):
    with pytest.raises(ValueError, match=key):
        ParameterizedCartPoleEnv(task_params=bad)


def test_unknown_family_lists_valid_ones():
    with pytest.raises(ValueError, match="flip"):
        TaskDistribution("upside_down")


def test_task_sets_are_seeded_and_disjoint():
    assert meta_train_tasks("target", 10) == meta_train_tasks("target", 10)
    train = {t.target_x for t in meta_train_tasks("target", 100)}
    test = {t.target_x for t in meta_test_tasks("target", 200)}
    assert not train & test
    flips = [t.action_sign for t in meta_test_tasks("flip")]
    assert 60 < flips.count(-1.0) < 140


def test_family_ranges():
    for task in TaskDistribution("mixed", rng=1).sample_tasks(200):
        assert 0.25 <= task.pole_length <= 1.0 and 0.05 <= task.pole_mass <= 0.5 and 5.0 <= task.gravity <= 15.0
        assert task.action_sign == 1.0 and task.target_x is None
    assert Task.from_params(Task(pole_length=0.7).as_dict()) == Task(pole_length=0.7)


def test_batched_env_matches_single_env_step_for_step():
    tasks = [TaskDistribution(family, rng=i).sample_task() for i, family in enumerate(FAMILIES * 3)]
    batched = BatchedCartPole(tasks, episode_length=60, seed=0)
    obs = batched.reset()
    singles = [ParameterizedCartPoleEnv(task_params=task) for task in tasks]
    for env, start in zip(singles, batched.state):
        env.reset(seed=0)
        env.state = start.copy()
    alive = np.ones(len(tasks), dtype=bool)
    rng = np.random.default_rng(1)
    for _ in range(60):
        actions = rng.integers(0, 2, size=len(tasks))
        obs, rewards, done, info = batched.step(actions)
        for i, env in enumerate(singles):
            if not alive[i]:
                assert rewards[i] == 0.0 and not info["alive"][i]
                continue
            single_obs, single_reward, terminated, _, _ = env.step(int(actions[i]))
            np.testing.assert_allclose(obs[i], single_obs, rtol=1e-6, atol=1e-7)
            assert rewards[i] == pytest.approx(single_reward, rel=1e-6)
            assert info["terminated"][i] == terminated
            alive[i] = not terminated
    assert done.all()
    assert not alive.all()  # random actions topple some poles: the frozen branch was exercised


def test_batched_env_reset_is_seeded_and_validates_actions():
    tasks = [Task()] * 4
    a = BatchedCartPole(tasks, seed=7).reset()
    b = BatchedCartPole(tasks, seed=7).reset()
    np.testing.assert_array_equal(a, b)
    env = BatchedCartPole(tasks, episode_length=2)
    env.reset()
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="0 or 1"):
        env.step(np.full(4, 2))
    env.step(np.zeros(4, dtype=int))
    env.step(np.zeros(4, dtype=int))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(4, dtype=int))


def test_render_rgb_array_frame():
    env = ParameterizedCartPoleEnv(task_params={"target_x": 1.0}, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    assert (frame == (220, 50, 50)).all(axis=-1).any()  # the target marker is drawn
