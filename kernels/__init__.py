"""minicnn.kernels: the hot-path array kernels (im2col/col2im, unfold/fold, pooling, Winograd).

This package imports nothing from the rest of minicnn: every function takes
arrays and plain ints and returns arrays.  Each fast kernel (Numba CPU,
Numba-CUDA) sits beside a plain NumPy reference with the same contract:

    windows.py                     the sliding-window geometry (Notation block)
    im2col.py       pooling.py       winograd.py         references (+ pure-NumPy
                                                         variants): read these
    im2col_numba.py pooling_numba.py winograd_numba.py   Numba CPU kernels, same loops
    numba_threads.py               how the Numba kernels' threads wait (and why)
    im2col_cuda.py  pooling_cuda.py  winograd_cuda.py    Numba-CUDA kernels
    dispatch.py                    get_kernels(x): which implementation runs

(winograd*.py: the tile transforms of Winograd's F(2x2, 3x3) convolution, which
minicnn/nn/functional/conv_winograd.py combines with 16 GEMMs.)

Importing this package imports NumPy only; numba and cupy are imported when the
kernels that need them are first requested.
"""
from .dispatch import (ENV_VAR, IMPLEMENTATIONS, KernelSet, available_kernels,
                       get_kernels, load_kernels)

__all__ = ["ENV_VAR", "IMPLEMENTATIONS", "KernelSet", "available_kernels", "get_kernels",
           "load_kernels"]
