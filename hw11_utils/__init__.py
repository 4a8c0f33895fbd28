"""hw11_utils: environments, rollouts, RL maths, networks and evaluation for HW11 (meta-RL).

The names students and TAs already know are importable from the package itself::

    from hw11_utils import ParameterizedCartPoleEnv, TaskDistribution
"""

from hw11_utils.batched_env import BatchedCartPole
from hw11_utils.envs import ENV_ID, ParameterizedCartPoleEnv, register_envs
from hw11_utils.tasks import (
    ADAPTIVE_FAMILIES,
    FAMILIES,
    Task,
    TaskDistribution,
    meta_test_tasks,
    meta_train_tasks,
)

register_envs()

__all__ = [
    "ADAPTIVE_FAMILIES",
    "ENV_ID",
    "FAMILIES",
    "BatchedCartPole",
    "ParameterizedCartPoleEnv",
    "Task",
    "TaskDistribution",
    "meta_test_tasks",
    "meta_train_tasks",
    "register_envs",
]
