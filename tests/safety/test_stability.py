"""Stable formulations at extreme inputs: finite values, no floating-point warnings, and the
values and gradients PyTorch gives.

tests/functional already compares cross_entropy and BCE-with-logits at logits of +/-1e4 and
softmax / log_softmax at +/-3e4 with PyTorch; here the same ops (and sigmoid, tanh, log-sum-exp
and batch norm) run with overflow, invalid operations and division by zero turned into
errors -- a formula that only *ends* finite, e.g. after e^(1e4) = inf, fails -- and at the other
extremes: one huge logit among ordinary ones, and batch-norm inputs with a mean of 1e4.
(Underflow stays allowed: e^(x - max) rounding to 0 for a hopeless class is the point of
the stable forms.)
"""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))
from functional_parity import assert_matches_torch  # noqa: E402

torch = pytest.importorskip("torch")
TF = torch.nn.functional

EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [0.0, 1e4, 5.0]],
                   dtype=np.float32)
ONE_HUGE = np.array([[1e30, 0.0, -2.0, 3.0], [0.5, -1e30, 1.0, 0.0]], dtype=np.float32)


@contextmanager
def strict_floats():
    """Overflow, invalid (0/0, inf - inf) and division by zero raise; so does any warning."""
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"), \
            warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def all_finite(*tensors) -> bool:
    return all(np.isfinite(t.numpy()).all() for t in tensors)


@pytest.mark.parametrize("logits", [EXTREME, ONE_HUGE], ids=["pm1e4", "one_huge"])
@pytest.mark.parametrize("ours, theirs", [
    (lambda t: F.softmax(t, dim=1), lambda t: TF.softmax(t, dim=1)),
    (lambda t: F.log_softmax(t, dim=1), lambda t: TF.log_softmax(t, dim=1)),
], ids=["softmax", "log_softmax"])
def test_softmax_and_log_softmax(logits, ours, theirs):
    with strict_floats():
        y, (x,) = assert_matches_torch(ours, theirs, [logits])
    assert all_finite(y, x.grad)


@pytest.mark.parametrize("logits", [EXTREME, ONE_HUGE], ids=["pm1e4", "one_huge"])
def test_cross_entropy(logits):
    labels = np.arange(len(logits)) % logits.shape[1]   # some targets are the hopeless classes
    with strict_floats():
        loss, (x,) = assert_matches_torch(lambda t: F.cross_entropy(t, mc.Tensor(labels)),
                                          lambda t: TF.cross_entropy(t, torch.tensor(labels)), [logits],
                                          rtol=1e-6)
    assert all_finite(loss, x.grad) and loss.dtype == np.float32


def test_one_huge_logit_gives_its_exact_loss():
    # Row 0: the target (class 2) trails the huge logit by 1e30 + 2, so -log p = 1e30 (+2 lost in
    # float32); row 1: the huge negative logit is simply probability 0.
    loss = F.cross_entropy(mc.Tensor(ONE_HUGE), mc.Tensor(np.array([2, 0])), reduction="none")
    lse = np.log(np.exp(np.float64(0.5)) + np.exp(1.0) + np.exp(0.0))
    np.testing.assert_allclose(loss.numpy(), [1e30, lse - 0.5], rtol=1e-6)


def test_log_sum_exp_of_huge_logits_equals_torchs():
    # log-sum-exp lives inside log_softmax: logsumexp(x) = x_i - log_softmax(x)_i. Naively,
    # log(sum(exp(x))) is log(inf) = inf at x = 1e4; shifted by the max it is exact.
    x = np.concatenate([EXTREME, ONE_HUGE[:, :3]]).astype(np.float32)
    with strict_floats():
        lse = (mc.Tensor(x) - F.log_softmax(mc.Tensor(x), dim=1)).numpy()[:, 0]
    np.testing.assert_allclose(lse, torch.logsumexp(torch.tensor(x), dim=1).numpy(), rtol=1e-6)
    assert np.isfinite(lse).all() and lse[0] == 1e4


def test_bce_with_logits_at_plus_minus_1e4():
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0, 30.0], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.25], dtype=np.float32)
    for reduction in ("none", "mean"):
        with strict_floats():
            loss, (a, _) = assert_matches_torch(
                lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
                lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction), [x, y])
        assert all_finite(loss, a.grad)
    # a confident right answer costs exactly nothing, a confident wrong one exactly |x|
    losses = F.binary_cross_entropy_with_logits(mc.Tensor(x), mc.Tensor(y), reduction="none")
    np.testing.assert_array_equal(losses.numpy()[:4], [0.0, 0.0, 1e4, 1e4])


@pytest.mark.parametrize("ours, theirs", [(F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh)],
                         ids=["sigmoid", "tanh"])
def test_sigmoid_and_tanh_at_plus_minus_1e4(ours, theirs):
    x = np.array([1e4, -1e4, 88.0, -88.0, 89.0, -104.0, 0.0], dtype=np.float32)  # e^89 > float32 max
    with strict_floats():
        y, (t,) = assert_matches_torch(ours, theirs, [x])
    assert all_finite(y, t.grad)
    assert y.numpy()[0] == 1.0 and y.numpy()[1] == (0.0 if ours is F.sigmoid else -1.0)


def test_batch_norm_variance_of_inputs_with_a_large_mean():
    # x = 1e4 + noise of std 0.5: E[x^2] - E[x]^2 in float32 subtracts two numbers near 1e8 whose
    # rounding error (~8) dwarfs the variance 0.25 and can come out negative. The two-pass form,
    # mean((x - mean)^2), keeps it accurate.
    # Tolerance: float32 spacing at 1e4 is ~1e-3, i.e. 2e-3 in units of the std, so the batch
    # mean rounded to float32 shifts x_hat by up to ~1e-3.  minicnn sums in float64 and rounds
    # the mean once (within half a spacing); a float32 sum drifted by a whole spacing here
    # (dL/dgamma then differed from PyTorch's by 2e-3 relative).  Outputs and gradients agree
    # with PyTorch to 2e-3, y with a float64 batch norm to 1e-3, the variance to 1e-5.
    rng = np.random.default_rng(1)   # not seed 0: the parity helper's upstream gradient uses it
    x = (1e4 + 0.5 * rng.standard_normal((16, 3, 4, 4))).astype(np.float32)
    w, b = rng.random(3).astype(np.float32) + 0.5, rng.standard_normal(3).astype(np.float32)
    rm, rv = mc.zeros(3), mc.ones(3)                                 # running stats, float32
    trm, trv = torch.zeros(3), torch.ones(3)
    with strict_floats():
        y, _ = assert_matches_torch(
            lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True),
            lambda x, w, b: TF.batch_norm(x, trm, trv, w, b, training=True),
            [x, w, b], rtol=2e-3, atol=2e-3)
    assert all_finite(y)
    x64 = x.astype(np.float64)
    mean64, var64 = x64.mean(axis=(0, 2, 3), keepdims=True), x64.var(axis=(0, 2, 3), keepdims=True)
    y64 = (x64 - mean64) / np.sqrt(var64 + 1e-5) * w[None, :, None, None] + b[None, :, None, None]
    assert np.abs(y.numpy() - y64).max() < 1e-3                       # measured 5e-4 (PyTorch: 1.3e-3)
    x64 = x.astype(np.float64)
    true_var = x64.var(axis=(0, 2, 3))                               # float64 reference, ~0.25
    naive = (x * x).mean(axis=(0, 2, 3)) - x.mean(axis=(0, 2, 3)) ** 2
    assert np.abs(naive - true_var).max() > 0.1                      # the naive form is useless here
    x_hat = (y.numpy() - b[None, :, None, None]) / w[None, :, None, None]
    np.testing.assert_allclose(x_hat.astype(np.float64).var(axis=(0, 2, 3)), true_var / (true_var + 1e-5),
                               rtol=1e-3)
    M = x.size // 3                                                  # running_var is unbiased
    np.testing.assert_allclose(rv.numpy(), 0.9 + 0.1 * true_var * M / (M - 1), rtol=1e-5)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-5)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-6)
