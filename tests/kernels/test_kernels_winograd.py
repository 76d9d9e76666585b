"""Winograd F(2x2, 3x3) transforms (kernels/winograd.py): a tile checked by hand, the reference
against a direct convolution (values and gradients), the backward transforms as the exact
transposes of the forward ones, the Numba kernels against the reference (also writing into
padded planes), and the errors an unusable `out` raises.  The CUDA kernels are checked in
test_kernels_winograd_cuda.py."""
from __future__ import annotations

import importlib.util
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.kernels import load_kernels
from minicnn.kernels.winograd import (G, input_grad_transform_reference, input_transform_reference,
                                      output_grad_transform_reference, output_transform_reference,
                                      planes, planes_size, tiles, weight_grad_transform,
                                      weight_transform)

HAS_NUMBA = importlib.util.find_spec("numba") is not None
IMPLEMENTATIONS = ["reference"] + (["numba"] if HAS_NUMBA else [])
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="needs numba")
FUZZ = settings(max_examples=30, deadline=None)      # deadline: the first call compiles
DTYPES = [np.float32, np.float64]


class Case(NamedTuple):
    """A 3x3 stride-1 convolution geometry: OH = H + 2*PH - 2, TH = ceil(OH/2), T = N*TH*TW."""
    N: int
    C: int
    H: int
    W: int
    PH: int
    PW: int
    OH: int
    OW: int
    TH: int
    TW: int
    T: int
    rng: np.random.Generator


@st.composite
def cases(draw) -> Case:
    """Small images (down to 1 or 2 pixels a side), odd outputs, padding 0..3 on each axis."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    PH, PW = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    OH, OW = H + 2 * PH - 2, W + 2 * PW - 2
    assume(OH >= 1 and OW >= 1)
    TH, TW = tiles(OH, OW)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return Case(N, C, H, W, PH, PW, OH, OW, TH, TW, N * TH * TW, rng)


def nan_planes(rows: int, T: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(buffer, planes view): a NaN-filled flat buffer, a little longer than needed, as scratch is."""
    buffer = np.full(planes_size(rows, T) + 5, np.nan, dtype=dtype)
    return buffer, planes(buffer, rows, T)


def assert_only_planes_written(buffer: np.ndarray, view: np.ndarray) -> None:
    """Every element of the planes was written, the padding between them was not."""
    assert not np.isnan(view).any()
    assert np.isnan(buffer).sum() == buffer.size - view.size


def close(actual: np.ndarray, expected: np.ndarray, dtype) -> None:
    assert actual.dtype == expected.dtype == dtype, (actual.dtype, expected.dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def as_planes(A: np.ndarray, layout: str) -> np.ndarray:
    """A (16, rows, T) input as conv2d passes it ("planes", padded apart), C-contiguous, or Fortran."""
    if layout == "planes":
        _, view = nan_planes(A.shape[1], A.shape[2], A.dtype)
        view[...] = A
        return view
    return np.ascontiguousarray(A) if layout == "contiguous" else np.asfortranarray(A)


# --------------------------------------------------------------------------- direct convolution
def conv3x3_direct(x: np.ndarray, w: np.ndarray, PH: int, PW: int) -> np.ndarray:
    """y[n, o, oh, ow] = sum over c, kh, kw of xpad[n, c, oh + kh, ow + kw] * w[o, c, kh, kw]."""
    xpad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    OH, OW = xpad.shape[2] - 2, xpad.shape[3] - 2
    y = np.zeros((x.shape[0], w.shape[0], OH, OW), dtype=x.dtype)
    for kh in range(3):
        for kw in range(3):
            y += np.einsum("nchw,oc->nohw", xpad[:, :, kh:kh + OH, kw:kw + OW], w[:, :, kh, kw])
    return y


def conv3x3_direct_grads(x: np.ndarray, w: np.ndarray, gy: np.ndarray, PH: int, PW: int):
    """(dL/dx, dL/dw) of conv3x3_direct: each product sends gy back to both of its factors."""
    H, W = x.shape[2:]
    OH, OW = gy.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    dxpad, dw = np.zeros_like(xpad), np.zeros_like(w)
    for kh in range(3):
        for kw in range(3):
            dxpad[:, :, kh:kh + OH, kw:kw + OW] += np.einsum("nohw,oc->nchw", gy, w[:, :, kh, kw])
            dw[:, :, kh, kw] = np.einsum("nohw,nchw->oc", gy, xpad[:, :, kh:kh + OH, kw:kw + OW])
    return dxpad[:, :, PH:PH + H, PW:PW + W], dw


def winograd_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, PH: int, PW: int) -> np.ndarray:
    """y = A^T [(G w G^T) * (B^T d B)] A per tile, with the reference transforms."""
    N, C, H, W = x.shape
    OH, OW = H + 2 * PH - 2, W + 2 * PW - 2
    TH, TW = tiles(OH, OW)
    V = input_transform_reference(x, PH, PW, TH, TW)                  # (16, C, T)
    return output_transform_reference(weight_transform(w) @ V, N, OH, OW, b)


def test_one_tile_by_hand():
    # a 4x4 image, an all-ones 3x3 filter, no padding: one 2x2 tile of 3x3 window sums
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y = winograd_conv(x, np.ones((1, 1, 3, 3), dtype=np.float32), np.array([0.5], np.float32), 0, 0)
    # top-left window: 0+1+2 + 4+5+6 + 8+9+10 = 45; one column right adds 3*1 = 9 ... (then + bias)
    np.testing.assert_array_equal(y, [[[[45.5, 54.5], [81.5, 90.5]]]])
    assert y.dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=cases(), C_out=st.integers(1, 3))
def test_reference_equals_direct_convolution(dtype, case, C_out):
    x = case.rng.standard_normal((case.N, case.C, case.H, case.W)).astype(dtype)
    w = case.rng.standard_normal((C_out, case.C, 3, 3)).astype(dtype)
    b = case.rng.standard_normal(C_out).astype(dtype)
    expected = conv3x3_direct(x, w, case.PH, case.PW) + b.reshape(1, C_out, 1, 1)
    close(winograd_conv(x, w, b, case.PH, case.PW), expected, dtype)


@FUZZ
@given(case=cases(), C_out=st.integers(1, 3))
def test_backward_chain_equals_direct_convolution_gradients(case, C_out):
    # dM = A dY A^T, dU = dM V^T -> dw = G^T dU G, dV = U^T dM -> dx = B dV B^T (overlaps added)
    x = case.rng.standard_normal((case.N, case.C, case.H, case.W))
    w = case.rng.standard_normal((C_out, case.C, 3, 3))
    gy = case.rng.standard_normal((case.N, C_out, case.OH, case.OW))
    V = input_transform_reference(x, case.PH, case.PW, case.TH, case.TW)
    dM = output_grad_transform_reference(gy, case.TH, case.TW)                   # (16, C_out, T)
    dw = weight_grad_transform(dM @ V.transpose(0, 2, 1))                          # (C_out, C, 3, 3)
    dV = weight_transform(w).transpose(0, 2, 1) @ dM                               # (16, C, T)
    dx = input_grad_transform_reference(dV, case.N, case.H, case.W, case.PH, case.PW)
    dx_direct, dw_direct = conv3x3_direct_grads(x, w, gy, case.PH, case.PW)
    close(dx, dx_direct, np.float64)
    close(dw, dw_direct, np.float64)


# --------------------------------------------------------------------------- adjoints
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@FUZZ
@given(case=cases(), C_out=st.integers(1, 3))
def test_output_grad_transform_is_adjoint_of_output_transform(impl, case, C_out):
    # <output_transform(M), Y> == <M, output_grad_transform(Y)> for all M, Y: exact transposes
    k = load_kernels(impl)
    M = case.rng.standard_normal((16, C_out, case.T))
    Y = case.rng.standard_normal((case.N, C_out, case.OH, case.OW))
    lhs = np.sum(k.winograd_output(M, case.N, case.OH, case.OW) * Y)
    rhs = np.sum(M * k.winograd_output_grad(Y, case.TH, case.TW))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@FUZZ
@given(case=cases())
def test_input_grad_transform_is_adjoint_of_input_transform(impl, case):
    # <input_transform(x), V> == <x, input_grad_transform(V)>: padding and overlaps included
    k = load_kernels(impl)
    x = case.rng.standard_normal((case.N, case.C, case.H, case.W))
    V = case.rng.standard_normal((16, case.C, case.T))
    lhs = np.sum(k.winograd_input(x, case.PH, case.PW, case.TH, case.TW) * V)
    rhs = np.sum(x * k.winograd_input_grad(V, case.N, case.H, case.W, case.PH, case.PW))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@FUZZ
@given(C_out=st.integers(1, 4), C=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_weight_transform_is_G_g_GT_and_weight_grad_transform_its_adjoint(C_out, C, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((C_out, C, 3, 3))
    U = weight_transform(w)                                           # (16, C_out, C)
    assert U.shape == (16, C_out, C) and U.flags.c_contiguous
    for o, c in np.ndindex(C_out, C):                                 # U[4*i + j, o, c] = (G g G^T)[i, j]
        np.testing.assert_allclose(U[:, o, c].reshape(4, 4), G @ w[o, c] @ G.T, rtol=1e-14, atol=1e-14)
    dU = rng.standard_normal((16, C_out, C))
    np.testing.assert_allclose(np.sum(U * dU), np.sum(w * weight_grad_transform(dU)),
                               rtol=1e-12, atol=1e-12)


def test_weight_transforms_keep_float32():
    w = np.ones((2, 3, 3, 3), dtype=np.float32)
    assert weight_transform(w).dtype == np.float32
    assert weight_grad_transform(np.ones((16, 2, 3), dtype=np.float32)).dtype == np.float32


# --------------------------------------------------------------------------- Numba vs reference
@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=cases(), into_planes=st.booleans())
def test_numba_input_transform_matches_reference(dtype, case, into_planes):
    x = case.rng.standard_normal((case.N, case.C, case.H, case.W)).astype(dtype)
    expected = input_transform_reference(x, case.PH, case.PW, case.TH, case.TW)
    buffer, out = nan_planes(case.C, case.T, dtype) if into_planes else (None, None)
    V = load_kernels("numba").winograd_input(x, case.PH, case.PW, case.TH, case.TW, out=out)
    close(V, expected, dtype)
    if into_planes:
        assert V is out
        assert_only_planes_written(buffer, out)


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=cases(), C_out=st.integers(1, 3), with_bias=st.booleans(), into_slice=st.booleans(),
       layout=st.sampled_from(["planes", "contiguous", "fortran"]))
def test_numba_output_transform_matches_reference(dtype, case, C_out, with_bias, into_slice, layout):
    M = case.rng.standard_normal((16, C_out, case.T)).astype(dtype)
    bias = case.rng.standard_normal(C_out).astype(dtype) if with_bias else None
    expected = output_transform_reference(M, case.N, case.OH, case.OW, bias)
    # conv2d writes each batch slice into its rows of y
    y_all = np.full((case.N + 1, C_out, case.OH, case.OW), np.nan, dtype=dtype)
    out = y_all[1:] if into_slice else None
    y = load_kernels("numba").winograd_output(as_planes(M, layout), case.N, case.OH, case.OW, bias, out=out)
    close(y, expected, dtype)
    if into_slice:
        assert y is out and np.isnan(y_all[0]).all()


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=cases(), C_out=st.integers(1, 3), into_planes=st.booleans())
def test_numba_output_grad_transform_matches_reference(dtype, case, C_out, into_planes):
    gy = case.rng.standard_normal((case.N, C_out, case.OH, case.OW)).astype(dtype)
    expected = output_grad_transform_reference(gy, case.TH, case.TW)
    buffer, out = nan_planes(C_out, case.T, dtype) if into_planes else (None, None)
    dM = load_kernels("numba").winograd_output_grad(gy, case.TH, case.TW, out=out)
    close(dM, expected, dtype)
    if into_planes:
        assert dM is out
        assert_only_planes_written(buffer, out)


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@FUZZ
@given(case=cases(), into_out=st.booleans(), layout=st.sampled_from(["planes", "contiguous", "fortran"]))
def test_numba_input_grad_transform_matches_reference(dtype, case, into_out, layout):
    dV = case.rng.standard_normal((16, case.C, case.T)).astype(dtype)
    expected = input_grad_transform_reference(dV, case.N, case.H, case.W, case.PH, case.PW)
    out = np.full((case.N, case.C, case.H, case.W), np.nan, dtype=dtype) if into_out else None
    dx = load_kernels("numba").winograd_input_grad(as_planes(dV, layout), case.N, case.H, case.W,
                                                   case.PH, case.PW, out=out)
    close(dx, expected, dtype)
    if into_out:
        assert dx is out


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_unusable_out_raises_naming_the_expected_shape(impl):
    k = load_kernels(impl)
    f32 = np.float32
    x = np.zeros((1, 2, 4, 5), dtype=f32)                   # PH = PW = 1: OH, OW = 4, 5; TH, TW = 2, 3
    gy = np.zeros((1, 3, 4, 5), dtype=f32)
    V_shape = r"\(16, 2, 6\)"                               # (16, C, N*TH*TW)
    for bad in (np.zeros((16, 2, 5), f32),                  # wrong shape
                np.zeros((16, 2, 6), np.float64),           # wrong dtype
                np.zeros((16, 6, 2), f32).transpose(0, 2, 1)):   # planes not C-ordered
        with pytest.raises(ValueError, match=r"input_transform: out must be .*float32, of shape " + V_shape):
            k.winograd_input(x, 1, 1, 2, 3, out=bad)
        with pytest.raises(ValueError, match=r"input_grad_transform: out must be .* of shape \(1, 2, 4, 5\)"):
            k.winograd_input_grad(np.zeros((16, 2, 6), f32), 1, 4, 5, 1, 1, out=bad)
    with pytest.raises(ValueError, match=r"output_grad_transform: out must be .*float32, of shape \(16, 3, 6\)"):
        k.winograd_output_grad(gy, 2, 3, out=np.zeros((16, 6, 3), f32))
    with pytest.raises(ValueError, match=r"output_transform: out must be .*float32, of shape \(1, 3, 4, 5\)"):
        k.winograd_output(np.zeros((16, 3, 6), f32), 1, 4, 5, out=np.zeros((1, 3, 5, 4), f32))
    with pytest.raises(ValueError, match=r"output_transform: out must be a C-contiguous"):
        k.winograd_output(np.zeros((16, 3, 6), f32), 1, 4, 5, out=np.zeros((1, 3, 5, 4), f32).transpose(0, 1, 3, 2))
