"""The course draft's own environment, families and cells, run beside the package.

The draft is the specification: its ``ParameterizedCartPoleEnv`` and ours must give the same
trajectories (states, rewards, terminations, truncation at 200) from the same start state and actions,
its ``param_ranges`` and ``default_params`` must be ours, and its test cells must run unchanged.
"""

import contextlib
import io

import numpy as np
import pytest

from hw11_utils import (
    DEFAULT_PARAMS,
    DRAFT_FAMILIES,
    BatchedCartPole,
    ParameterizedCartPoleEnv,
    TaskDistribution,
    meta_test_tasks,
)
from hw11_utils.controllers import lqr_gain
from tests.draft import draft_cell, draft_namespace


@pytest.fixture(scope="module")
def draft():
    return draft_namespace()


def draft_tasks():
    """The draft's default task and three held-out tasks of each draft family, as parameter dicts."""
    tasks = [{}]
    for family in DRAFT_FAMILIES:
        tasks += [{k: v for k, v in task.params().items()} for task in meta_test_tasks(family, n=3)]
    return tasks


def run_side_by_side(draft_env, our_env, policy, steps: int = 205):
    """Step both envs from the draft's start state with the draft env's actions; return the records."""
    draft_env.reset()
    our_env.reset(seed=0)
    our_env.state = draft_env.state.copy()
    records = []
    for _ in range(steps):
        action = policy(draft_env.state)
        a = draft_env.step(action)
        b = our_env.step(action)
        records.append((a, b))
        if a[2] or a[3]:
            break
    return records


@pytest.mark.parametrize("controller", ["balancing", "random"])
def test_draft_env_and_ours_give_the_same_trajectories(draft, controller):
    gain = lqr_gain()
    rng = np.random.default_rng(0)
    policies = {
        "balancing": lambda state: int(-gain @ state > 0),
        "random": lambda state: int(rng.integers(2)),
    }
    truncations = 0
    for params in draft_tasks():
        np.random.seed(len(params))  # the draft's reset draws from numpy's global generator
        records = run_side_by_side(draft["ParameterizedCartPoleEnv"](dict(params)), ParameterizedCartPoleEnv(params),
                                   policies[controller])
        for (obs_a, rew_a, term_a, trunc_a, _), (obs_b, rew_b, term_b, trunc_b, _) in records:
            np.testing.assert_allclose(obs_b, obs_a, rtol=0, atol=1e-4)
            assert rew_b == pytest.approx(float(rew_a), abs=1e-6)
            assert (term_b, trunc_b) == (bool(term_a), bool(trunc_a))
        truncations += bool(records[-1][0][3])
        if records[-1][0][3]:
            assert len(records) == 200, "the draft truncates at max_steps = 200"
    if controller == "balancing":
        assert truncations == len(draft_tasks()), "the LQR should balance every draft task until truncation"


def test_batched_env_matches_the_draft_env_step_for_step(draft):
    tasks = [ParameterizedCartPoleEnv(params).task for params in draft_tasks()]
    batched = BatchedCartPole(tasks, episode_length=200)
    draft_envs = [draft["ParameterizedCartPoleEnv"](task.params()) for task in tasks]
    np.random.seed(1)
    for env in draft_envs:
        env.reset()
    batched.set_state(np.stack([env.state for env in draft_envs]))
    gain = lqr_gain()
    alive = np.ones(len(tasks), dtype=bool)
    for _ in range(200):
        actions = np.array([int(-gain @ env.state > 0) for env in draft_envs])
        obs, reward, _, info = batched.step(actions)
        for k, env in enumerate(draft_envs):
            if not alive[k]:
                continue
            state, draft_reward, terminated, _, _ = env.step(int(actions[k]))
            np.testing.assert_allclose(obs[k], state, rtol=0, atol=1e-4)
            assert reward[k] == pytest.approx(float(draft_reward), abs=1e-6)
            assert info["terminated"][k] == terminated
            alive[k] = not terminated


def test_default_params_and_param_ranges_are_the_drafts(draft):
    assert ParameterizedCartPoleEnv().params == draft["ParameterizedCartPoleEnv"]().default_params
    assert dict(DEFAULT_PARAMS) == draft["ParameterizedCartPoleEnv"]().default_params
    assert ParameterizedCartPoleEnv().max_steps == draft["ParameterizedCartPoleEnv"]().max_steps == 200
    for family in DRAFT_FAMILIES:
        assert TaskDistribution(family).param_ranges == draft["TaskDistribution"](family).param_ranges, family


def test_draft_task_params_are_accepted_and_merged_like_the_draft(draft):
    params = {"pole_length": 0.6, "reward_scale": 1.1, "cart_mass": 1.3, "success_threshold": 190.0}
    ours, theirs = ParameterizedCartPoleEnv(params), draft["ParameterizedCartPoleEnv"](params)
    assert ours.params == theirs.params
    ours.set_task_params({"gravity": 11.0})
    theirs.set_task_params({"gravity": 11.0})
    assert ours.params == theirs.params and ours.task.gravity == 11.0 and ours.task.pole_length == 0.6


def run_cell(source: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<draft cell>", "exec"), namespace)
    return out.getvalue()


def test_draft_environment_test_cell_runs_verbatim():
    import gymnasium as gym
    import torch

    cell = draft_cell("# Test the environment", "## 2. MAML")
    printed = run_cell(cell, {"np": np, "torch": torch, "gym": gym, "TaskDistribution": TaskDistribution})
    assert printed.startswith("Testing Parameterized CartPole Environment...")
    assert printed.count("  Task ") == 12 and "Environment test completed!" in printed
    assert "Params = {'pole_length':" in printed and "'reward_scale':" in printed


def test_draft_maml_test_cell_runs_verbatim_and_meta_update_changes_the_meta_parameters():
    import torch

    from solutions.maml import MAMLAgent

    cell = draft_cell("# Test MAML implementation", "## 3. RL²")
    namespace = {"np": np, "torch": torch, "TaskDistribution": TaskDistribution, "MAMLAgent": MAMLAgent}
    torch.manual_seed(0)
    printed = run_cell(cell, namespace)
    lines = printed.strip().splitlines()
    assert lines[0] == "Testing MAML Implementation..." and lines[-1] == "MAML test completed!"
    assert any(line.startswith("Meta-loss: ") for line in lines)
    assert any(line.startswith("Adapted network action: ") and ", value: " in line for line in lines)

    agent = namespace["maml_agent"]
    policy = agent.meta_network.policy
    before = [p.detach().clone() for p in policy.parameters()]
    agent.meta_update(namespace["task_dist"].sample_tasks(4))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    changed = [not torch.equal(b, p) for b, p in zip(before, policy.parameters())]
    assert all(changed), "every tensor of the meta-policy should move after meta_update"


def test_maml_agent_meta_gradient_flows_through_the_inner_step():
    """meta_update's gradient reaches meta_network through the adapted parameters; a detached inner
    step (the draft's ``param.data = ...``) would leave it with none."""
    import torch

    import solutions.maml as maml

    tasks = TaskDistribution("flip", rng=0).sample_tasks(4)
    updates = {}
    for name, inner_step in (("through", maml.inner_step), ("detached", detached(maml.inner_step))):
        torch.manual_seed(0)
        agent = maml.MAMLAgent(4, 2, meta_lr=1e-3, inner_lr=0.5, seed=0)
        original = maml.inner_step
        maml.inner_step = inner_step
        try:
            agent.meta_update(tasks)
        finally:
            maml.inner_step = original
        updates[name] = torch.cat([torch.zeros_like(p).flatten() if p.grad is None else p.grad.flatten()
                                   for p in agent.meta_network.policy.parameters()])
    assert updates["through"].abs().sum() > 0, "the meta-gradient should reach meta_network"
    assert updates["detached"].abs().sum() == 0, "a detached inner step cuts the meta-gradient (the draft's bug)"


def detached(inner_step):
    """The draft's bug: adapted parameters cut from theta (as ``param.data = ...`` does)."""
    def cut(policy, params, *args, **kwargs):
        return {k: v.detach().requires_grad_() for k, v in inner_step(policy, params, *args, **kwargs).items()}
    return cut


@pytest.mark.parametrize("grade_id, start, end", [
    ("draft_env_test", "# Test the environment", "## 2. MAML"),
    ("draft_maml_test", "# Test MAML implementation", "## 3. RL²"),
])
def test_notebooks_carry_the_draft_cells_verbatim(grade_id, start, end):
    import nbformat

    from tools import config

    expected = draft_cell(start, end).strip()
    for path in (config.REPO_ROOT / "solutions" / "HW11_Solution.ipynb", config.REPO_ROOT / "HW11_Notebook.ipynb"):
        cells = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"): cell
                 for cell in nbformat.read(path, as_version=4).cells}
        assert cells[grade_id].source.strip() == expected, f"{path.name}: cell {grade_id} differs from the draft"
