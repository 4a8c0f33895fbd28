#!/usr/bin/env bash
# The main job: install, then execute the solution notebook at its QUICK budget.
# Writes outputs/HW11_Solution.executed.ipynb and the figures under outputs/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
python -m tools.run_solution --quick --out outputs "$@"
