"""The Winograd Numba-CUDA kernels (kernels/winograd_cuda.py) without a GPU: run under the
CUDA simulator against the reference (also writing into padded planes), and compiled to
PTX for a real GPU, where a float32 kernel must do no float64 arithmetic."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ptx_target import fake_ptx_target

pytest.importorskip("numba")

SIMULATOR_CHECK = r"""
import re

import numpy as np
from minicnn.kernels import load_kernels
from minicnn.kernels.winograd import planes, planes_size, tiles

ref, cuda = load_kernels("reference"), load_kernels("cuda")
rng = np.random.default_rng(0)


def close(actual, expected, dtype):
    assert actual.dtype == expected.dtype == dtype, (actual.dtype, expected.dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def nan_planes(rows, T, dtype):
    buffer = np.full(planes_size(rows, T) + 3, np.nan, dtype=dtype)
    return buffer, planes(buffer, rows, T)


cases = 0
# (N, C, C_out, H, W, PH, PW): odd outputs, a 1-pixel image, padding larger than the filter,
# single-channel planes of a single tile
for N, C, C_out, H, W, PH, PW in [(2, 2, 3, 5, 4, 1, 0), (1, 1, 2, 1, 2, 2, 3), (1, 3, 1, 4, 3, 0, 1),
                                  (1, 1, 1, 2, 2, 1, 1)]:
    OH, OW = H + 2 * PH - 2, W + 2 * PW - 2
    TH, TW = tiles(OH, OW)
    T = N * TH * TW
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        V_ref = ref.winograd_input(x, PH, PW, TH, TW)
        close(cuda.winograd_input(x, PH, PW, TH, TW), V_ref, dtype)
        buffer, out = nan_planes(C, T, dtype)                       # conv2d's padded planes
        V = cuda.winograd_input(x, PH, PW, TH, TW, out=out)
        assert V is out and not np.isnan(out).any()
        assert np.isnan(buffer).sum() == buffer.size - out.size      # the padding untouched
        close(V, V_ref, dtype)

        _, M = nan_planes(C_out, T, dtype)
        M[...] = rng.standard_normal(M.shape)
        bias = rng.standard_normal(C_out).astype(dtype)
        y_all = np.full((N + 1, C_out, OH, OW), np.nan, dtype=dtype)
        out = y_all[1:]                                               # conv2d's batch slice of y
        y = cuda.winograd_output(M, N, OH, OW, bias, out=out)
        assert y is out and np.isnan(y_all[0]).all()
        close(y, ref.winograd_output(M, N, OH, OW, bias), dtype)
        close(cuda.winograd_output(M, N, OH, OW), ref.winograd_output(M, N, OH, OW), dtype)

        gy = rng.standard_normal((N, C_out, OH, OW)).astype(dtype)
        buffer, out = nan_planes(C_out, T, dtype)
        dM = cuda.winograd_output_grad(gy, TH, TW, out=out)
        assert dM is out and np.isnan(buffer).sum() == buffer.size - out.size
        close(dM, ref.winograd_output_grad(gy, TH, TW), dtype)

        _, dV = nan_planes(C, T, dtype)
        dV[...] = rng.standard_normal(dV.shape)
        dx = cuda.winograd_input_grad(dV, N, H, W, PH, PW)
        close(dx, ref.winograd_input_grad(dV, N, H, W, PH, PW), dtype)
        cases += 1

# unusable arguments are refused before any thread runs
x = np.zeros((1, 2, 4, 5), dtype=np.float32)
for call, pattern in [              # PH = PW = 1: OH, OW = 4, 5; TH, TW = 2, 3; T = 6
        (lambda: cuda.winograd_input(x, 1, 1, 2, 3, out=np.zeros((16, 2, 5), np.float32)),
         r"input_transform: out must be .*float32, of shape \(16, 2, 6\)"),
        (lambda: cuda.winograd_output(np.zeros((16, 3, 5), np.float32), 1, 4, 5),
         r"output_transform: expected a \(16, rows, 6\) array"),
        (lambda: cuda.winograd_input_grad(np.zeros((16, 2, 7), np.float32), 1, 4, 5, 1, 1),
         r"input_grad_transform: expected a \(16, rows, 6\) array")]:
    try:
        call()
    except ValueError as error:
        assert re.search(pattern, str(error)), error
    else:
        raise AssertionError(f"no ValueError matching {pattern}")
print(f"winograd cuda transforms match the reference in {cases} cases")
"""


def test_cuda_winograd_transforms_match_reference_in_the_simulator():
    # a fresh process: the simulator is chosen when numba.cuda is first imported
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", SIMULATOR_CHECK], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "match the reference in 8 cases" in result.stdout


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="the simulator replaces the CUDA compiler")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_winograd_kernels_compile_to_ptx(monkeypatch, dtype):
    # The real CUDA target types and compiles the kernels (a fake device supplies the
    # compute capability; emitting PTX needs no GPU).  Padded planes and strided x / gy
    # arrive with layout "A".
    cuda, nt = fake_ptx_target(monkeypatch)
    from minicnn.kernels import winograd_cuda

    f, i64 = getattr(nt, dtype), nt.int64
    planes3, strided4 = nt.Array(f, 3, "A"), nt.Array(f, 4, "A")
    c4, c1 = nt.Array(f, 4, "C"), nt.Array(f, 1, "C")
    signatures = [
        (winograd_cuda._input_kernel, (strided4, planes3) + (i64,) * 4),
        (winograd_cuda._output_kernel, (planes3, c4, c1, nt.boolean)),
        (winograd_cuda._output_grad_kernel, (strided4, planes3, i64, i64)),
        (winograd_cuda._input_grad_kernel, (planes3, c4) + (i64,) * 4),
    ]
    for kernel, signature in signatures:
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(7, 5))
        assert ".entry" in ptx, kernel.py_func.__name__
        f64_ops = re.findall(r"\.f64\b", ptx)
        if dtype == "float32":                  # float32 stays float32 on the GPU
            assert not f64_ops, (kernel.py_func.__name__, len(f64_ops))
        else:
            assert f64_ops, kernel.py_func.__name__
