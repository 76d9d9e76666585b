"""Compile the Numba-CUDA kernels to PTX on a machine without a GPU: the PTX tests' setup.

The CUDA simulator runs kernels as Python, so it never types or compiles them; these tests
ask the real CUDA target to.  Emitting PTX needs the toolkit's libnvvm but no GPU, except
that device functions ask the current GPU for its compute capability: one is faked.
"""
from __future__ import annotations

import types

import pytest

COMPUTE_CAPABILITY = (7, 5)


def fake_ptx_target(monkeypatch) -> tuple:
    """Skip unless PTX can be emitted here; fake a GPU of COMPUTE_CAPABILITY.

    Returns (numba.cuda, numba.types) for ``cuda.compile_ptx(kernel.py_func, signature,
    cc=COMPUTE_CAPABILITY)``.
    """
    from numba import cuda
    from numba import types as nt
    import numba.cuda.dispatcher as cuda_dispatcher

    def trivial(a):
        a[cuda.grid(1)] = 0
    try:
        cuda.compile_ptx(trivial, (nt.float32[:],), cc=COMPUTE_CAPABILITY)
    except Exception as error:      # missing libnvvm/libnvrtc, unsupported architecture, ...
        pytest.skip(f"cannot emit PTX here: {type(error).__name__}: {str(error)[:200]}")
    if not hasattr(cuda_dispatcher, "get_current_device"):
        pytest.skip("this numba's CUDA dispatcher cannot be given a fake device")
    monkeypatch.setattr(cuda_dispatcher, "get_current_device",
                        lambda: types.SimpleNamespace(compute_capability=COMPUTE_CAPABILITY))
    return cuda, nt
