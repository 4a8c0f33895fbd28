"""Few-shot benchmark: every method on every family, one table per family, and the acceptance targets.

For each family and each method (MAML, RL², PEARL, and the baselines agnostic, fine-tune, oracle):
train it at its HOMEWORK budget (``--quick``: QUICK; ``--load``: use the saved checkpoint when there
is one), timing the training's wall-clock, then run its ``adaptation_curve`` on the 200 held-out
tasks ``meta_test_tasks(family)`` (``--eval-seeds`` runs, 5 by default, averaged per task). The table
shows, per method, the normalised return after 0..3 adaptation units (gradient steps for MAML and
fine-tune, episodes of experience for RL² and PEARL; agnostic and oracle do not adapt, their curves
are flat) as mean ± 95% CI (over tasks with one training seed, over seeds with more), the gain
``unit 3 - unit 0`` (paired CI), ``best - unit 0``, and the training and evaluation seconds. Under
each table: a verdict computed from the numbers (does the family need adaptation: is the oracle
clearly better than the agnostic policy?). At the end: PASS / FAIL / N/A for the acceptance targets
(they are meant for the HOMEWORK budget), each judged per training seed of the method against the
mean over seeds of the references (agnostic, oracle).

A method whose module is missing, lacks a function, or fails gets an ERROR row; the others go on.
How each method is trained, evaluated and checkpointed is in one place, :data:`ADAPTERS`.

Usage::

    python benchmarks/few_shot.py [--families flip,target] [--methods maml,rl2,pearl,agnostic,finetune,oracle]
                                  [--quick] [--load] [--seeds 1] [--save DIR] [--threads 1] [--jobs 1]

``--jobs N`` first trains every model the run needs in N spawned processes (``--threads`` torch threads
each, the longest trainings first), then evaluates them in turn: the same models and numbers as without
it (a test checks this). On the 2-core development machine each training then ran 1.2-2 times as long
as alone (README.md, "The whole benchmark in one run"): ``--jobs 2`` trained everything in about four
fifths of the time of training in turn, not half, and the training times it reports (and the 300 s row)
are those of a busy machine.

``--save DIR`` writes ``DIR/few_shot_<family>.csv`` (long format: method x unit), the plot
``DIR/few_shot_<family>.png``, the curves per seed and task ``DIR/few_shot_<family>_curves.npz`` and the
checkpoints of the models trained here in ``DIR/checkpoints/`` (``--checkpoint-dir DIR/checkpoints --load``
evaluates them again without training, every seed).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch

from hw11_utils.evaluation import few_shot_table, mean_ci
from hw11_utils.tasks import meta_test_tasks

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = REPO_ROOT / "hw11_utils" / "checkpoints"

DEFAULT_FAMILIES = ("flip", "target", "pole_length", "mass", "gravity", "mixed")
COURSE_FAMILIES = ("pole_length", "mass", "gravity", "mixed")  # one robust controller solves them all
META_METHODS = ("maml", "rl2", "pearl")

ADAPTATION_NEEDED_GAP = 0.1  # oracle - agnostic above this: the family needs adaptation
SOLVED_RETURN = 0.8  # an oracle below this is undertrained: the verdict says so
GAIN_TOLERANCE = 0.05  # |gain| at most this counts as "gain ≈ 0"
TARGET_GAP_FRACTION = 0.75  # on target, RL² and PEARL should close this much of the oracle - agnostic gap
SEED_FRACTION = 0.8  # a target passes when at least this fraction of the training seeds meets it (4 of 5)
ADAPTIVE = ("flip", "target")
TRAIN_LIMIT_S = 300.0  # each meta-RL method trains in under 5 minutes (HOMEWORK budget)
TABLE_LIMIT_S = 1200.0  # one family's whole table in under 20 minutes per training seed


# --------------------------------------------------------------------------------------------------
# Adapters: how each method is trained, evaluated and checkpointed (signature differences live here)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adapter:
    """One method of the table, run through the functions of a ``solutions`` module.

    Attributes:
        label: the name printed in the table.
        module: the module with the ``<ALGO>_QUICK``/``<ALGO>_HOMEWORK`` configs, ``train_<algo>``,
            ``<algo>_adaptation_curve``, ``save_<algo>`` and ``load_<algo>`` (docs/ARCHITECTURE.md,
            "Unique names"; the generic names ``QUICK``, ``train``, ``adaptation_curve``,
            ``save_checkpoint``, ``load_checkpoint`` are accepted too).
        algo: the ``<algo>`` of those names.
        checkpoint: the checkpoint's file name, ``{family}`` filled in (methods sharing a file share
            the trained model: fine-tune adapts the agnostic policy).
        config_changes: fields replaced in the budget's config (e.g. the baselines' ``method``).
        curve_kwargs: extra keyword arguments of ``adaptation_curve``.
        units: what one adaptation unit is, for the footnote.
    """

    label: str
    module: str
    algo: str
    checkpoint: str
    config_changes: dict[str, Any] = field(default_factory=dict)
    curve_kwargs: dict[str, Any] = field(default_factory=dict)
    units: str = "inner steps"

    def _module(self) -> Any:
        if str(REPO_ROOT) not in sys.path:  # ``solutions`` is not installed: run from the repository
            sys.path.insert(0, str(REPO_ROOT))
        return importlib.import_module(self.module)

    def _lookup(self, *names: str) -> Any:
        """The first of ``names`` the module defines."""
        module = self._module()
        for name in names:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"{self.module} has none of {', '.join(names)}")

    def config(self, family: str, quick: bool) -> Any:
        """The QUICK or HOMEWORK config (``<ALGO>_HOMEWORK_<FAMILY>`` when the module has one, e.g.
        ``RL2_HOMEWORK_TARGET``, then ``<ALGO>_HOMEWORK_COURSE`` for the course's four families), with
        ``config_changes`` and the family when the config holds it."""
        budget = budget_name(quick)
        names = [f"{self.algo.upper()}_{budget}", budget]
        if not quick:
            specific = [family.upper(), *(["COURSE"] if family in COURSE_FAMILIES else [])]
            names[:0] = [f"{self.algo.upper()}_{budget}_{name}" for name in specific]
        config = self._lookup(*names)
        changes = dict(self.config_changes)
        if "family" in {f.name for f in dataclasses.fields(config)}:
            changes["family"] = family  # MAML keeps its family in the config
        return dataclasses.replace(config, **changes)

    def train(self, family: str, seed: int, quick: bool, device: str, progress: bool) -> tuple[Any, dict]:
        """``train(config, [family,] seed=, device=, progress=)`` -> (model, history)."""
        train = self._lookup(f"train_{self.algo}", "train")
        config = self.config(family, quick)
        parameters = inspect.signature(train).parameters
        kwargs: dict[str, Any] = {"seed": seed}
        if "family" in parameters:
            kwargs["family"] = family
        elif not hasattr(config, "family"):  # (a config with a family got it in self.config)
            raise TypeError(f"cannot tell {train.__name__} which family to train on")
        for name, value in (("device", device), ("progress", progress)):
            if name in parameters:
                kwargs[name] = value
        return train(config, **kwargs)

    def steps_per_unit(self, model: Any) -> int:
        """Env steps of new-task experience one unit consumes (at most: episodes that fall end early)."""
        if self.units == "none":
            return 0
        config = getattr(model, "config", None)
        if self.algo == "maml":
            return config.inner_episodes * config.inner_episode_length
        if self.curve_kwargs.get("method") == "finetune":
            return config.finetune_episodes * 200
        return 200  # one episode of an RL² trial or of PEARL context

    def adaptation_curve(self, model: Any, tasks: Sequence[Any], num_units: int, seed: int, device: str) -> np.ndarray:
        """``adaptation_curve(model, tasks, num_units, seed, device, **curve_kwargs)``: float [K, units + 1]."""
        curve_fn = self._lookup(f"{self.algo}_adaptation_curve", "adaptation_curve")
        curve = curve_fn(model, list(tasks), num_units=num_units, seed=seed, device=device, **self.curve_kwargs)
        curve = np.asarray(curve, dtype=np.float64)
        if curve.shape != (len(tasks), num_units + 1):
            raise ValueError(f"{curve_fn.__name__} returned shape {curve.shape}, "
                             f"expected {(len(tasks), num_units + 1)}")
        return curve

    def checkpoint_path(self, family: str, directory: Path) -> Path:
        return directory / self.checkpoint.format(family=family)

    def load(self, path: Path, device: str) -> Any:
        return self._lookup(f"load_{self.algo}", "load_checkpoint")(str(path), device=device)

    def save(self, model: Any, path: Path, metadata: dict[str, Any]) -> None:
        save = self._lookup(f"save_{self.algo}", "save_checkpoint")
        path.parent.mkdir(parents=True, exist_ok=True)
        if "metadata" in inspect.signature(save).parameters:
            save(model, str(path), metadata=metadata)
        else:
            save(model, str(path))


ADAPTERS: dict[str, Adapter] = {
    "maml": Adapter("MAML", "solutions.maml", "maml", "maml_{family}.pt"),
    "rl2": Adapter("RL²", "solutions.rl2", "rl2", "rl2_{family}.pt", units="episodes of the trial"),
    "pearl": Adapter("PEARL", "solutions.pearl", "pearl", "pearl_{family}.pt", units="episodes of context"),
    "agnostic": Adapter("agnostic", "solutions.baselines", "baseline", "baseline_agnostic_{family}.pt",
                        config_changes={"method": "agnostic"}, units="none"),
    "finetune": Adapter("fine-tune", "solutions.baselines", "baseline", "baseline_agnostic_{family}.pt",
                        config_changes={"method": "agnostic"}, curve_kwargs={"method": "finetune"},
                        units="fine-tuning steps"),
    "oracle": Adapter("oracle", "solutions.baselines", "baseline", "baseline_oracle_{family}.pt",
                      config_changes={"method": "oracle"}, units="none"),
}


# --------------------------------------------------------------------------------------------------
# Running one family
# --------------------------------------------------------------------------------------------------
@dataclass
class TrainedModel:
    model: Any = None
    seconds: Optional[float] = None  # training wall-clock (None: loaded without a recorded time)
    source: str = "trained"  # "trained" (here), "worker" (by a --jobs process, then loaded) or "loaded"
    history: Optional[dict] = None  # the training history (None: loaded)
    error: Optional[BaseException] = None


@dataclass
class MethodResult:
    """One row of a family's table."""

    method: str
    curves: Optional[np.ndarray] = None  # [seeds, tasks, units + 1]
    train_seconds: list[Optional[float]] = field(default_factory=list)  # per seed
    histories: list[Optional[dict]] = field(default_factory=list)  # training history per seed (None: loaded)
    eval_seconds: float = 0.0
    source: str = "trained"
    shared_with: Optional[str] = None  # method whose trained model this one reuses
    steps_per_unit: Optional[int] = None  # env steps of new-task experience per unit
    error: Optional[str] = None

    @property
    def label(self) -> str:
        return ADAPTERS[self.method].label

    def means(self) -> np.ndarray:
        """Mean normalised return per unit: [units + 1]."""
        return self.curves.mean(axis=(0, 1))

    def gain(self) -> tuple[float, float]:
        """Mean and CI half-width of ``unit last - unit 0`` (paired per task, or over seeds' means)."""
        difference = self.curves[..., -1] - self.curves[..., 0]  # [seeds, tasks]
        samples = difference.mean(axis=1) if difference.shape[0] >= 2 else difference[0]
        mean, half_width = mean_ci(samples)
        return float(mean), float(half_width)

    def max_train_seconds(self) -> Optional[float]:
        known = [s for s in self.train_seconds if s is not None]
        return max(known) if known else None


@dataclass
class FamilyResult:
    family: str
    results: dict[str, MethodResult]
    seconds: float  # wall-clock of the whole table (training + evaluation)
    table: Optional[pd.DataFrame] = None  # few_shot_table of the methods that ran
    loaded: bool = False  # some models came from checkpoints: ``seconds`` does not include their training
    train_seconds_known: Optional[float] = None  # training of every model, measured or recorded (None: unknown)
    num_seeds: int = 1  # training seeds of the table (its time limit is per seed)
    in_workers: bool = False  # some models were trained by --jobs processes: ``seconds`` excludes that training

    def table_seconds(self) -> tuple[Optional[float], str]:
        """The whole table's time (training + evaluation) and how it was obtained."""
        if not self.loaded and not self.in_workers:
            return self.seconds, "wall-clock"
        if self.train_seconds_known is None:
            return None, "a checkpoint has no recorded training time"
        evaluation = sum(r.eval_seconds for r in self.results.values())
        if self.in_workers:
            where = "in the --jobs workers" + (" or recorded in the checkpoints" if self.loaded else "")
            return self.train_seconds_known + evaluation, f"training {where}, summed, + evaluation"
        return self.train_seconds_known + evaluation, "training recorded in the checkpoints + evaluation"

    def ok(self, method: str) -> Optional[MethodResult]:
        result = self.results.get(method)
        return result if result is not None and result.error is None else None


def short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:160]


def seed_checkpoint(path: Path, seed: int) -> Path:
    """The checkpoint file of a training seed: ``path`` for seed 0, ``<stem>_seed<n>.pt`` for the others."""
    return path if seed == 0 else path.with_name(f"{path.stem}_seed{seed}{path.suffix}")


def mean_curve(adapter: Adapter, model: Any, tasks: Sequence[Any], args: argparse.Namespace) -> np.ndarray:
    """The model's adaptation curve [tasks, units + 1], averaged over ``args.eval_seeds`` evaluation runs
    (eval seeds ``args.eval_seed``, ``args.eval_seed + 1``, ...) on the same tasks: each run draws its own
    initial states, prior z and sampled actions, so the average is a steadier estimate of the trained
    model's return on each task (one run of 200 tasks moved a PEARL ``target`` model by 0.027)."""
    runs = [adapter.adaptation_curve(model, tasks, args.num_units, args.eval_seed + k, args.device)
            for k in range(args.eval_seeds)]
    return np.mean(runs, axis=0)


def budget_name(quick: bool) -> str:
    return "QUICK" if quick else "HOMEWORK"


def train_and_save(adapter: Adapter, family: str, seed: int, quick: bool, device: str, progress: bool,
                   path: Optional[Path]) -> tuple[Any, Optional[dict], float]:
    """Train one model and time it; save it to ``path`` (unless None) with its family, seed, budget and
    training seconds as metadata. Returns (model, history, seconds)."""
    start = time.perf_counter()
    model, history = adapter.train(family, seed, quick, device, progress)
    seconds = time.perf_counter() - start
    if path is not None:
        adapter.save(model, path, {"family": family, "seed": seed, "budget": budget_name(quick),
                                   "train_seconds": round(seconds, 1)})
    return model, history, seconds


def get_model(
    adapter: Adapter, family: str, seed: int, args: argparse.Namespace, cache: dict[tuple, TrainedModel]
) -> TrainedModel:
    """Load (``--load``, when the seed's checkpoint exists, :func:`seed_checkpoint`) or train a model; cached per
    checkpoint file and seed."""
    key = cache_key(adapter, family, seed)
    if key in cache:
        return cache[key]
    entry = TrainedModel()
    try:
        path = seed_checkpoint(adapter.checkpoint_path(family, args.checkpoint_dir), seed)
        if args.load and path.is_file():
            entry.model, entry.source = adapter.load(path, args.device), "loaded"
            metadata = getattr(entry.model, "metadata", None) or {}
            entry.seconds = metadata.get("train_seconds")
            saved_family = metadata.get("family") or getattr(entry.model, "family", None) or getattr(
                getattr(entry.model, "config", None), "family", None)
            if saved_family not in (None, family):
                print(f"  warning: {path.name} was trained on {saved_family!r}, not {family!r}")
            print(f"  [{family}] {adapter.label}: loaded {path}")
        else:
            print(f"  [{family}] {adapter.label}: training, {budget_name(args.quick)} budget, seed {seed}", flush=True)
            saved = None if args.save is None else seed_checkpoint(
                adapter.checkpoint_path(family, args.save / "checkpoints"), seed)
            entry.model, entry.history, entry.seconds = train_and_save(
                adapter, family, seed, args.quick, args.device, args.progress, saved)
            print(f"  [{family}] {adapter.label}: trained in {entry.seconds:.1f} s", flush=True)
    except Exception as exc:  # recorded, and raised again for every method sharing this model
        entry.error = exc
    cache[key] = entry
    return entry


def run_family(
    family: str, methods: Sequence[str], args: argparse.Namespace, trained: Optional[dict[tuple, TrainedModel]] = None
) -> FamilyResult:
    """Train (or load) and evaluate every method on one family; ``trained``: models already trained by
    :func:`train_in_workers` (keyed as :func:`get_model` caches them)."""
    start = time.perf_counter()
    tasks = meta_test_tasks(family, n=args.tasks)
    cache: dict[tuple, TrainedModel] = dict(trained or {})
    owner: dict[tuple, str] = {}  # checkpoint file -> the first method that used it
    results: dict[str, MethodResult] = {}
    for method in methods:
        adapter = ADAPTERS[method]
        result = results[method] = MethodResult(method)
        first_user = owner.setdefault((adapter.module, adapter.checkpoint), method)
        result.shared_with = first_user if first_user != method else None
        try:
            curves = []
            for seed in args.seeds:
                trained = get_model(adapter, family, seed, args, cache)
                if trained.error is not None:
                    raise trained.error
                result.train_seconds.append(trained.seconds)
                result.histories.append(trained.history)
                result.steps_per_unit = adapter.steps_per_unit(trained.model)
                if trained.source == "loaded":
                    result.source = "loaded"
                eval_start = time.perf_counter()
                curves.append(mean_curve(adapter, trained.model, tasks, args))
                result.eval_seconds += time.perf_counter() - eval_start
            result.curves = np.stack(curves)
            print(f"  [{family}] {adapter.label}: evaluated in {result.eval_seconds:.1f} s "
                  f"(mean per unit {np.array2string(result.means(), precision=3)})", flush=True)
        except Exception as exc:
            result.error = short_error(exc)
            print(f"  [{family}] {adapter.label}: ERROR {result.error}", file=sys.stderr)
            if args.traceback:
                traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    ok = [results[m] for m in methods if results[m].error is None]
    table = few_shot_table({r.label: r.curves for r in ok}, steps_per_unit={r.label: r.steps_per_unit for r in ok}) \
        if ok else None
    models = [entry for entry in cache.values() if entry.error is None]
    train_times = [entry.seconds for entry in models]
    return FamilyResult(
        family, results, time.perf_counter() - start, table,
        loaded=any(entry.source == "loaded" for entry in models),
        train_seconds_known=None if None in train_times else float(sum(train_times)),
        num_seeds=len(args.seeds),
        in_workers=any(entry.source == "worker" for entry in models),
    )


# --------------------------------------------------------------------------------------------------
# --jobs: training in parallel processes
# --------------------------------------------------------------------------------------------------
def cache_key(adapter: Adapter, family: str, seed: int) -> tuple:
    """How :func:`get_model` caches a model: methods with the same checkpoint file share it."""
    return (adapter.module, adapter.checkpoint.format(family=family), seed)


# One-thread HOMEWORK training times per model, measured by ``--seeds 5 --jobs 2`` (commit cd913b7, the
# slowest seed, rounded): only used to start the longest trainings first.
TYPICAL_TRAIN_SECONDS = {"rl2": 150, "pearl": 85, "maml": 43, "oracle": 35, "agnostic": 32, "finetune": 32}
TYPICAL_TRAIN_SECONDS_BY_FAMILY = {("rl2", "flip"): 180, ("rl2", "target"): 390, ("pearl", "target"): 410}


def typical_train_seconds(method: str, family: str) -> float:
    """How long a model usually trains (:data:`TYPICAL_TRAIN_SECONDS`); an unknown method counts as long."""
    return TYPICAL_TRAIN_SECONDS_BY_FAMILY.get((method, family), TYPICAL_TRAIN_SECONDS.get(method, math.inf))


def train_job(method: str, family: str, seed: int, quick: bool, device: str, threads: int,
              path: str) -> tuple[Optional[float], Optional[dict], Optional[str]]:
    """One training run in a worker process: train, save the checkpoint to ``path``; returns (seconds,
    history, None), or (None, None, the error with its traceback)."""
    torch.set_num_threads(threads)
    adapter = ADAPTERS[method]
    try:
        _, history, seconds = train_and_save(adapter, family, seed, quick, device, progress=False, path=Path(path))
        return seconds, history, None
    except Exception:  # reported by the parent as this model's error
        return None, None, traceback.format_exc()


def train_in_workers(args: argparse.Namespace, directory: Path) -> dict[str, dict[tuple, TrainedModel]]:
    """Train every model the run needs in ``args.jobs`` processes (``args.threads`` torch threads each),
    the longest first; returns, per family, the trained models keyed as :func:`get_model` caches them.

    Each process trains with the same seeds and thread count as a sequential run, so the models are the
    same (on one machine); their training times are measured while the other processes run. Models that
    ``--load`` finds are left to :func:`get_model`."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    jobs: dict[tuple, tuple[str, str, int, Path]] = {}
    for family in args.families:
        for method in args.methods:
            adapter = ADAPTERS[method]
            for seed in args.seeds:
                path = seed_checkpoint(adapter.checkpoint_path(family, directory), seed)
                loadable = seed_checkpoint(adapter.checkpoint_path(family, args.checkpoint_dir), seed)
                if not (args.load and loadable.is_file()):
                    jobs.setdefault((family, *cache_key(adapter, family, seed)), (method, family, seed, path))
    trained: dict[str, dict[tuple, TrainedModel]] = {family: {} for family in args.families}
    if not jobs:
        return trained
    slow_first = sorted(jobs.values(), key=lambda job: -typical_train_seconds(job[0], job[1]))
    print(f"training {len(slow_first)} model(s) in {args.jobs} processes, {args.threads} torch thread(s) each",
          flush=True)
    if args.jobs * args.threads > (os.cpu_count() or 1):
        print(f"  warning: {args.jobs} x {args.threads} threads on {os.cpu_count()} cores: the training times "
              "will be inflated", flush=True)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = {pool.submit(train_job, method, family, seed, args.quick, args.device, args.threads, str(path)):
                   (method, family, seed, path) for method, family, seed, path in slow_first}
        for future in futures:
            method, family, seed, path = futures[future]
            adapter = ADAPTERS[method]
            trained[family][cache_key(adapter, family, seed)] = entry = TrainedModel(source="worker")
            try:  # a worker that died (BrokenProcessPool) or a checkpoint that does not load: this model's error
                seconds, history, error = future.result()
                if error is None:
                    entry.model, entry.seconds, entry.history = adapter.load(path, args.device), seconds, history
                    print(f"  [{family}] {adapter.label}: seed {seed} trained in {seconds:.1f} s (worker)", flush=True)
                    continue
                entry.error = RuntimeError(error.strip().splitlines()[-1])
            except Exception as exc:
                entry.error, error = exc, short_error(exc)
            print(f"  [{family}] {adapter.label}: seed {seed} failed in its worker:\n{error}", file=sys.stderr)
    return trained


# --------------------------------------------------------------------------------------------------
# Printing: the table, the verdict, the acceptance targets
# --------------------------------------------------------------------------------------------------
def render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [str(row[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def format_seconds(result: MethodResult) -> str:
    seconds = result.max_train_seconds()
    text = "-" if seconds is None else f"{seconds:.1f}"
    if result.source == "loaded":
        text += " (ckpt)"
    if result.shared_with is not None:
        text += f" (= {ADAPTERS[result.shared_with].label})"
    return text


def family_table(family_result: FamilyResult, num_units: int) -> str:
    header = ["method", *[f"unit {u}" for u in range(num_units + 1)], f"gain {num_units}-0", "best-0",
              "train s", "eval s"]
    rows, errors = [], []
    table = family_result.table
    for result in family_result.results.values():
        if result.error is not None:
            rows.append([result.label, "ERROR", *[""] * (len(header) - 2)])
            errors.append(f"  ERROR {result.label}: {result.error}")
            continue
        unit_rows = table[table["method"] == result.label].sort_values("unit")
        cells = [f"{m:.3f} ± {c:.3f}" if np.isfinite(c) else f"{m:.3f}" for m, c in
                 zip(unit_rows["mean"], unit_rows["ci"])]
        means = result.means()
        gain, gain_ci = result.gain()
        gain_text = f"{gain:+.3f} ± {gain_ci:.3f}" if np.isfinite(gain_ci) else f"{gain:+.3f}"
        rows.append([result.label, *cells, gain_text, f"{means.max() - means[0]:+.3f}", format_seconds(result),
                     f"{result.eval_seconds:.1f}"])
    return "\n".join([render(header, rows), *errors])


def units_footnote(family_result: FamilyResult) -> str:
    """What one unit is per method and how much new-task experience it consumes, e.g.
    ``MAML: inner steps, 1000 env steps each; RL²: episodes of the trial, 200 env steps each; ...``."""
    parts = []
    for result in family_result.results.values():
        units = ADAPTERS[result.method].units
        if units == "none":
            parts.append(f"{result.label}: flat, no adaptation")
        elif result.steps_per_unit is not None:
            parts.append(f"{result.label}: {units}, {result.steps_per_unit} env steps each")
    return ("units of new-task experience (at most; episodes that fall end early): " + "; ".join(parts)
            + " (the plot's x-axis is env steps)")


def verdict(family_result: FamilyResult) -> str:
    """Does the family need adaptation? From the agnostic and oracle numbers, and who adapts best."""
    agnostic, oracle = family_result.ok("agnostic"), family_result.ok("oracle")
    if agnostic is None or oracle is None:
        return "verdict: needs the agnostic and oracle rows"
    low, high = agnostic.means()[-1], oracle.means()[-1]
    gap = high - low
    caution = (f" [caution: the oracle reaches only {high:.3f}, the baselines look undertrained]"
               if high < SOLVED_RETURN else "")
    if abs(gap) <= ADAPTATION_NEEDED_GAP:
        return (f"no adaptation needed: agnostic ≈ oracle ({low:.3f} vs {high:.3f}, |gap| {abs(gap):.3f} "
                f"<= {ADAPTATION_NEEDED_GAP}){caution}")
    if gap < 0:
        return f"no adaptation needed: the oracle ({high:.3f}) is below agnostic ({low:.3f}){caution}"
    text = f"adaptation needed: oracle {high:.3f} vs agnostic {low:.3f} (gap {gap:+.3f})"
    adapters = [family_result.ok(m) for m in (*META_METHODS, "finetune")]
    adapters = [r for r in adapters if r is not None]
    if adapters:
        parts = [f"{r.label} {r.means()[-1]:.3f} ({round(100 * (r.means()[-1] - low) / gap) + 0:d}% of the gap)"
                 for r in sorted(adapters, key=lambda r: -r.means()[-1])]
        text += "; after adaptation: " + ", ".join(parts)
    return text + caution


def first_time_at(history: Optional[dict], threshold: float) -> Optional[float]:
    """Seconds of training until the model-selection score (on meta-training tasks) first reached
    ``threshold``; None when it never did, or nothing was recorded."""
    if not history or not history.get("selection") or "wall_time" not in history:
        return None
    for iteration, score in history["selection"]:
        if score >= threshold:
            return float(history["wall_time"][iteration])
    return None


def time_to_target(families: dict[str, FamilyResult]) -> list[tuple[str, str]]:
    """TIME rows: per family and method, the training time until the model-selection score first
    reached the method's target value (RL² and PEARL on flip 0.9, MAML on flip agnostic + 0.2, RL² and
    PEARL on target agnostic + 0.75 (oracle - agnostic)); each seed's time, or "never"."""
    rows: list[tuple[str, str]] = []

    def mean_at(family: str, method: str, unit: int) -> Optional[float]:
        result = families[family].ok(method) if family in families else None
        return None if result is None or result.curves.shape[-1] <= unit else float(result.means()[unit])

    targets: dict[tuple[str, str], Optional[float]] = {("flip", "rl2"): 0.9, ("flip", "pearl"): 0.9}
    agnostic_flip = mean_at("flip", "agnostic", 1)
    targets["flip", "maml"] = None if agnostic_flip is None else agnostic_flip + 0.2
    agnostic_target, oracle_target = mean_at("target", "agnostic", 2), mean_at("target", "oracle", 2)
    for method in ("rl2", "pearl"):
        targets["target", method] = None if None in (agnostic_target, oracle_target) else (
            agnostic_target + TARGET_GAP_FRACTION * (oracle_target - agnostic_target))
    for (family, method), threshold in targets.items():
        result = families[family].ok(method) if family in families else None
        if result is None or threshold is None or not any(result.histories):
            continue
        times = [first_time_at(history, threshold) for history in result.histories if history is not None]
        text = ", ".join("never" if t is None else f"{t:.0f} s" for t in times)
        rows.append(("TIME", f"{family}: {result.label} training time until its selection score on meta-train "
                             f"tasks first reached {threshold:.3f}, per seed: {text}"))
    return rows


def acceptance(families: dict[str, FamilyResult], num_units: int) -> list[tuple[str, str]]:
    """(status, description) for each acceptance target: PASS, FAIL or N/A (not run or failed)."""
    checks: list[tuple[str, str]] = []
    last = num_units

    def status(condition: bool) -> str:
        return "PASS" if condition else "FAIL"

    def missing(family: str, *methods: str) -> Optional[str]:
        if family not in families:
            return f"{family} not run"
        absent = [ADAPTERS[m].label for m in methods if families[family].ok(m) is None]
        return f"no {', '.join(absent)} result on {family}" if absent else None

    def seed_means(family: str, method: str) -> np.ndarray:
        """Mean over tasks per training seed: [seeds, units + 1]."""
        return families[family].ok(method).curves.mean(axis=1)

    def per_seed(label: str, family: str, method: str, references: Sequence[str], unit: int, passes: Any,
                 describe: Any) -> None:
        """A target judged on every training seed of ``method``; PASS when at least SEED_FRACTION of them meet it.

        The references (agnostic, oracle) enter as their mean over their own training seeds: they are trained
        independently of ``method``, so judging seed i against the references' seed i would only add their
        seed-to-seed spread to every verdict (the oracle's on target: ± 0.028, 0.75 of it in the bar).
        ``passes(value, refs)`` gets one seed's mean return after ``unit`` units and reference -> its mean after
        ``unit`` units; ``describe(value, refs)`` gets the mean over seeds and the same references."""
        why = missing(family, method, *references) or (None if num_units >= unit else f"needs num_units >= {unit}")
        if why:
            checks.append(("N/A", f"{label} ({why})"))
            return
        values = seed_means(family, method)[:, unit]
        refs = {name: float(seed_means(family, name)[:, unit].mean()) for name in references}
        met = [bool(passes(value, refs)) for value in values]
        ok = sum(met) >= SEED_FRACTION * len(met)
        per_seed_text = ", ".join(f"{value:.3f}" for value in values)
        checks.append((status(ok), f"{label}: {describe(float(values.mean()), refs)}; {sum(met)}/{len(met)} seeds"
                       + (f" ({per_seed_text})" if len(values) > 1 else "")))

    def flip_after_one_episode(method: str) -> None:
        per_seed(f"flip: {ADAPTERS[method].label} >= 0.9 after 1 episode", "flip", method, [], 1,
                 lambda value, refs: value >= 0.9, lambda value, refs: f"{value:.3f}")

    def target_gap(method: str) -> None:
        def bar(refs: dict) -> float:
            return refs["agnostic"] + TARGET_GAP_FRACTION * (refs["oracle"] - refs["agnostic"])

        def describe(value: float, refs: dict) -> str:
            gap = refs["oracle"] - refs["agnostic"]
            closed = f"{round(100 * (value - refs['agnostic']) / gap)}% of the gap" if gap > 0.01 else "no gap"
            return f"{value:.3f} vs {bar(refs):.3f} ({closed})"

        per_seed(f"target: {ADAPTERS[method].label} >= agnostic + 0.75 (oracle - agnostic) after 2 episodes",
                 "target", method, ["agnostic", "oracle"], 2, lambda value, refs: value >= bar(refs), describe)

    for method in ("rl2", "pearl"):
        flip_after_one_episode(method)
    per_seed("flip: MAML >= agnostic + 0.2 after 1 step", "flip", "maml", ["agnostic"], 1,
             lambda value, refs: value >= refs["agnostic"] + 0.2,
             lambda value, refs: f"{value:.3f} vs {refs['agnostic']:.3f} + 0.2")
    for method in ("rl2", "pearl"):
        target_gap(method)
    for family in ADAPTIVE:  # curves that keep improving with experience
        for method in ("rl2", "pearl", "maml"):
            why = missing(family, method)
            label = f"{family}: {ADAPTERS[method].label} curve non-decreasing (within CI) " + (
                "after its first step" if method == "maml" else "over episodes 1..4")
            if why:
                checks.append(("N/A", f"{label} ({why})"))
                continue
            rows = families[family].table
            rows = rows[rows["method"] == ADAPTERS[method].label].sort_values("unit")
            mean, ci = rows["mean"].to_numpy(), np.nan_to_num(rows["ci"].to_numpy())
            first = 1 if method == "maml" else 0
            drops = [k for k in range(first + 1, len(mean)) if mean[k] + ci[k] < mean[k - 1] - ci[k - 1]]
            state = status(not drops) if method != "maml" or not drops else "NOTE"
            text = " -> ".join(f"{m:.3f}" for m in mean)
            note = " (meta-trained for one inner step; MAMLConfig(inner_steps=3) keeps improving)" * (state == "NOTE")
            checks.append((state, f"{label}: {text}{note}"))

    for family in COURSE_FAMILIES:  # no adaptation to gain
        label = f"{family}: |gain {last}-0| <= {GAIN_TOLERANCE} for every method"
        if family not in families:
            checks.append(("N/A", f"{label} ({family} not run)"))
            continue
        gains = {r.label: r.gain()[0] for r in families[family].results.values() if r.error is None}
        if not gains:
            checks.append(("N/A", f"{label} (no method ran)"))
            continue
        worst = max(gains, key=lambda name: abs(gains[name]))
        checks.append((status(abs(gains[worst]) <= GAIN_TOLERANCE), f"{label}: largest {worst} {gains[worst]:+.3f}"))

    checks += time_to_target(families)

    for method in META_METHODS:  # training wall-clock
        label = f"{ADAPTERS[method].label} training < {TRAIN_LIMIT_S:.0f} s"
        results = {family: result.ok(method) for family, result in families.items()}
        times = {family: r.max_train_seconds() for family, r in results.items() if r is not None}
        times = {family: seconds for family, seconds in times.items() if seconds is not None}
        if not times:
            checks.append(("N/A", f"{label} (no measured training)"))
            continue
        slowest = max(times, key=times.get)
        checks.append((status(times[slowest] < TRAIN_LIMIT_S), f"{label}: slowest {times[slowest]:.0f} s "
                       f"({slowest}; {len(times)} families)"))

    for family, result in families.items():
        seeds = result.num_seeds
        per_seed_text = f" per seed ({seeds} seeds)" if seeds > 1 else ""
        label = f"{family}: whole table < {TABLE_LIMIT_S / 60:.0f} min{per_seed_text}"
        seconds, how = result.table_seconds()
        if seconds is None:
            checks.append(("N/A", f"{label} ({how})"))
        else:
            per_seed_seconds = seconds / seeds
            checks.append((status(per_seed_seconds < TABLE_LIMIT_S), f"{label}: {per_seed_seconds:.0f} s ({how})"))
    return checks


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------
def parse_list(text: str, valid: Sequence[str], what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in valid]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; valid: {list(valid)}")
    return items


def main(argv: Optional[Sequence[str]] = None) -> int:
    from hw11_utils.tasks import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(DEFAULT_FAMILIES),
                        type=lambda s: parse_list(s, FAMILIES, "families"), help="comma-separated families")
    parser.add_argument("--methods", default=",".join(ADAPTERS),
                        type=lambda s: parse_list(s, list(ADAPTERS), "methods"), help="comma-separated methods")
    parser.add_argument("--quick", action="store_true", help="QUICK budgets instead of HOMEWORK")
    parser.add_argument("--load", action="store_true",
                        help="use saved checkpoints when present (seed n > 0: <name>_seed<n>.pt, as --save writes)")
    parser.add_argument("--checkpoint-dir", type=Path, default=CHECKPOINT_DIR, help="where --load looks")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds 0..N-1 (default 1)")
    parser.add_argument("--eval-seed", type=int, default=0, help="first eval seed of every adaptation curve")
    parser.add_argument("--eval-seeds", type=int, default=5,
                        help="evaluation runs per model, averaged per task (eval seeds eval-seed, eval-seed + 1, ...)")
    parser.add_argument("--tasks", type=int, default=200, help="held-out tasks per family")
    parser.add_argument("--num-units", type=int, default=3, help="adaptation units")
    parser.add_argument("--save", type=Path, default=None, help="write CSV, PNG and checkpoints here")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CPU is shared)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="train the models in this many processes first (each with --threads threads; "
                             "the same models; each training is slower while the others run)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no training bars")
    parser.add_argument("--traceback", action="store_true", help="print full tracebacks of errors")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any error, FAIL or N/A")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.eval_seeds < 1 or args.jobs < 1:
        parser.error("--seeds, --eval-seeds and --jobs must be at least 1")
    args.seeds = list(range(args.seeds))
    torch.set_num_threads(args.threads)

    budget = budget_name(args.quick)
    print(f"Few-shot benchmark: {budget} budget{' (checkpoints when present)' if args.load else ''}, "
          f"{len(args.seeds)} training seed(s), {args.tasks} held-out tasks per family, "
          f"{args.eval_seeds} evaluation run(s) per model (eval seeds from {args.eval_seed}), "
          f"{args.threads} torch thread(s)")
    start = time.perf_counter()
    trained: dict[str, dict[tuple, TrainedModel]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        if args.jobs > 1:
            directory = args.save / "checkpoints" if args.save is not None else Path(scratch)
            trained = train_in_workers(args, directory)
        families = run_families(args, trained, budget)

    print(f"\n=== summary ({time.perf_counter() - start:.0f} s) ===")
    for family, result in families.items():
        print(f"{family}: {verdict(result)}")
    print(f"\nAcceptance targets (for the HOMEWORK budget{'; informational with --quick' if args.quick else ''}):")
    checks = acceptance(families, args.num_units)
    for state, text in checks:
        print(f"  {state:4s}  {text}")
    errors = [(f, r.label) for f, fr in families.items() for r in fr.results.values() if r.error is not None]
    if errors:
        print(f"{len(errors)} method(s) failed: " + ", ".join(f"{label} on {family}" for family, label in errors))
    bad = errors or any(state not in ("PASS", "TIME") for state, _ in checks)
    return 1 if args.strict and bad else 0


def run_families(
    args: argparse.Namespace, trained: dict[str, dict[tuple, TrainedModel]], budget: str
) -> dict[str, FamilyResult]:
    """Every family's table (training what ``trained`` lacks), printed and saved as it is done."""
    families: dict[str, FamilyResult] = {}
    for family in args.families:
        print(f"\n=== {family} ===", flush=True)
        result = families[family] = run_family(family, args.methods, args, trained.get(family))
        ci_over = "seeds" if len(args.seeds) >= 2 else "tasks"
        print(f"\n{family}: normalised return after k units of new-task experience, "
              f"{args.tasks} held-out tasks "
              f"(mean ± 95% CI over {ci_over}), {budget} budget, table in {result.seconds:.0f} s"
              + (" after the --jobs training" if result.in_workers else ""))
        print(family_table(result, args.num_units))
        print(units_footnote(result))
        print(verdict(result))
        if args.save is not None and result.table is not None:
            save_family(result, args, budget)
    return families


def save_family(result: FamilyResult, args: argparse.Namespace, budget: str) -> None:
    """``DIR/few_shot_<family>.csv`` (few_shot_table plus timings), ``DIR/few_shot_<family>.png`` and
    ``DIR/few_shot_<family>_curves.npz`` (method -> curves [seeds, tasks, units + 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hw11_utils.plots import plot_adaptation_curves

    args.save.mkdir(parents=True, exist_ok=True)
    table = result.table.copy()
    by_label = {r.label: r for r in result.results.values()}
    table.insert(0, "family", result.family)
    table["budget"] = budget
    table["train_seconds"] = [by_label[m].max_train_seconds() for m in table["method"]]
    table["eval_seconds"] = [by_label[m].eval_seconds for m in table["method"]]
    table["source"] = [by_label[m].source for m in table["method"]]
    csv_path = args.save / f"few_shot_{result.family}.csv"
    table.to_csv(csv_path, index=False)
    curves_path = args.save / f"few_shot_{result.family}_curves.npz"  # per seed and task, for re-analysis
    np.savez_compressed(curves_path, **{r.method: r.curves for r in result.results.values() if r.error is None})
    figure = plot_adaptation_curves(
        result.table,
        title=f"{result.family}: few-shot adaptation on {args.tasks} held-out tasks ({budget}, mean and 95% CI)",
        save_path=args.save / f"few_shot_{result.family}.png",
    )
    plt.close(figure)
    print(f"saved {csv_path} and {csv_path.with_suffix('.png')}")


if __name__ == "__main__":
    sys.exit(main())
