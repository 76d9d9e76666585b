"""unfold / fold (the per-image column layout conv2d uses): a hand-checked case, every
implementation vs the reference (also through the strided views conv2d passes),
adjointness, parity with torch's F.unfold / F.fold, and the CUDA kernels under the
simulator and compiled to PTX."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.kernels import load_kernels
from minicnn.kernels.im2col import fold_reference, im2col_reference, unfold_reference
from ptx_target import fake_ptx_target

HAS_NUMBA = importlib.util.find_spec("numba") is not None
FAST = ["numpy"] + (["numba"] if HAS_NUMBA else [])
FUZZ = settings(max_examples=25, deadline=None)      # deadline: the first call compiles


def conv_out(L: int, K: int, S: int, P: int, D: int) -> int:
    return (L + 2 * P - D * (K - 1) - 1) // S + 1


@st.composite
def conv_cases(draw):
    """(x, geometry) with geometry = (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    DH, DW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    OH, OW = conv_out(H, KH, SH, PH, DH), conv_out(W, KW, SW, PW, DW)
    assume(OH >= 1 and OW >= 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.standard_normal((N, C, H, W)), (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)


def columns_side_by_side(N: int, K: int, P: int, dtype) -> np.ndarray:
    """The (N, K, P) view of a (K, N, P) buffer that conv2d hands to unfold, NaN-filled."""
    return np.full((K, N, P), np.nan, dtype=dtype).transpose(1, 0, 2)


def test_unfold_small_example():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    cols = unfold_reference(x, 2, 2, 1, 1, 0, 0, 1, 1, 2, 2)
    # one COLUMN per output pixel (rows are the taps (kh, kw) = (0,0), (0,1), (1,0), (1,1))
    np.testing.assert_array_equal(cols[0], [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    assert cols.dtype == np.float32


def test_fold_sums_overlapping_windows():
    # 1x3 input, 1x2 kernel, stride 1: the middle pixel is in both windows
    cols = np.array([[[1.0, 100.0], [10.0, 1000.0]]])          # (1, KH*KW=2, OH*OW=2)
    dx = fold_reference(cols, 1, 1, 1, 3, 1, 2, 1, 1, 0, 0, 1, 1, 1, 2)
    np.testing.assert_array_equal(dx, [[[[1.0, 110.0, 1000.0]]]])


@pytest.mark.parametrize("impl", ["reference"] + FAST)
@FUZZ
@given(case=conv_cases())
def test_unfold_is_im2col_transposed_per_image(impl, case):
    x, g = case
    N, P = x.shape[0], g[8] * g[9]
    expected = im2col_reference(x, *g).reshape(N, P, -1).transpose(0, 2, 1)
    np.testing.assert_array_equal(load_kernels(impl).unfold(x, *g), expected)


@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@FUZZ
@given(case=conv_cases())
def test_unfold_writes_every_element_of_out_also_through_a_strided_view(impl, dtype, case):
    x, g = case
    x = x.astype(dtype)
    expected = unfold_reference(x, *g)
    N, K, P = expected.shape
    for out in (np.full((N, K, P), np.nan, dtype=dtype), columns_side_by_side(N, K, P, dtype)):
        cols = load_kernels(impl).unfold(x, *g, out=out)
        assert cols is out and cols.dtype == dtype
        np.testing.assert_array_equal(cols, expected)


@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@FUZZ
@given(case=conv_cases())
def test_fold_matches_reference_also_from_a_strided_view(impl, dtype, case):
    x, g = case
    N, C, H, W = x.shape
    K, P = C * g[0] * g[1], g[8] * g[9]
    cols = np.random.default_rng(0).standard_normal((N, K, P)).astype(dtype)
    expected = fold_reference(cols, N, C, H, W, *g)
    strided = columns_side_by_side(N, K, P, dtype)
    strided[...] = cols
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for source in (cols, strided):
        out = np.full((N, C, H, W), np.nan, dtype=dtype)            # fold overwrites out
        dx = load_kernels(impl).fold(source, N, C, H, W, *g, out=out)
        assert dx is out and dx.dtype == dtype
        np.testing.assert_allclose(dx, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", ["reference"] + FAST)
@FUZZ
@given(case=conv_cases())
def test_fold_is_adjoint_of_unfold(impl, case):
    # <unfold(x), c> == <x, fold(c)> for all x, c: fold is unfold transposed
    x, g = case
    N, C, H, W = x.shape
    k = load_kernels(impl)
    c = np.random.default_rng(1).standard_normal((N, C * g[0] * g[1], g[8] * g[9]))
    np.testing.assert_allclose(np.sum(k.unfold(x, *g) * c), np.sum(x * k.fold(c, N, C, H, W, *g)),
                               rtol=1e-12, atol=1e-12)


@FUZZ
@given(case=conv_cases())
def test_unfold_and_fold_match_torch(case):
    torch = pytest.importorskip("torch")
    x, (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW) = case
    N, C, H, W = x.shape
    kw = dict(kernel_size=(KH, KW), dilation=(DH, DW), padding=(PH, PW), stride=(SH, SW))
    cols = unfold_reference(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    np.testing.assert_array_equal(cols, torch.nn.functional.unfold(torch.from_numpy(x), **kw).numpy())
    c = np.random.default_rng(2).standard_normal(cols.shape)
    folded = torch.nn.functional.fold(torch.from_numpy(c), (H, W), **kw).numpy()
    np.testing.assert_allclose(fold_reference(c, N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW),
                               folded, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["reference"] + FAST)
def test_unfold_and_fold_name_the_shape_an_unusable_out_needs(impl):
    k = load_kernels(impl)
    x = np.zeros((1, 2, 3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"unfold: out= must be an float32 array of shape \(1, 18, 9\)"):
        k.unfold(x, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3, out=np.zeros((1, 17, 9), np.float32))
    with pytest.raises(ValueError, match=r"fold: out= must be a C-contiguous float32 array of shape \(1, 2, 3, 3\)"):
        k.fold(np.zeros((1, 18, 9), np.float32), 1, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3,
               out=np.zeros((1, 2, 3, 3)))


# --------------------------------------------------------------------------- CUDA
SIMULATOR_CHECK = r"""
import numpy as np
from minicnn.kernels import load_kernels
ref, cuda = load_kernels("reference"), load_kernels("cuda")
rng = np.random.default_rng(0)
cases = 0
for N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW in [(2, 3, 5, 6, 3, 2, 2, 1, 1, 1, 2, 1),
                                                   (1, 2, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1),
                                                   (2, 1, 7, 5, 3, 3, 3, 2, 2, 1, 1, 2)]:
    OH = (H + 2 * PH - DH * (KH - 1) - 1) // SH + 1
    OW = (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1
    g = (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        K, P = C * KH * KW, OH * OW
        out = np.full((K, N, P), np.nan, dtype=dtype).transpose(1, 0, 2)   # conv2d's view
        np.testing.assert_array_equal(cuda.unfold(x, *g, out=out), ref.unfold(x, *g))
        cols = rng.standard_normal((N, K, P)).astype(dtype)
        dx = cuda.fold(cols, N, C, H, W, *g)
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, ref.fold(cols, N, C, H, W, *g), rtol=1e-5, atol=1e-5)
        cases += 1
print(f"unfold/fold match the reference in {cases} cases")
"""


@pytest.mark.skipif(not HAS_NUMBA, reason="needs numba")
def test_cuda_unfold_and_fold_match_reference_in_the_simulator():
    # a fresh process: the simulator is chosen when numba.cuda is first imported
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", SIMULATOR_CHECK], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "match the reference in 6 cases" in result.stdout


@pytest.mark.skipif(not HAS_NUMBA, reason="needs numba")
@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="the simulator replaces the CUDA compiler")
def test_cuda_unfold_and_fold_compile_to_ptx(monkeypatch):
    cuda, nt = fake_ptx_target(monkeypatch)
    from minicnn.kernels import im2col_cuda

    f, i64, flag = nt.float32, nt.int64, nt.boolean
    a3, a4 = nt.Array(f, 3, "C"), nt.Array(f, 4, "C")
    for kernel, signature in [(im2col_cuda._unfold_kernel, (a4, a3, flag) + (i64,) * 10),
                              (im2col_cuda._fold_kernel, (a3, flag, a4) + (i64,) * 10)]:
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(7, 5))
        assert ".entry" in ptx, kernel.py_func.__name__
