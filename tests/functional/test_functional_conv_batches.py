"""conv2d's memory plan: the batch is processed in slices of images whose unfolded columns
fit conv.COLS_BYTES, in reused scratch buffers, and dL/dW unfolds x again when the columns
were not kept.  Forced here with a tiny budget, so every path runs on small shapes."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn as mc
from minicnn.nn import functional as F
from minicnn.nn.functional import conv as conv_module

from functional_parity import assert_matches_torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _arrays(rng, N, C, H, W, C_out, groups, K):
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((C_out, C // groups, K, K)) * 0.3).astype(np.float32)
    b = rng.standard_normal(C_out).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("budget_images", [1, 2, 5])          # 5 images: one slice, cols kept
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=2, dilation=2),
                                dict(padding=1, groups=2)])
def test_sliced_batches_match_torch(monkeypatch, budget_images, kw):
    x, w, b = _arrays(np.random.default_rng(0), 5, 4, 7, 6, 6, kw.get("groups", 1), 3)
    per_image = (4 * 9 + 6) * 7 * 6 * 4           # (C*KH*KW + C_out) * OH*OW floats, at most
    monkeypatch.setattr(conv_module, "COLS_BYTES", budget_images * per_image)
    assert_matches_torch(lambda x, w, b: F.conv2d(x, w, b, **kw),
                         lambda x, w, b: TF.conv2d(x, w, b, **kw), [x, w, b])


def test_image_batches_fit_the_budget(monkeypatch):
    geometry = mc.shapes.conv2d_geometry((10, 3, 8, 8), (4, 3, 3, 3), None, 1, 1, 1, 1)
    per_image = (3 * 9 + 4) * 8 * 8 * 4                         # columns and output, in bytes
    x = np.zeros((10, 3, 8, 8), np.float32)
    monkeypatch.setattr(conv_module, "COLS_BYTES", 3 * per_image + 1)
    batches = conv_module._image_batches(x, (4, 3, 3, 3), geometry)
    assert [(s.start, s.stop) for s in batches] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    monkeypatch.setattr(conv_module, "COLS_BYTES", 1)            # one image even if too large
    assert len(conv_module._image_batches(x, (4, 3, 3, 3), geometry)) == 10


@pytest.mark.parametrize("x_grad, w_grad", [(True, False), (False, True), (True, True)])
def test_frozen_inputs_in_sliced_batches(monkeypatch, x_grad, w_grad):
    monkeypatch.setattr(conv_module, "COLS_BYTES", 1)            # one image per slice
    x_np, w_np, b_np = _arrays(np.random.default_rng(1), 3, 2, 5, 5, 3, 1, 3)
    x, w = mc.Tensor(x_np, requires_grad=x_grad), mc.Tensor(w_np, requires_grad=w_grad)
    y = F.conv2d(x, w, mc.Tensor(b_np), padding=1)
    cols_kept, x_kept = (a is not None for a in y.grad_fn.saved[:2])
    assert not cols_kept and x_kept == w_grad                   # x is kept to unfold again
    y.sum().backward()
    tx = torch.tensor(x_np, requires_grad=x_grad)
    tw = torch.tensor(w_np, requires_grad=w_grad)
    TF.conv2d(tx, tw, torch.tensor(b_np), padding=1).sum().backward()
    for ours, theirs, wanted in ((x, tx, x_grad), (w, tw, w_grad)):
        assert (ours.grad is not None) == wanted
        if wanted:
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_outputs_do_not_share_the_scratch_buffers():
    rng = np.random.default_rng(2)
    x1, w, b = _arrays(rng, 2, 3, 6, 6, 4, 1, 3)
    x2 = rng.standard_normal(x1.shape).astype(np.float32)
    y1 = F.conv2d(mc.Tensor(x1), mc.Tensor(w), mc.Tensor(b), padding=1)
    before = y1.numpy().copy()
    F.conv2d(mc.Tensor(x2), mc.Tensor(w), mc.Tensor(b), padding=1)     # reuses the scratch
    np.testing.assert_array_equal(y1.numpy(), before)


def test_a_broadcast_output_gradient_is_accepted():
    # y.sum().backward() hands conv2d a zero-stride gy (np.broadcast_to), which BLAS cannot take
    x_np, w_np, b_np = _arrays(np.random.default_rng(3), 2, 3, 5, 5, 4, 1, 3)
    x, w = mc.Tensor(x_np, requires_grad=True), mc.Tensor(w_np, requires_grad=True)
    F.conv2d(x, w, mc.Tensor(b_np), padding=1).sum().backward()
    tx, tw = torch.tensor(x_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    TF.conv2d(tx, tw, torch.tensor(b_np), padding=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_scratch_hands_out_views_of_one_reused_buffer_per_name_and_dtype():
    from minicnn.backend import free_scratch, scratch

    like = np.zeros(1, np.float32)
    a = scratch("test.a", (4, 5), np.float32, like)
    b = scratch("test.a", (2, 3), np.float32, like)                  # smaller: the same memory
    assert a.shape == (4, 5) and b.shape == (2, 3) and np.shares_memory(a, b)
    c = scratch("test.a", (10, 10), np.float32, like)                # larger: a new buffer
    assert not np.shares_memory(a, c)
    assert not np.shares_memory(c, scratch("test.b", (10, 10), np.float32, like))
    assert scratch("test.a", (3,), np.float64, like).dtype == np.float64   # per dtype
    free_scratch()
    assert not np.shares_memory(c, scratch("test.a", (10, 10), np.float32, like))


def test_reuse_freed_memory_sets_glibc_malloc_options():
    import platform
    import subprocess
    import sys

    # in a fresh process: the setting is process-wide
    code = "from minicnn.backend import reuse_freed_memory; print(reuse_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert out.strip() == str(glibc)


@pytest.mark.parametrize("budget_images", [1, 5])
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=2, dilation=2),
                                dict(padding=1, groups=2)])
def test_one_gemm_per_image_matches_torch(monkeypatch, budget_images, kw):
    # PER_IMAGE_PIXELS = 1: every image gets its own GEMMs, written straight into y and read
    # straight from dL/dy (the path of large images), in slices of 1 or all 5 images
    monkeypatch.setattr(conv_module, "PER_IMAGE_PIXELS", 1)
    x, w, b = _arrays(np.random.default_rng(8), 5, 4, 7, 6, 6, kw.get("groups", 1), 3)
    per_image = (4 * 9 + 6) * 7 * 6 * 4
    monkeypatch.setattr(conv_module, "COLS_BYTES", budget_images * per_image)
    assert_matches_torch(lambda x, w, b: F.conv2d(x, w, b, **kw),
                         lambda x, w, b: TF.conv2d(x, w, b, **kw), [x, w, b])


def test_one_gemm_per_image_with_a_broadcast_gradient_and_no_bias(monkeypatch):
    monkeypatch.setattr(conv_module, "PER_IMAGE_PIXELS", 1)
    x_np, w_np, _ = _arrays(np.random.default_rng(9), 2, 3, 5, 5, 4, 1, 3)
    x, w = mc.Tensor(x_np, requires_grad=True), mc.Tensor(w_np, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    y.backward(np.broadcast_to(np.float32(1), y.shape))               # strides of 0
    tx, tw = torch.tensor(x_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    TF.conv2d(tx, tw, padding=1).sum().backward()
    np.testing.assert_allclose(y.numpy(), TF.conv2d(torch.tensor(x_np), torch.tensor(w_np), padding=1).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)
