"""The differentiable operations, as plain functions: ``minicnn.exp(x)``, ``x + y`` ...

Each function validates its arguments (errors name the op and the shapes) and then
calls the ``Function`` subclass that holds the forward and backward math:

- ``elementwise.py``: + - * / ** neg exp log sqrt abs tanh sigmoid relu clip maximum minimum where
- ``reduce.py``: sum mean max min var
- ``matmul.py``: matmul
- ``shape.py``: reshape permute/transpose flatten getitem cat stack pad
"""
from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from .. import shapes
from ..function import as_tensor
from ..tensor import Tensor
from . import elementwise as ew
from . import matmul as mm
from . import reduce as rd
from . import shape as sh

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "matmul",
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clip", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "var",
    "reshape", "flatten", "permute", "transpose", "unsqueeze", "squeeze", "getitem",
    "cat", "concatenate", "stack", "pad",
]


def _binary(fn: type, op: str, a: Any, b: Any) -> Tensor:
    ta = as_tensor(a, b if isinstance(b, Tensor) else None)
    tb = as_tensor(b, ta)
    shapes.broadcast_shape(op, ta.shape, tb.shape)
    return fn.apply(ta, tb)


# ---------------------------------------------------------------- arithmetic
def add(a: Any, b: Any) -> Tensor:
    return _binary(ew.Add, "add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    return _binary(ew.Sub, "sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    return _binary(ew.Mul, "mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    return _binary(ew.Div, "div", a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001  (mirrors torch.pow)
    return _binary(ew.Pow, "pow", a, b)


def maximum(a: Any, b: Any) -> Tensor:
    return _binary(ew.Maximum, "maximum", a, b)


def minimum(a: Any, b: Any) -> Tensor:
    return _binary(ew.Minimum, "minimum", a, b)


def neg(x: Tensor) -> Tensor:
    return ew.Neg.apply(x)


def matmul(a: Any, b: Any) -> Tensor:
    ta = as_tensor(a, b if isinstance(b, Tensor) else None)
    tb = as_tensor(b, ta)
    shapes.matmul_shape(ta.shape, tb.shape)
    return mm.MatMul.apply(ta, tb)


# ---------------------------------------------------------------- functions
def exp(x: Tensor) -> Tensor:
    return ew.Exp.apply(x)


def log(x: Tensor) -> Tensor:
    return ew.Log.apply(x)


def sqrt(x: Tensor) -> Tensor:
    return ew.Sqrt.apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return ew.Abs.apply(x)


def tanh(x: Tensor) -> Tensor:
    return ew.Tanh.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return ew.Sigmoid.apply(x)


def relu(x: Tensor) -> Tensor:
    return ew.ReLU.apply(x)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return ew.Clip.apply(x, lo=min, hi=max)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` is true, else ``b`` (condition is not differentiated)."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    ta = as_tensor(a, b if isinstance(b, Tensor) else None)
    tb = as_tensor(b, ta)
    out = shapes.broadcast_shape("where", ta.shape, tb.shape)
    shapes.broadcast_shape("where (condition)", np.shape(cond), out)
    return ew.Where.apply(ta, tb, cond=cond)


# ---------------------------------------------------------------- reductions
def sum(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return rd.Sum.apply(x, axes=shapes.normalize_dims("sum", dim, x.ndim), keepdims=keepdim)


def mean(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    return rd.Mean.apply(x, axes=shapes.normalize_dims("mean", dim, x.ndim), keepdims=keepdim)


def max(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    _check_nonempty("max", x)
    return rd.Max.apply(x, axes=shapes.normalize_dims("max", dim, x.ndim), keepdims=keepdim)


def min(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    _check_nonempty("min", x)
    return rd.Min.apply(x, axes=shapes.normalize_dims("min", dim, x.ndim), keepdims=keepdim)


def var(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, correction: int = 1) -> Tensor:
    axes = shapes.normalize_dims("var", dim, x.ndim)
    return rd.Var.apply(x, axes=axes, keepdims=keepdim, correction=correction)


def _check_nonempty(op: str, x: Tensor) -> None:
    if x.size == 0:
        raise ValueError(f"{op}: the tensor is empty (shape {x.shape}); there is no {op}imum")


# ---------------------------------------------------------------- shape
def reshape(x: Tensor, *shape: int | Sequence[int]) -> Tensor:
    target = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
    return sh.Reshape.apply(x, shape=shapes.reshape_target(x.shape, target))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one, e.g. (N, C, H, W) -> (N, C*H*W) with start_dim=1."""
    if x.ndim == 0:
        return reshape(x, 1)
    (start,), (end,) = (shapes.normalize_dims("flatten", d, x.ndim) for d in (start_dim, end_dim))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def permute(x: Tensor, *dims: int | Sequence[int]) -> Tensor:
    order = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], (int, np.integer)) else dims
    in_range = builtins.all(-x.ndim <= d < x.ndim for d in order)
    if not in_range or sorted(d % x.ndim for d in order) != list(range(x.ndim)):
        raise ValueError(f"permute: {order} is not a permutation of the {x.ndim} axes of a tensor of shape {x.shape}")
    return sh.Permute.apply(x, dims=tuple(d % x.ndim for d in order))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes (PyTorch's ``transpose``; use ``permute`` for a full reordering)."""
    dims = [shapes.normalize_dims("transpose", d, x.ndim) for d in (dim0, dim1)]  # checks the range
    if x.ndim == 0:  # PyTorch allows transpose(0, -1) of a scalar: nothing to swap
        return x
    (d0,), (d1,) = dims
    order = list(range(x.ndim))
    order[d0], order[d1] = order[d1], order[d0]
    return sh.Permute.apply(x, dims=tuple(order))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = _new_axis("unsqueeze", dim, x.ndim)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    if x.ndim == 0:
        shapes.normalize_dims("squeeze", dim, 0)  # only checks that dim is 0 or -1
        return x
    (d,) = shapes.normalize_dims("squeeze", dim, x.ndim)
    return reshape(x, x.shape[:d] + x.shape[d + 1:]) if x.shape[d] == 1 else x


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``: basic indexing, integer arrays / tensors and boolean masks."""
    def unwrap(i: Any) -> Any:
        if isinstance(i, Tensor):
            if i.dtype.kind not in "iub":
                raise IndexError(f"getitem: index tensors must be integer or bool, got {i.dtype}")
            return i.data
        if isinstance(i, list):
            return np.asarray(i)
        return i

    index = tuple(unwrap(i) for i in index) if isinstance(index, tuple) else unwrap(index)
    return sh.GetItem.apply(x, index=index)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``)."""
    ts = _same_rank("cat", tensors)
    if ts[0].ndim == 0:
        raise ValueError("cat: 0-d tensors have no axis to join along; use stack() to make a new one")
    (axis,) = shapes.normalize_dims("cat", dim, ts[0].ndim)
    for t in ts[1:]:
        if t.shape[:axis] + t.shape[axis + 1:] != ts[0].shape[:axis] + ts[0].shape[axis + 1:]:
            raise ValueError(
                f"cat: shapes {[t.shape for t in ts]} differ outside dim {dim}; only the size along dim may differ"
            )
    return sh.Concatenate.apply(*ts, axis=axis)


concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis (``torch.stack``)."""
    ts = _same_rank("stack", tensors)
    if any(t.shape != ts[0].shape for t in ts):
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in ts]}")
    return sh.Stack.apply(*ts, axis=_new_axis("stack", dim, ts[0].ndim))


def _new_axis(op: str, dim: int, ndim: int) -> int:
    """Where a new axis goes in the result (ndim + 1 axes): 0..ndim, negative from the end."""
    if not -(ndim + 1) <= dim <= ndim:
        raise IndexError(
            f"{op}: dim {dim} is out of range for adding an axis to a tensor with {ndim} dimensions "
            f"(expected a dim in [{-(ndim + 1)}, {ndim}])"
        )
    return int(dim) % (ndim + 1)


def _same_rank(op: str, tensors: Sequence[Any]) -> list[Tensor]:
    if len(tensors) == 0:
        raise ValueError(f"{op}: needs at least one tensor")
    ts = [as_tensor(t) for t in tensors]
    if len({t.ndim for t in ts}) != 1:
        raise ValueError(f"{op}: all tensors need the same number of dimensions, got {[t.shape for t in ts]}")
    return ts


def pad(x: Tensor, pad_width: Sequence[tuple[int, int]] | int, value: float = 0.0) -> Tensor:
    """Constant padding, NumPy style: ``pad_width[i] = (before, after)`` for axis i (or one int for all)."""
    if isinstance(pad_width, (int, np.integer)):
        pad_width = [(int(pad_width), int(pad_width))] * x.ndim
    pw = tuple((int(a), int(b)) for a, b in pad_width)
    if len(pw) != x.ndim or any(a < 0 or b < 0 for a, b in pw):
        raise ValueError(f"pad: need one non-negative (before, after) pair per axis of {x.shape}, got {pw}")
    return sh.Pad.apply(x, pad_width=pw, value=value)
