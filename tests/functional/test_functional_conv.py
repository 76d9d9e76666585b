"""conv2d: parity with PyTorch (forward and backward), with the naive loops, gradient checks,
padding="same"/"valid", the once-only stride warning, the error messages, and freezing."""
from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pytest
from functional_parity import assert_matches_torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn.functional as F
from minicnn import kernels, shapes

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _arrays(rng, N, C, H, W, C_out, groups, KH, KW, bias, dtype):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((C_out, C // groups, KH, KW)).astype(dtype)
    return [x, w] + ([rng.standard_normal(C_out).astype(dtype)] if bias else [])


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cfg = dict(
        N=draw(st.integers(1, 3)), groups=groups,
        C=groups * draw(st.integers(1, 3)), C_out=groups * draw(st.integers(1, 3)),
        H=draw(st.integers(1, 9)), W=draw(st.integers(1, 9)),
        KH=draw(st.integers(1, 5)), KW=draw(st.integers(1, 5)),
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        bias=draw(st.booleans()), dtype=draw(st.sampled_from([np.float32, np.float64])),
    )
    for axis, (size, k) in enumerate(((cfg["H"], cfg["KH"]), (cfg["W"], cfg["KW"]))):
        span = cfg["dilation"][axis] * (k - 1) + 1
        assume(size + 2 * cfg["padding"][axis] >= span)      # torch's output would be < 1
    return cfg


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=conv_configs(), seed=st.integers(0, 2**16))
def test_conv2d_forward_and_backward_match_torch(cfg, seed):
    arrays = _arrays(np.random.default_rng(seed), cfg["N"], cfg["C"], cfg["H"], cfg["W"], cfg["C_out"],
                     cfg["groups"], cfg["KH"], cfg["KW"], cfg["bias"], cfg["dtype"])
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", shapes.ShapeWarning)
        assert_matches_torch(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), arrays,
                             rtol=1e-4 if cfg["dtype"] == np.float32 else 1e-10)


@pytest.mark.filterwarnings("ignore::minicnn.shapes.ShapeWarning")
@pytest.mark.parametrize("kw", [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(groups=2, padding=1),
    dict(padding="same", dilation=2),
    dict(padding="same"),
])
def test_conv2d_equals_the_naive_loops(kw):
    x, w, b = _arrays(np.random.default_rng(1), 2, 4, 6, 5, 4, kw.get("groups", 1), 3, 2, True, np.float64)
    fast = [mc.Tensor(a, requires_grad=True) for a in (x, w, b)]
    slow = [mc.Tensor(a, requires_grad=True) for a in (x, w, b)]
    y_fast, y_slow = F.conv2d(*fast, **kw), F.conv2d_naive(*slow, **kw)
    np.testing.assert_allclose(y_fast.numpy(), y_slow.numpy(), rtol=1e-12, atol=1e-12)
    gy = np.random.default_rng(2).standard_normal(y_fast.shape)
    y_fast.backward(gy)
    y_slow.backward(gy)
    for a, b_ in zip(fast, slow):
        np.testing.assert_allclose(a.grad.numpy(), b_.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_conv2d_on_a_hand_checkable_example():
    # a 3x3 image, a 2x2 kernel of ones: each output is the sum of one 2x2 patch
    x = mc.Tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    w = mc.Tensor(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(F.conv2d(x, w).numpy()[0, 0], [[8.0, 12.0], [20.0, 24.0]])


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(groups=2, dilation=2, padding=(1, 2))])
def test_conv2d_gradcheck_all_three_inputs(kw):
    x, w, b = _arrays(np.random.default_rng(3), 1, 4, 4, 5, 2, kw.get("groups", 1), 3, 3, True, np.float64)
    report = mc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b])
    assert report.ok and len(report.inputs) == 3


def test_conv2d_naive_gradcheck():
    x, w, b = _arrays(np.random.default_rng(4), 1, 2, 4, 4, 2, 1, 2, 2, True, np.float64)
    assert mc.gradcheck(lambda x, w, b: F.conv2d_naive(x, w, b, stride=2, padding=1), [x, w, b]).ok


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")   # torch's own
@pytest.mark.parametrize("padding, K, dilation", [("same", 3, 1), ("same", 4, 1), ("same", (2, 5), 1),
                                                  ("same", 3, 2), ("valid", 3, 1)])
def test_padding_same_and_valid_match_torch(padding, K, dilation):
    KH, KW = (K, K) if isinstance(K, int) else K
    arrays = _arrays(np.random.default_rng(5), 2, 3, 7, 8, 4, 1, KH, KW, True, np.float64)
    kw = dict(padding=padding, dilation=dilation)
    y, _ = assert_matches_torch(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), arrays)
    if padding == "same":
        assert y.shape[2:] == (7, 8)


def test_float32_stays_float32():
    x, w, b = (mc.Tensor(a, requires_grad=True)
               for a in _arrays(np.random.default_rng(6), 2, 3, 5, 5, 4, 1, 3, 3, True, np.float32))
    y = F.conv2d(x, w, b, padding=1)
    y.sum().backward()
    assert y.dtype == np.float32
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


# ---------------------------------------------------------------------- the stride warning
def test_untiled_stride_warns_once_with_the_numbers(fresh_shape_warnings):
    x = mc.randn(1, 1, 7, 7)
    w = mc.randn(2, 1, 3, 3)
    with pytest.warns(shapes.ShapeWarning) as record:
        y = F.conv2d(x, w, stride=3)
    assert y.shape == (1, 2, 2, 2)                           # floored, as PyTorch
    message = str(record[0].message)
    assert "conv2d: (7 + 2*0 - 3)/3 + 1 = 2.33" in message
    assert "the last row and the last column of the input are never seen" in message
    assert "padding=1" in message                            # (7 + 2 - 3)/3 + 1 = 3 exactly
    assert record[0].filename == __file__                    # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # the same configuration: silent
        F.conv2d(x, w, stride=3)
    with pytest.warns(shapes.ShapeWarning, match=r"\(9 \+ 2\*0 - 3\)/3 \+ 1 = 3: |the last column"):
        F.conv2d(mc.randn(1, 1, 9, 7), w, stride=3)          # a new configuration warns again


def test_only_the_width_can_be_untiled(fresh_shape_warnings):
    with pytest.warns(shapes.ShapeWarning) as record:
        F.conv2d(mc.randn(1, 1, 9, 7), mc.randn(1, 1, 3, 3), stride=3)
    assert "conv2d: (7 + 2*0 - 3)/3 + 1 = 2.33: the last column of the input is never seen" in str(record[0].message)


@pytest.mark.parametrize("H, K, stride, padding", [(8, 3, 1, 1), (9, 3, 3, 0), (56, 3, 2, 1), (56, 1, 2, 0)])
def test_no_warning_when_every_pixel_is_seen_or_skipping_is_by_design(fresh_shape_warnings, H, K, stride, padding):
    # (56, 3, 2, 1): only the padding is left over; (56, 1, 2, 0): a 1x1 stride-2 shortcut
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.conv2d(mc.randn(1, 1, H, H), mc.randn(1, 1, K, K), stride=stride, padding=padding)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("x_shape, w_shape, b_shape, kw, error, message", [
    ((8, 1, 28, 28), (64, 3, 3, 3), None, {}, ValueError,
     "conv2d: weight (64, 3, 3, 3) expects 3 input channels (3 x groups 1), but the input (8, 1, 28, 28) has 1"),
    ((1, 28, 28), (4, 1, 3, 3), None, {}, ValueError,
     "conv2d: expected a 4-D input (N, C, H, W), got shape (1, 28, 28); for a single image add the batch "
     "axis: x.reshape(1, 1, 28, 28)"),
    ((2, 6, 8, 8), (4, 2, 3, 3), None, dict(groups=4), ValueError,
     "conv2d: groups=4 must divide both the input channels (6) and the output channels (4)"),
    ((2, 3, 3, 3), (4, 3, 5, 5), None, {}, ValueError,
     "conv2d: a 5x5 kernel does not fit a 3x3 input with padding 0: output height (3 + 2*0 - 5)/1 + 1 = -1 "
     "is below 1. Use padding=1 or more"),
    ((2, 3, 8, 8), (4, 3, 3), None, {}, ValueError, "conv2d: weight must be 4-D (C_out, C_in/groups, KH, KW), got shape (4, 3, 3)"),
    ((2, 3, 8, 8), (4, 3, 3, 3), (3,), {}, ValueError, "conv2d: bias must have shape (4,), one value per output channel, got (3,)"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(stride=2, padding="same"), ValueError,
     "padding='same' is not supported for strided convolutions"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(padding="full"), ValueError, "padding must be an int, a pair, 'valid' or 'same'"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(stride=0), ValueError, "stride must be at least 1"),
])
def test_conv2d_errors_name_the_problem(x_shape, w_shape, b_shape, kw, error, message):
    b = None if b_shape is None else mc.randn(*b_shape)
    with pytest.raises(error, match=re.escape(message)):
        F.conv2d(mc.randn(*x_shape), mc.randn(*w_shape), b, **kw)


def test_conv2d_refuses_mixed_dtypes():
    with pytest.raises(TypeError, match="same dtype"):
        F.conv2d(mc.randn(1, 1, 4, 4), mc.randn(1, 1, 3, 3, dtype=np.float64))


# ---------------------------------------------------------------------- freezing
class _CountingKernels:
    """Wraps the real kernels and counts the unfold / fold (im2col / col2im) calls."""

    def __init__(self, monkeypatch):
        self.calls = {"unfold": 0, "fold": 0}
        real = kernels.get_kernels

        def counting(array):
            ks = real(array)
            wrapped = {}
            for name in self.calls:
                def call(*args, _name=name, _f=getattr(ks, name), **kwargs):
                    self.calls[_name] += 1
                    return _f(*args, **kwargs)
                wrapped[name] = call
            return dataclasses.replace(ks, **wrapped)

        monkeypatch.setattr(kernels, "get_kernels", counting)


@pytest.mark.parametrize("x_grad, w_grad", [(False, False), (False, True), (True, False), (True, True)])
def test_backward_skips_the_work_of_frozen_inputs(monkeypatch, x_grad, w_grad):
    monkeypatch.setenv("MINICNN_CONV", "im2col")                # counts im2col's kernels
    counter = _CountingKernels(monkeypatch)
    x_np, w_np, b_np = _arrays(np.random.default_rng(7), 2, 3, 6, 6, 4, 1, 3, 3, True, np.float32)
    x = mc.Tensor(x_np, requires_grad=x_grad)
    w = mc.Tensor(w_np, requires_grad=w_grad)
    b = mc.Tensor(b_np, requires_grad=True)
    y = F.conv2d(x, w, b, padding=1)
    kept_for_dW = [a is not None for a in y.grad_fn.saved[:2]]   # (cols, x to unfold again)
    y.sum().backward()
    assert counter.calls["unfold"] == 1                      # small cols are kept for dL/dW
    assert counter.calls["fold"] == int(x_grad)              # dL/dx only when x needs it
    assert kept_for_dW == [w_grad, False]                    # no cols, no dL/dW
    assert (x.grad is not None) == x_grad and (w.grad is not None) == w_grad
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 2 * 6 * 6, np.float32))
    if w_grad:
        tx, tw = torch.tensor(x_np), torch.tensor(w_np, requires_grad=True)
        TF.conv2d(tx, tw, torch.tensor(b_np), padding=1).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- conv_transpose2d
@st.composite
def conv_transpose_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    S, D = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    return dict(
        N=draw(st.integers(1, 2)), groups=groups,
        C=groups * draw(st.integers(1, 3)), C_out=groups * draw(st.integers(1, 3)),
        H=draw(st.integers(1, 5)), W=draw(st.integers(1, 5)),
        KH=draw(st.integers(1, 4)), KW=draw(st.integers(1, 4)), stride=S, dilation=D,
        padding=(draw(st.integers(0, 1)), draw(st.integers(0, 1))),
        output_padding=tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(S, D)),
        bias=draw(st.booleans()), dtype=draw(st.sampled_from([np.float32, np.float64])),
    )


@settings(max_examples=30, deadline=None)
@given(cfg=conv_transpose_configs(), seed=st.integers(0, 2**16))
def test_conv_transpose2d_matches_torch(cfg, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(cfg["dtype"])
    w = rng.standard_normal((cfg["C"], cfg["C_out"] // cfg["groups"], cfg["KH"], cfg["KW"])).astype(cfg["dtype"])
    arrays = [x, w] + ([rng.standard_normal(cfg["C_out"]).astype(cfg["dtype"])] if cfg["bias"] else [])
    kw = {k: cfg[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}
    for axis, (size, k) in enumerate(((cfg["H"], cfg["KH"]), (cfg["W"], cfg["KW"]))):
        assume((size - 1) * kw["stride"][axis] - 2 * kw["padding"][axis]
               + kw["dilation"][axis] * (k - 1) + kw["output_padding"][axis] + 1 >= 1)
    assert_matches_torch(lambda *t: F.conv_transpose2d(*t, **kw), lambda *t: TF.conv_transpose2d(*t, **kw), arrays)


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    # <conv2d(z), x> = <z, conv_transpose2d(x)> for every z, x: the two maps are adjoint
    rng = np.random.default_rng(8)
    z, w, x = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    lhs = np.sum(F.conv2d(mc.Tensor(z), mc.Tensor(w), stride=2, padding=1).numpy() * x)
    up = F.conv_transpose2d(mc.Tensor(x), mc.Tensor(w), stride=2, padding=1)
    assert up.shape == z.shape
    np.testing.assert_allclose(np.sum(z * up.numpy()), lhs, rtol=1e-12)


def test_conv_transpose2d_gradcheck_and_errors():
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((1, 4, 3, 2)), rng.standard_normal((4, 1, 3, 3)), rng.standard_normal(2)]
    assert mc.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                           groups=2), arrays).ok
    with pytest.raises(ValueError, match=re.escape("output_padding (2, 2) must be smaller than the stride (2, 2)")):
        F.conv_transpose2d(mc.randn(1, 4, 3, 3), mc.randn(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=re.escape("weight (3, 2, 3, 3) expects 3 input channels, but the input "
                                                   "(1, 4, 3, 3) has 4")):
        F.conv_transpose2d(mc.randn(1, 4, 3, 3), mc.randn(3, 2, 3, 3))
