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
