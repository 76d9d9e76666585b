"""The Numba-CUDA kernels without a GPU: run under the CUDA simulator against the
references, and compiled to PTX for a real GPU; plus a real-GPU run (marked gpu)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptx_target import fake_ptx_target

pytest.importorskip("numba")

SIMULATOR_CHECK = Path(__file__).with_name("cuda_simulator_check.py")


def test_cuda_kernels_match_reference_in_the_simulator():
    # A fresh process: the simulator is chosen when numba.cuda is first imported,
    # which must not leak into this (or another pytest-xdist) worker.
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", MINICNN_KERNELS="cuda")
    result = subprocess.run([sys.executable, str(SIMULATOR_CHECK)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "match the reference in 19 cases" in result.stdout


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="the simulator replaces the CUDA compiler")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_kernels_compile_to_ptx(monkeypatch, dtype):
    # The simulator runs the kernels as Python; this checks that the real CUDA target
    # can type and compile them.  Device functions ask the current GPU for its
    # compute capability, so one is faked (emitting PTX itself needs no GPU).
    cuda, nt = fake_ptx_target(monkeypatch)
    from minicnn.kernels import im2col_cuda, pooling_cuda

    f, i64, flag = getattr(nt, dtype), nt.int64, nt.boolean
    a4, a2 = nt.Array(f, 4, "C"), nt.Array(f, 2, "C")
    signatures = [
        (im2col_cuda._im2col_kernel, (a4, a2) + (i64,) * 10),
        (im2col_cuda._col2im_kernel, (a2, a4) + (i64,) * 10),
        (pooling_cuda._maxpool_forward_kernel, (a4, a4, nt.Array(i64, 4, "C")) + (i64,) * 8),
        (pooling_cuda._maxpool_backward_kernel, (a2, nt.Array(i64, 2, "C"), a2)),
        (pooling_cuda._avgpool_forward_kernel, (a4, a4) + (i64,) * 6 + (flag,)),
        (pooling_cuda._avgpool_backward_kernel, (a4, a4) + (i64,) * 6 + (flag,)),
    ]
    for kernel, signature in signatures:
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(7, 5))
        assert ".entry" in ptx, kernel.py_func.__name__


@pytest.mark.gpu
def test_cuda_kernels_on_a_gpu_match_reference(monkeypatch):
    if importlib.util.find_spec("cupy") is None:
        pytest.skip("needs cupy and a CUDA GPU")
    import cupy
    if cupy.cuda.runtime.getDeviceCount() == 0:
        pytest.skip("needs a CUDA GPU")
    monkeypatch.delenv("MINICNN_KERNELS", raising=False)
    from minicnn.kernels import get_kernels, load_kernels

    ref = load_kernels("reference")
    x = np.random.default_rng(0).integers(-2, 3, (2, 3, 9, 8)).astype(np.float32)
    gpu = get_kernels(cupy.asarray(x))
    assert gpu.name == "cuda"
    g = (3, 3, 2, 1, 1, 1, 1, 2, 5, 6)                   # KH, KW, SH, SW, PH, PW, DH, DW, OH, OW
    cols = gpu.im2col(cupy.asarray(x), *g)
    np.testing.assert_array_equal(cupy.asnumpy(cols), ref.im2col(x, *g))
    np.testing.assert_allclose(cupy.asnumpy(gpu.col2im(cols, 2, 3, 9, 8, *g)),
                               ref.col2im(ref.im2col(x, *g), 2, 3, 9, 8, *g), rtol=1e-5)
    y, indices = gpu.maxpool2d_forward(cupy.asarray(x), *g)
    y_ref, indices_ref = ref.maxpool2d_forward(x, *g)
    np.testing.assert_array_equal(cupy.asnumpy(indices), indices_ref)
    np.testing.assert_allclose(cupy.asnumpy(gpu.maxpool2d_backward(y, indices, 9, 8)),
                               ref.maxpool2d_backward(y_ref, indices_ref, 9, 8), rtol=1e-5)
    a = (3, 3, 2, 2, 1, 1, 5, 4)                           # KH, KW, SH, SW, PH, PW, OH, OW
    ya = gpu.avgpool2d_forward(cupy.asarray(x), *a, False)
    np.testing.assert_allclose(cupy.asnumpy(ya), ref.avgpool2d_forward(x, *a, False), rtol=1e-5)
    np.testing.assert_allclose(cupy.asnumpy(gpu.avgpool2d_backward(ya, 2, 3, 9, 8, *a, False)),
                               ref.avgpool2d_backward(cupy.asnumpy(ya), 2, 3, 9, 8, *a, False),
                               rtol=1e-5)
