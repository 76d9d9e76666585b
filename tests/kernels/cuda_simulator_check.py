"""Compare the CUDA kernels with the references under Numba's CUDA simulator.

Run by tests/kernels/test_kernels_cuda.py in a fresh process with
NUMBA_ENABLE_CUDASIM=1 (the simulator must be switched on before numba.cuda is
first imported) and MINICNN_KERNELS=cuda.  The simulator runs every GPU thread as
Python on NumPy arrays, so the shapes are small.  Exits non-zero on a mismatch;
prints how many cases passed.
"""
from __future__ import annotations

import os

import numpy as np

from minicnn.kernels import available_kernels, get_kernels, load_kernels

# (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW): stride, padding, dilation, 1x1, odd sizes
CONV_CASES = [
    (2, 3, 5, 6, 3, 2, 2, 1, 1, 1, 2, 1),
    (1, 2, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1),
    (2, 1, 7, 5, 3, 3, 3, 2, 2, 1, 1, 2),
    (1, 4, 3, 3, 4, 4, 1, 1, 2, 2, 1, 1),
]
# (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil_mode); the last has an empty window
POOL_CASES = [
    (2, 3, 5, 6, 3, 2, 2, 1, 1, 1, 2, 1, False),
    (1, 2, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1, True),
    (2, 2, 4, 4, 3, 3, 2, 2, 0, 0, 1, 1, True),
    (1, 2, 6, 7, 2, 2, 2, 2, 0, 0, 1, 1, False),
    (1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 2, 2, False),
]


def conv_out(L, K, S, P, D):
    return (L + 2 * P - D * (K - 1) - 1) // S + 1


def pool_out(L, K, S, P, D, ceil_mode):
    span = L + 2 * P - D * (K - 1) - 1
    out = (-(-span // S) if ceil_mode else span // S) + 1
    return out - 1 if ceil_mode and (out - 1) * S >= L + P else out


def close(actual, expected, dtype):
    assert actual.dtype == expected.dtype == dtype, (actual.dtype, expected.dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def main() -> None:
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
    assert available_kernels()["implementations"]["cuda"]["available"]
    rng = np.random.default_rng(0)
    ref = load_kernels("reference")
    checked = 0
    for dtype in (np.float32, np.float64):
        for N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW in CONV_CASES:
            OH, OW = conv_out(H, KH, SH, PH, DH), conv_out(W, KW, SW, PW, DW)
            g = (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
            x = rng.standard_normal((N, C, H, W)).astype(dtype)
            cuda = get_kernels(x)
            assert cuda.name == "cuda", cuda.name
            out = np.full((N * OH * OW, C * KH * KW), np.nan, dtype=dtype)
            np.testing.assert_array_equal(cuda.im2col(x, *g, out=out), ref.im2col(x, *g))
            cols = rng.standard_normal(out.shape).astype(dtype)
            close(cuda.col2im(cols, N, C, H, W, *g), ref.col2im(cols, N, C, H, W, *g), dtype)
            checked += 1
        for N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil_mode in POOL_CASES:
            OH, OW = pool_out(H, KH, SH, PH, DH, ceil_mode), pool_out(W, KW, SW, PW, DW, ceil_mode)
            g = (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
            x = rng.integers(-2, 3, (N, C, H, W)).astype(dtype)      # many ties
            y, indices = cuda.maxpool2d_forward(x, *g)
            y_ref, indices_ref = ref.maxpool2d_forward(x, *g)
            np.testing.assert_array_equal(y, y_ref)
            np.testing.assert_array_equal(indices, indices_ref)
            gy = rng.standard_normal(y.shape).astype(dtype)
            close(cuda.maxpool2d_backward(gy, indices, H, W),
                  ref.maxpool2d_backward(gy, indices, H, W), dtype)
            if (DH, DW) == (1, 1):
                a = (KH, KW, SH, SW, PH, PW, OH, OW)
                for count_include_pad in (True, False):
                    close(cuda.avgpool2d_forward(x, *a, count_include_pad),
                          ref.avgpool2d_forward(x, *a, count_include_pad), dtype)
                    close(cuda.avgpool2d_backward(gy, N, C, H, W, *a, count_include_pad),
                          ref.avgpool2d_backward(gy, N, C, H, W, *a, count_include_pad), dtype)
            checked += 1
    x = np.array([[[[1.0, np.nan, 2.0, np.nan], [0.0, 3.0, -1.0, np.nan]]]], dtype=np.float32)
    for kernels in (get_kernels(x), ref):                     # the last NaN wins, like torch
        y, indices = kernels.maxpool2d_forward(x, 2, 2, 1, 1, 0, 0, 1, 1, 1, 3)
        np.testing.assert_array_equal(y, [[[[np.nan, np.nan, np.nan]]]])
        np.testing.assert_array_equal(indices, [[[[1, 1, 7]]]])
    print(f"cuda kernels match the reference in {checked + 1} cases")


if __name__ == "__main__":
    main()
