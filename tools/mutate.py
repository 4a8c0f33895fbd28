"""Make test submissions: the release filled with the solutions, optionally with a bug planted.

    python -m tools.mutate OUT_DIR [--only name,name]

writes ``OUT_DIR/<name>/HW11.ipynb`` for ``release`` (untouched), ``solution`` (every solution cell
filled from ``solutions/HW11_Solution.ipynb``, answers too) and every entry of ``MUTATIONS``. The
layout is what ``python -m tools.grade`` expects, so the two together test the grading.

Adding a mutation is a few lines: a function that edits the filled notebook in place, usually one
of the helpers below, registered in ``MUTATIONS`` (and its expected score in tests/test_autograde.py).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat

from tools import config
from tools.nbgrader_course import write_notebook

Mutation = Callable[[nbformat.NotebookNode], None]


# ---------------------------------------------------------------- building blocks


def cell_by_grade_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def fill_solutions(release: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Copy of the release whose solution cells (code and answers) hold the solution notebook's text."""
    filled = nbformat.from_dict(release)
    for cell in filled.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = cell_by_grade_id(solution, meta["grade_id"]).source
    return filled


def replace_function(name: str, new_source: str) -> Mutation:
    """Replace the top-level ``def name`` (wherever it is) by ``new_source``."""

    def mutate(nb: nbformat.NotebookNode) -> None:
        for cell in nb.cells:
            if cell.cell_type != "code" or f"def {name}(" not in cell.source:
                continue
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                    lines = cell.source.split("\n")
                    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
                    lines[first : node.end_lineno] = new_source.strip("\n").split("\n")
                    cell.source = "\n".join(lines)
                    return
        raise KeyError(f"no top-level function {name!r} in the notebook")

    return mutate


def insert_cell_after(grade_id: str, source: str) -> Mutation:
    """Insert a new (unmarked) code cell after the cell ``grade_id``."""

    def mutate(nb: nbformat.NotebookNode) -> None:
        index = nb.cells.index(cell_by_grade_id(nb, grade_id))
        new_cell = nbformat.v4.new_code_cell(source)
        new_cell.id = f"student-{grade_id}"
        nb.cells.insert(index + 1, new_cell)

    return mutate


def replace_text(grade_id: str, old: str, new: str) -> Mutation:
    """Replace ``old`` by ``new`` in the cell ``grade_id`` (an error if ``old`` is not there, so a
    mutation can never silently leave the solution unchanged)."""

    def edit(source: str) -> str:
        if old not in source:
            raise KeyError(f"cell {grade_id!r} does not contain {old!r}")
        return source.replace(old, new)

    return edit_cell(grade_id, edit)


def edit_cell(grade_id: str, edit: Callable[[str], str]) -> Mutation:
    """Replace the source of the cell ``grade_id`` by ``edit(old_source)``."""

    def mutate(nb: nbformat.NotebookNode) -> None:
        cell = cell_by_grade_id(nb, grade_id)
        cell.source = edit(cell.source)

    return mutate


def delete_cells(*grade_ids: str) -> Mutation:
    """Delete the cells with these grade_ids."""

    def mutate(nb: nbformat.NotebookNode) -> None:
        for grade_id in grade_ids:
            nb.cells.remove(cell_by_grade_id(nb, grade_id))

    return mutate


# ---------------------------------------------------------------- the mutations

RETURNS_IGNORING_DONES = """
def discounted_returns(rewards, dones, gamma):
    next_return = torch.zeros_like(rewards[..., 0])
    returns = []
    for t in reversed(range(rewards.shape[-1])):
        next_return = rewards[..., t] + gamma * next_return  # bug: does not stop at episode ends
        returns.append(next_return)
    return torch.stack(returns[::-1], dim=-1)
"""

# The course's first draft: the adapted weights are written through `.data`, invisible to autograd.
INNER_STEP_OLD = "    return {name: theta - inner_lr * grad for (name, theta), grad in zip(params.items(), grads)}"
INNER_STEP_PARAM_DATA = """    for theta, grad in zip(params.values(), grads):
        theta.data = theta.data - inner_lr * grad  # the course draft: cuts the meta-gradient
    return params"""
META_LOSS_OLD = "adapted = inner_step(policy, params, inner_batch, inner_lr, gamma, first_order)"
META_LOSS_FIRST_ORDER = "adapted = inner_step(policy, params, inner_batch, inner_lr, gamma, first_order=True)"
RL2_STEP_OLD = "    logits, _, hidden = core.step(inputs, step.state)"
RL2_STEP_RESETS = """    state = step.state
    if state is not None:  # bug: forgets everything at every episode boundary of the trial
        state = state * (1.0 - step.prev_done).view(1, -1, 1)
    logits, _, hidden = core.step(inputs, state)"""
PRODUCT_OLD = """    precisions = 1.0 / variances
    if mask is not None:
        precisions = precisions * mask.to(precisions.dtype).unsqueeze(-1)
    var = 1.0 / precisions.sum(dim=-2)
    mu = var * (precisions * mus).sum(dim=-2)
    return mu, var"""
PRODUCT_AVERAGES = """    weights = torch.ones_like(variances[..., 0]) if mask is None else mask.to(variances.dtype)
    weights = (weights / weights.sum(dim=-1, keepdim=True)).unsqueeze(-1)
    return (weights * mus).sum(dim=-2), (weights * variances).sum(dim=-2)  # bug: averages the factors"""

UNINTERRUPTIBLE_LOOP = """
import time

while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
""".strip()

MUTATIONS: dict[str, Mutation] = {
    # a plausible bug: loses exactly the points of the returns tests
    "returns_ignore_dones": replace_function("discounted_returns", RETURNS_IGNORING_DONES),
    # the typical meta-RL mistakes of the issue: each must lose its own parts' points only
    "maml_param_data": replace_text("inner_step", INNER_STEP_OLD, INNER_STEP_PARAM_DATA),
    "maml_first_order": replace_text("meta_loss", META_LOSS_OLD, META_LOSS_FIRST_ORDER),
    "rl2_resets_hidden": replace_text("rl2_policy_step", RL2_STEP_OLD, RL2_STEP_RESETS),
    "pearl_averages_posterior": replace_text("product_of_gaussians", PRODUCT_OLD, PRODUCT_AVERAGES),
    # the solution cell raises before defining anything: the dependent tests fail, grading goes on
    "raises": edit_cell("discounted_returns", lambda source: 'raise RuntimeError("student bug")\n' + source),
    # an extra cell that never ends: cut by the per-cell timeout, later cells still graded
    "infinite_loop": insert_cell_after("discounted_returns", "while True:\n    pass"),
    # a loop that swallows the interrupt: nbgrader gives up on this notebook (reported as an error)
    "uninterruptible_loop": insert_cell_after("discounted_returns", UNINTERRUPTIBLE_LOOP),
    # the student deleted the setup and the test cells: tools.grade restores them from the release
    "deletes_locked_cells": delete_cells("setup", "discounted_returns_tests"),
    # the student weakens a locked test cell: nbgrader restores it from the gradebook
    "edits_locked_tests": edit_cell("discounted_returns_tests", lambda source: "pass  # tests deleted by the student"),
}


RETURNS_LOOP = """
def discounted_returns(rewards, dones, gamma):
    returns = torch.zeros_like(rewards)
    t = rewards.shape[-1] - 1
    while t >= 0:  # bug: t is never decreased
        returns[..., t] = rewards[..., t]
    return returns
"""

META_LOSS_PASSES_THE_LIST = """
def meta_loss(policy, params, inner_batches, outer_batches, inner_lr, gamma, first_order=False):
    adapted = inner_step(policy, params, inner_batches, inner_lr, gamma, first_order)  # bug: the whole list
    return inner_loss(policy, adapted, outer_batches[0], gamma)
"""

#: Submissions graded by tests/test_feedback.py (each costs time limits, so they are not in MUTATIONS):
#: a loop that never ends inside a TODO, and a crash inside a reference function called by the student.
SLOW_MUTATIONS: dict[str, Mutation] = {
    "returns_loop": replace_function("discounted_returns", RETURNS_LOOP),
    "meta_loss_crashes_in_reference": replace_function("meta_loss", META_LOSS_PASSES_THE_LIST),
}


def make_submission(
    release: nbformat.NotebookNode, solution: nbformat.NotebookNode, name: str
) -> nbformat.NotebookNode:
    """``release``, ``solution`` or a mutation name -> the submitted notebook."""
    if name == "release":
        return nbformat.from_dict(release)
    submission = fill_solutions(release, solution)
    if name != "solution":
        {**MUTATIONS, **SLOW_MUTATIONS}[name](submission)
    return submission


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--only", help="comma-separated names (release, solution, or mutations)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else ["release", "solution", *MUTATIONS]
    return write_submissions(make_submission, names, args.out_dir)


def write_submissions(make: Callable[..., nbformat.NotebookNode], names: list[str], out_dir: Path) -> int:
    """Write ``make(release, solution, name)`` as ``out_dir/<name>/HW11.ipynb`` for every name."""
    release = nbformat.read(config.REPO_ROOT / config.RELEASE_NOTEBOOK, as_version=4)
    solution = nbformat.read(config.REPO_ROOT / config.SOLUTION_NOTEBOOK, as_version=4)
    for name in names:
        write_notebook(make(release, solution, name), out_dir / name / f"{config.ASSIGNMENT}.ipynb")
        print(f"wrote {out_dir / name / config.ASSIGNMENT}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
