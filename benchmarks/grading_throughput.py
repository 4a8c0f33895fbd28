"""Grading throughput: the same varied submissions graded by ``tools.grade`` with 1 and with 2 workers.

    python benchmarks/grading_throughput.py [--count 8] [--workers 1,2] [--timeout 60]

Makes ``--count`` submissions with ``tools.mutate`` (the solution and the typical mistakes, cycled;
no infinite loops, whose cost is the timeout), grades them once per worker count with real
nbgrader (``python -m tools.grade SUBMISSIONS --out OUT --workers N``, in a temporary folder), and
prints the wall-clock time, submissions per minute, the speed-up over one worker (target on a
2-core machine: >= 1.7x), whether every run gave the same grades, and the projected time for a class
of 300 on a 16-core machine: 16 workers, each as fast as one worker of the largest measured run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nbformat  # noqa: E402

from tools import config  # noqa: E402
from tools.mutate import make_submission  # noqa: E402
from tools.nbgrader_course import write_notebook  # noqa: E402

VARIANTS = (
    "solution",
    "returns_ignore_dones",
    "maml_param_data",
    "maml_first_order",
    "rl2_resets_hidden",
    "pearl_averages_posterior",
    "raises",
    "edits_locked_tests",
)
TARGET_SPEEDUP = 1.7
CLASS_SIZE, CORES = 300, 16


def make_submissions(folder: Path, count: int) -> None:
    release = nbformat.read(config.REPO_ROOT / config.RELEASE_NOTEBOOK, as_version=4)
    solution = nbformat.read(config.REPO_ROOT / config.SOLUTION_NOTEBOOK, as_version=4)
    for index in range(count):
        variant = VARIANTS[index % len(VARIANTS)]
        write_notebook(make_submission(release, solution, variant), folder / f"s{index:03d}_{variant}" / "HW11.ipynb")


def grade_once(submissions: Path, out: Path, workers: int, timeout: int) -> float:
    """Seconds of wall-clock time for one ``tools.grade`` run."""
    command = [sys.executable, "-m", "tools.grade", str(submissions), "--out", str(out), "--workers", str(workers)]
    start = time.perf_counter()
    result = subprocess.run([*command, "--timeout", str(timeout)], cwd=config.REPO_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        output = result.stdout + result.stderr
        sys.exit(f"tools.grade --workers {workers} failed (exit {result.returncode}):\n{output}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=8, help="number of submissions")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts; the first is the baseline")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    args = parser.parse_args(argv)
    worker_counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="hw11_throughput_") as tmp:
        submissions = Path(tmp) / "submissions"
        make_submissions(submissions, args.count)
        seconds, grades = {}, {}
        for workers in worker_counts:
            out = Path(tmp) / f"out_{workers}"
            print(f"grading {args.count} submissions with {workers} worker(s) ...", flush=True)
            seconds[workers] = grade_once(submissions, out, workers, args.timeout)
            report = json.loads((out / "report.json").read_text())
            grades[workers] = {student: entry["cells"] for student, entry in report.items()}

    base = worker_counts[0]
    print(f"\n{'workers':>7} {'seconds':>8} {'submissions/min':>16} {'speed-up':>9}")
    for workers in worker_counts:
        rate = args.count / seconds[workers] * 60
        print(f"{workers:>7} {seconds[workers]:>8.1f} {rate:>16.2f} {seconds[base] / seconds[workers]:>8.2f}x")
    same = all(grades[workers] == grades[base] for workers in worker_counts)
    print(f"same grades with every worker count: {'yes' if same else 'NO'}")
    if len(worker_counts) > 1:
        top = max(worker_counts)
        speedup = seconds[base] / seconds[top] * base
        verdict = "meets" if speedup >= TARGET_SPEEDUP else "misses"
        print(f"speed-up of {top} workers over {base}: {speedup:.2f}x "
              f"({verdict} the target >= {TARGET_SPEEDUP}x for 2 workers on 2 cores)")
    top = max(worker_counts)
    per_worker_minutes = seconds[top] / 60 / (args.count / top)  # minutes per submission per worker
    projected = CLASS_SIZE * per_worker_minutes / CORES
    print(
        f"projected for {CLASS_SIZE} submissions on {CORES} cores ({CORES} workers, each as fast as one of the "
        f"{top}-worker run): {projected:.0f} min"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
