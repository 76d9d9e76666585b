"""Losses: every option against PyTorch (values and gradients), the textbook gradients written
out, extreme logits, gradient checks, dtypes and the error messages."""
from __future__ import annotations

import re

import numpy as np
import pytest
from functional_parity import assert_matches_torch

import minicnn as mc
import minicnn.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def _class_problem(shape=(6, 5), seed=0, dtype=np.float64, ignore=True):
    """Logits of ``shape`` (N, C, ...), labels (N, ...), class weights (C,); a few labels ignored."""
    rng = np.random.default_rng(seed)
    N, C = shape[0], shape[1]
    logits = rng.standard_normal(shape).astype(dtype)
    labels = rng.integers(0, C, size=(N,) + shape[2:])
    if ignore:
        labels.reshape(-1)[::4] = -100
    return logits, labels, rng.random(C).astype(dtype) + 0.5


# ---------------------------------------------------------------------- cross_entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3)])
def test_cross_entropy_matches_torch(reduction, weighted, smoothing, shape):
    logits, labels, weight = _class_problem(shape)
    kw = dict(reduction=reduction, label_smoothing=smoothing)

    def call(f, mod, x):
        return f(x, mod.tensor(labels), weight=mod.tensor(weight) if weighted else None, **kw)

    assert_matches_torch(lambda x: call(F.cross_entropy, mc, x), lambda x: call(TF.cross_entropy, torch, x), [logits])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted, smoothing", [(False, 0.0), (True, 0.1)])
def test_cross_entropy_with_class_probabilities_matches_torch(reduction, weighted, smoothing):
    logits, _, weight = _class_problem((4, 3, 2))
    probs = np.random.default_rng(1).dirichlet(np.ones(3), size=(4, 2)).transpose(0, 2, 1).copy()   # (4, 3, 2)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    assert_matches_torch(
        lambda x, p: F.cross_entropy(x, p, weight=mc.Tensor(weight) if weighted else None, **kw),
        lambda x, p: TF.cross_entropy(x, p, weight=torch.tensor(weight) if weighted else None, **kw),
        [logits, probs], grad=[True, False])


def test_cross_entropy_of_a_single_unbatched_sample_matches_torch():
    x = np.random.default_rng(2).standard_normal(4)
    for reduction in REDUCTIONS:
        assert_matches_torch(lambda t: F.cross_entropy(t, mc.tensor(2), reduction=reduction),
                             lambda t: TF.cross_entropy(t, torch.tensor(2), reduction=reduction), [x])


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    logits, labels, _ = _class_problem((5, 4), ignore=False)
    x = mc.Tensor(logits, requires_grad=True)
    F.cross_entropy(x, mc.Tensor(labels)).backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(x.grad.numpy(), (p - onehot) / 5, rtol=1e-12, atol=1e-15)


def test_cross_entropy_weighted_mean_divides_by_the_weight_of_the_counted_targets():
    logits = np.zeros((3, 2))                                # every -log p = log 2
    labels = np.array([0, 1, -100])
    weight = np.array([1.0, 3.0])
    loss = F.cross_entropy(mc.Tensor(logits), mc.Tensor(labels), weight=mc.Tensor(weight))
    np.testing.assert_allclose(loss.item(), (1 * np.log(2) + 3 * np.log(2)) / (1 + 3))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_extreme_logits_give_finite_losses_and_torchs_gradients(smoothing):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype=np.float32)
    labels = np.array([1, 0, 2])
    for reduction in REDUCTIONS:
        kw = dict(reduction=reduction, label_smoothing=smoothing)
        y, (x,) = assert_matches_torch(lambda t: F.cross_entropy(t, mc.Tensor(labels), **kw),
                                       lambda t: TF.cross_entropy(t, torch.tensor(labels), **kw), [logits])
        assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
        assert y.dtype == x.grad.dtype == np.float32


def test_all_targets_ignored_gives_nan_loss_and_zero_gradient_like_torch():
    x = mc.Tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, mc.Tensor(np.full(3, -100)))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("target, error, message", [
    (np.array([0, 10, 2]), ValueError,
     "target holds label 10 but the input (3, 10) has 10 classes: labels must be 0..9"),
    (np.array([0, -1, 2]), ValueError, "target holds label -1 but the input (3, 10) has 10 classes"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "target must hold class indices as integers (int64), got float64; "
                                           "convert it with target.long()"),
    (np.array([[0], [1], [2]]), ValueError, "input (3, 10) needs a target of shape (3,) (one class index per "
                                            "prediction), got (3, 1)"),
])
def test_bad_targets_are_named(loss, target, error, message):
    with pytest.raises(error, match=re.escape(message)):
        loss(mc.randn(3, 10), mc.Tensor(target))


def test_cross_entropy_rejects_wrong_weight_and_reduction():
    with pytest.raises(ValueError, match=re.escape("weight must have shape (10,), one value per class, got (3,)")):
        F.cross_entropy(mc.randn(3, 10), mc.Tensor(np.zeros(3, dtype=np.int64)), weight=mc.ones(3))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(mc.randn(3, 10), mc.Tensor(np.zeros(3, dtype=np.int64)), reduction="avg")


# ---------------------------------------------------------------------- nll_loss
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3)])
def test_nll_loss_matches_torch(reduction, weighted, shape):
    logits, labels, weight = _class_problem(shape)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert_matches_torch(
        lambda x: F.nll_loss(x, mc.Tensor(labels), weight=mc.Tensor(weight) if weighted else None, reduction=reduction),
        lambda x: TF.nll_loss(x, torch.tensor(labels), weight=torch.tensor(weight) if weighted else None,
                              reduction=reduction), [log_probs])


def test_nll_of_log_softmax_is_cross_entropy():
    logits, labels, weight = _class_problem((6, 5))
    x, t, w = mc.Tensor(logits), mc.Tensor(labels), mc.Tensor(weight)
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(x, dim=1), t, weight=w).item(),
                               F.cross_entropy(x, t, weight=w).item(), rtol=1e-12)


# ---------------------------------------------------------------------- elementwise losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ours, theirs", [
    (F.mse_loss, TF.mse_loss),
    (F.smooth_l1_loss, TF.smooth_l1_loss),
    (lambda a, b, **kw: F.smooth_l1_loss(a, b, beta=0.3, **kw), lambda a, b, **kw: TF.smooth_l1_loss(a, b, beta=0.3, **kw)),
    (lambda a, b, **kw: F.smooth_l1_loss(a, b, beta=0.0, **kw), lambda a, b, **kw: TF.smooth_l1_loss(a, b, beta=0.0, **kw)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regression_losses_match_torch_for_input_and_target(reduction, ours, theirs, dtype):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    assert_matches_torch(lambda a, b: ours(a, b, reduction=reduction), lambda a, b: theirs(a, b, reduction=reduction), [x, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_matches_torch(reduction, weighted, pos_weighted, dtype):
    rng = np.random.default_rng(5)
    x = (3 * rng.standard_normal((4, 3))).astype(dtype)
    y = rng.random((4, 3)).astype(dtype)
    y[0] = [0.0, 1.0, 1.0]
    weight, pos_weight = (rng.random((4, 1)) + 0.5).astype(dtype), (rng.random(3) + 0.5).astype(dtype)

    def call(f, mod, a, b):
        return f(a, b, weight=mod.tensor(weight) if weighted else None, reduction=reduction,
                 pos_weight=mod.tensor(pos_weight) if pos_weighted else None)

    assert_matches_torch(lambda a, b: call(F.binary_cross_entropy_with_logits, mc, a, b),
                         lambda a, b: call(TF.binary_cross_entropy_with_logits, torch, a, b), [x, y])


def test_bce_gradient_for_a_positive_example_is_sigmoid_minus_one():
    # a logistic neuron with target 1: dL/dx = sigmoid(x) - 1, the lecture's (p - 1)
    x = mc.Tensor(np.array([-2.0, 0.0, 0.5, 3.0]), requires_grad=True)
    F.binary_cross_entropy_with_logits(x, mc.ones(4, dtype=np.float64), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.exp(-x.numpy())) - 1, rtol=1e-12)


def test_bce_with_extreme_logits_is_finite_and_equals_torch():
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    for reduction in REDUCTIONS:
        out, (a, b) = assert_matches_torch(
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
            lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction), [x, y])
        assert np.isfinite(out.numpy()).all() and np.isfinite(a.grad.numpy()).all()
        assert out.dtype == a.grad.dtype == np.float32


@pytest.mark.parametrize("call", [
    lambda x, y: F.mse_loss(x, y, reduction="none"),
    lambda x, y: F.smooth_l1_loss(x, y, beta=0.5),
    lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=mc.Tensor(np.array([1.0, 2.0, 0.5]))),
])
def test_elementwise_loss_gradcheck(call):
    rng = np.random.default_rng(6)
    assert mc.gradcheck(call, [rng.standard_normal((2, 3)), rng.random((2, 3))]).ok


@pytest.mark.parametrize("call", [
    lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.2),
    lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="none"),
    lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="sum"),
])
def test_classification_loss_gradcheck(call):
    logits, labels, weight = _class_problem((5, 4, 2))
    assert mc.gradcheck(lambda x: call(x, mc.Tensor(labels), mc.Tensor(weight)), [logits]).ok


@pytest.mark.parametrize("call, message", [
    (lambda: F.mse_loss(mc.randn(4, 1), mc.randn(4)),
     "mse_loss: input (4, 1) and target (4,) must have the same shape"),
    (lambda: F.binary_cross_entropy_with_logits(mc.randn(4), mc.randn(4, 1)),
     "binary_cross_entropy_with_logits: target size (4, 1) must be the same as input size (4,)"),
    (lambda: F.smooth_l1_loss(mc.randn(4), mc.randn(4), beta=-1.0), "smooth_l1_loss: beta must be >= 0, got -1.0"),
])
def test_elementwise_loss_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
