"""batch_norm: training and evaluation parity with PyTorch, running statistics, gradient checks."""
from __future__ import annotations

import re

import numpy as np
import pytest
from functional_parity import assert_matches_torch

import minicnn as mc
import minicnn.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

SHAPES = [(8, 3), (4, 3, 5), (4, 3, 5, 6)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_matches_torch_including_running_stats_over_several_steps(shape, dtype):
    rng = np.random.default_rng(0)
    C = shape[1]
    gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    ours_mean, ours_var = mc.Tensor(np.zeros(C, dtype)), mc.Tensor(np.ones(C, dtype))
    torch_mean, torch_var = torch.from_numpy(np.zeros(C, dtype)), torch.from_numpy(np.ones(C, dtype))
    for step in range(3):
        x = (2 + 3 * rng.standard_normal(shape)).astype(dtype)    # mean 2, std 3: the stats move
        assert_matches_torch(
            lambda x, w, b: F.batch_norm(x, ours_mean, ours_var, w, b, training=True, momentum=0.2),
            lambda x, w, b: TF.batch_norm(x, torch_mean, torch_var, w, b, training=True, momentum=0.2),
            [x, gamma, beta], seed=step)
        np.testing.assert_allclose(ours_mean.numpy(), torch_mean.numpy(), rtol=1e-5)
        np.testing.assert_allclose(ours_var.numpy(), torch_var.numpy(), rtol=1e-5)   # unbiased update
    assert ours_mean.dtype == ours_var.dtype == dtype
    x = rng.standard_normal(shape).astype(dtype)
    assert_matches_torch(lambda x, w, b: F.batch_norm(x, ours_mean, ours_var, w, b, training=False),
                         lambda x, w, b: TF.batch_norm(x, torch_mean, torch_var, w, b, training=False),
                         [x, gamma, beta])


def test_running_var_uses_the_unbiased_variance():
    x = np.array([[1.0], [3.0]])                           # mean 2, biased var 1, unbiased var 2
    mean, var = mc.Tensor(np.zeros(1)), mc.Tensor(np.zeros(1))
    y = F.batch_norm(mc.Tensor(x), mean, var, training=True, momentum=1.0, eps=0.0)
    np.testing.assert_allclose(y.numpy(), [[-1.0], [1.0]])  # normalised with the biased var 1
    np.testing.assert_allclose(mean.numpy(), [2.0])
    np.testing.assert_allclose(var.numpy(), [2.0])


@pytest.mark.parametrize("affine", ["both", "none", "bias only"])
def test_optional_weight_and_bias_and_no_running_stats(affine):
    rng = np.random.default_rng(1)
    x, gamma, beta = rng.standard_normal((6, 4, 3)), rng.standard_normal(4), rng.standard_normal(4)
    arrays = {"both": [x, gamma, beta], "none": [x], "bias only": [x, beta]}[affine]

    def call(f, *t):
        w = t[1] if affine == "both" else None
        b = t[-1] if affine != "none" else None
        return f(t[0], None, None, w, b, training=True)

    assert_matches_torch(lambda *t: call(F.batch_norm, *t), lambda *t: call(TF.batch_norm, *t), arrays)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training):
    rng = np.random.default_rng(2)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    f = lambda x, w, b: F.batch_norm(x, mc.Tensor(mean.copy()), mc.Tensor(var.copy()), w, b,  # noqa: E731
                                     training=training)
    assert mc.gradcheck(f, [rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)]).ok


@pytest.mark.parametrize("call, message", [
    (lambda: F.batch_norm(mc.randn(1, 3), None, None, training=True),
     "batch_norm: expected more than 1 value per channel when training, got input (1, 3)"),
    (lambda: F.batch_norm(mc.randn(4, 3), mc.zeros(4), mc.ones(4)),
     "batch_norm: running_mean must have shape (3,), one value per channel of (4, 3), got (4,)"),
    (lambda: F.batch_norm(mc.randn(4, 3), None, None, training=False),
     "batch_norm: evaluation mode (training=False) needs running_mean and running_var"),
])
def test_batch_norm_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
