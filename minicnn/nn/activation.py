"""Activation layers: ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Softmax``, ``LogSoftmax``.

Each is a parameter-free wrapper around the function of the same name in
``minicnn.nn.functional`` (where the math and the backward live), so it can sit in a
``Sequential``.  Shapes are unchanged: x: (*)  ->  y: (*).
"""
from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """y = max(x, 0).

    Args:
        inplace: accepted so that PyTorch/torchvision model definitions (``ReLU(inplace=True)``)
            work unchanged, and shown in the repr; minicnn always returns a new tensor,
            which gives the same values and gradients.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x for x > 0, ``negative_slope * x`` otherwise (``inplace`` accepted and ignored, as ReLU)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """y = 1 / (1 + e^-x), squashing to (0, 1)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x), squashing to (-1, 1)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    """Probabilities along ``dim``: y_i = e^x_i / sum_j e^x_j.

    Args:
        dim: the class axis, e.g. 1 for scores of shape (N, C).  Required in minicnn at call
            time (PyTorch guesses it when omitted, with a deprecation warning).

    For training use ``CrossEntropyLoss`` on the raw scores instead: it includes the
    softmax, computed stably.
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y_i = log softmax(x)_i = x_i - log sum_j e^x_j along ``dim``; pair it with ``NLLLoss``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
