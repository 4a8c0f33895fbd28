"""Build and grading tools for HW11 (instructor side, never released).

* ``python -m tools.build``: notebook source -> nbgrader source notebook -> student release
  (``HW11_Notebook.ipynb``) and solution notebook (``solutions/HW11_Solution.ipynb``).
* ``python -m tools.build --check``: fail if a committed generated file is stale.
* ``python -m tools.build --student-tree DIR``: write the public student repository.
* ``python -m tools.scan_release DIR``: fail if a student tree leaks solutions or hidden tests.
* ``python -m tools.grade SUBMISSIONS --out OUT``: autograde submitted notebooks with nbgrader.
* ``python -m tools.mutate OUT``: write the solution and buggy variants as test submissions.
"""
