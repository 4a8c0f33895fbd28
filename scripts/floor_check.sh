#!/usr/bin/env bash
# Run the QUICK solution notebook once with every student requirement at its floor.
#
# A second venv (.venv-floor, or $FLOOR_VENV) gets each `package>=X` of requirements.txt as
# `package==X`, except torch, which is always the local CPU wheel torch==2.13.0 (never a CUDA build).
# The notebook runs in that venv's own kernel; its outputs go to outputs/floor/.
#   bash scripts/floor_check.sh            # CI calls this
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FLOOR_VENV:-.venv-floor}
[ -d "$VENV" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q torch==2.13.0
floors=$(sed -n 's/^\([A-Za-z0-9_.-]*\)>=\([0-9][0-9.]*\).*$/\1==\2/p' requirements.txt | grep -iv '^torch==')
echo "floor versions: $floors torch==2.13.0"
# shellcheck disable=SC2086  # one argument per requirement
"$PY" -m pip install -q $floors
"$PY" -m pip install -q --no-deps -e .                         # hw11_utils itself, dependencies as above
"$PY" -m pip install -q nbclient nbformat ipykernel $floors    # the kernel; the floors stay pinned
"$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$PY" - <<'PY'
from importlib.metadata import version
print("floor run with", ", ".join(f"{p} {version(p)}" for p in
      ("numpy", "torch", "gymnasium", "matplotlib", "seaborn", "pandas", "tqdm", "matplotlib-inline", "ipykernel")))
PY
PATH="$(pwd)/$VENV/bin:$PATH" "$PY" -m tools.run_solution --quick --out outputs/floor
