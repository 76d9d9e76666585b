"""minicnn.kernels: the hot-path array kernels (im2col/col2im, pooling).

This package imports nothing from the rest of minicnn: every function takes
arrays and plain ints and returns arrays.  Each fast kernel (Numba CPU,
Numba-CUDA) sits beside a plain NumPy reference with the same contract.
"""
