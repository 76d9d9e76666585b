"""Operations that move elements around without changing them.

Their backward moves the gradient back the same way: reshape it back, transpose it
back, scatter it back into place (indexing), or cut it into pieces (concatenation).
"""
from __future__ import annotations

from typing import Any

from ..backend import get_array_module, to_device
from ..function import Function


class Reshape(Function):
    """y = x viewed with a new shape (same elements, same order)"""

    def forward(self, x, shape=()):
        self.save_for_backward(x.shape)
        return x.reshape(shape)

    def backward(self, gy):
        (shape,) = self.saved
        return gy.reshape(shape)


class Permute(Function):
    """y = x with its axes reordered: y.shape[i] = x.shape[dims[i]].  Backward applies the
    inverse permutation (argsort of dims)."""

    def forward(self, x, dims=()):
        self.save_for_backward(dims)
        return x.transpose(dims)

    def backward(self, gy):
        (dims,) = self.saved
        inverse = sorted(range(len(dims)), key=lambda i: dims[i])
        return gy.transpose(inverse)


class GetItem(Function):
    """y = x[index] for basic (slices, ints, None, ...) and integer-array indexing.

    Backward scatters gy into zeros shaped like x.  With integer arrays the same element
    may be picked several times (``x[[0, 0]]``): its gradient is the sum of those picks,
    which ``add.at`` computes (a plain ``g[index] += gy`` would keep only one of them).
    """

    def forward(self, x, index=None):
        self.save_for_backward(x.shape, x.dtype, index)
        return x[index]

    def backward(self, gy):
        shape, dtype, index = self.saved
        xp = get_array_module(gy)
        g = xp.zeros(shape, dtype=dtype)
        if _is_basic(index):
            g[index] = gy  # a basic index selects each element at most once
        else:
            xp.add.at(g, index, gy)
        return g


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class Concatenate(Function):
    """y = the inputs joined along ``axis``; backward cuts gy back into the pieces."""

    def forward(self, *xs, axis=0):
        xp = get_array_module(*xs)
        sizes = [x.shape[axis] for x in xs]
        self.save_for_backward(axis, sizes)
        return xp.concatenate(xs, axis=axis)

    def backward(self, gy):
        axis, sizes = self.saved
        xp = get_array_module(gy)
        cuts = []
        total = 0
        for n in sizes[:-1]:
            total += n
            cuts.append(total)
        return tuple(xp.split(gy, cuts, axis=axis))


class Stack(Function):
    """y = the inputs stacked along a new ``axis``; backward takes gy apart along it."""

    def forward(self, *xs, axis=0):
        xp = get_array_module(*xs)
        self.save_for_backward(axis, len(xs))
        return xp.stack(xs, axis=axis)

    def backward(self, gy):
        axis, n = self.saved
        xp = get_array_module(gy)
        return tuple(xp.take(gy, i, axis=axis) for i in range(n))


class Pad(Function):
    """y = x with ``pad_width[i] = (before, after)`` constant values added on axis i.
    Backward crops gy back to the original region."""

    def forward(self, x, pad_width=(), value=0.0):
        xp = get_array_module(x)
        self.save_for_backward(x.shape, pad_width)
        return xp.pad(x, pad_width, mode="constant", constant_values=value)

    def backward(self, gy):
        shape, pad_width = self.saved
        region = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, shape))
        return gy[region]


class ToDevice(Function):
    """y = x copied to another device; the gradient is copied back."""

    def forward(self, x, device=None):
        from ..backend import device_of

        self.save_for_backward(device_of(x))
        return to_device(x, device)

    def backward(self, gy):
        (source,) = self.saved
        return to_device(gy, source)
