"""Pooling: max/avg/adaptive parity with PyTorch (values, indices, gradients), ties, ceil_mode,
gradient checks, and the error messages."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from functional_parity import assert_matches_torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn.functional as F
from minicnn import shapes

torch = pytest.importorskip("torch")
TF = torch.nn.functional

MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=1, dilation=2),
    dict(kernel_size=2, stride=3, padding=1, dilation=(2, 3), ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAX_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_matches_torch_values_indices_and_gradients(kw, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", shapes.ShapeWarning)
        assert_matches_torch(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])
        _, ours = F.max_pool2d(mc.Tensor(x), return_indices=True, **kw)
    _, theirs = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@settings(max_examples=30, deadline=None)
@given(H=st.integers(1, 9), W=st.integers(1, 9), K=st.integers(1, 4), S=st.integers(1, 3),
       P=st.integers(0, 2), D=st.integers(1, 2), ceil_mode=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool2d_random_configurations_match_torch(H, W, K, S, P, D, ceil_mode, seed):
    assume(P <= K // 2 and min(H, W) + 2 * P >= D * (K - 1) + 1)
    x = np.random.default_rng(seed).standard_normal((2, 2, H, W))
    kw = dict(kernel_size=K, stride=S, padding=P, dilation=D, ceil_mode=ceil_mode)
    # a dilated window can hold only padding: its output is -inf and PyTorch's CPU backward
    # then sends the gradient to a pixel of the *next* (n, c) plane -- not worth copying
    assume(bool(torch.isfinite(TF.max_pool2d(torch.tensor(x), **kw)).all()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", shapes.ShapeWarning)
        assert_matches_torch(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_max_pool2d_ties_pick_the_same_element_as_torch(kw):
    # all-equal input: the first element of every window (row-major) wins, as in PyTorch
    x = np.ones((1, 2, 4, 4), dtype=np.float32)
    assert_matches_torch(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])
    _, ours = F.max_pool2d(mc.Tensor(x), return_indices=True, **kw)
    _, theirs = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    if kw["kernel_size"] == 2:
        np.testing.assert_array_equal(ours.numpy()[0, 0], [[0, 2], [8, 10]])


def test_ceil_mode_drops_a_last_window_that_would_start_in_the_right_padding():
    # (5 + 2*1 - 2)/2 + 1 = 3.5 rounds up to 4, but window 4 would start at 3*2 - 1 = 5 >= H
    x = np.random.default_rng(6).standard_normal((1, 1, 5, 5))
    for pool, torch_pool in ((F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)):
        y, _ = assert_matches_torch(lambda t: pool(t, 2, 2, 1, ceil_mode=True),
                                    lambda t: torch_pool(t, 2, 2, 1, ceil_mode=True), [x])
        assert y.shape == (1, 1, 3, 3)


def test_max_pool2d_gradient_goes_to_the_maximum():
    x = mc.Tensor(np.array([[[[1.0, 5.0], [3.0, 2.0]]]]), requires_grad=True)
    y = F.max_pool2d(x, 2)
    y.backward(np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.0, 7.0], [0.0, 0.0]])


AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, stride=2, ceil_mode=True),
]


@pytest.mark.parametrize("kw", AVG_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool2d_matches_torch(kw, dtype):
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 8)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", shapes.ShapeWarning)
        assert_matches_torch(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), [x])


@pytest.mark.parametrize("H, W, out", [(10, 7, (3, 4)), (5, 5, 7), (9, 13, (4, None)), (14, 14, 7), (6, 6, 1)])
def test_adaptive_avg_pool2d_matches_torch(H, W, out):
    x = np.random.default_rng(2).standard_normal((2, 3, H, W))
    assert_matches_torch(lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), [x])


def test_adaptive_avg_pool2d_to_the_input_size_is_the_identity():
    # torchvision's VGG: AdaptiveAvgPool2d((7, 7)) on the 7x7 feature map of a 224x224 image
    x = np.random.default_rng(3).standard_normal((2, 4, 7, 7)).astype(np.float32)
    y = F.adaptive_avg_pool2d(mc.Tensor(x), (7, 7))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), x)


@pytest.mark.parametrize("H, W, out", [(10, 7, (3, 4)), (5, 5, 7), (8, 8, 4)])
def test_adaptive_max_pool2d_matches_torch(H, W, out):
    x = np.random.default_rng(4).standard_normal((2, 3, H, W))
    assert_matches_torch(lambda t: F.adaptive_max_pool2d(t, out), lambda t: TF.adaptive_max_pool2d(t, out), [x])
    _, ours = F.adaptive_max_pool2d(mc.Tensor(x), out, return_indices=True)
    _, theirs = TF.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("pool", [
    lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
    lambda x: F.adaptive_max_pool2d(x, (3, 2)),
])
def test_pooling_gradcheck(pool):
    x = np.random.default_rng(5).standard_normal((2, 2, 5, 6))   # distinct values: no ties
    assert mc.gradcheck(pool, [x]).ok


@pytest.mark.parametrize("call, message", [
    (lambda x: F.max_pool2d(x, 2, padding=2), "max_pool2d: padding (2, 2) is more than half the 2x2 kernel"),
    (lambda x: F.avg_pool2d(x, 5), "avg_pool2d: a 5x5 kernel does not fit a 4x4 input with padding 0"),
    (lambda x: F.max_pool2d(x[0], 2), "max_pool2d: expected a 4-D input (N, C, H, W), got shape (2, 4, 4)"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), "adaptive_avg_pool2d: output_size must be at least 1"),
])
def test_pooling_errors_name_the_problem(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(mc.randn(1, 2, 4, 4))


def test_pooling_warns_when_the_last_row_is_dropped(fresh_shape_warnings):
    with pytest.warns(shapes.ShapeWarning, match=re.escape("max_pool2d: (7 + 2*0 - 2)/2 + 1 = 3.50")):
        y = F.max_pool2d(mc.randn(1, 1, 7, 7), 2)
    assert y.shape == (1, 1, 3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert F.max_pool2d(mc.randn(1, 1, 7, 7), 2, ceil_mode=True).shape == (1, 1, 4, 4)
