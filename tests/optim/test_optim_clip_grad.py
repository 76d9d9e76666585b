"""clip_grad_norm_ and clip_grad_value_ against torch.nn.utils."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn.optim import clip_grad_norm_, clip_grad_value_

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _pair(seed: int = 0):
    """The same parameters and float32 gradients in minicnn and torch (the last one has no grad)."""
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours = [minicnn.Tensor(np.zeros(s, np.float32), requires_grad=True) for s in SHAPES + [(2,)]]
    theirs = [torch.zeros(s, requires_grad=True) for s in SHAPES + [(2,)]]
    for p, q, g in zip(ours, theirs, grads):
        p.grad = minicnn.Tensor(g.copy())
        q.grad = torch.from_numpy(g.copy())
    return ours, theirs, grads


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clips / leaves alone
def test_clip_grad_norm_matches_torch(norm_type, max_norm: float) -> None:
    ours, theirs, grads = _pair()
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, minicnn.Tensor) and total.dtype == np.float32 and total.shape == ()
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6)
    for p, q, g in zip(ours, theirs, grads):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert ours[-1].grad is None
    if max_norm == 1e3:  # no clipping: the gradients are unchanged
        for p, g in zip(ours, grads):
            np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clip_grad_norm_by_hand() -> None:
    a, b = minicnn.Tensor([0.0, 0.0], requires_grad=True), minicnn.Tensor([0.0], requires_grad=True)
    a.grad, b.grad = minicnn.Tensor([3.0, 0.0]), minicnn.Tensor([4.0])
    shared = a.grad.data
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == 5.0  # sqrt(3^2 + 4^2)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 * coef, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [4 * coef], rtol=1e-6)
    np.testing.assert_array_equal(shared, [3.0, 0.0])  # a new array: the old one is untouched

    # tiny gradients show the 1e-6: coef = 1e-6 / (5e-6 + 1e-6) = 1/6, not 1/5
    a.grad, b.grad = minicnn.Tensor([3e-6, 0.0]), minicnn.Tensor([4e-6])
    clip_grad_norm_([a, b], max_norm=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [4e-6 / 6], rtol=1e-5)


def test_clip_grad_norm_edge_cases() -> None:
    p = minicnn.Tensor([1.0], requires_grad=True)
    assert clip_grad_norm_(p, 1.0).item() == 0.0  # a single tensor; no gradient anywhere
    p.grad = minicnn.Tensor([np.inf])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch() -> None:
    ours, theirs, grads = _pair(1)
    clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q, g in zip(ours, theirs, grads):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
        assert p.grad.dtype == np.float32
        assert np.abs(g).max() > 0.7  # the case really clips something
    assert ours[-1].grad is None
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_(ours, -1.0)
