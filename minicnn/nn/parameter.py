"""``Parameter``: a tensor that a Module owns and an optimizer updates."""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor registered by a Module; ``requires_grad=True`` unless frozen.

    Assigning a Parameter as a Module attribute registers it, so it appears in
    ``parameters()``, ``named_parameters()`` and ``state_dict()``.
    """

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
