"""Matrix product with NumPy/PyTorch semantics (1-D operands, batched broadcasting)."""
from __future__ import annotations

from ..backend import get_array_module
from ..function import Function, unbroadcast


class MatMul(Function):
    """y = a @ b.   a: (..., M, K)  b: (..., K, N)  ->  y: (..., M, N)

    dL/da = gy @ b^T   (..., M, N) @ (..., N, K) -> (..., M, K)
    dL/db = a^T @ gy   (..., K, M) @ (..., M, N) -> (..., K, N)
    then summed over any batch axes that were broadcast.  A 1-D ``a`` is treated as
    (1, K) and a 1-D ``b`` as (K, 1), and those axes are removed again.
    """

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, gy):
        a, b = self.saved
        xp = get_array_module(gy)
        a2 = a[None, :] if a.ndim == 1 else a        # (1, K)
        b2 = b[:, None] if b.ndim == 1 else b        # (K, 1)
        # gy is (..., M, N) without the axes a 1-D operand removed: put them back, N first
        # (for 1-D @ 1-D, gy is 0-d and has no axis -2 until N is back).
        g2 = gy
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)              # restore N = 1: (..., M, 1)
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)              # restore M = 1: (..., 1, N)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb
