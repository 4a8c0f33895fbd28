"""nbgrader configuration of the HW11 course. Run nbgrader from this folder (the course root).

The per-cell timeout can be changed without editing this file: ``HW11_CELL_TIMEOUT=300 nbgrader ...``
or ``nbgrader autograde HW11 --Execute.timeout=300``.
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "hw11"

# Execution while autograding: every cell gets at most this many seconds; on a timeout the kernel
# is interrupted, the cell is recorded as an error, and the remaining cells still run.
c.Execute.timeout = int(os.environ.get("HW11_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
# After a reply (or an interrupt), how long to wait for the kernel's last output before nbgrader
# gives up on the whole notebook (nbclient's default, 4 s, is short on a busy grading machine).
c.Execute.iopub_timeout = 10
c.ExecutePreprocessor.kernel_name = "python3"

# Student code replaced in the release (the marked regions of solution cells).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Never copy these into a release or a submission.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.db", ".nbgrader.log"]
