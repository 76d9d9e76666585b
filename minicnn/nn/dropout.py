"""``Dropout``: randomly zero activations during training, a regulariser."""
from __future__ import annotations

import numpy as np

from ..random import get_rng
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the rest by 1/(1 - p).

    The scaling keeps the expected value of every activation unchanged, so in ``eval()``
    mode Dropout simply returns its input (no rescaling needed at test time: "inverted
    dropout").  A network cannot rely on any single unit, which reduces overfitting.

    Args:
        p: probability of zeroing an element, 0 <= p <= 1 (default 0.5).
        inplace: accepted for PyTorch compatibility and ignored (a new tensor is returned).
        rng: generator for the masks (keyword only).  Default: minicnn's default generator,
            so ``minicnn.manual_seed`` makes training runs repeatable.

    Shape:
        x: (*)  ->  y: (*), same shape.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p is the probability of zeroing an element and must be in [0, 1], got {p!r}")
        self.p, self.inplace = float(p), inplace
        # An int seed becomes one generator now: re-seeding on every call would repeat the same mask.
        self.rng = None if rng is None else get_rng(rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
