"""Dropout: during training, zero each activation with probability p (Srivastava et al., 2014).

minicnn uses *inverted* dropout, like PyTorch: the kept activations are scaled by 1/(1-p)
during training, so the expected value of every activation is unchanged,

    E[y] = (1-p) * x/(1-p) + p * 0 = x,

and at evaluation time dropout is simply the identity (no rescaling of the weights).
"""
from __future__ import annotations

import numpy as np

from ...backend import get_array_module
from ...function import Function
from ...random import get_rng
from ...tensor import Tensor
from ._common import float_tensor

__all__ = ["dropout"]


class Dropout(Function):
    """y = x * mask / (1-p)  with mask ~ Bernoulli(1-p) drawn per element;  dy/dx = mask / (1-p).

    The scaled mask is saved, so the gradient flows exactly through the kept units.
    """

    def forward(self, x, p: float = 0.5, rng: np.random.Generator | None = None):
        xp = get_array_module(x)
        keep = get_rng(rng).random(x.shape) >= p            # True with probability 1 - p
        scale = x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
        scaled_mask = xp.asarray(keep).astype(x.dtype) * scale   # 0 or 1/(1-p), x's dtype
        self.save_for_backward(scaled_mask)
        return x * scaled_mask

    def backward(self, gy):
        (scaled_mask,) = self.saved
        return gy * scaled_mask


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            rng: np.random.Generator | int | None = None) -> Tensor:
    """Randomly zero elements of ``x`` with probability ``p`` and scale the rest by 1/(1-p).

    Args:
        x: any shape.
        p: the probability of dropping an element, 0 <= p <= 1 (p = 1 gives all zeros).
        training: apply dropout (True) or return ``x`` unchanged (False: evaluation).
        inplace: accepted for PyTorch compatibility; a new tensor is always returned.
        rng: a ``numpy.random.Generator`` (or int seed) for the mask; the default generator
            of ``minicnn.random`` (see ``minicnn.manual_seed``) when None.

    Returns:
        a tensor of the shape of ``x``.
    """
    if not isinstance(inplace, bool):
        raise TypeError(f"dropout: inplace must be a bool, got {type(inplace).__name__}; pass rng= by keyword")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p is a probability and must be between 0 and 1, got {p}")
    x = float_tensor("dropout", "x", x)
    if not training or p == 0.0:
        return x
    return Dropout.apply(x, p=float(p), rng=get_rng(rng))
