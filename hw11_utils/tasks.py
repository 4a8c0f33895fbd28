"""Tasks and task distributions over parameterised CartPole.

A *task* is one setting of the physics (pole length, pole mass, gravity), of the action's direction
(``action_sign``) and of the reward's target position (``target_x``). A *task family* is a
distribution over tasks. The course's four families (``pole_length``, ``mass``, ``gravity``,
``mixed``) change the physics only; a single robust controller solves all of them, so they need no
adaptation (the control case). ``flip`` and ``target`` are families where the best behaviour
differs per task, so an agent must infer the task from experience:

* ``flip``: in half of the tasks pushing "right" moves the cart left (identifiable from one push);
* ``target``: the reward is ``exp(-|x - x*|)`` for a hidden ``x*`` (identifiable only from rewards).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

NOMINAL_POLE_LENGTH = 0.5  # pole half-length (m), as in gymnasium's CartPole
NOMINAL_POLE_MASS = 0.1  # kg
NOMINAL_GRAVITY = 9.8  # m/s^2

#: Ranges of the uniform distributions of each family (low, high).
POLE_LENGTH_RANGE = (0.25, 1.0)
POLE_MASS_RANGE = (0.05, 0.5)
GRAVITY_RANGE = (5.0, 15.0)
TARGET_RANGE = (-1.5, 1.5)

FAMILIES = ("pole_length", "mass", "gravity", "mixed", "flip", "target")
#: Families whose optimal behaviour differs per task (adaptation is needed).
ADAPTIVE_FAMILIES = ("flip", "target")
#: Length of :meth:`Task.features`.
TASK_FEATURE_DIM = 5

SeedLike = Union[np.random.Generator, int, None]


@dataclass(frozen=True)
class Task:
    """One CartPole task: an immutable value of its parameters.

    Attributes:
        family: name of the family the task was drawn from ("nominal" for the default task).
        pole_length: half-length of the pole (m), > 0.
        pole_mass: mass of the pole (kg), > 0.
        gravity: gravitational acceleration (m/s^2), > 0.
        action_sign: +1.0, or -1.0 when the action's direction is reversed.
        target_x: hidden target cart position (m); ``None`` means the reward is 1 per step alive.
    """

    family: str = "nominal"
    pole_length: float = NOMINAL_POLE_LENGTH
    pole_mass: float = NOMINAL_POLE_MASS
    gravity: float = NOMINAL_GRAVITY
    action_sign: float = 1.0
    target_x: Optional[float] = None

    def __post_init__(self) -> None:
        for key in ("pole_length", "pole_mass", "gravity"):
            value = getattr(self, key)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"task parameter '{key}' must be a positive number, got {value!r}")
        if self.action_sign not in (-1.0, 1.0):
            raise ValueError(f"task parameter 'action_sign' must be +1.0 or -1.0, got {self.action_sign!r}")
        if self.target_x is not None and not np.isfinite(self.target_x):
            raise ValueError(f"task parameter 'target_x' must be finite or None, got {self.target_x!r}")

    @classmethod
    def from_params(cls, task_params: Union[Task, dict, None]) -> Task:
        """Build a task from a dict of parameters (unknown keys raise ``ValueError`` naming them)."""
        if task_params is None:
            return cls()
        if isinstance(task_params, Task):
            return task_params
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(task_params) - known)
        if unknown:
            raise ValueError(f"unknown task parameter(s) {unknown}; valid keys are {sorted(known)}")
        values = {key: (float(v) if key not in ("family", "target_x") else v) for key, v in task_params.items()}
        if values.get("target_x") is not None:
            values["target_x"] = float(values["target_x"])
        return cls(**values)

    def as_dict(self) -> dict:
        """The task's parameters as a plain dict (inverse of :meth:`from_params`)."""
        return dataclasses.asdict(self)

    def features(self) -> np.ndarray:
        """What an oracle may see: float32 [TASK_FEATURE_DIM], roughly zero-mean and unit-scale.

        ``[pole_length / 0.5 - 1, pole_mass / 0.1 - 1, gravity / 9.8 - 1, action_sign, target_x]``
        (``target_x`` is 0 when there is no target).
        """
        return np.array(
            [
                self.pole_length / NOMINAL_POLE_LENGTH - 1.0,
                self.pole_mass / NOMINAL_POLE_MASS - 1.0,
                self.gravity / NOMINAL_GRAVITY - 1.0,
                self.action_sign,
                0.0 if self.target_x is None else self.target_x,
            ],
            dtype=np.float32,
        )


def _as_generator(rng: SeedLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def check_family(task_type: str) -> str:
    """Return ``task_type`` if it names a family, else raise ``ValueError`` listing the valid ones."""
    if task_type not in FAMILIES:
        raise ValueError(f"unknown task family {task_type!r}; valid families are {list(FAMILIES)}")
    return task_type


def sample_task(task_type: str, rng: np.random.Generator) -> Task:
    """Draw one task of family ``task_type`` using the generator ``rng``."""
    check_family(task_type)
    if task_type == "pole_length":
        return Task(task_type, pole_length=float(rng.uniform(*POLE_LENGTH_RANGE)))
    if task_type == "mass":
        return Task(task_type, pole_mass=float(rng.uniform(*POLE_MASS_RANGE)))
    if task_type == "gravity":
        return Task(task_type, gravity=float(rng.uniform(*GRAVITY_RANGE)))
    if task_type == "mixed":
        return Task(
            task_type,
            pole_length=float(rng.uniform(*POLE_LENGTH_RANGE)),
            pole_mass=float(rng.uniform(*POLE_MASS_RANGE)),
            gravity=float(rng.uniform(*GRAVITY_RANGE)),
        )
    if task_type == "flip":
        return Task(task_type, action_sign=float(rng.choice([-1.0, 1.0])))
    return Task(task_type, target_x=float(rng.uniform(*TARGET_RANGE)))


class TaskDistribution:
    """A distribution over tasks of one family.

    Example:
        >>> dist = TaskDistribution("flip", rng=0)
        >>> tasks = dist.sample_tasks(4)

    Args:
        task_type: one of :data:`FAMILIES`.
        rng: a ``numpy.random.Generator`` (used as is), an int seed, or ``None`` (fresh entropy).
    """

    def __init__(self, task_type: str, rng: SeedLike = None) -> None:
        self.task_type = check_family(task_type)
        self.rng = _as_generator(rng)

    def sample_task(self) -> Task:
        """Draw one task."""
        return sample_task(self.task_type, self.rng)

    def sample_tasks(self, n: int) -> list[Task]:
        """Draw ``n`` tasks."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return [self.sample_task() for _ in range(n)]

    def __repr__(self) -> str:
        return f"TaskDistribution({self.task_type!r})"


META_TRAIN_SEED = 0
META_TEST_SEED = 10_000


def meta_train_tasks(family: str, n: int = 100, seed: int = META_TRAIN_SEED) -> list[Task]:
    """A fixed, seeded set of meta-training tasks."""
    return TaskDistribution(family, rng=np.random.default_rng([seed, FAMILIES.index(check_family(family))])) \
        .sample_tasks(n)


def meta_test_tasks(family: str, n: int = 200, seed: int = META_TEST_SEED) -> list[Task]:
    """A fixed, seeded set of held-out meta-test tasks (a different random stream from meta-train)."""
    return meta_train_tasks(family, n=n, seed=seed)
