"""``Flatten``: the bridge from convolutional feature maps to fully connected layers."""
from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Merge axes ``start_dim`` .. ``end_dim`` into one.

    The default ``start_dim=1`` keeps the batch axis: (N, C, H, W) -> (N, C*H*W), e.g.
    VGG's (N, 512, 7, 7) -> (N, 25088) before ``Linear(25088, 4096)``.  The order of the
    merged values is C-major (channel, then row, then column), as in PyTorch, so
    weights of a Linear layer that follows are interchangeable with PyTorch's.

    Shape:
        x: (N, *dims)  ->  y: (N, prod(dims)) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
