"""hw11_utils: environments, rollouts, RL maths, networks and evaluation for HW11 (meta-RL).

The names students and TAs already know from the course draft are importable from the package::

    from hw11_utils import ParameterizedCartPoleEnv, TaskDistribution
"""

from hw11_utils.batched_env import BatchedCartPole
from hw11_utils.envs import ENV_ID, ParameterizedCartPoleEnv, TaskDistribution, register_envs
from hw11_utils.tasks import (
    ADAPTIVE_FAMILIES,
    DEFAULT_PARAMS,
    DRAFT_FAMILIES,
    FAMILIES,
    PARAM_RANGES,
    Task,
    as_task,
    meta_test_tasks,
    meta_train_tasks,
)

register_envs()

__all__ = [
    "ADAPTIVE_FAMILIES",
    "DEFAULT_PARAMS",
    "DRAFT_FAMILIES",
    "ENV_ID",
    "FAMILIES",
    "PARAM_RANGES",
    "BatchedCartPole",
    "ParameterizedCartPoleEnv",
    "Task",
    "TaskDistribution",
    "as_task",
    "meta_test_tasks",
    "meta_train_tasks",
    "register_envs",
]
