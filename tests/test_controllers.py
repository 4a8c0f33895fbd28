"""Tests of hw11_utils.controllers: the LQR gain, stabilisation, and the oracle's use of the task."""

import numpy as np
import pytest
import torch

from hw11_utils.batched_env import BatchedCartPole
from hw11_utils.controllers import (
    CONTROLLERS,
    STATE_COST,
    agnostic_controller,
    linearised_dynamics,
    lqr_gain,
    lqr_gains,
    make_controller,
    oracle_controller,
    random_controller,
)
from hw11_utils.evaluation import score_policy
from hw11_utils.physics import cartpole_physics_step, physics_constants
from hw11_utils.tasks import Task, meta_test_tasks


def setup_module():
    torch.set_num_threads(1)


def run_batched(controller, tasks, steps=200, seed=0):
    """Run a controller's numpy actions on BatchedCartPole; returns the alive mask after the episode."""
    env = BatchedCartPole(tasks, episode_length=steps, seed=seed)
    obs = env.reset()
    for _ in range(steps):
        obs, _, _, info = env.step(controller.act(obs))
    return info["alive"], obs


def test_linearisation_matches_finite_differences_of_the_simulator():
    task = Task(pole_length=0.8, pole_mass=0.3, gravity=12.0, cart_mass=1.3)
    a, b = linearised_dynamics(task.pole_length, task.pole_mass, task.gravity, task.cart_mass)
    eps = 1e-3  # the simulator computes in float32: central differences of size 1e-3 are exact to ~1e-5
    constants = physics_constants(task.pole_length, task.pole_mass, task.cart_mass, task.gravity)

    def step(state, force):
        state = tuple(np.asarray(state, dtype=np.float32))
        return np.array(cartpole_physics_step(state, np.float32(force), constants), dtype=np.float64)

    numeric_a = np.stack([(step(eps * np.eye(4)[i], 0.0) - step(-eps * np.eye(4)[i], 0.0)) / (2 * eps)
                          for i in range(4)], axis=1)
    numeric_b = (step(np.zeros(4), eps) - step(np.zeros(4), -eps)) / (2 * eps)
    np.testing.assert_allclose(a, numeric_a, atol=2e-4)
    np.testing.assert_allclose(b, numeric_b, atol=2e-4)


def test_lqr_gain_solves_the_discrete_riccati_equation():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a, b = linearised_dynamics()
    q, r = np.diag(STATE_COST), 0.1
    p = scipy_linalg.solve_discrete_are(a, b[:, None], q, np.array([[r]]))
    expected = np.linalg.solve(r + b @ p @ b * np.ones((1, 1)), (b @ p @ a)[None])[0]
    np.testing.assert_allclose(lqr_gain(), expected, rtol=1e-5)
    # closed loop A - B K is stable
    assert np.max(np.abs(np.linalg.eigvals(a - np.outer(b, lqr_gain())))) < 1.0


def test_lqr_gains_are_per_task():
    tasks = [Task(), Task(pole_length=1.0), Task(gravity=15.0)]
    gains = lqr_gains(tasks)
    assert gains.shape == (3, 4)
    np.testing.assert_allclose(gains[0], lqr_gain(Task()))
    assert not np.allclose(gains[0], gains[1]) and not np.allclose(gains[0], gains[2])


def test_agnostic_lqr_stabilises_the_nominal_task_for_200_steps():
    tasks = [Task()] * 32
    alive, obs = run_batched(agnostic_controller(), tasks, steps=200, seed=1)
    assert alive.all(), "the nominal LQR should keep every pole up for 200 steps"
    assert np.abs(obs[:, 0]).max() < 0.5 and np.abs(obs[:, 2]).max() < 0.05, "it should regulate to x = 0, upright"


def test_random_policy_falls_quickly():
    alive, _ = run_batched(random_controller(seed=0), [Task()] * 32, steps=200)
    assert not alive.any()


def test_oracle_beats_agnostic_on_flipped_tasks():
    tasks = [Task("flip", action_sign=-1.0)] * 16
    oracle = score_policy(oracle_controller(tasks, 2), tasks, episodes=2, seed=0)
    agnostic = score_policy(agnostic_controller(), tasks, episodes=2, seed=0)
    assert oracle.shape == (16, 2)
    assert oracle.min() > 0.97, "the oracle knows the sign: it should balance near x = 0 for 200 steps"
    assert agnostic.max() < 0.2, "pushing the wrong way should drop the pole quickly"


def test_oracle_moves_to_the_target():
    tasks = [Task("target", target_x=1.2), Task("target", target_x=-1.0)]
    alive, obs = run_batched(oracle_controller(tasks), tasks, steps=200)
    assert alive.all()
    np.testing.assert_allclose(obs[:, 0], [1.2, -1.0], atol=0.15)
    oracle = score_policy(oracle_controller(tasks, 4), tasks, episodes=4).mean()
    agnostic = score_policy(agnostic_controller(), tasks, episodes=4).mean()
    assert oracle > agnostic + 0.2


def test_oracle_policy_fn_layout_follows_sample_rollouts():
    tasks = [Task("flip", action_sign=1.0), Task("flip", action_sign=-1.0)]
    returns = score_policy(oracle_controller(tasks, episodes_per_task=3), tasks, episodes=3)
    assert returns.min() > 0.97
    with pytest.raises(ValueError, match="environments"):
        score_policy(oracle_controller(tasks, episodes_per_task=1), tasks, episodes=3)


def test_controllers_on_a_physics_family_stay_up():
    tasks = meta_test_tasks("mixed", n=20)
    for name in ("agnostic", "oracle"):
        assert score_policy(make_controller(name, tasks), tasks).mean() > 0.95, name
    assert set(CONTROLLERS) == {"random", "agnostic", "oracle"}
    with pytest.raises(ValueError, match="unknown controller"):
        make_controller("lqr", tasks)
