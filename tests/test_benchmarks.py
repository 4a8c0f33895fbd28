"""Tests of the benchmark scripts' own logic (the benchmarks themselves are run by hand, not in CI)."""

import importlib.util
import sys
from pathlib import Path

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
