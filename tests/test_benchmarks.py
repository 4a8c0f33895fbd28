"""Tests of the benchmark scripts' own logic (the full benchmarks are run by hand, not in CI)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_time_to_target_is_the_first_selection_score_at_the_threshold():
    few_shot = load("few_shot")
    history = {"wall_time": [1.0, 2.0, 3.0, 4.0, 5.0], "selection": [(0, 0.5), (2, 0.91), (4, 0.95)]}
    assert few_shot.first_time_at(history, 0.9) == 3.0
    assert few_shot.first_time_at(history, 0.95) == 5.0
    assert few_shot.first_time_at(history, 0.99) is None
    assert few_shot.first_time_at(None, 0.5) is None
    assert few_shot.first_time_at({"wall_time": [1.0]}, 0.5) is None
    assert few_shot.first_time_at({"selection": [(0, 0.9)]}, 0.5) is None  # no wall_time recorded


def test_training_checks_normal_tail():
    training_checks = load("training_checks")
    assert abs(training_checks.normal_tail(0.0, 0.0, 1.0) - 0.5) < 1e-12
    assert abs(training_checks.normal_tail(-2.326, 0.0, 1.0) - 0.01) < 1e-4
    assert set(training_checks.CHECKS) == {"maml", "rl2", "pearl"}


def test_table_time_limit_is_per_training_seed():
    few_shot = load("few_shot")

    def table_check(seconds: float, num_seeds: int) -> tuple[str, str]:
        family = few_shot.FamilyResult("mass", {}, seconds, num_seeds=num_seeds)
        (check,) = [c for c in few_shot.acceptance({"mass": family}, num_units=3) if "whole table" in c[1]]
        return check

    assert table_check(1000.0, 1)[0] == "PASS"
    assert table_check(1300.0, 1)[0] == "FAIL"
    status, text = table_check(5000.0, 5)  # 1000 s per seed
    assert status == "PASS" and "per seed (5 seeds)" in text and "1000 s" in text
    assert table_check(6500.0, 5)[0] == "FAIL"


def test_config_lookup_prefers_the_family_then_the_course_config():
    few_shot = load("few_shot")
    from solutions import pearl, rl2

    pearl_adapter, rl2_adapter = few_shot.ADAPTERS["pearl"], few_shot.ADAPTERS["rl2"]
    assert pearl_adapter.config("target", quick=False) == pearl.PEARL_HOMEWORK_TARGET
    assert pearl_adapter.config("flip", quick=False) == pearl.PEARL_HOMEWORK
    for family in few_shot.COURSE_FAMILIES:
        assert pearl_adapter.config(family, quick=False) == pearl.PEARL_HOMEWORK_COURSE
        assert pearl_adapter.config(family, quick=True) == pearl.PEARL_QUICK
        assert rl2_adapter.config(family, quick=False) == rl2.RL2_HOMEWORK  # rl2 has no course config


def family_result(few_shot, family: str, unit_values: dict) -> object:
    """A FamilyResult whose methods have flat curves [seeds, 2 tasks, 4 units] with per-seed value v at unit >= 1."""
    from hw11_utils.evaluation import few_shot_table

    results = {}
    for method, values in unit_values.items():
        curves = np.repeat(np.asarray(values, dtype=float)[:, None, None], 2, axis=1).repeat(4, axis=2)
        results[method] = few_shot.MethodResult(method, curves=curves)
    table = few_shot_table({r.label: r.curves for r in results.values()})
    return few_shot.FamilyResult(family, results, 1.0, table, num_seeds=len(next(iter(unit_values.values()))))


def target_check(few_shot, pearl_values, agnostic_values, oracle_values) -> tuple[str, str]:
    family = family_result(few_shot, "target", {"pearl": pearl_values, "agnostic": agnostic_values,
                                                 "oracle": oracle_values})
    (check,) = [c for c in few_shot.acceptance({"target": family}, num_units=3) if "target: PEARL >=" in c[1]]
    return check


def test_target_bar_uses_the_references_mean_over_their_seeds():
    few_shot = load("few_shot")
    agnostic, oracle = [0.5] * 5, [0.78, 0.80, 0.82, 0.84, 0.86]  # mean 0.82: bar 0.5 + 0.75 * 0.32 = 0.74
    status, text = target_check(few_shot, [0.73, 0.75, 0.76, 0.745, 0.76], agnostic, oracle)
    # against the oracle's own seed (bars 0.71, 0.725, 0.74, 0.755, 0.77) seeds 3 and 4 would miss (3/5);
    # against the mean bar only seed 0 misses
    assert status == "PASS" and "4/5 seeds" in text and "vs 0.740" in text and "0.730" in text
    status, text = target_check(few_shot, [0.745, 0.75, 0.735, 0.72, 0.73], agnostic, oracle)
    assert status == "FAIL" and "2/5 seeds" in text
    assert target_check(few_shot, [0.7] * 5, [0.5] * 5, [0.9] * 5)[0] == "FAIL"  # bar 0.8


def test_flip_maml_target_uses_the_agnostic_mean():
    few_shot = load("few_shot")
    family = family_result(few_shot, "flip", {"maml": [0.7, 0.7, 0.7, 0.7, 0.64],
                                               "agnostic": [0.3, 0.4, 0.5, 0.45, 0.35]})  # mean 0.4 + 0.2
    (check,) = [c for c in few_shot.acceptance({"flip": family}, num_units=3) if "MAML >= agnostic" in c[1]]
    assert check[0] == "PASS" and "5/5 seeds" in check[1] and "vs 0.400 + 0.2" in check[1]


def test_per_seed_targets_need_only_the_unit_they_judge():
    few_shot = load("few_shot")
    family = family_result(few_shot, "flip", {"pearl": [0.95] * 5})
    (flip,) = [c for c in few_shot.acceptance({"flip": family}, num_units=1) if "flip: PEARL >= 0.9" in c[1]]
    assert flip[0] == "PASS" and "5/5 seeds" in flip[1]  # judged after one episode: one unit is enough
    target = family_result(few_shot, "target", {"pearl": [0.8] * 5, "agnostic": [0.5] * 5, "oracle": [0.8] * 5})
    (gap,) = [c for c in few_shot.acceptance({"target": target}, num_units=1) if "target: PEARL >=" in c[1]]
    assert gap[0] == "N/A" and "needs num_units >= 2" in gap[1]


def test_mean_curve_averages_the_eval_seeds_per_task():
    import argparse

    few_shot = load("few_shot")

    class Adapter:
        seeds = []

        def adaptation_curve(self, model, tasks, num_units, seed, device):
            self.seeds.append(seed)
            return np.full((len(tasks), num_units + 1), float(seed)) + np.arange(len(tasks))[:, None]

    adapter = Adapter()
    args = argparse.Namespace(num_units=2, eval_seed=3, eval_seeds=4, device="cpu")
    curve = few_shot.mean_curve(adapter, None, ["a", "b"], args)
    assert adapter.seeds == [3, 4, 5, 6]
    np.testing.assert_allclose(curve, [[4.5, 4.5, 4.5], [5.5, 5.5, 5.5]])


def test_seed_checkpoint_names():
    few_shot = load("few_shot")
    path = Path("ckpt") / "pearl_target.pt"
    assert few_shot.seed_checkpoint(path, 0) == path
    assert few_shot.seed_checkpoint(path, 3) == Path("ckpt") / "pearl_target_seed3.pt"


def test_parallel_training_gives_the_same_curves_as_training_in_turn(tmp_path):
    """--jobs 2 trains in spawned processes, then evaluates: the same models and the same numbers."""
    import subprocess

    curves = {}
    methods = {"maml", "rl2", "agnostic", "finetune"}  # fine-tune adapts the agnostic model: one job for both
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        run = subprocess.run(
            [sys.executable, str(BENCHMARKS / "few_shot.py"), "--quick", "--families", "flip", "--methods",
             ",".join(sorted(methods)), "--seeds", "2", "--tasks", "5", "--eval-seeds", "1", "--num-units", "1",
             "--no-progress", "--jobs", str(jobs), "--save", str(out)],
            check=True, capture_output=True, text=True, timeout=600,
        )
        assert ("training 6 model(s) in 2 processes" in run.stdout) == (jobs == 2)
        assert run.stdout.count("(worker)") == (6 if jobs == 2 else 0)
        curves[jobs] = dict(np.load(out / "few_shot_flip_curves.npz"))
    assert set(curves[1]) == set(curves[2]) == methods
    for method in curves[1]:
        assert curves[1][method].shape == (2, 5, 2)
        np.testing.assert_array_equal(curves[1][method], curves[2][method])


def test_a_failing_training_job_reports_its_error_instead_of_raising(tmp_path):
    import torch

    few_shot = load("few_shot")
    threads = torch.get_num_threads()
    try:
        seconds, history, error = few_shot.train_job("maml", "no_such_family", 0, True, "cpu", 1,
                                                     str(tmp_path / "model.pt"))
    finally:
        torch.set_num_threads(threads)  # train_job sets the thread count of the process it runs in
    assert seconds is None and history is None
    assert "no_such_family" in error and "Traceback" in error
    assert not (tmp_path / "model.pt").exists()


def test_parallel_training_starts_the_longest_trainings_first():
    few_shot = load("few_shot")
    assert set(few_shot.ADAPTERS) <= set(few_shot.TYPICAL_TRAIN_SECONDS)  # every method has a typical time
    slowest = max(((m, f) for m in few_shot.ADAPTERS for f in few_shot.DEFAULT_FAMILIES),
                  key=lambda job: few_shot.typical_train_seconds(*job))
    assert slowest[1] == "target" and slowest[0] in ("rl2", "pearl")
    assert few_shot.typical_train_seconds("rl2", "mass") > few_shot.typical_train_seconds("agnostic", "target")
    assert few_shot.typical_train_seconds("new_method", "flip") == float("inf")  # unknown: started first
