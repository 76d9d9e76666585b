"""The Numba kernels' special case for the most common window, 2x2 with stride 2 and no
padding: the same values and indices as the reference and PyTorch, including ties,
NaN, -inf and odd input sizes (the last row/column is dropped)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.kernels import load_kernels

pytest.importorskip("numba")
TWO_BY_TWO = (2, 2, 2, 2, 0, 0, 1, 1)                 # KH, KW, SH, SW, PH, PW, DH, DW


@st.composite
def planes(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-2, 3, (N, C, H, W)).astype(draw(st.sampled_from([np.float32, np.float64])))
    special = rng.random(x.shape)
    x[special < 0.1] = np.nan                          # NaN: the last NaN of a window wins
    x[special > 0.9] = -np.inf
    return x


@settings(max_examples=40, deadline=None)
@given(x=planes())
def test_2x2_stride_2_matches_the_reference(x):
    OH, OW = x.shape[2] // 2, x.shape[3] // 2
    y, indices = load_kernels("numba").maxpool2d_forward(x, *TWO_BY_TWO, OH, OW)
    y_ref, indices_ref = load_kernels("reference").maxpool2d_forward(x, *TWO_BY_TWO, OH, OW)
    assert y.dtype == x.dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)            # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(indices, indices_ref)


def test_2x2_stride_2_matches_torch_on_ties_and_nan():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1, 1, 2, np.nan, 0],
                    [1, 0, np.nan, 2, 7],
                    [-np.inf, -np.inf, 3, 3, 7],
                    [-np.inf, -np.inf, 3, 4, 7]]]], dtype=np.float32)
    y, indices = load_kernels("numba").maxpool2d_forward(x, *TWO_BY_TWO, 2, 2)
    ty, tindices = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(y, [[[[1, np.nan], [-np.inf, 4]]]])
    np.testing.assert_array_equal(indices, [[[[0, 7], [10, 18]]]])   # first tie; last NaN
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(indices, tindices.numpy())


def test_backward_routes_each_gradient_to_its_winner():
    x = np.array([[[[0, 5, 1, 1],
                    [2, 3, 9, 1],
                    [4, 0, 0, 0],
                    [0, 0, 0, 8]]]], dtype=np.float32)
    k = load_kernels("numba")
    y, indices = k.maxpool2d_forward(x, *TWO_BY_TWO, 2, 2)
    np.testing.assert_array_equal(indices, [[[[1, 6], [8, 15]]]])
    dx = k.maxpool2d_backward(np.array([[[[1, 2], [3, 4]]]], np.float32), indices, 4, 4)
    np.testing.assert_array_equal(dx, [[[[0, 1, 0, 0],
                                         [0, 0, 2, 0],
                                         [3, 0, 0, 0],
                                         [0, 0, 0, 4]]]])
