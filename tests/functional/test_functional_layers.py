"""linear, flatten, the activations and dropout: parity with PyTorch, gradient checks, errors."""
from __future__ import annotations

import re

import numpy as np
import pytest
from functional_parity import assert_matches_torch

import minicnn as mc
import minicnn.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
rng = np.random.default_rng(0)


# ---------------------------------------------------------------------- linear, flatten
@pytest.mark.parametrize("x_shape", [(4, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_matches_torch_with_any_leading_axes(x_shape, bias, dtype):
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((3, 5))] + ([rng.standard_normal(3)] if bias else [])
    assert_matches_torch(F.linear, TF.linear, [a.astype(dtype) for a in arrays])


def test_linear_gradcheck():
    assert mc.gradcheck(F.linear, [rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)),
                                   rng.standard_normal(5)]).ok


@pytest.mark.parametrize("x_shape, w_shape, b_shape, message", [
    ((8, 32, 2, 2), (10, 128), None, "linear: input (8, 32, 2, 2) has 2 features in its last axis but weight "
                                     "(10, 128) expects 128; a conv output usually needs flatten(x, 1) first"),
    ((8, 4), (4,), None, "linear: weight must be 2-D (out_features, in_features), got shape (4,)"),
    ((8, 4), (3, 4), (4,), "linear: bias must have shape (3,), one value per output, got (4,)"),
])
def test_linear_errors(x_shape, w_shape, b_shape, message):
    b = None if b_shape is None else mc.randn(*b_shape)
    with pytest.raises(ValueError, match=re.escape(message)):
        F.linear(mc.randn(*x_shape), mc.randn(*w_shape), b)


@pytest.mark.parametrize("args", [(), (1,), (1, 2), (0, -2)])
def test_flatten_follows_torch_flatten(args):
    x = rng.standard_normal((2, 3, 4, 5))
    assert_matches_torch(lambda t: F.flatten(t, *args), lambda t: torch.flatten(t, *args), [x])
    assert F.flatten(mc.Tensor(x)).shape == (120,)           # torch.flatten's default start_dim=0


# ---------------------------------------------------------------------- activations
ACTIVATIONS = [
    (F.relu, TF.relu),
    (F.leaky_relu, TF.leaky_relu),
    (lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
    (F.sigmoid, torch.sigmoid),
    (F.tanh, torch.tanh),
    (lambda t: F.softmax(t, dim=1), lambda t: TF.softmax(t, dim=1)),
    (lambda t: F.softmax(t, dim=-1), lambda t: TF.softmax(t, dim=-1)),
    (lambda t: F.log_softmax(t, dim=1), lambda t: TF.log_softmax(t, dim=1)),
    (lambda t: F.log_softmax(t, dim=0), lambda t: TF.log_softmax(t, dim=0)),
]


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_matches_torch(ours, theirs, dtype):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    x[0, 0, :3] = 0.0                                       # the kink of relu / leaky_relu
    assert_matches_torch(ours, theirs, [x])


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS[5:])
def test_softmax_is_stable_for_extreme_scores(ours, theirs):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3e4, 3e4, -3e4]], dtype=np.float32)
    y, _ = assert_matches_torch(ours, theirs, [x])
    assert np.isfinite(y.numpy()).all()


@pytest.mark.parametrize("ours", [f for f, _ in ACTIVATIONS])
def test_activation_gradcheck(ours):
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 0.05] = 0.5                               # keep finite differences off the kinks
    assert mc.gradcheck(ours, [x]).ok


def test_softmax_needs_a_dim():
    with pytest.raises(ValueError, match=re.escape("softmax: pass dim explicitly, e.g. softmax(x, dim=1)")):
        F.softmax(mc.randn(2, 3))


def test_leaky_relu_slope_is_applied_below_zero():
    y = F.leaky_relu(mc.Tensor(np.array([-2.0, 0.0, 3.0], dtype=np.float32)), 0.1)
    np.testing.assert_allclose(y.numpy(), [-0.2, 0.0, 3.0], rtol=1e-6)
    assert y.dtype == np.float32


# ---------------------------------------------------------------------- dropout
def test_dropout_is_the_identity_in_evaluation_and_for_p_0():
    x = mc.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_scales_kept_units_by_one_over_keep_probability():
    x = mc.Tensor(np.ones((200, 100), dtype=np.float32), requires_grad=True)
    y = F.dropout(x, p=0.2, rng=np.random.default_rng(1))
    values = y.numpy()
    assert values.dtype == np.float32
    assert set(np.unique(values).tolist()) == {0.0, np.float32(1 / 0.8)}
    assert abs((values == 0).mean() - 0.2) < 0.01            # about p of the units dropped
    assert abs(values.mean() - 1.0) < 0.02                   # E[y] = x: the mean is preserved
    y.backward(np.full(y.shape, 3.0, dtype=np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), 3.0 * values)   # dL/dx = gy * mask / (1 - p)


def test_dropout_is_reproducible_with_an_explicit_rng():
    x = mc.randn(10, 10)
    a = F.dropout(x, 0.5, rng=np.random.default_rng(42)).numpy()
    b = F.dropout(x, 0.5, rng=np.random.default_rng(42)).numpy()
    c = F.dropout(x, 0.5, rng=np.random.default_rng(43)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    mc.manual_seed(7)
    d = F.dropout(x, 0.5).numpy()
    mc.manual_seed(7)
    np.testing.assert_array_equal(d, F.dropout(x, 0.5).numpy())


def test_dropout_edge_cases_and_errors():
    np.testing.assert_array_equal(F.dropout(mc.ones(3, 3), 1.0).numpy(), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="dropout: p is a probability and must be between 0 and 1, got 1.5"):
        F.dropout(mc.ones(3), 1.5)
    with pytest.raises(TypeError, match="pass rng= by keyword"):
        F.dropout(mc.ones(3), 0.5, True, np.random.default_rng(0))


def test_dropout_gradcheck_with_a_fixed_mask():
    x = rng.standard_normal((4, 6))
    assert mc.gradcheck(lambda t: F.dropout(t, 0.3, rng=np.random.default_rng(5)), [x]).ok
