"""im2col / col2im: hand-checked cases, every implementation vs the reference,
adjointness, and parity with torch's unfold / fold / conv2d."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.kernels import load_kernels
from minicnn.kernels.im2col import col2im_reference, im2col_reference

FAST = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])
DTYPES = [np.float32, np.float64]
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
    x = rng.standard_normal((N, C, H, W))
    return x, (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)


def test_im2col_small_example():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    cols = im2col_reference(x, 2, 2, 1, 1, 0, 0, 1, 1, 2, 2)
    # one row per output pixel, columns (kh, kw) = (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    assert cols.dtype == np.float32


def test_im2col_padding_and_stride_example():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])         # (1, 1, 2, 2)
    cols = im2col_reference(x, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1)   # one 3x3 window at (-1, -1)
    np.testing.assert_array_equal(cols, [[0, 0, 0, 0, 1, 2, 0, 3, 4]])


def test_col2im_sums_overlapping_windows():
    # 1x3 input, 1x2 kernel, stride 1: the middle pixel is in both windows
    cols = np.array([[1.0, 10.0], [100.0, 1000.0]])
    dx = col2im_reference(cols, 1, 1, 1, 3, 1, 2, 1, 1, 0, 0, 1, 1, 1, 2)
    np.testing.assert_array_equal(dx, [[[[1.0, 110.0, 1000.0]]]])


@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=conv_cases())
def test_im2col_matches_reference(impl, dtype, case):
    x, g = case
    x = x.astype(dtype)
    expected = im2col_reference(x, *g)
    out = np.full_like(expected, np.nan)               # every element must be written
    cols = load_kernels(impl).im2col(x, *g, out=out)
    assert cols is out and cols.dtype == dtype
    np.testing.assert_array_equal(cols, expected)


@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=conv_cases())
def test_col2im_matches_reference(impl, dtype, case):
    x, g = case
    N, C, H, W = x.shape
    KH, KW, OH, OW = g[0], g[1], g[8], g[9]
    cols = np.random.default_rng(0).standard_normal((N * OH * OW, C * KH * KW)).astype(dtype)
    dx = load_kernels(impl).col2im(cols, N, C, H, W, *g)
    assert dx.dtype == dtype and dx.shape == x.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dx, col2im_reference(cols, N, C, H, W, *g), rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", ["reference"] + FAST)
@FUZZ
@given(case=conv_cases())
def test_col2im_is_adjoint_of_im2col(impl, case):
    # <im2col(x), c> == <x, col2im(c)> for all x, c: col2im is im2col transposed
    x, g = case
    N, C, H, W = x.shape
    k = load_kernels(impl)
    c = np.random.default_rng(1).standard_normal((N * g[8] * g[9], C * g[0] * g[1]))
    lhs = np.sum(k.im2col(x, *g) * c)
    rhs = np.sum(x * k.col2im(c, N, C, H, W, *g))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@FUZZ
@given(case=conv_cases())
def test_im2col_and_col2im_match_torch_unfold_and_fold(case):
    torch = pytest.importorskip("torch")
    x, (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW) = case
    N, C, H, W = x.shape
    kw = dict(kernel_size=(KH, KW), dilation=(DH, DW), padding=(PH, PW), stride=(SH, SW))
    cols = im2col_reference(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    unfolded = torch.nn.functional.unfold(torch.from_numpy(x), **kw).numpy()  # (N, C*KH*KW, L)
    np.testing.assert_array_equal(cols, unfolded.transpose(0, 2, 1).reshape(N * OH * OW, -1))

    c = np.random.default_rng(2).standard_normal(cols.shape)
    folded = torch.nn.functional.fold(
        torch.from_numpy(c.reshape(N, OH * OW, -1).transpose(0, 2, 1).copy()), (H, W), **kw)
    dx = col2im_reference(c, N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    np.testing.assert_allclose(dx, folded.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("stride, pad, dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv2d_as_cols_matmul_matches_torch(groups, stride, pad, dilation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    N, C, H, W, C_out, K = 2, 4, 7, 6, 6, 3
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C_out, C // groups, K, K)).astype(np.float32)
    OH, OW = conv_out(H, K, stride, pad, dilation), conv_out(W, K, stride, pad, dilation)
    cols = im2col_reference(x, K, K, stride, stride, pad, pad, dilation, dilation, OH, OW)
    width, out_per_group = (C // groups) * K * K, C_out // groups
    # group g: the columns of its channels times its filters reshaped to (out_per_group, width)
    y = np.concatenate([
        cols[:, g * width:(g + 1) * width]
        @ w[g * out_per_group:(g + 1) * out_per_group].reshape(out_per_group, width).T
        for g in range(groups)], axis=1)                 # (N*OH*OW, C_out)
    y = y.reshape(N, OH, OW, C_out).transpose(0, 3, 1, 2)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                          stride=stride, padding=pad, dilation=dilation,
                                          groups=groups)
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", ["reference"] + FAST)
def test_im2col_rejects_an_unusable_out_buffer(impl):
    x = np.zeros((1, 2, 3, 3), dtype=np.float32)
    im2col = load_kernels(impl).im2col
    with pytest.raises(ValueError, match=r"shape \(9, 18\)"):
        im2col(x, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3, out=np.zeros((9, 17), np.float32))
    with pytest.raises(ValueError, match="float32"):
        im2col(x, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3, out=np.zeros((9, 18)))
