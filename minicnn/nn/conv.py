"""``Conv2d``: the convolutional layer, a bank of learned filters slid over the image."""
from __future__ import annotations

import math

import numpy as np

from ..random import get_rng
from ..tensor import Tensor
from . import functional as F
from . import init
from ._utils import pair
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    Each of the C_out filters spans all C_in/groups input channels and a KH x KW window;
    sliding it over the input gives one output channel:

        y[n, o, i, j] = b[o] + sum_{c, kh, kw} W[o, c, kh, kw] * xpad[n, c, i*SH + kh*DH, j*SW + kw*DW]

    Notation:
        N, C_in, H, W      batch, input channels, input height and width
        C_out, KH, KW      filters (output channels), kernel height and width
        SH, SW / PH, PW    stride / zero padding on each side
        DH, DW             dilation (gap between kernel taps; 1 = a dense kernel)
        OH, OW             output height and width

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: K or (KH, KW).
        stride: S or (SH, SW), default 1.
        padding: P or (PH, PW), default 0; or ``"valid"`` (= 0) or ``"same"`` (output as
            large as the input; stride 1 only; an odd total puts the extra row/column at the
            bottom/right, as PyTorch).
        dilation: D or (DH, DW), default 1.
        groups: split the channels into this many independent groups (default 1);
            ``groups=C_in`` gives a depthwise convolution.
        bias: learn one bias per output channel (default True).
        rng: generator for the initial weights (keyword only; default: minicnn's default generator).

    Shape:
        x: (N, C_in, H, W)  ->  y: (N, C_out, OH, OW) with
        OH = floor((H + 2*PH - DH*(KH - 1) - 1) / SH) + 1   (and the same for OW).

    Attributes:
        weight: (C_out, C_in/groups, KH, KW) float32, initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            with fan_in = C_in/groups * KH * KW (PyTorch's ``kaiming_uniform_(a=sqrt(5))``).
        bias: (C_out,) float32, same initial range; None if ``bias=False``.
        Parameters: C_out * (C_in/groups) * KH * KW + C_out.

    Example:
        Ten 5x5 filters on a 32x32 RGB image with padding 2:
        >>> conv = Conv2d(3, 10, kernel_size=5, padding=2)
        >>> conv(x).shape                # x: (N, 3, 32, 32); OH = (32 + 4 - 5)/1 + 1 = 32
        (N, 10, 32, 32)
        >>> conv.num_parameters()        # 10 * (3*5*5) + 10
        760
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, *,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        if not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"Conv2d: groups must be a positive integer, got {groups!r}")
        for name, n in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"Conv2d: {name} must be a positive integer, got {n!r}")
            if n % groups:
                raise ValueError(
                    f"Conv2d: {name}={n} is not divisible by groups={groups}; each group needs "
                    f"the same number of channels")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = pair("Conv2d", "kernel_size", kernel_size, minimum=1)
        self.stride = pair("Conv2d", "stride", stride, minimum=1)
        self.dilation = pair("Conv2d", "dilation", dilation, minimum=1)
        self.padding: tuple[int, int] | str = (
            _check_padding_string(padding, self.stride)
            if isinstance(padding, str) else pair("Conv2d", "padding", padding)
        )
        KH, KW = self.kernel_size
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels // groups, KH, KW), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: np.random.Generator | int | None = None) -> None:
        """PyTorch's default initialisation (see the class docstring)."""
        rng = get_rng(rng)  # one generator for weight and bias
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)  # bound = 1/sqrt(fan_in)
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)  # C_in/groups * KH * KW
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, groups=self.groups)

    def extra_repr(self) -> str:
        # The same text as PyTorch: non-default settings only.
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def _check_padding_string(padding: str, stride: tuple[int, int]) -> str:
    if padding not in ("valid", "same"):
        raise ValueError(f"Conv2d: padding must be a number, a pair, 'valid' or 'same', got {padding!r}")
    if padding == "same" and stride != (1, 1):
        raise ValueError(f"Conv2d: padding='same' needs stride 1 (got stride={stride}); give the padding as numbers")
    return padding
