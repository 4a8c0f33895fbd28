"""The reference modules share one notebook namespace: their top-level names must not collide."""

import ast
from collections import defaultdict
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
MODULES = ("common", "maml", "rl2", "pearl", "baselines")
#: Names the notebook's setup cell defines; a module must not redefine them.
NOTEBOOK_NAMES = {"QUICK", "LOAD_PRETRAINED", "CHECKPOINTS", "FIGURES_DIR", "NUM_EVAL_TASKS", "device", "save_figure"}
#: Names every module defines on purpose (module metadata, never included in the notebook).
SHARED_ON_PURPOSE = {"STUDENT_TODOS", "main"}


def top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names - SHARED_ON_PURPOSE


def test_no_two_reference_modules_share_a_top_level_name():
    owners = defaultdict(list)
    for module in MODULES:
        for name in top_level_names(SOLUTIONS / f"{module}.py"):
            owners[name].append(module)
    clashes = {name: where for name, where in owners.items() if len(where) > 1}
    assert not clashes, f"rename these so the notebook namespace stays unambiguous: {clashes}"


def test_no_reference_module_redefines_a_notebook_setup_name():
    for module in MODULES:
        clashes = top_level_names(SOLUTIONS / f"{module}.py") & NOTEBOOK_NAMES
        assert not clashes, f"solutions/{module}.py redefines notebook names {sorted(clashes)}"
