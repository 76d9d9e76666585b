"""Elementwise operations: arithmetic (with broadcasting) and the common functions.

Notation: ``gy = dL/dy`` is the gradient arriving from above; each backward returns
``dL/dinput = gy * dy/dinput`` for each input, summed back to the input's shape when the
input was broadcast (``unbroadcast``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..function import Function, unbroadcast


class Add(Function):
    """y = a + b"""

    def forward(self, a, b):
        self.save_for_backward(a.shape, b.shape)
        return a + b

    def backward(self, gy):
        a_shape, b_shape = self.saved
        da, db = self.needs_input_grad
        return (unbroadcast(gy, a_shape) if da else None, unbroadcast(gy, b_shape) if db else None)


class Sub(Function):
    """y = a - b"""

    def forward(self, a, b):
        self.save_for_backward(a.shape, b.shape)
        return a - b

    def backward(self, gy):
        a_shape, b_shape = self.saved
        da, db = self.needs_input_grad
        return (unbroadcast(gy, a_shape) if da else None, unbroadcast(-gy, b_shape) if db else None)


class Mul(Function):
    """y = a * b;  dy/da = b, dy/db = a"""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved
        da, db = self.needs_input_grad
        return (unbroadcast(gy * b, a.shape) if da else None, unbroadcast(gy * a, b.shape) if db else None)


class Div(Function):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b^2"""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        a, b = self.saved
        da, db = self.needs_input_grad
        ga = unbroadcast(gy / b, a.shape) if da else None
        gb = unbroadcast(-gy * a / (b * b), b.shape) if db else None
        return ga, gb


class Pow(Function):
    """y = a ** b;  dy/da = b * a^(b-1), dy/db = a^b * ln(a)"""

    def forward(self, a, b):
        y = a**b
        self.save_for_backward(a, b, y)
        return y

    def backward(self, gy):
        a, b, y = self.saved
        xp = get_array_module(a)
        da, db = self.needs_input_grad
        ga = unbroadcast(gy * b * a ** (b - 1), a.shape) if da else None
        gb = None
        if db:
            # ln(a) is undefined for a <= 0; PyTorch uses 0 where a == 0 (and y == 0)
            log_a = xp.log(xp.where(a > 0, a, 1)).astype(y.dtype)
            gb = unbroadcast(gy * y * log_a, b.shape)
        return ga, gb


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Exp(Function):
    """y = e^x;  dy/dx = e^x = y"""

    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * y


class Log(Function):
    """y = ln x;  dy/dx = 1/x"""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / x


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x))"""

    def forward(self, x):
        y = get_array_module(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy / (2 * y)


class Abs(Function):
    """y = |x|;  dy/dx = sign(x)  (0 at x = 0, as in PyTorch)"""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).abs(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy * get_array_module(x).sign(x)


class Tanh(Function):
    """y = tanh x;  dy/dx = 1 - y^2"""

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y)

    Computed as e^x / (1 + e^x) for x < 0, so e^(-x) never overflows for large |x|.
    """

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0"""

    def forward(self, x):
        y = get_array_module(x).maximum(x, 0)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * (y > 0)


class Clip(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0 (as PyTorch's clamp)"""

    def forward(self, x, lo=None, hi=None):
        xp = get_array_module(x)
        mask = xp.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        self.save_for_backward(mask)
        return xp.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, gy):
        (mask,) = self.saved
        return gy * mask


class Maximum(Function):
    """y = max(a, b) elementwise;  the gradient goes to the larger input, split half-half on ties

    (the tie rule is PyTorch's: ``grad/2`` to each where a == b).
    """

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return get_array_module(a).maximum(a, b)

    def backward(self, gy):
        a, b = self.saved
        share_a = (a > b) + 0.5 * (a == b)  # 1, 0 or 1/2
        return _split(gy, share_a, a.shape, b.shape, self.needs_input_grad)


class Minimum(Function):
    """y = min(a, b) elementwise;  the gradient goes to the smaller input, half-half on ties"""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return get_array_module(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.saved
        share_a = (a < b) + 0.5 * (a == b)
        return _split(gy, share_a, a.shape, b.shape, self.needs_input_grad)


def _split(gy, share_a, a_shape, b_shape, needs):
    share_a = share_a.astype(gy.dtype)
    ga = unbroadcast(gy * share_a, a_shape) if needs[0] else None
    gb = unbroadcast(gy * (1 - share_a), b_shape) if needs[1] else None
    return ga, gb


class Where(Function):
    """y = a where cond else b;  the gradient flows to a where cond holds, to b elsewhere"""

    def forward(self, a, b, cond=None):
        xp = get_array_module(a)
        self.save_for_backward(cond, a.shape, b.shape)
        return xp.where(cond, a, b)

    def backward(self, gy):
        cond, a_shape, b_shape = self.saved
        zero = gy.dtype.type(0)
        xp = get_array_module(gy)
        ga = unbroadcast(xp.where(cond, gy, zero), a_shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(xp.where(cond, zero, gy), b_shape) if self.needs_input_grad[1] else None
        return ga, gb


class Cast(Function):
    """y = x converted to another dtype; the gradient is converted back."""

    def forward(self, x, dtype: Any = np.float32):
        self.save_for_backward(x.dtype)
        return x.astype(dtype)

    def backward(self, gy):
        (dtype,) = self.saved
        return gy.astype(dtype)
