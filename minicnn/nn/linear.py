"""Fully connected layers: ``Linear`` (y = x W^T + b) and ``Identity`` (y = x)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..random import get_rng
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Linear", "Identity"]


class Linear(Module):
    """Fully connected layer: every output feature is a weighted sum of all input features.

    y = x W^T + b

    Args:
        in_features: I, size of each input sample.
        out_features: O, size of each output sample.
        bias: learn an additive bias b (default True).
        rng: generator for the initial weights (keyword only; default: minicnn's default
            generator, reset by ``minicnn.manual_seed``).

    Shape:
        x: (*, I)  ->  y: (*, O), where * is any number of leading axes (usually N).

    Attributes:
        weight: (O, I) float32, initialised U(-1/sqrt(I), 1/sqrt(I)) (PyTorch's
            ``kaiming_uniform_(a=sqrt(5))``).
        bias: (O,) float32, initialised U(-1/sqrt(I), 1/sqrt(I)); None if ``bias=False``.
        Parameters: O*I + O, e.g. Linear(4096, 1000) has 4,097,000.

    Example:
        >>> fc = Linear(25088, 4096)      # VGG-16's first classifier layer: 512*7*7 -> 4096
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or n < 0:
                raise ValueError(f"Linear: {name} must be a non-negative integer, got {n!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: np.random.Generator | int | None = None) -> None:
        """PyTorch's default initialisation (see the class docstring)."""
        rng = get_rng(rng)  # one generator for weight and bias (an int seed would restart per draw)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)  # bound = 1/sqrt(fan_in)
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged; a placeholder, e.g. ``model.classifier[-1] = Identity()``
    to turn a classifier into a feature extractor.  Any constructor arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
