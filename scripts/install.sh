#!/usr/bin/env bash
# Create .venv and install the project with its development tools (idempotent, CPU-only torch).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0           # the CPU wheel first, so nothing pulls a CUDA build
python -m pip install -q -r requirements.txt
python -m pip install -q -e ".[dev]"
python -m ipykernel install --sys-prefix --name python3 >/dev/null   # this venv's kernel, for nbgrader and nbclient
