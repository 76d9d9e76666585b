"""Activation functions: relu, leaky_relu, sigmoid, tanh, softmax, log_softmax.

Each maps x to y of the same shape.  relu, sigmoid and tanh are the autograd core's ops
(``minicnn/ops/elementwise.py``); the others are defined here with their backward.

Notation: ``gy = dL/dy`` arrives from above; every backward returns ``dL/dx``.
"""
from __future__ import annotations

from ... import ops, shapes
from ...backend import get_array_module
from ...function import Function
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"]


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at x = 0, as in PyTorch).

    ``inplace`` is accepted for PyTorch compatibility (``nn.ReLU(inplace=True)`` in
    torchvision models) but minicnn always returns a new tensor: the values are the same,
    and the input stays intact for any other op that still needs it.
    """
    return ops.relu(x)


def sigmoid(x: Tensor) -> Tensor:
    """y = 1 / (1 + e^-x); dy/dx = y (1 - y)."""
    return ops.sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """y = tanh x; dy/dx = 1 - y^2."""
    return ops.tanh(x)


class LeakyReLU(Function):
    """y = x where x > 0, else a*x;  dy/dx = 1 where x > 0, else a (a at x = 0, as in PyTorch)."""

    def forward(self, x, negative_slope: float = 0.01):
        positive = x > 0
        slope = x.dtype.type(negative_slope)           # keep float32 float32
        self.save_for_backward(positive, slope)
        return get_array_module(x).where(positive, x, x * slope)

    def backward(self, gy):
        positive, slope = self.saved
        return get_array_module(gy).where(positive, gy, gy * slope)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Leaky ReLU: a small slope ``negative_slope`` for x <= 0 keeps some gradient flowing.

    ``inplace`` is accepted for PyTorch compatibility and ignored (a new tensor is returned).
    """
    x = float_tensor("leaky_relu", "x", x)
    return LeakyReLU.apply(x, negative_slope=float(negative_slope))


class Softmax(Function):
    """y_i = e^(x_i - m) / sum_j e^(x_j - m)  along ``axis``, m = max_j x_j.

    Subtracting the max changes nothing mathematically (it cancels) but keeps every
    exponent <= 0, so e^(...) cannot overflow.  The Jacobian is dy_i/dx_j = y_i (d_ij - y_j):

        dL/dx_j = sum_i gy_i y_i (d_ij - y_j) = y_j (gy_j - sum_i gy_i y_i)
    """

    def forward(self, x, axis: int = -1):
        e = get_array_module(x).exp(x - x.max(axis=axis, keepdims=True))
        y = e / e.sum(axis=axis, keepdims=True)
        self.save_for_backward(y, axis)
        return y

    def backward(self, gy):
        y, axis = self.saved
        return y * (gy - (gy * y).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - logsumexp(x) = (x_i - m) - log sum_j e^(x_j - m)  along ``axis``.

    Computing log(softmax(x)) directly would give log(0) = -inf once a probability
    underflows; this form stays finite.  Since dy_i/dx_j = d_ij - softmax_j:

        dL/dx_j = gy_j - softmax_j * sum_i gy_i,      softmax = e^y
    """

    def forward(self, x, axis: int = -1):
        xp = get_array_module(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.save_for_backward(y, axis)
        return y

    def backward(self, gy):
        y, axis = self.saved
        return gy - get_array_module(y).exp(y) * gy.sum(axis=axis, keepdims=True)


def softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """Probabilities along ``dim``: non-negative, summing to 1.  x: any shape, e.g. (N, C) with dim=1.

    ``dim`` must be given: PyTorch's implicit choice when it is omitted is deprecated there,
    and guessing the class axis is a classic silent bug.
    """
    x = float_tensor("softmax", "x", x)
    return Softmax.apply(x, axis=_softmax_axis("softmax", x, dim))


def log_softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably (see ``LogSoftmax``)."""
    x = float_tensor("log_softmax", "x", x)
    return LogSoftmax.apply(x, axis=_softmax_axis("log_softmax", x, dim))


def _softmax_axis(op: str, x: Tensor, dim: int | None) -> int:
    if dim is None:
        raise ValueError(f"{op}: pass dim explicitly, e.g. {op}(x, dim=1) for (N, C) scores of shape {x.shape}")
    return shapes.normalize_dims(op, dim, x.ndim)[0]
