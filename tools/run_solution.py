"""Execute the solution notebook top to bottom, as a student's kernel would, and keep the result.

    python -m tools.run_solution [--quick] [--out outputs] [--timeout 1800]

Runs ``solutions/HW11_Solution.ipynb`` with nbclient (kernel ``python3``, working directory = the
repository root) in an environment where

* ``PYTHONPATH`` holds the repository root and ``autograder/``, so the hidden-test cells of the
  solution notebook can import ``solutions`` and ``hw11_grading``;
* ``HW11_FIGURES_DIR=<out>/figures``: the notebook's cells save their figures there;
* ``HW11_QUICK=1`` with ``--quick`` (the QUICK training budgets; otherwise HOMEWORK).

Writes ``<out>/HW11_Solution.executed.ipynb`` (also when a cell fails: the cells run so far keep
their outputs), shows a progress bar over the code cells, prints the time of each cell, the total
time and the figures written. Exit status 0 when every cell ran; 1 when a cell raised, timed out
or killed the kernel (the failing cell's index, the head of its source and the error are printed).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

from tools import config
from tools.nbgrader_course import nbgrader_env

EXECUTED_NAME = "HW11_Solution.executed.ipynb"
SOURCE_HEAD_LINES = 8
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # colours of IPython tracebacks


def is_code(cell: Any) -> bool:
    """Cells nbclient actually sends to the kernel: code cells with some source."""
    return cell.cell_type == "code" and bool(cell.source.strip())


def source_head(source: str, lines: int = SOURCE_HEAD_LINES) -> str:
    """The first ``lines`` lines of a cell's source (with a marker when cut)."""
    head = source.splitlines()
    text = "\n".join(head[:lines])
    return text + (f"\n... ({len(head) - lines} more lines)" if len(head) > lines else "")


def kernel_env(out_dir: Path, quick: bool) -> dict[str, str]:
    """The kernel's environment: the course's PYTHONPATH and PATH, the figures folder, the budget."""
    return nbgrader_env({
        "HW11_QUICK": "1" if quick else "0",
        "HW11_FIGURES_DIR": str((out_dir / "figures").resolve()),
    })


def run_notebook(notebook_path: Path, out_dir: Path, quick: bool = False, timeout: int = 1800) -> int:
    """Execute ``notebook_path``, write the executed copy into ``out_dir``; return the exit status."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(exist_ok=True)
    executed_path = out_dir / EXECUTED_NAME
    nb = nbformat.read(notebook_path, as_version=4)
    code_cells = sum(is_code(cell) for cell in nb.cells)
    print(f"executing {notebook_path} ({len(nb.cells)} cells, {code_cells} code), "
          f"{'QUICK' if quick else 'HOMEWORK'} budget, timeout {timeout} s per cell")

    bar = tqdm(total=code_cells, desc="cells", unit="cell")
    current = {"index": None, "start": time.perf_counter()}

    def on_cell_start(cell: Any, cell_index: int) -> None:
        if is_code(cell):
            current["index"], current["start"] = cell_index, time.perf_counter()
            first_line = cell.source.strip().splitlines()[0][:60]
            bar.set_postfix_str(f"cell {cell_index}: {first_line}")

    def on_cell_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        seconds = time.perf_counter() - current["start"]
        status = execute_reply["content"]["status"] if execute_reply else "?"
        bar.write(f"  cell {cell_index:3d}  {seconds:7.1f} s  {status}")
        bar.update(1)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(config.REPO_ROOT)}},  # the kernel's working directory
        on_cell_start=on_cell_start,
        on_cell_executed=on_cell_executed,
    )
    start = time.perf_counter()
    error: str | None = None
    try:
        client.execute(env=kernel_env(out_dir, quick))
    except CellExecutionError as exc:  # the message holds the source and the traceback
        error = str(exc)
    except CellTimeoutError as exc:
        error = f"timed out after {timeout} s: {exc}"
    except DeadKernelError as exc:
        error = f"the kernel died: {exc}"
    finally:
        bar.close()
        nbformat.write(nb, executed_path)
    total = time.perf_counter() - start

    print(f"wrote {executed_path}")
    figures = sorted(path for path in figures_dir.rglob("*") if path.is_file())
    print(f"figures in {figures_dir}: " + (", ".join(str(p.relative_to(figures_dir)) for p in figures) or "none"))
    if error is not None:
        index = current["index"]
        print(f"\nFAILED at cell {index} after {total:.1f} s", file=sys.stderr)
        if index is not None:
            print("--- cell source (head) ---\n" + source_head(nb.cells[index].source), file=sys.stderr)
        print("--- error ---\n" + ANSI_ESCAPE.sub("", error).strip(), file=sys.stderr)
        return 1
    print(f"all {code_cells} code cells ran in {total:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute the solution notebook (nbclient) and save the result.")
    parser.add_argument("--quick", action="store_true", help="HW11_QUICK=1: the QUICK training budgets")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: outputs)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell (default: 1800)")
    parser.add_argument("--notebook", type=Path, default=config.REPO_ROOT / config.SOLUTION_NOTEBOOK,
                        help="notebook to run (default: solutions/HW11_Solution.ipynb)")
    args = parser.parse_args(argv)
    return run_notebook(args.notebook.resolve(), args.out.resolve(), quick=args.quick, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
