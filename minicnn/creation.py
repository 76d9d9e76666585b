"""Making tensors: ``tensor``, ``zeros``, ``ones``, ``full``, ``randn``, ``rand``, ``arange``..."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .backend import get_array_module
from .random import get_rng
from .tensor import DEFAULT_FLOAT, Tensor

__all__ = ["tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange", "eye"]


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        return tuple(int(n) for n in shape[0])
    return tuple(int(n) for n in shape)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor from data (copied), like ``torch.tensor``."""
    arr = data.data if isinstance(data, Tensor) else data
    return Tensor(np.array(arr, copy=True) if isinstance(arr, np.ndarray) else arr,
                  dtype=dtype, requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = DEFAULT_FLOAT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = DEFAULT_FLOAT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape: Sequence[int], value: float, dtype: Any = DEFAULT_FLOAT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(tuple(shape), value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(x: Tensor, requires_grad: bool = False) -> Tensor:
    """Zeros with x's shape, dtype and device (``x.data * 0`` would give nan where x is inf)."""
    return Tensor(get_array_module(x.data).zeros_like(x.data), requires_grad=requires_grad)


def ones_like(x: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(get_array_module(x.data).ones_like(x.data), requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = DEFAULT_FLOAT, requires_grad: bool = False,
          rng: np.random.Generator | int | None = None) -> Tensor:
    """Standard normal samples N(0, 1)."""
    data = get_rng(rng).standard_normal(_shape(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = DEFAULT_FLOAT, requires_grad: bool = False,
         rng: np.random.Generator | int | None = None) -> Tensor:
    """Uniform samples on [0, 1)."""
    data = get_rng(rng).random(_shape(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """Like ``torch.arange``: int64 for integer arguments, float32 otherwise."""
    if stop is None:
        start, stop = 0, start
    is_int = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    return Tensor(np.arange(start, stop, step, dtype=dtype or (np.int64 if is_int else DEFAULT_FLOAT)))


def eye(n: int, dtype: Any = DEFAULT_FLOAT) -> Tensor:
    return Tensor(np.eye(n, dtype=dtype))
