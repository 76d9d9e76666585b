"""conv2d's Winograd F(2x2, 3x3) path: when it is chosen, and that it computes conv2d.

The transforms themselves are tested against the reference in tests/kernels; here the
whole Function: finite differences (float64), PyTorch parity (float32), float32 accuracy
against a float64 convolution, the batch slicing, and frozen inputs.
"""
from __future__ import annotations

import numpy as np
import pytest

import minicnn as mc
from minicnn.nn import functional as F
from minicnn.nn.functional import conv as conv_module
from minicnn.nn.functional.conv_winograd import Conv2dWinograd

from functional_parity import assert_matches_torch


def _geometry(x_shape, w_shape, **kw):
    return mc.shapes.conv2d_geometry(x_shape, w_shape, None, kw.get("stride", 1), kw.get("padding", 1),
                                     kw.get("dilation", 1), kw.get("groups", 1))


def _choice(x_shape, w_shape, **kw):
    return conv_module.choose_algorithm(_geometry(x_shape, w_shape, **kw), np.zeros(x_shape, np.float32))


@pytest.fixture
def winograd(monkeypatch):
    monkeypatch.setenv("MINICNN_CONV", "winograd")


def test_the_automatic_choice(monkeypatch):
    pytest.importorskip("numba")                # Winograd is chosen with the compiled kernels
    monkeypatch.delenv("MINICNN_CONV", raising=False)
    monkeypatch.delenv("MINICNN_KERNELS", raising=False)
    assert _choice((8, 64, 16, 16), (64, 64, 3, 3)) == "winograd"
    assert _choice((8, 32, 16, 16), (32, 32, 3, 3)) == "winograd"           # the thresholds themselves
    assert _choice((8, 16, 16, 16), (32, 16, 3, 3)) == "im2col"             # too few input channels
    assert _choice((8, 64, 16, 16), (16, 64, 3, 3)) == "im2col"             # too few output channels
    assert _choice((1, 64, 20, 20), (64, 64, 3, 3)) == "im2col"             # 100 tiles < 128
    assert _choice((1, 64, 24, 24), (64, 64, 3, 3)) == "winograd"           # 144 tiles
    for kw in (dict(stride=2), dict(dilation=2, padding=2), dict(groups=2)):
        w_in = 64 // kw.get("groups", 1)
        assert _choice((8, 64, 16, 16), (64, w_in, 3, 3), **kw) == "im2col", kw
    assert _choice((8, 64, 16, 16), (64, 64, 5, 5), padding=2) == "im2col"


@pytest.mark.parametrize("kernels", ["reference", "numpy"])
def test_the_numpy_transforms_are_not_chosen_automatically(monkeypatch, kernels):
    monkeypatch.delenv("MINICNN_CONV", raising=False)
    monkeypatch.setenv("MINICNN_KERNELS", kernels)
    assert _choice((8, 64, 16, 16), (64, 64, 3, 3)) == "im2col"


def test_the_environment_forces_the_choice(monkeypatch):
    monkeypatch.setenv("MINICNN_CONV", "im2col")
    assert _choice((8, 64, 16, 16), (64, 64, 3, 3)) == "im2col"
    monkeypatch.setenv("MINICNN_CONV", "winograd")
    assert _choice((1, 1, 4, 4), (1, 1, 3, 3)) == "winograd"
    assert _choice((8, 64, 16, 16), (64, 64, 3, 3), stride=2) == "im2col"  # where it cannot apply
    monkeypatch.setenv("MINICNN_CONV", "fft")
    with pytest.raises(ValueError, match=r"MINICNN_CONV='fft'.*im2col, winograd"):
        _choice((8, 64, 16, 16), (64, 64, 3, 3))


def test_conv2d_runs_the_chosen_function(monkeypatch):
    x, w = mc.randn(2, 4, 6, 6), mc.randn(5, 4, 3, 3, requires_grad=True)
    monkeypatch.setenv("MINICNN_CONV", "winograd")
    assert isinstance(F.conv2d(x, w, padding=1).grad_fn, Conv2dWinograd)
    monkeypatch.setenv("MINICNN_CONV", "im2col")
    assert type(F.conv2d(x, w, padding=1).grad_fn) is conv_module.Conv2d


@pytest.mark.parametrize("shape, padding", [
    ((2, 3, 5, 6), 1),           # odd output width: the last tile sticks out
    ((1, 2, 4, 4), 0),           # no padding, one tile
    ((2, 2, 3, 5), (2, 0)),      # padding larger than one ring, different per side
    ((1, 2, 1, 2), 3),           # an input smaller than the filter
    ((2, 2, 5, 4), "same"),
])
def test_gradcheck_all_three_inputs(winograd, shape, padding):
    rng = np.random.default_rng(0)
    x = mc.Tensor(rng.standard_normal(shape), requires_grad=True)
    w = mc.Tensor(rng.standard_normal((3, shape[1], 3, 3)), requires_grad=True)
    b = mc.Tensor(rng.standard_normal(3), requires_grad=True)
    f = lambda x, w, b: F.conv2d(x, w, b, padding=padding)
    assert isinstance(f(x, w, b).grad_fn, Conv2dWinograd)
    assert mc.gradcheck(f, [x, w, b]).ok


@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_where_it_is_chosen(monkeypatch, bias):
    monkeypatch.setenv("MINICNN_CONV", "winograd")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 32, 13, 10)).astype(np.float32)
    w = (rng.standard_normal((40, 32, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    torch = pytest.importorskip("torch")
    arrays = [x, w, b] if bias else [x, w]
    # dL/dw sums 520 products per entry, up to 40 in size: compared to the largest, the
    # error is float32's (atol), though small entries differ by more than rtol alone allows
    y, _ = assert_matches_torch(lambda *a: F.conv2d(*a, padding=1),
                                lambda *a: torch.nn.functional.conv2d(*a, padding=1), arrays,
                                rtol=1e-4, atol=1e-4)
    assert isinstance(y.grad_fn, Conv2dWinograd)


def _float32_errors(x, w, gy):
    """Largest error of y, dL/dx, dL/dw in float32 against float64, relative to the largest entry."""
    def run(dtype):
        xt = mc.Tensor(x.astype(dtype), requires_grad=True)
        wt = mc.Tensor(w.astype(dtype), requires_grad=True)
        y = F.conv2d(xt, wt, padding=1)
        (y * mc.Tensor(gy.astype(dtype))).sum().backward()
        return [a.astype(np.float64) for a in (y.numpy(), xt.grad.numpy(), wt.grad.numpy())]
    return [np.abs(a - e).max() / np.abs(e).max() for a, e in zip(run(np.float32), run(np.float64))]


def test_float32_error_is_close_to_im2col(monkeypatch):
    """Winograd's transforms add and subtract before the GEMMs, yet its float32 error is
    im2col's (measured 0.7-1.4x here): about 4e-7 of the largest value."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 64, 12, 12))
    w = rng.standard_normal((64, 64, 3, 3)) * 0.05
    gy = rng.standard_normal((2, 64, 12, 12))
    errors = {}
    for algorithm in ("im2col", "winograd"):
        monkeypatch.setenv("MINICNN_CONV", algorithm)
        errors[algorithm] = _float32_errors(x, w, gy)
    for name, ours, im2col in zip(("y", "dL/dx", "dL/dw"), errors["winograd"], errors["im2col"]):
        assert ours < 1e-6 and ours < 10 * im2col, (name, ours, im2col)


# budget of 1 image: 5 slices, V (4/10 of an image's V and M) not kept; 2: slices of 2,
# 2 and 1 image, all of V fits and is kept slice by slice; 5: one slice, V kept
@pytest.mark.parametrize("budget_images", [1, 2, 5])
def test_sliced_batches_match_torch(winograd, monkeypatch, budget_images):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 7, 6)).astype(np.float32)
    w = (rng.standard_normal((6, 4, 3, 3)) * 0.3).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    per_image = 16 * (4 + 6) * 4 * 3 * 4               # 16 * (C + C_out) * tiles * 4 bytes
    monkeypatch.setattr(conv_module, "COLS_BYTES", budget_images * per_image)
    torch = pytest.importorskip("torch")
    assert_matches_torch(lambda x, w, b: F.conv2d(x, w, b, padding=1),
                         lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1), [x, w, b])
    y = F.conv2d(mc.Tensor(x), mc.Tensor(w, requires_grad=True), padding=1)
    kept_V = y.grad_fn.saved[0]
    assert (kept_V is not None) == (budget_images >= 2)
    if kept_V is not None:
        assert [V.shape[2] for V in kept_V] == ([24, 24, 12] if budget_images == 2 else [60])  # 12 tiles an image


@pytest.mark.parametrize("x_grad, w_grad", [(True, False), (False, True), (True, True)])
def test_frozen_inputs(winograd, monkeypatch, x_grad, w_grad):
    monkeypatch.setattr(conv_module, "COLS_BYTES", 1)            # one image per slice
    rng = np.random.default_rng(4)
    x_np = rng.standard_normal((3, 2, 5, 5))
    w_np = rng.standard_normal((3, 2, 3, 3))
    x, w = mc.Tensor(x_np, requires_grad=x_grad), mc.Tensor(w_np, requires_grad=w_grad)
    y = F.conv2d(x, w, padding=1)
    V_kept, x_kept = (a is not None for a in y.grad_fn.saved[:2])
    assert not V_kept and x_kept == w_grad                      # x kept only to transform again
    y.sum().backward()
    assert (x.grad is not None) == x_grad and (w.grad is not None) == w_grad
    monkeypatch.setenv("MINICNN_CONV", "im2col")
    x2, w2 = mc.Tensor(x_np, requires_grad=x_grad), mc.Tensor(w_np, requires_grad=w_grad)
    F.conv2d(x2, w2, padding=1).sum().backward()
    for ours, theirs in ((x, x2), (w, w2)):
        if ours.grad is not None:
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_outputs_do_not_share_the_scratch_buffers(winograd):
    rng = np.random.default_rng(5)
    w = mc.Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    y1 = F.conv2d(mc.Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32)), w, padding=1)
    before = y1.numpy().copy()
    F.conv2d(mc.Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32)), w, padding=1)
    np.testing.assert_array_equal(y1.numpy(), before)
