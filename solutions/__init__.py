"""Hidden reference solutions for HW11 (never released to students).

Every function a student writes in a TODO lives only here, with its body between
``### BEGIN SOLUTION`` / ``### END SOLUTION`` comment lines. The notebook source
(``notebook/HW11_source.py``) pulls these functions in with ``# include: solutions.<module>.<name>``
directives; nbgrader's ClearSolutions replaces the marked bodies with ``raise NotImplementedError()``
in the student release. The hidden graders (``autograder/hw11_grading``) compare student code with
these references.
"""
