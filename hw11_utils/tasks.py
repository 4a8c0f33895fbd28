"""Tasks and task families over the course's parameterised CartPole.

A *task* is one setting of the draft's parameters (pole half-length, pole mass, cart mass,
gravity, reward scale, success threshold), plus two extensions: the action's direction
(``action_sign``) and a hidden target position for the cart (``target_x``). A *task family* is a
distribution over tasks, given by the ranges of :data:`PARAM_RANGES` (the course draft's
``param_ranges``, exactly, for its four families).

The draft's four families (``pole_length``, ``mass``, ``gravity``, ``mixed``) change the physics and
the reward's scale only; one robust controller solves all of them, so they need no adaptation (the
control case). ``flip`` and ``target`` are families where the best behaviour differs per task, so an
agent must infer the task from experience:

* ``flip``: the physics of ``mixed``, and in half of the tasks pushing "right" moves the cart left
  (identifiable from one push);
* ``target``: the reward is ``exp(-|x - x*|) * reward_scale`` for a hidden ``x*`` (identifiable only
  from rewards).

This module holds immutable :class:`Task` values and their seeded sampling; the gymnasium
environment and the draft's :class:`~hw11_utils.envs.TaskDistribution` (which returns
environments) live in :mod:`hw11_utils.envs`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

#: The course draft's ``default_params`` of ``ParameterizedCartPoleEnv``, exactly.
DEFAULT_PARAMS: Mapping[str, float] = {
    "pole_length": 0.5,  # pole half-length (m)
    "pole_mass": 0.1,  # kg
    "cart_mass": 1.0,  # kg
    "gravity": 9.8,  # m/s^2
    "reward_scale": 1.0,  # multiplies every reward
    "success_threshold": 195.0,  # an episode succeeds when return / reward_scale >= this
}

REWARD_SCALE_RANGE = (0.8, 1.2)
#: Uniform ranges (low, high) of each family's parameters; the first four are the course draft's
#: ``TaskDistribution.param_ranges``, in the draft's order (the order in which they are drawn).
PARAM_RANGES: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "pole_length": {"pole_length": (0.3, 0.8), "reward_scale": REWARD_SCALE_RANGE},
    "mass": {"pole_mass": (0.05, 0.2), "cart_mass": (0.8, 1.5), "reward_scale": REWARD_SCALE_RANGE},
    "gravity": {"gravity": (8.0, 12.0), "reward_scale": REWARD_SCALE_RANGE},
    "mixed": {
        "pole_length": (0.3, 0.8),
        "pole_mass": (0.05, 0.2),
        "gravity": (8.0, 12.0),
        "reward_scale": REWARD_SCALE_RANGE,
    },
    "flip": {
        "pole_length": (0.3, 0.8),
        "pole_mass": (0.05, 0.2),
        "gravity": (8.0, 12.0),
        "reward_scale": REWARD_SCALE_RANGE,
    },
    "target": {"target_x": (-1.5, 1.5), "reward_scale": REWARD_SCALE_RANGE},
}
#: Parameters drawn uniformly from a finite set, after the ranges above.
PARAM_CHOICES: Mapping[str, Mapping[str, tuple[float, ...]]] = {"flip": {"action_sign": (-1.0, 1.0)}}

FAMILIES = ("pole_length", "mass", "gravity", "mixed", "flip", "target")
#: The course draft's four families (no adaptation needed).
DRAFT_FAMILIES = FAMILIES[:4]
#: Families whose optimal behaviour differs per task (adaptation is needed).
ADAPTIVE_FAMILIES = ("flip", "target")
#: Length of :meth:`Task.features`.
TASK_FEATURE_DIM = 7

SeedLike = Union[np.random.Generator, int, None]
POSITIVE_PARAMS = ("pole_length", "pole_mass", "cart_mass", "gravity", "reward_scale", "success_threshold")


@dataclass(frozen=True)
class Task:
    """One CartPole task: an immutable value of its parameters.

    Attributes:
        family: name of the family the task was drawn from ("nominal" for the default task).
        pole_length: half-length of the pole (m), > 0.
        pole_mass: mass of the pole (kg), > 0.
        cart_mass: mass of the cart (kg), > 0.
        gravity: gravitational acceleration (m/s^2), > 0.
        reward_scale: every reward is multiplied by it, > 0.
        success_threshold: an episode succeeds when ``return / reward_scale >= success_threshold``.
        action_sign: +1.0, or -1.0 when the action's direction is reversed (family ``flip``).
        target_x: hidden target cart position (m) of family ``target``; ``None``: the draft's reward.
    """

    family: str = "nominal"
    pole_length: float = DEFAULT_PARAMS["pole_length"]
    pole_mass: float = DEFAULT_PARAMS["pole_mass"]
    cart_mass: float = DEFAULT_PARAMS["cart_mass"]
    gravity: float = DEFAULT_PARAMS["gravity"]
    reward_scale: float = DEFAULT_PARAMS["reward_scale"]
    success_threshold: float = DEFAULT_PARAMS["success_threshold"]
    action_sign: float = 1.0
    target_x: Optional[float] = None

    def __post_init__(self) -> None:
        for key in POSITIVE_PARAMS:
            value = getattr(self, key)
            if not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
                raise ValueError(f"task parameter '{key}' must be a positive number, got {value!r}")
        if self.action_sign not in (-1.0, 1.0):
            raise ValueError(f"task parameter 'action_sign' must be +1.0 or -1.0, got {self.action_sign!r}")
        if self.target_x is not None and not (isinstance(self.target_x, numbers.Real) and np.isfinite(self.target_x)):
            raise ValueError(f"task parameter 'target_x' must be a finite number or None, got {self.target_x!r}")

    @classmethod
    def from_params(cls, task_params: Union[Task, Mapping[str, Any], None], family: Optional[str] = None) -> Task:
        """Build a task from a dict of parameters (unknown keys or bad values raise ``ValueError`` naming them)."""
        if task_params is None:
            return cls() if family is None else cls(family=family)
        if isinstance(task_params, Task):
            return task_params
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(task_params) - known)
        if unknown:
            raise ValueError(f"unknown task parameter(s) {unknown}; valid keys are {sorted(known)}")
        values = {key: _as_number(key, value) for key, value in task_params.items() if key != "family"}
        values["family"] = task_params.get("family", family if family is not None else "nominal")
        return cls(**values)

    def replace(self, **changes: Any) -> Task:
        """A copy of this task with some parameters changed (validated like :meth:`from_params`)."""
        return Task.from_params({**self.as_dict(), **changes})

    def as_dict(self) -> dict:
        """All fields as a plain dict (inverse of :meth:`from_params`)."""
        return dataclasses.asdict(self)

    def params(self) -> dict:
        """The parameters as the course draft's ``env.params``: its six keys, plus ``action_sign`` on
        ``flip`` tasks (or when reversed) and ``target_x`` on ``target`` tasks; values are Python floats."""
        params = {key: getattr(self, key) for key in DEFAULT_PARAMS}
        if self.family == "flip" or self.action_sign != 1.0:
            params["action_sign"] = self.action_sign
        if self.target_x is not None:
            params["target_x"] = self.target_x
        return params

    def features(self) -> np.ndarray:
        """What an oracle may see: float32 [TASK_FEATURE_DIM], roughly zero-mean and unit-scale.

        ``[l / 0.5 - 1, m_p / 0.1 - 1, m_c / 1.0 - 1, g / 9.8 - 1, reward_scale - 1, action_sign, target_x]``
        (``target_x`` is 0 when there is no target).
        """
        return np.array(
            [
                self.pole_length / DEFAULT_PARAMS["pole_length"] - 1.0,
                self.pole_mass / DEFAULT_PARAMS["pole_mass"] - 1.0,
                self.cart_mass / DEFAULT_PARAMS["cart_mass"] - 1.0,
                self.gravity / DEFAULT_PARAMS["gravity"] - 1.0,
                self.reward_scale - 1.0,
                self.action_sign,
                0.0 if self.target_x is None else self.target_x,
            ],
            dtype=np.float32,
        )


def _as_number(key: str, value: Any) -> Optional[float]:
    if key == "target_x" and value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"task parameter '{key}' must be a number, got {value!r}") from None


def as_task(task: Any) -> Task:
    """A :class:`Task` from a Task, a dict of parameters, or anything with a ``.task`` Task (an env)."""
    if isinstance(task, Task):
        return task
    inner = getattr(task, "task", None)
    if isinstance(inner, Task):
        return inner
    if task is None or isinstance(task, Mapping):
        return Task.from_params(task)
    raise TypeError(
        f"expected a Task, a dict of task parameters or a ParameterizedCartPoleEnv, got {type(task).__name__}"
    )


def as_generator(rng: SeedLike) -> np.random.Generator:
    """A ``numpy.random.Generator``: ``rng`` itself, or a new one seeded with it (``None``: fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def check_family(task_type: str) -> str:
    """Return ``task_type`` if it names a family, else raise ``ValueError`` listing the valid ones."""
    if task_type not in FAMILIES:
        raise ValueError(f"unknown task family {task_type!r}; valid families are {list(FAMILIES)}")
    return task_type


def sample_task_value(task_type: str, rng: np.random.Generator) -> Task:
    """Draw one task of family ``task_type`` with the generator ``rng``.

    As in the draft, each parameter of ``PARAM_RANGES[task_type]`` is drawn uniformly, in order;
    then each of ``PARAM_CHOICES[task_type]`` uniformly from its set.
    """
    check_family(task_type)
    values = {key: float(rng.uniform(low, high)) for key, (low, high) in PARAM_RANGES[task_type].items()}
    for key, choices in PARAM_CHOICES.get(task_type, {}).items():
        values[key] = float(choices[int(rng.integers(len(choices)))])
    return Task(family=task_type, **values)


META_TRAIN_SEED = 0
META_TEST_SEED = 10_000


def meta_train_tasks(family: str, n: int = 100, seed: int = META_TRAIN_SEED) -> list[Task]:
    """A fixed, seeded set of meta-training tasks."""
    rng = np.random.default_rng([seed, FAMILIES.index(check_family(family))])
    return [sample_task_value(family, rng) for _ in range(n)]


def meta_test_tasks(family: str, n: int = 200, seed: int = META_TEST_SEED) -> list[Task]:
    """A fixed, seeded set of held-out meta-test tasks (a different random stream from meta-train)."""
    return meta_train_tasks(family, n=n, seed=seed)
