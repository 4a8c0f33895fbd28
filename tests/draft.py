"""The course draft (``../shared/course_draft/HW11_draft_notebook.md``) as test material.

``draft_cell(start, end)`` returns the source of the draft's code between two markers, so tests run
the instructors' own class and cells, verbatim, beside the package.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DRAFT = Path(__file__).resolve().parents[1].parent / "shared" / "course_draft" / "HW11_draft_notebook.md"


def draft_text() -> str:
    if not DRAFT.is_file():
        pytest.skip(f"the course draft is not at {DRAFT}")
    return DRAFT.read_text()


def draft_cell(start: str, end: str) -> str:
    """Draft source from the line that starts with ``start`` up to (not including) the first ``end`` after it."""
    text = draft_text()
    begin = re.search(rf"^{re.escape(start)}", text, flags=re.M)
    assert begin, f"{start!r} not found in the draft"
    stop = text.index(end, begin.start())
    return text[begin.start():stop]


def draft_namespace(start: str = "class ParameterizedCartPoleEnv", end: str = "# Test the environment") -> dict:
    """Execute the draft's env and TaskDistribution classes; returns their namespace."""
    import gymnasium as gym
    import numpy as np
    from gymnasium import spaces

    namespace = {"np": np, "gym": gym, "spaces": spaces}
    exec(compile(draft_cell(start, end), str(DRAFT), "exec"), namespace)
    return namespace
