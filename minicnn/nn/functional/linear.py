"""The fully connected layer ``y = x W^T + b`` and ``flatten`` (the bridge from conv to linear).

Notation:
    *       any leading axes (usually just the batch N)
    I, O    input and output features
"""
from __future__ import annotations

from ... import ops, shapes
from ...function import Function
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["linear", "flatten"]


class Linear(Function):
    """y = x @ W.T + b.   x: (*, I)  W: (O, I)  b: (O,) or absent  ->  y: (*, O)

    Every leading axis is a batch axis, so for the weight gradient they are merged into one
    (M = product of the leading sizes) and the sum over samples becomes one GEMM:

        dL/dx = gy @ W                  (*, O) @ (O, I)  -> (*, I)
        dL/dW = gy2.T @ x2              (O, M) @ (M, I)  -> (O, I)
        dL/db = sum of gy2 over M       (O,)
    """

    def forward(self, x, W, b=None):
        self.save_for_backward(x, W)
        y = x @ W.T
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, W = self.saved
        needs_x, needs_W = self.needs_input_grad[:2]
        gy2 = gy.reshape(-1, gy.shape[-1])                   # (M, O)
        gx = gy @ W if needs_x else None
        gW = gy2.T @ x.reshape(-1, x.shape[-1]) if needs_W else None
        if len(self.needs_input_grad) == 2:
            return gx, gW
        gb = gy2.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, gW, gb


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Apply the affine map y = x W^T + b (PyTorch's ``F.linear``).

    Args:
        x: (*, I) -- e.g. (N, I) for a batch of feature vectors.
        weight: (O, I), one row per output feature (PyTorch's layout).
        bias: (O,) or None.

    Returns:
        y: (*, O).
    """
    x = float_tensor("linear", "x", x)
    weight = float_tensor("linear", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input {x.shape} has {x.shape[-1] if x.ndim else 0} features in its last axis but "
            f"weight {weight.shape} expects {weight.shape[1]}; a conv output usually needs "
            f"flatten(x, 1) first")
    if bias is None:
        shapes.check_same_float_dtype("linear", x=x.data, weight=weight.data)
        return Linear.apply(x, weight)
    bias = float_tensor("linear", "bias", bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), one value per output, got {bias.shape}")
    shapes.check_same_float_dtype("linear", x=x.data, weight=weight.data, bias=bias.data)
    return Linear.apply(x, weight, bias)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one, as ``torch.flatten``.

    The default ``start_dim=0`` is ``torch.flatten``'s and flattens everything, batch included;
    before a linear layer use ``flatten(x, 1)``: (N, C, H, W) -> (N, C*H*W), which is what
    ``nn.Flatten`` (default start_dim=1) does.
    """
    return ops.flatten(x, start_dim, end_dim)
