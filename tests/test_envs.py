"""Tests for hw11_utils.envs, hw11_utils.tasks and hw11_utils.batched_env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hw11_utils import (
    DEFAULT_PARAMS,
    ENV_ID,
    FAMILIES,
    BatchedCartPole,
    ParameterizedCartPoleEnv,
    Task,
    TaskDistribution,
    meta_test_tasks,
    meta_train_tasks,
)
from hw11_utils.controllers import lqr_gain


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


def test_env_truncates_itself_at_max_steps_and_steps_counts():
    env = ParameterizedCartPoleEnv()
    env.reset(seed=0)
    gain = lqr_gain()
    for step in range(1, 201):
        _, _, terminated, truncated, _ = env.step(int(-gain @ env.state > 0))
        assert env.steps == step and not terminated
        assert truncated == (step == 200)


def test_step_before_reset_raises_runtime_error():
    with pytest.raises(RuntimeError, match="reset"):
        ParameterizedCartPoleEnv().step(0)


def test_draft_reward_is_scaled_and_penalises_position_and_angle():
    env = ParameterizedCartPoleEnv({"reward_scale": 1.2})
    env.reset(seed=0)
    env.state = np.zeros(4, dtype=np.float32)
    _, centred, *_ = env.step(1)
    assert centred == pytest.approx(1.2 * (1 - 0.1 * abs(env.state[0]) - 0.1 * abs(env.state[2])), rel=1e-6)
    env.state = np.array([1.0, 0.0, 0.1, 0.0], dtype=np.float32)
    _, off_centre, *_ = env.step(1)
    assert off_centre < centred - 0.1


def test_initial_states_are_in_the_drafts_range_and_float32():
    env = ParameterizedCartPoleEnv()
    starts = np.stack([env.reset(seed=seed)[0] for seed in range(200)])
    assert starts.dtype == np.float32 and np.abs(starts).max() <= 0.1 and np.abs(starts).max() > 0.09


def test_params_is_read_only_and_set_task_params_validates():
    env = ParameterizedCartPoleEnv()
    with pytest.raises(TypeError, match="set_task_params"):
        env.params["gravity"] = 3.0
    with pytest.raises(ValueError, match="gravity"):
        env.set_task_params({"gravity": -1.0})
    with pytest.raises(ValueError, match="reward_scal"):
        env.set_task_params({"reward_scal": 1.0})
    env.set_task_params({"cart_mass": 1.4})
    assert env.task.cart_mass == 1.4 and env.params["cart_mass"] == 1.4


def test_sample_task_returns_envs_and_samplers_accept_them():
    dist = TaskDistribution("mass", rng=0)
    envs = dist.sample_tasks(3)
    assert all(isinstance(env, ParameterizedCartPoleEnv) for env in envs)
    assert isinstance(dist.sample_task(), ParameterizedCartPoleEnv)
    batched = BatchedCartPole(envs)
    assert batched.tasks == [env.task for env in envs]
    assert TaskDistribution("mass", rng=5).sample_task().task == TaskDistribution("mass", rng=5).sample_task_value()


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
    env.state = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    _, near, *_ = env.step(0)
    env.state = np.array([-1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    _, far, *_ = env.step(0)
    assert 0.9 < near <= 1.0 and far < 0.2


@pytest.mark.parametrize("bad, key", [({"pole_length": -1.0}, "pole_length"), ({"pole_mass": 0.0}, "pole_mass"),
                                      ({"lenght": 0.5}, "lenght"), ({"action_sign": 2.0}, "action_sign"),
                                      ({"cart_mass": -1.0}, "cart_mass"), ({"reward_scale": "big"}, "reward_scale")])
def test_invalid_parameters_raise_value_error_naming_the_key(bad, key):
    with pytest.raises(ValueError, match=key):
        ParameterizedCartPoleEnv(task_params=bad)


def test_unknown_family_lists_valid_ones():
    with pytest.raises(ValueError, match="flip"):
        TaskDistribution("upside_down")
    with pytest.raises(TypeError, match="Task"):
        BatchedCartPole([3.0])


def test_task_sets_are_seeded_and_disjoint():
    assert meta_train_tasks("target", 10) == meta_train_tasks("target", 10)
    train = {t.target_x for t in meta_train_tasks("target", 100)}
    test = {t.target_x for t in meta_test_tasks("target", 200)}
    assert not train & test
    flips = meta_test_tasks("flip")
    signs = [t.action_sign for t in flips]
    assert 60 < signs.count(-1.0) < 140
    assert not set(flips) & set(meta_train_tasks("flip")), "held-out flip tasks are new tasks"
    assert len({(t.pole_length, t.gravity) for t in flips}) == len(flips)


def test_family_ranges():
    for family in FAMILIES:
        dist = TaskDistribution(family, rng=1)
        for env in dist.sample_tasks(100):
            task = env.task
            for key, (low, high) in dist.param_ranges.items():
                assert low <= getattr(task, key) <= high, (family, key)
            untouched = set(DEFAULT_PARAMS) - set(dist.param_ranges)
            assert all(getattr(task, key) == DEFAULT_PARAMS[key] for key in untouched), family
            assert task.action_sign == 1.0 or family == "flip"
            assert (task.target_x is not None) == (family == "target")
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
            np.testing.assert_array_equal(obs[i], single_obs)  # the same float32 arithmetic
            assert rewards[i] == single_reward
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
