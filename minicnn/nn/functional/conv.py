"""2-D convolution as im2col + one matrix multiplication (GEMM) per group.

Notation:
    N, C, H, W      batch, input channels, input height and width
    C_out           output channels
    G               groups: input and output channels are split into G independent blocks
    KH, KW          kernel height and width
    SH, SW          stride;  PH, PW: zero padding;  DH, DW: dilation
    OH, OW          output size, OH = floor((H + 2*PH - DH*(KH-1) - 1)/SH) + 1
    M               output pixels of the batch: N*OH*OW
    K               one group's receptive field: (C/G)*KH*KW values

The convolution (cross-correlation, as in every deep-learning library) is

    y[n, o, oh, ow] = b[o] + sum over c, kh, kw of
                      x[n, g*C/G + c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW] * w[o, c, kh, kw]

for output channel o in group g = o // (C_out/G).  ``conv_naive.py`` computes exactly these
loops.  Here im2col copies every receptive field into one row of a matrix, so the sum over
(c, kh, kw) of all output pixels becomes a single matrix product:

    cols = im2col(x)                              (M, C*KH*KW), one row per output pixel
    y    = cols @ W.reshape(C_out, C*KH*KW).T     (M, C_out)          when G = 1

With groups, group g multiplies its own block of K columns by its own C_out/G filters.
"""
from __future__ import annotations

from ... import kernels, ops, shapes
from ...backend import get_array_module
from ...function import Function
from ...shapes import ConvGeometry
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["conv2d"]


class Conv2d(Function):
    """y = conv2d(x, W) + b.   x: (N, C, H, W)  W: (C_out, C/G, KH, KW)  b: (C_out,)  ->  y: (N, C_out, OH, OW)

    Forward, with the groups as a batch axis of the matrix product:

        cols = im2col(x)                                    (M, G*K)
        y    = cols_g @ W_g.T  for each group g             (G, M, K) @ (G, K, C_out/G)

    Backward, the same two matrices in the two other orders (gy_g: (G, M, C_out/G)):

        dL/dW_g   = gy_g.T @ cols_g                         (C_out/G, K): needs cols
        dL/dcols_g = gy_g @ W_g                             (M, K)
        dL/dx     = col2im(dL/dcols)                        the adjoint of im2col
        dL/db     = sum of gy over N, OH, OW

    Each is computed only for an input that needs it (``needs_input_grad``): a frozen
    weight skips the weight GEMM and cols is not even kept, and an input that needs no
    gradient (the images, or a frozen earlier layer) skips the dcols GEMM and col2im.
    """

    def forward(self, x, weight, bias=None, *, geometry: ConvGeometry):
        g = geometry
        G = g.groups
        M = x.shape[0] * g.OH * g.OW
        cols = kernels.get_kernels(x).im2col(
            x, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH, g.OW)    # (M, C*KH*KW)
        cols_g = cols.reshape(M, G, -1).transpose(1, 0, 2)                     # (G, M, K), a view
        w_g = weight.reshape(G, g.C_out // G, -1)                              # (G, C_out/G, K)
        y = cols_g @ w_g.transpose(0, 2, 1)                                    # (G, M, C_out/G)
        y = y.transpose(1, 0, 2).reshape(M, g.C_out)                           # (M, C_out)
        if bias is not None:
            y += bias
        y = y.reshape(x.shape[0], g.OH, g.OW, g.C_out).transpose(0, 3, 1, 2)            # (N, C_out, OH, OW)
        needs_weight_grad = self.needs_input_grad[1]
        # x.shape, not the geometry's H, W: it includes the odd row/column of padding="same"
        self.save_for_backward(cols_g if needs_weight_grad else None, w_g, x.shape, geometry)
        return get_array_module(x).ascontiguousarray(y)

    def backward(self, gy):
        cols_g, w_g, x_shape, g = self.saved
        N, C, H, W = x_shape
        G = g.groups
        M = N * g.OH * g.OW
        needs = self.needs_input_grad
        gy_mat = gy.transpose(0, 2, 3, 1).reshape(M, g.C_out)                  # (M, C_out)
        gy_g = gy_mat.reshape(M, G, -1).transpose(1, 0, 2)                     # (G, M, C_out/G)
        gx = gw = None
        if needs[0]:
            dcols = (gy_g @ w_g).transpose(1, 0, 2).reshape(M, -1)             # (M, C*KH*KW)
            gx = kernels.get_kernels(gy).col2im(
                dcols, N, C, H, W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH, g.OW)
        if needs[1]:
            gw = _sum_of_outer_products(gy_g, cols_g).reshape(g.C_out, C // G, g.KH, g.KW)
        if len(needs) == 2:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if needs[2] else None
        return gx, gw, gb


def _sum_of_outer_products(a, b):
    """a.T @ b for each group: (G, M, A), (G, M, B) -> (G, A, B), a sum over the M pixels.

    When A < B it is computed as (b.T @ a).T, the same numbers: for these long sums
    OpenBLAS is up to 10x slower when the result is wider than tall (measured on the
    (64, 576) weight gradient of a 64-channel 3x3 layer).
    """
    if a.shape[2] >= b.shape[2]:
        return a.transpose(0, 2, 1) @ b
    return (b.transpose(0, 2, 1) @ a).transpose(0, 2, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0, dilation: int | tuple[int, int] = 1,
           groups: int = 1) -> Tensor:
    """2-D convolution over a batch of images (PyTorch's ``F.conv2d``).

    Args:
        input: x, (N, C, H, W).
        weight: (C_out, C/groups, KH, KW).
        bias: (C_out,) or None.
        stride: SH = SW, or (SH, SW).
        padding: zeros added on each side: an int, (PH, PW), "valid" (= 0) or "same" (output
            as large as the input; stride 1 only; an odd total goes to the bottom/right,
            as in PyTorch).
        dilation: DH = DW, or (DH, DW): the gap between kernel taps (1 = a plain kernel).
        groups: G; each group of C/G input channels has its own C_out/G filters
            (G = C is a depthwise convolution).

    Returns:
        y: (N, C_out, OH, OW) with OH = floor((H + 2*PH - DH*(KH-1) - 1)/SH) + 1 and OW likewise.
        When the stride leaves input rows or columns unseen (the floor drops them), a
        ``minicnn.shapes.ShapeWarning`` says so, once per configuration.

    Example:
        >>> x = minicnn.randn(8, 3, 32, 32)
        >>> w = minicnn.randn(16, 3, 3, 3)
        >>> conv2d(x, w, padding=1).shape
        (8, 16, 32, 32)
    """
    x = float_tensor("conv2d", "input", input)
    w = float_tensor("conv2d", "weight", weight)
    b = None if bias is None else float_tensor("conv2d", "bias", bias)
    geometry = shapes.conv2d_geometry(x.shape, w.shape, None if b is None else b.shape,
                                      stride, padding, dilation, groups)
    shapes.check_same_float_dtype("conv2d", input=x.data, weight=w.data, bias=None if b is None else b.data)
    if geometry.extra_h or geometry.extra_w:
        # "same" with an odd total padding: one more row/column at the bottom/right (PyTorch's split)
        x = ops.pad(x, ((0, 0), (0, 0), (0, geometry.extra_h), (0, geometry.extra_w)))
    if b is None:
        return Conv2d.apply(x, w, geometry=geometry)
    return Conv2d.apply(x, w, b, geometry=geometry)
