"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d.

Notation (as in conv.py): x is (N, C, H, W); a KH x KW window moves with stride (SH, SW)
over the input padded by (PH, PW), with dilation (DH, DW); y is (N, C, OH, OW) with

    OH = floor((H + 2*PH - DH*(KH-1) - 1)/SH) + 1     (ceil with ceil_mode=True, but the
                                                       last window must start inside the
                                                       input or its left padding)

Pooling has no weights: each channel is pooled on its own.  The window loops are in the
kernels (``minicnn.kernels``, pooling.py there); this file is the autograd around them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ... import kernels, shapes
from ...backend import get_array_module
from ...function import Function
from ...shapes import PoolGeometry
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]


class MaxPool2d(Function):
    """y[n, c, oh, ow] = max of x[n, c] over window (oh, ow)  =  x[n, c].flat[indices[n, c, oh, ow]]

    The kernel finds both the maxima ``pooled`` and where they are (``indices``, flat
    ih*W + iw, as PyTorch's ``return_indices``); forward hands them to the graph.  Only the
    winner of a window affected the output, so the whole gradient goes to it:

        dL/dx[n, c].flat[indices[n, c, oh, ow]] += gy[n, c, oh, ow]

    (a pixel that wins several overlapping windows collects all of their gradients).
    Ties go to the first maximum in row-major window order (kh, then kw), like PyTorch.
    """

    def forward(self, x, *, pooled, indices):
        self.save_for_backward(indices, x.shape[2], x.shape[3])
        return pooled

    def backward(self, gy):
        indices, H, W = self.saved
        return kernels.get_kernels(gy).maxpool2d_backward(gy, indices, H, W)


class AvgPool2d(Function):
    """y[n, c, oh, ow] = (sum of window (oh, ow) of x[n, c]) / divisor[oh, ow]

    The divisor is KH*KW, except for windows cut by a ceil_mode edge, and, with
    ``count_include_pad=False``, it counts only the real (non-padding) pixels.
    Every pixel of a window contributed 1/divisor of it, so

        dL/dx[n, c, ih, iw] = sum over the windows (oh, ow) holding it of gy[n, c, oh, ow] / divisor[oh, ow]
    """

    def forward(self, x, *, geometry: PoolGeometry, count_include_pad: bool):
        g = geometry
        self.save_for_backward(geometry, count_include_pad)
        return kernels.get_kernels(x).avgpool2d_forward(
            x, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.OH, g.OW, count_include_pad)

    def backward(self, gy):
        g, count_include_pad = self.saved
        return kernels.get_kernels(gy).avgpool2d_backward(
            gy, g.N, g.C, g.H, g.W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.OH, g.OW, count_include_pad)


def max_pool2d(input: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over each window (PyTorch's ``F.max_pool2d``).

    Args:
        input: x, (N, C, H, W).
        kernel_size: KH = KW, or (KH, KW).
        stride: (SH, SW); None (the default) means the kernel size: non-overlapping windows.
        padding: implicit -inf padding on each side, at most half the kernel.
        dilation: gap between window taps.
        ceil_mode: round the output size up (a last, partial window) instead of down.
        return_indices: also return where each maximum is, as flat indices ih*W + iw into
            each (H, W) plane, int64, (N, C, OH, OW).

    Returns:
        y: (N, C, OH, OW), and the indices when ``return_indices``.
    """
    x = float_tensor("max_pool2d", "input", input)
    g = shapes.pool2d_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode, op="max_pool2d")
    pooled, indices = kernels.get_kernels(x.data).maxpool2d_forward(
        x.data, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH, g.OW)   # the maxima and where they are
    y = MaxPool2d.apply(x, pooled=pooled, indices=indices)
    return (y, Tensor(indices)) if return_indices else y


def avg_pool2d(input: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over each window (PyTorch's ``F.avg_pool2d``).

    Args:
        input: x, (N, C, H, W).
        kernel_size, stride, padding, ceil_mode: as for ``max_pool2d`` (zero padding here).
        count_include_pad: divide by the whole window, padding included (True, the default),
            or only by the number of real pixels in it (False).
        divisor_override: not supported (must be None).

    Returns:
        y: (N, C, OH, OW).
    """
    if divisor_override is not None:
        raise NotImplementedError("avg_pool2d: divisor_override is not supported; multiply the result "
                                  "by KH*KW / divisor instead")
    x = float_tensor("avg_pool2d", "input", input)
    g = shapes.pool2d_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode, op="avg_pool2d")
    return AvgPool2d.apply(x, geometry=g, count_include_pad=bool(count_include_pad))


# ---------------------------------------------------------------------- adaptive pooling
def _adaptive_size(op: str, x: Tensor, output_size: int | None | Sequence[int | None]) -> tuple[int, int]:
    """(OH, OW) from ``output_size``: an int, or a pair whose None entries keep the input size."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    H, W = x.shape[2], x.shape[3]
    if output_size is None or isinstance(output_size, (int, np.integer)):
        size = (output_size, output_size)
    else:
        size = tuple(output_size)
        if len(size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair (OH, OW), got {output_size!r}")
    OH, OW = (H if size[0] is None else int(size[0])), (W if size[1] is None else int(size[1]))
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: output_size must be at least 1, got {output_size!r}")
    return OH, OW


def adaptive_windows(O: int, L: int, xp) -> tuple:
    """The windows of adaptive pooling along one axis, PyTorch's rule:

        start_i = floor(i * L / O),   end_i = ceil((i + 1) * L / O)        for i in 0..O-1

    so the O windows cover all L pixels, neighbours overlapping by at most one.
    Returns (start, end), two (O,) int arrays.
    """
    i = xp.arange(O)
    return (i * L) // O, -((-(i + 1) * L) // O)


def _averaging_matrix(O: int, L: int, xp, dtype):
    """A: (O, L) with A[i, l] = 1/(end_i - start_i) for l in window i, else 0.

    Averaging rows then columns is averaging the window, because the window is a
    rectangle: y = A_h @ x @ A_w.T for every (n, c) plane.
    """
    start, end = adaptive_windows(O, L, xp)
    pos = xp.arange(L)
    inside = (pos >= start[:, None]) & (pos < end[:, None])          # (O, L)
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """y = A_h @ x @ A_w.T  (for each plane; see ``_averaging_matrix``);  dL/dx = A_h.T @ gy @ A_w.

    x: (N, C, H, W), A_h: (OH, H), A_w: (OW, W)  ->  y: (N, C, OH, OW).
    """

    def forward(self, x, *, output_size: tuple[int, int]):
        xp = get_array_module(x)
        A_h = _averaging_matrix(output_size[0], x.shape[2], xp, x.dtype)
        A_w = _averaging_matrix(output_size[1], x.shape[3], xp, x.dtype)
        self.save_for_backward(A_h, A_w)
        return A_h @ x @ A_w.T                      # (OH, H) @ (N, C, H, W) @ (W, OW)

    def backward(self, gy):
        A_h, A_w = self.saved
        return A_h.T @ gy @ A_w                     # (H, OH) @ (N, C, OH, OW) @ (OW, W)


def adaptive_avg_pool2d(input: Tensor, output_size: int | None | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size, whatever the input size (PyTorch's rule).

    When H is a multiple of OH (and W of OW) the windows are regular: this is
    ``avg_pool2d`` with kernel = stride = H/OH.  In particular a 7x7 input pooled to 7x7
    (torchvision's VGG at 224x224) comes back unchanged.  Otherwise the windows have
    varying sizes (see ``adaptive_windows``).

    Args:
        input: x, (N, C, H, W).
        output_size: OH = OW, or (OH, OW); None in the pair keeps that input size.

    Returns:
        y: (N, C, OH, OW).
    """
    x = float_tensor("adaptive_avg_pool2d", "input", input)
    OH, OW = _adaptive_size("adaptive_avg_pool2d", x, output_size)
    H, W = x.shape[2], x.shape[3]
    if H % OH == 0 and W % OW == 0:
        kernel = (H // OH, W // OW)
        return avg_pool2d(x, kernel, kernel)
    return AdaptiveAvgPool2d.apply(x, output_size=(OH, OW))


def adaptive_max_pool2d(input: Tensor, output_size: int | None | Sequence[int | None],
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to a fixed output size (PyTorch's ``F.adaptive_max_pool2d``).

    Windows as for ``adaptive_avg_pool2d``; the regular case is ``max_pool2d``.  Otherwise
    the OH*OW windows are visited one by one (each vectorised over N and C), and the
    gradient is routed to each window's first maximum, as in ``max_pool2d``.
    """
    x = float_tensor("adaptive_max_pool2d", "input", input)
    OH, OW = _adaptive_size("adaptive_max_pool2d", x, output_size)
    N, C, H, W = x.shape
    if H % OH == 0 and W % OW == 0:
        kernel = (H // OH, W // OW)
        return max_pool2d(x, kernel, kernel, return_indices=return_indices)
    xp = get_array_module(x.data)
    h0, h1 = (a.tolist() for a in adaptive_windows(OH, H, xp))
    w0, w1 = (a.tolist() for a in adaptive_windows(OW, W, xp))
    pooled = xp.empty((N, C, OH, OW), dtype=x.dtype)
    indices = xp.empty((N, C, OH, OW), dtype=xp.int64)
    for i in range(OH):
        for j in range(OW):
            window = x.data[:, :, h0[i]:h1[i], w0[j]:w1[j]].reshape(N, C, -1)   # (N, C, window size)
            best = window.argmax(axis=2)                                         # the first maximum
            pooled[:, :, i, j] = xp.take_along_axis(window, best[:, :, None], axis=2)[:, :, 0]
            width = w1[j] - w0[j]
            indices[:, :, i, j] = (h0[i] + best // width) * W + w0[j] + best % width
    y = MaxPool2d.apply(x, pooled=pooled, indices=indices)
    return (y, Tensor(indices)) if return_indices else y
