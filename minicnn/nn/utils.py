"""``minicnn.nn.utils``: gradient clipping, where PyTorch keeps it (``torch.nn.utils``).

Also re-exported as ``minicnn.optim.clip_grad_norm_`` for convenience.
"""
from __future__ import annotations

from .clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
