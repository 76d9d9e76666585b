"""Batch normalization (Ioffe & Szegedy, 2015), forward and fused backward.

Notation:
    N, C        batch and channels; x is (N, C), (N, C, L) or (N, C, H, W)
    M           values per channel that are averaged: N (or N*L, or N*H*W)
    mu, var     per-channel mean and biased variance (divide by M) of the batch
    gamma, beta the learnable scale ``weight`` and shift ``bias``, shape (C,)

    x_hat = (x - mu) / sqrt(var + eps)
    y     = gamma * x_hat + beta

Training normalises with the batch statistics and updates the running estimates in
place, exactly as PyTorch does (note the *unbiased* variance M/(M-1) * var here):

    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

Evaluation normalises with the running estimates instead, so y depends on x alone.
"""
from __future__ import annotations

import numpy as np

from ... import shapes
from ...backend import get_array_module
from ...function import Function
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["batch_norm"]


class BatchNorm(Function):
    """Batch norm over every axis except 1 (the channels); see the module docstring.

    Backward in training mode, where mu and var depend on x.  With
    g = dL/dx_hat = gy * gamma and the means taken over the M values of one channel,

        dL/dgamma = sum(gy * x_hat)                 dL/dbeta = sum(gy)
        dL/dx     = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)

    (the two subtracted terms are the paths through mu and through var).  In evaluation
    mode mu and var are constants and dL/dx = g / sqrt(var + eps).
    """

    def forward(self, x, weight, bias, *, running_mean=None, running_var=None,
                training: bool = False, momentum: float = 0.1, eps: float = 1e-5):
        axes = (0,) + tuple(range(2, x.ndim))             # all but the channel axis
        per_channel = (1, -1) + (1,) * (x.ndim - 2)       # (C,) -> broadcastable, e.g. (1, C, 1, 1)
        if training:
            # sums accumulated in float64, results rounded to x's dtype: a float32 sum of
            # many values near 1e4 drifts by ulps that shift every x_hat (the rounded mean is
            # within half a float32 spacing; tests/safety/test_stability.py)
            mean = x.mean(axis=axes, dtype=np.float64).astype(x.dtype)             # (C,)
            var = ((x - mean.reshape(per_channel)) ** 2).mean(axis=axes, dtype=np.float64).astype(x.dtype)
            if running_mean is not None:
                M = x.size // x.shape[1]
                running_mean *= 1 - momentum              # in place: the buffers are updated
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += (momentum * M / (M - 1)) * var   # unbiased estimate
        else:
            mean, var = running_mean, running_var
        inv_std = (1 / get_array_module(x).sqrt(var + eps)).astype(x.dtype, copy=False)   # (C,)
        x_hat = (x - mean.reshape(per_channel)) * inv_std.reshape(per_channel)
        self.save_for_backward(x_hat, inv_std, weight, axes, per_channel, training)
        return x_hat * weight.reshape(per_channel) + bias.reshape(per_channel)

    def backward(self, gy):
        x_hat, inv_std, weight, axes, per_channel, training = self.saved
        needs_x, needs_weight, needs_bias = self.needs_input_grad
        gx = None
        if needs_x:
            g = gy * weight.reshape(per_channel)                                 # dL/dx_hat
            if training:  # the paths through mu and var
                g = g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
            gx = g * inv_std.reshape(per_channel)
        gweight = (gy * x_hat).sum(axis=axes) if needs_weight else None
        gbias = gy.sum(axis=axes) if needs_bias else None
        return gx, gweight, gbias


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of ``x`` (PyTorch's ``F.batch_norm``).

    Args:
        x: (N, C), (N, C, L) or (N, C, H, W).
        running_mean, running_var: (C,) buffers; updated in place when ``training``.  They may
            be None only in training mode (then no running estimates are kept).
        weight, bias: gamma and beta, (C,) each, or None (gamma = 1, beta = 0).
        training: normalise with the batch statistics (True) or the running ones (False).
        momentum: weight of the new batch in the running averages.
        eps: added to the variance before the square root.

    Returns:
        y: the shape of ``x``.
    """
    x = float_tensor("batch_norm", "x", x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    C = x.shape[1]
    if training and x.size // C <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got input {x.shape}; "
            f"a variance needs at least 2 values (use a batch of 2 or more, or evaluation mode)")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if running_mean is None and not training:
        raise ValueError("batch_norm: evaluation mode (training=False) needs running_mean and running_var")
    xp = get_array_module(x.data)
    arrays = {}
    given = (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias))
    for name, t in given:
        if t is not None:
            arrays[name] = float_tensor("batch_norm", name, t).data
            if arrays[name].shape != (C,):
                raise ValueError(f"batch_norm: {name} must have shape ({C},), one value per channel of "
                                 f"{x.shape}, got {arrays[name].shape}")
    shapes.check_same_float_dtype("batch_norm", x=x.data, **arrays)
    # a missing gamma is 1 and a missing beta 0: constants that need no gradient
    weight = weight if weight is not None else Tensor(xp.ones(C, dtype=x.dtype))
    bias = bias if bias is not None else Tensor(xp.zeros(C, dtype=x.dtype))
    return BatchNorm.apply(x, weight, bias, running_mean=arrays.get("running_mean"),
                           running_var=arrays.get("running_var"), training=bool(training),
                           momentum=float(momentum), eps=float(eps))
