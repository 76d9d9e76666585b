"""Argument helpers shared by the layer modules."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pair"]


def pair(layer: str, name: str, value: Any, minimum: int = 0) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(3, 5) -> (3, 5)``: a (height, width) pair of integers >= ``minimum``."""
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{layer}: {name} must be an int or a pair of ints (height, width), got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])
