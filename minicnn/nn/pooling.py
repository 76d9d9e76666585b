"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, ``AdaptiveMaxPool2d``.

Pooling has no parameters: it summarises each window of each channel separately
(its maximum or its mean), shrinking H and W while keeping C.

Notation: N, C, H, W input; K (KH, KW) window; S stride; P padding; OH, OW output.
"""
from __future__ import annotations

from typing import Tuple, Union

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]

IntOrPair = Union[int, Tuple[int, int]]  # K or (KH, KW)


class MaxPool2d(Module):
    """The maximum of each KH x KW window: y[n, c, i, j] = max_{kh, kw} x[n, c, i*SH + kh*DH - PH, j*SW + kw*DW - PW].

    Args:
        kernel_size: window size K or (KH, KW).
        stride: step between windows; default ``kernel_size`` (non-overlapping windows).
        padding: implicit -inf padding on each side (at most half the window), default 0.
        dilation: gap between window taps, default 1.
        return_indices: also return the flat index (ih*W + iw) of each maximum, for unpooling.
        ceil_mode: round the output size up instead of down, so the last partial window counts.

    Shape:
        x: (N, C, H, W)  ->  y: (N, C, OH, OW),
        OH = floor((H + 2*PH - DH*(KH - 1) - 1) / SH) + 1   (ceil instead of floor with ceil_mode).

    Example:
        >>> MaxPool2d(2)(x).shape       # x: (N, 64, 224, 224) -> halves H and W
        (N, 64, 112, 112)
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
                 dilation: IntOrPair = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean of each KH x KW window.

    Args:
        kernel_size: window size K or (KH, KW).
        stride: step between windows; default ``kernel_size``.
        padding: implicit zero padding on each side, default 0.
        ceil_mode: round the output size up instead of down.
        count_include_pad: divide by the full window size KH*KW even where it overlaps the
            padding (default True, as PyTorch); False divides by the number of real pixels.
        divisor_override: divide every window sum by this number instead.

    Shape:
        x: (N, C, H, W)  ->  y: (N, C, OH, OW),  OH = floor((H + 2*PH - KH) / SH) + 1.
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode,
                            count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed output size, whatever the input size.

    Output cell i (of OH) averages input rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1, and the
    same for columns.  This is why torchvision's VGG ends its features with
    ``AdaptiveAvgPool2d(7)``: the classifier always sees 512 x 7 x 7 numbers, so its
    Linear(25088, 4096) works for any input size.

    Args:
        output_size: (OH, OW), or one int for a square output; None in the pair keeps that input size.

    Shape:
        x: (N, C, H, W)  ->  y: (N, C, OH, OW).
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max-pool to a fixed output size (windows as ``AdaptiveAvgPool2d``).

    Args:
        output_size: (OH, OW), or one int for a square output.
        return_indices: also return the flat index (ih*W + iw) of each maximum.

    Shape:
        x: (N, C, H, W)  ->  y: (N, C, OH, OW).
    """

    def __init__(self, output_size: int | tuple[int | None, int | None], return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
