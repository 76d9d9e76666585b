"""Transposed convolution ("deconvolution"): the input gradient of conv2d, used as a layer.

Notation as in conv.py, with the roles of input and output swapped:
    x: (N, C_in, H, W)   weight: (C_in, C_out/G, KH, KW)   y: (N, C_out, OH, OW)
    OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + output_padding + 1
    M = N*H*W input pixels;  K = (C_out/G)*KH*KW

conv2d maps a (C_out, OH, OW) image to (C_in, H, W) with the weight W; its input
gradient dL/dz = col2im(gy @ W) maps back, (C_in, H, W) -> (C_out, OH, OW).
conv_transpose2d *is* that map, applied to x instead of a gradient: every input pixel
stamps its weighted KH x KW kernel onto the output, and overlapping stamps add up.
So its forward is conv2d's backward, and its backward is conv2d's forward:

    forward:   cols = x_g @ W_g           (G, M, C_in/G) @ (G, C_in/G, K)  ->  (M, C_out*KH*KW)
               y    = col2im(cols)        (N, C_out, OH, OW)
    backward:  cols = im2col(gy)          (M, C_out*KH*KW)
               dL/dx   = cols_g @ W_g.T   (G, M, C_in/G)
               dL/dW_g = x_g.T @ cols_g   (G, C_in/G, K)
               dL/db   = sum of gy over N, OH, OW
"""
from __future__ import annotations

from ... import kernels, shapes
from ...function import Function
from ...shapes import ConvGeometry
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["conv_transpose2d"]


class ConvTranspose2d(Function):
    """y = col2im(x @ W) + b; see the module docstring.  ``geometry`` is that of the conv2d
    being transposed (its input is y, its output x)."""

    def forward(self, x, weight, bias=None, *, geometry: ConvGeometry):
        g = geometry
        N, C_in, H, W = x.shape
        G, M = g.groups, N * H * W
        x_g = x.transpose(0, 2, 3, 1).reshape(M, G, C_in // G).transpose(1, 0, 2)   # (G, M, C_in/G)
        w_g = weight.reshape(G, C_in // G, -1)                                      # (G, C_in/G, K)
        cols = (x_g @ w_g).transpose(1, 0, 2).reshape(M, -1)                        # (M, C_out*KH*KW)
        y = kernels.get_kernels(x).col2im(
            cols, N, g.C, g.H, g.W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, H, W)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.save_for_backward(x_g if self.needs_input_grad[1] else None, w_g, x.shape, geometry)
        return y

    def backward(self, gy):
        x_g, w_g, x_shape, g = self.saved
        N, C_in, H, W = x_shape
        G, M = g.groups, N * H * W
        needs = self.needs_input_grad
        gx = gw = None
        if needs[0] or needs[1]:
            cols = kernels.get_kernels(gy).im2col(
                gy, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, H, W)              # (M, C_out*KH*KW)
            cols_g = cols.reshape(M, G, -1).transpose(1, 0, 2)                       # (G, M, K)
            if needs[0]:
                gx = (cols_g @ w_g.transpose(0, 2, 1)).transpose(1, 0, 2)            # (M, G, C_in/G)
                gx = gx.reshape(N, H, W, C_in).transpose(0, 3, 1, 2).copy()          # (N, C_in, H, W)
            if needs[1]:
                gw = (x_g.transpose(0, 2, 1) @ cols_g).reshape(C_in, -1, g.KH, g.KW)  # (C_in, C_out/G, KH, KW)
        if len(needs) == 2:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if needs[2] else None


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                     output_padding: int | tuple[int, int] = 0,
                     groups: int = 1, dilation: int | tuple[int, int] = 1) -> Tensor:
    """Transposed 2-D convolution (PyTorch's ``F.conv_transpose2d``), e.g. for upsampling.

    Args:
        input: x, (N, C_in, H, W).
        weight: (C_in, C_out/groups, KH, KW) -- note: input channels first, unlike conv2d.
        bias: (C_out,) or None.
        stride, padding, dilation, groups: those of the conv2d being transposed.
        output_padding: extra rows/columns on one side of the output, to pick among the
            output sizes that a strided conv2d would map to the same H (smaller than the
            stride or the dilation).

    Returns:
        y: (N, C_out, OH, OW), OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + output_padding + 1.
    """
    x = float_tensor("conv_transpose2d", "input", input)
    w = float_tensor("conv_transpose2d", "weight", weight)
    b = None if bias is None else float_tensor("conv_transpose2d", "bias", bias)
    geometry = shapes.conv_transpose2d_geometry(x.shape, w.shape, None if b is None else b.shape,
                                                stride, padding, output_padding, groups, dilation)
    shapes.check_same_float_dtype("conv_transpose2d", input=x.data, weight=w.data,
                                  bias=None if b is None else b.data)
    if b is None:
        return ConvTranspose2d.apply(x, w, geometry=geometry)
    return ConvTranspose2d.apply(x, w, b, geometry=geometry)
