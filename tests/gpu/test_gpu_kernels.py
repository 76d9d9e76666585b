"""The GPU kernels on CuPy arrays against the NumPy references (the simulator covers the
same loops in CI: tests/kernels/test_kernels_cuda.py and test_kernels_unfold.py).

Runs automatically when CuPy sees a CUDA GPU (``pytest tests/gpu -m gpu``); skips
otherwise, saying what is missing.  See gpu_support.py for the dry run on the CPU.
"""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.kernels import get_kernels, load_kernels

from gpu_support import expected_kernels, host, on_device, skip_module_without_gpu

skip_module_without_gpu()
pytestmark = pytest.mark.gpu

REFERENCE = load_kernels("reference")
# (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW): stride, padding, dilation, 1x1, 2x2 pooling
CASES = [
    (2, 3, 9, 8, 3, 3, 2, 1, 1, 1, 1, 2),
    (4, 16, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1),
    (1, 5, 7, 7, 1, 1, 1, 1, 0, 0, 1, 1),
    (2, 8, 12, 10, 2, 2, 2, 2, 0, 0, 1, 1),
]


def _out(L: int, K: int, S: int, P: int, D: int) -> int:
    return (L + 2 * P - D * (K - 1) - 1) // S + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_kernels_match_the_reference(case, dtype):
    N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW = case
    OH, OW = _out(H, KH, SH, PH, DH), _out(W, KW, SW, PW, DW)
    g = (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (N, C, H, W)).astype(dtype)           # ties for the max pooling
    xd = on_device(x).data
    k = get_kernels(xd)
    assert k.name == expected_kernels()
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)

    np.testing.assert_array_equal(host(k.im2col(xd, *g)), REFERENCE.im2col(x, *g))
    cols = rng.standard_normal((N * OH * OW, C * KH * KW)).astype(dtype)
    np.testing.assert_allclose(host(k.col2im(on_device(cols).data, N, C, H, W, *g)),
                               REFERENCE.col2im(cols, N, C, H, W, *g), **tol)

    np.testing.assert_array_equal(host(k.unfold(xd, *g)), REFERENCE.unfold(x, *g))
    cols = rng.standard_normal((N, C * KH * KW, OH * OW)).astype(dtype)
    np.testing.assert_allclose(host(k.fold(on_device(cols).data, N, C, H, W, *g)),
                               REFERENCE.fold(cols, N, C, H, W, *g), **tol)

    y, indices = k.maxpool2d_forward(xd, *g)
    y_ref, indices_ref = REFERENCE.maxpool2d_forward(x, *g)
    np.testing.assert_array_equal(host(y), y_ref)
    np.testing.assert_array_equal(host(indices), indices_ref)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    np.testing.assert_allclose(host(k.maxpool2d_backward(on_device(gy).data, indices, H, W)),
                               REFERENCE.maxpool2d_backward(gy, indices_ref, H, W), **tol)
    if (DH, DW) == (1, 1):
        a = (KH, KW, SH, SW, PH, PW, OH, OW)
        for count_include_pad in (True, False):
            np.testing.assert_allclose(host(k.avgpool2d_forward(xd, *a, count_include_pad)),
                                       REFERENCE.avgpool2d_forward(x, *a, count_include_pad), **tol)
            np.testing.assert_allclose(
                host(k.avgpool2d_backward(on_device(gy).data, N, C, H, W, *a, count_include_pad)),
                REFERENCE.avgpool2d_backward(gy, N, C, H, W, *a, count_include_pad), **tol)
