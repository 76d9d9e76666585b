"""Fixtures for the minicnn.nn.functional tests (the parity helper is in functional_parity.py)."""
from __future__ import annotations

import pytest

from minicnn import shapes


@pytest.fixture(autouse=True, scope="session")
def _torch_on_one_thread():
    """The parity tensors are tiny: torch's thread pool only adds overhead (50 ms per conv
    when the cores are busy with other test workers)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fresh_shape_warnings():
    """Each configuration warns once per process: forget earlier warnings for this test."""
    shapes.reset_shape_warnings()
    yield
    shapes.reset_shape_warnings()
