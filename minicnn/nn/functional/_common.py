"""Small pieces shared by the functional ops: input checks and the loss reductions."""
from __future__ import annotations

from typing import Any

from ...backend import get_array_module
from ...tensor import Tensor

__all__ = ["float_tensor", "any_tensor", "check_reduction", "reduce_loss", "unreduce_grad"]


def float_tensor(op: str, name: str, x: Any) -> Tensor:
    """``x`` as a floating-point Tensor (a NumPy/CuPy array is wrapped), or a TypeError naming it."""
    x = any_tensor(op, name, x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got {x.dtype}; convert it with .float()")
    return x


def any_tensor(op: str, name: str, x: Any) -> Tensor:
    """``x`` as a Tensor of any dtype (a NumPy/CuPy array is wrapped), or a TypeError naming it."""
    if isinstance(x, Tensor):
        return x
    if type(x).__module__.split(".")[0] in ("numpy", "cupy") and hasattr(x, "dtype"):
        return Tensor(get_array_module(x).asarray(x))
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}; wrap it with minicnn.Tensor(...)")


def check_reduction(op: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def reduce_loss(losses: Any, reduction: str, denominator: Any = None) -> Any:
    """Per-element losses -> the loss: as is ("none"), their sum, or sum / denominator ("mean").

    ``denominator`` defaults to the number of elements (a plain mean); weighted
    classification losses pass the sum of the weights instead.
    """
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    n = losses.size if denominator is None else denominator
    return total / losses.dtype.type(n)


def unreduce_grad(gy: Any, reduction: str, denominator: Any, size: int, dtype: Any) -> Any:
    """dL/d(loss_i) for every element i, given gy = dL/d(reduced loss).

    "none": gy, one value per element;  "sum": gy for every element;  "mean": gy / denominator.
    The result broadcasts against the per-element losses.
    """
    if reduction in ("none", "sum"):
        return gy
    n = size if denominator is None else denominator
    return gy / dtype.type(n)
