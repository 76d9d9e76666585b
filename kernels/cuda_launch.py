"""Launch helpers shared by the CUDA kernels (im2col_cuda.py, pooling_cuda.py).

Why Numba-CUDA rather than CuPy RawKernels: the kernels are Python functions with
the same loops and index arithmetic as the Numba CPU kernels beside them (no C++
source in strings), and the CUDA simulator (NUMBA_ENABLE_CUDASIM=1) runs them on
NumPy arrays, so CI without a GPU tests them against the references.  CuPy arrays
are passed straight in through __cuda_array_interface__ (no copies); outputs are
allocated with CuPy, or with NumPy under the simulator.

Works with the CUDA target built into numba (0.68 here) and with the NVIDIA
`numba-cuda` package (the `gpu` extra), which takes over `numba.cuda` when installed.
"""
from __future__ import annotations

import numpy as np

try:
    from numba import cuda
except ImportError as error:  # pragma: no cover - exercised only without numba
    raise ImportError(
        "the CUDA kernels need numba and cupy: pip install minicnn[gpu]") from error

THREADS_PER_BLOCK = 128


def array_module(x):
    """cupy for a CuPy array, numpy otherwise (NumPy arrays run under the simulator)."""
    if type(x).__module__.split(".")[0] == "cupy":
        import cupy
        return cupy
    return np


def launch(kernel, total: int, like, *args) -> None:
    """Run `kernel` with one thread per element, `total` threads in all.

    Threads whose index cuda.grid(1) is >= total return at once.  For CuPy arrays
    the kernel runs on CuPy's current stream, so it is ordered with CuPy's own work.
    """
    if total == 0:
        return
    blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    xp = array_module(like)
    if xp is np:
        kernel[blocks, THREADS_PER_BLOCK](*args)
    else:
        ptr = xp.cuda.get_current_stream().ptr          # 0 is the legacy default stream
        stream = cuda.external_stream(ptr) if ptr else cuda.default_stream()
        kernel[blocks, THREADS_PER_BLOCK, stream](*args)
