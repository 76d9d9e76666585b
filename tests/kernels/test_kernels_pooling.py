"""Max / average pooling kernels: hand-checked cases, parity with torch (values,
indices, ties, NaN, ceil_mode, count_include_pad, gradients), and every
implementation vs the reference."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.kernels import load_kernels
from minicnn.kernels.pooling import (avgpool2d_backward_reference, avgpool2d_forward_reference,
                                     maxpool2d_backward_reference, maxpool2d_forward_reference)

FAST = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])
DTYPES = [np.float32, np.float64]
FUZZ = settings(max_examples=25, deadline=None)      # deadline: the first call compiles


def pool_out(L: int, K: int, S: int, P: int, D: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size (a ceil_mode window must start inside input or left pad)."""
    span = L + 2 * P - D * (K - 1) - 1
    out = (-(-span // S) if ceil_mode else span // S) + 1
    if ceil_mode and (out - 1) * S >= L + P:
        out -= 1
    return out


@st.composite
def pool_cases(draw, dilation: bool = True):
    """(x, geometry, ceil_mode) with geometry = (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW).

    x holds small integers (many ties), all zeros, or normal noise.
    """
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    DH, DW = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ceil_mode = draw(st.booleans())
    assume(H + 2 * PH >= DH * (KH - 1) + 1 and W + 2 * PW >= DW * (KW - 1) + 1)
    OH, OW = pool_out(H, KH, SH, PH, DH, ceil_mode), pool_out(W, KW, SW, PW, DW, ceil_mode)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = draw(st.sampled_from([
        rng.integers(-2, 3, (N, C, H, W)).astype(np.float64),
        np.zeros((N, C, H, W)),
        rng.standard_normal((N, C, H, W)),
    ]))
    return x, (KH, KW, SH, SW, PH, PW, DH, DW, OH, OW), ceil_mode


def torch_maxpool(torch, x, g, ceil_mode):
    KH, KW, SH, SW, PH, PW, DH, DW = g[:8]
    return torch.nn.functional.max_pool2d(x, (KH, KW), (SH, SW), (PH, PW), (DH, DW),
                                          ceil_mode=ceil_mode, return_indices=True)


def avg_geometry(g):
    KH, KW, SH, SW, PH, PW, DH, DW, OH, OW = g
    return KH, KW, SH, SW, PH, PW, OH, OW


# ------------------------------------------------------------------ hand-checked cases
def test_maxpool_ties_pick_the_first_maximum_in_row_major_order():
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)     # every tap ties
    y, indices = maxpool2d_forward_reference(x, 2, 2, 1, 1, 0, 0, 1, 1, 3, 3)
    np.testing.assert_array_equal(indices[0, 0], [[0, 1, 2], [4, 5, 6], [8, 9, 10]])
    assert y.dtype == np.float32 and indices.dtype == np.int64


def test_maxpool_padding_never_wins_and_all_minus_inf_keeps_first_tap():
    x = np.full((1, 1, 3, 3), -np.inf)
    y, indices = maxpool2d_forward_reference(x, 2, 2, 1, 1, 1, 1, 1, 1, 4, 4)
    # window (oh, ow) starts at (oh-1, ow-1); its first tap inside the input is clamped to 0
    np.testing.assert_array_equal(indices[0, 0],
                                  [[0, 0, 1, 2], [0, 0, 1, 2], [3, 3, 4, 5], [6, 6, 7, 8]])
    assert np.all(y == -np.inf)


def test_maxpool_backward_accumulates_a_pixel_that_wins_twice():
    x = np.array([[[[0.0, 5.0, 0.0]]]])              # 1x2 windows, stride 1: 5 wins both
    y, indices = maxpool2d_forward_reference(x, 1, 2, 1, 1, 0, 0, 1, 1, 1, 2)
    np.testing.assert_array_equal(indices, [[[[1, 1]]]])
    dx = maxpool2d_backward_reference(np.array([[[[1.0, 10.0]]]]), indices, 1, 3)
    np.testing.assert_array_equal(dx, [[[[0.0, 11.0, 0.0]]]])


def test_avgpool_ceil_mode_divides_by_the_clipped_window():
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    # 3x3 windows, stride 2, ceil_mode: the second window covers rows 2..3 only
    y = avgpool2d_forward_reference(x, 3, 3, 2, 2, 0, 0, 2, 2)
    np.testing.assert_array_equal(y, np.ones((1, 1, 2, 2)))
    assert y.dtype == np.float32


def test_avgpool_count_include_pad_counts_padding_in_the_divisor():
    x = np.ones((1, 1, 5, 5))
    with_pad = avgpool2d_forward_reference(x, 3, 3, 2, 2, 1, 1, 3, 3, count_include_pad=True)
    without = avgpool2d_forward_reference(x, 3, 3, 2, 2, 1, 1, 3, 3, count_include_pad=False)
    np.testing.assert_allclose(with_pad[0, 0, 0], [4 / 9, 6 / 9, 4 / 9])   # corner: 4 real of 9
    np.testing.assert_array_equal(without, np.ones((1, 1, 3, 3)))


# ------------------------------------------------------------------ parity with torch
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=pool_cases())
def test_maxpool_forward_and_backward_match_torch(dtype, case):
    torch = pytest.importorskip("torch")
    x, g, ceil_mode = case
    x = x.astype(dtype)
    N, C, H, W = x.shape
    xt = torch.from_numpy(x).requires_grad_()
    yt, it = torch_maxpool(torch, xt, g, ceil_mode)
    y, indices = maxpool2d_forward_reference(x, *g)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(indices, it.numpy())
    # torch's backward does not bounds-check the index of an empty dilated window
    assume(np.all(indices < H * W))
    gy = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(maxpool2d_backward_reference(gy, indices, H, W), xt.grad.numpy(),
                               rtol=1e-6, atol=1e-6)


def test_maxpool_nan_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1.0, np.nan, 2.0, np.nan], [0.0, 3.0, -1.0, np.nan]]]], dtype=np.float32)
    g = (2, 2, 1, 1, 0, 0, 1, 1, 1, 3)
    yt, it = torch_maxpool(torch, torch.from_numpy(x), g, False)
    for impl in ["reference"] + FAST:
        y, indices = load_kernels(impl).maxpool2d_forward(x, *g)
        np.testing.assert_array_equal(y, yt.numpy())          # NaN == NaN for this assert
        np.testing.assert_array_equal(indices, it.numpy())    # the LAST NaN wins, like torch


@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=pool_cases(dilation=False), count_include_pad=st.booleans())
def test_avgpool_forward_and_backward_match_torch(dtype, case, count_include_pad):
    torch = pytest.importorskip("torch")
    x, g, ceil_mode = case
    x = x.astype(dtype)
    N, C, H, W = x.shape
    KH, KW, SH, SW, PH, PW, OH, OW = avg_geometry(g)
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch.nn.functional.avg_pool2d(xt, (KH, KW), (SH, SW), (PH, PW), ceil_mode=ceil_mode,
                                        count_include_pad=count_include_pad)
    y = avgpool2d_forward_reference(x, *avg_geometry(g), count_include_pad)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tol, atol=tol)
    gy = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(gy))
    dx = avgpool2d_backward_reference(gy, N, C, H, W, *avg_geometry(g), count_include_pad)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tol, atol=tol)


# ------------------------------------------------------- implementations vs reference
@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=pool_cases())
def test_maxpool_matches_reference(impl, dtype, case):
    x, g, _ = case
    x = x.astype(dtype)
    N, C, H, W = x.shape
    kernels = load_kernels(impl)
    y, indices = kernels.maxpool2d_forward(x, *g)
    y_ref, indices_ref = maxpool2d_forward_reference(x, *g)
    assert y.dtype == dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(indices, indices_ref)
    gy = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    dx = kernels.maxpool2d_backward(gy, indices, H, W)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, maxpool2d_backward_reference(gy, indices, H, W),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=pool_cases(dilation=False), count_include_pad=st.booleans())
def test_avgpool_matches_reference(impl, dtype, case, count_include_pad):
    x, g, _ = case
    x = x.astype(dtype)
    N, C, H, W = x.shape
    kernels = load_kernels(impl)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    y = kernels.avgpool2d_forward(x, *avg_geometry(g), count_include_pad)
    assert y.dtype == dtype
    expected = avgpool2d_forward_reference(x, *avg_geometry(g), count_include_pad)
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
    gy = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    dx = kernels.avgpool2d_backward(gy, N, C, H, W, *avg_geometry(g), count_include_pad)
    assert dx.dtype == dtype
    np.testing.assert_allclose(
        dx, avgpool2d_backward_reference(gy, N, C, H, W, *avg_geometry(g), count_include_pad),
        rtol=tol, atol=tol)
