"""Hidden graders for HW11 (never released).

A hidden-test block in the notebook is one call, e.g.::

    from hw11_grading import grade
    grade.discounted_returns(discounted_returns)

Each grader compares the student's function with the reference in ``solutions`` on seeded random
inputs and raises ``AssertionError`` with a message that says what was expected. The autograder
puts the repository root (for ``solutions``) and ``autograder/`` (for this package) on PYTHONPATH.
"""
