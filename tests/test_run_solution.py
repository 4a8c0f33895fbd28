"""End-to-end: the solution notebook runs top to bottom at the QUICK budget and saves its figures.

Runs ``python -m tools.run_solution --quick --out <tmp>`` in a subprocess (a real Jupyter kernel,
the hidden-test cells included), so it takes as long as the notebook's QUICK run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools import config
from tools.run_solution import EXECUTED_NAME

pytestmark = pytest.mark.e2e


def test_end_to_end_solution_notebook_runs_quick_and_saves_figures(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools.run_solution", "--quick", "--out", str(tmp_path), "--timeout", "600"],
        cwd=config.REPO_ROOT, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, f"the solution notebook failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    assert (tmp_path / EXECUTED_NAME).is_file()
    figures = sorted((tmp_path / "figures").rglob("*.png"))
    assert figures, (
        "the notebook ran but saved no figure: its plotting cells should save PNGs into "
        f"os.environ['HW11_FIGURES_DIR'] (here {tmp_path / 'figures'})"
    )
