"""The convolution straight from the lecture formula, as nested loops: the reference for conv.py.

Far too slow to train with (seven nested Python loops), but every line is the formula:

    y[n, o, oh, ow] = b[o] + sum over c < C/G, kh < KH, kw < KW of
                      x[n, g*C/G + c, ih, iw] * w[o, c, kh, kw]
    with  ih = oh*SH - PH + kh*DH,   iw = ow*SW - PW + kw*DW,   g = o // (C_out/G)

where taps that fall into the zero padding (ih or iw outside the image) contribute 0.
The backward pass runs the very same loops and sends each product's gradient back to
both of its factors (the product rule):

    dL/dx[n, g*C/G + c, ih, iw] += gy[n, o, oh, ow] * w[o, c, kh, kw]
    dL/dw[o, c, kh, kw]         += gy[n, o, oh, ow] * x[n, g*C/G + c, ih, iw]
    dL/db[o]                    += gy[n, o, oh, ow]

Notation and arguments as in conv.py.  Tests compare ``conv2d`` with this at small sizes.
"""
from __future__ import annotations

from ... import shapes
from ...backend import get_array_module
from ...function import Function
from ...shapes import ConvGeometry
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["conv2d_naive"]


def _taps(g: ConvGeometry, H: int, W: int):
    """Every (o-independent) window tap: yields (oh, ow, kh, kw, ih, iw) for taps inside the image."""
    for oh in range(g.OH):
        for ow in range(g.OW):
            for kh in range(g.KH):
                for kw in range(g.KW):
                    ih = oh * g.SH - g.PH + kh * g.DH
                    iw = ow * g.SW - g.PW + kw * g.DW
                    if 0 <= ih < H and 0 <= iw < W:       # otherwise: padding, adds 0
                        yield oh, ow, kh, kw, ih, iw


class Conv2dNaive(Function):
    """The loops of the module docstring.  x: (N, C, H, W), w: (C_out, C/G, KH, KW) -> (N, C_out, OH, OW)."""

    def forward(self, x, w, b=None, *, geometry: ConvGeometry):
        g = geometry
        N, C, H, W = x.shape
        out_per_group, in_per_group = g.C_out // g.groups, C // g.groups
        y = get_array_module(x).zeros((N, g.C_out, g.OH, g.OW), dtype=x.dtype)
        for n in range(N):
            for o in range(g.C_out):
                first_c = (o // out_per_group) * in_per_group     # this filter's group of channels
                for oh, ow, kh, kw, ih, iw in _taps(g, H, W):
                    for c in range(in_per_group):
                        y[n, o, oh, ow] += x[n, first_c + c, ih, iw] * w[o, c, kh, kw]
                if b is not None:
                    y[n, o] += b[o]
        self.save_for_backward(x, w, geometry)
        return y

    def backward(self, gy):
        x, w, g = self.saved
        N, C, H, W = x.shape
        out_per_group, in_per_group = g.C_out // g.groups, C // g.groups
        xp = get_array_module(x)
        dx, dw = xp.zeros_like(x), xp.zeros_like(w)
        for n in range(N):
            for o in range(g.C_out):
                first_c = (o // out_per_group) * in_per_group
                for oh, ow, kh, kw, ih, iw in _taps(g, H, W):
                    for c in range(in_per_group):
                        dx[n, first_c + c, ih, iw] += gy[n, o, oh, ow] * w[o, c, kh, kw]
                        dw[o, c, kh, kw] += gy[n, o, oh, ow] * x[n, first_c + c, ih, iw]
        if len(self.needs_input_grad) == 2:
            return dx, dw
        return dx, dw, gy.sum(axis=(0, 2, 3))


def conv2d_naive(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] | str = 0, dilation: int | tuple[int, int] = 1,
                 groups: int = 1) -> Tensor:
    """``conv2d`` computed by plain loops (CPU, NumPy arrays only); same arguments and result.

    ``padding="same"`` with an odd total padding needs no special case here: the extra
    bottom/right row is padding, which the loops skip anyway.
    """
    x = float_tensor("conv2d_naive", "input", input)
    w = float_tensor("conv2d_naive", "weight", weight)
    b = None if bias is None else float_tensor("conv2d_naive", "bias", bias)
    geometry = shapes.conv2d_geometry(x.shape, w.shape, None if b is None else b.shape,
                                      stride, padding, dilation, groups, op="conv2d_naive")
    shapes.check_same_float_dtype("conv2d_naive", input=x.data, weight=w.data, bias=None if b is None else b.data)
    if b is None:
        return Conv2dNaive.apply(x, w, geometry=geometry)
    return Conv2dNaive.apply(x, w, b, geometry=geometry)
