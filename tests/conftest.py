"""Shared fixtures: every test runs torch on one thread (small networks; results do not depend on the
machine's core count, and two test processes do not thrash a 2-core machine)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def course_grading(tmp_path_factory):
    """Every submission of tests/course_grading.py graded by one real ``tools.grade`` run (minutes)."""
    from tests.course_grading import grade_course

    return grade_course(tmp_path_factory.mktemp("course"))
