#!/usr/bin/env bash
# Run the fast tests (pytest -m "not e2e") on another Python from ~/.pyenv/versions/, e.g.
#   bash scripts/other_python.sh 3.12
#   bash scripts/other_python.sh 3.13
# The venv (.venv-py3.12, ...) gets the newest packages that requirements.txt allows. torch comes from
# PyPI there (a large CUDA build, since the local CPU wheel is for Python 3.11 only): a one-off check,
# never part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:?usage: bash scripts/other_python.sh 3.12}
PYTHON=$(ls -d "$HOME"/.pyenv/versions/"$VERSION"*/bin/python3 2>/dev/null | sort -V | tail -1)
[ -n "$PYTHON" ] || { echo "no Python $VERSION in ~/.pyenv/versions/" >&2; exit 2; }
VENV=.venv-py$VERSION
[ -d "$VENV" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q -r requirements.txt
"$PY" -m pip install -q -e ".[dev]"
"$PY" - <<'PY'
import sys
from importlib.metadata import version
print(f"Python {sys.version.split()[0]} with", ", ".join(f"{p} {version(p)}" for p in
      ("numpy", "torch", "gymnasium", "matplotlib", "seaborn", "pandas", "tqdm")))
PY
PATH="$(pwd)/$VENV/bin:$PATH" "$PY" -m pytest -m "not e2e" -q -p no:cacheprovider
