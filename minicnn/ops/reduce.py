"""Reductions over axes: sum, mean, max, min, var.

Backward of a reduction "un-reduces": the gradient of each output element is sent
back to the input elements it was computed from.  ``_expand`` puts back the reduced
axes (as size 1) so NumPy broadcasting can do the sending.
"""
from __future__ import annotations

from ..backend import get_array_module
from ..function import Function


def _expand(gy, axes: tuple[int, ...], keepdims: bool):
    """Re-insert the reduced axes of ``gy`` as size-1 axes (a no-op when keepdims)."""
    if keepdims:
        return gy
    return get_array_module(gy).expand_dims(gy, axes) if axes else gy


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    """y = sum of x over ``axes``;  dy/dx = 1 for every summed element"""

    def forward(self, x, axes=(), keepdims=False):
        self.save_for_backward(x.shape, axes, keepdims)
        return x.sum(axis=axes, keepdims=keepdims)

    def backward(self, gy):
        shape, axes, keepdims = self.saved
        return get_array_module(gy).broadcast_to(_expand(gy, axes, keepdims), shape)


class Mean(Function):
    """y = (1/n) * sum of x over ``axes``;  dy/dx = 1/n"""

    def forward(self, x, axes=(), keepdims=False):
        self.save_for_backward(x.shape, axes, keepdims)
        return x.mean(axis=axes, keepdims=keepdims)

    def backward(self, gy):
        shape, axes, keepdims = self.saved
        n = _count(shape, axes)
        return get_array_module(gy).broadcast_to(_expand(gy, axes, keepdims) / n, shape)


class Max(Function):
    """y = max of x over ``axes``.

    The gradient goes to the element(s) that were the maximum; when several tie, it is
    shared evenly among them (PyTorch's rule for ``amax`` and for ``max()`` without dim).
    """

    def forward(self, x, axes=(), keepdims=False):
        y = x.max(axis=axes, keepdims=True)
        self.save_for_backward(x, y, axes, keepdims)
        return y if keepdims else y.squeeze(axis=axes)

    def backward(self, gy):
        x, y, axes, keepdims = self.saved
        return _route_to_extreme(gy, x, y, axes, keepdims)


class Min(Function):
    """y = min of x over ``axes``; the gradient is shared evenly among tied minima."""

    def forward(self, x, axes=(), keepdims=False):
        y = x.min(axis=axes, keepdims=True)
        self.save_for_backward(x, y, axes, keepdims)
        return y if keepdims else y.squeeze(axis=axes)

    def backward(self, gy):
        x, y, axes, keepdims = self.saved
        return _route_to_extreme(gy, x, y, axes, keepdims)


def _route_to_extreme(gy, x, y, axes, keepdims):
    hit = (x == y).astype(gy.dtype)               # 1 where x attains the extreme
    ties = hit.sum(axis=axes, keepdims=True)      # how many share it
    return _expand(gy, axes, keepdims) * hit / ties


class Var(Function):
    """y = sum (x - mean)^2 / (n - correction)  over ``axes``;
    dy/dx = 2 (x - mean) / (n - correction)

    ``correction=1`` (the default, as in PyTorch) is the unbiased estimate; batch norm
    uses ``correction=0``.  The two-pass formula (subtract the mean first) avoids the
    cancellation of E[x^2] - E[x]^2 when the mean is large.
    """

    def forward(self, x, axes=(), keepdims=False, correction=1):
        centred = x - x.mean(axis=axes, keepdims=True)
        denom = max(_count(x.shape, axes) - correction, 0)
        self.save_for_backward(centred, axes, keepdims, denom)
        return (centred * centred).sum(axis=axes, keepdims=keepdims) / x.dtype.type(denom)

    def backward(self, gy):
        centred, axes, keepdims, denom = self.saved
        return _expand(gy, axes, keepdims) * centred * (centred.dtype.type(2) / centred.dtype.type(denom))
