"""``Function``: one differentiable operation, its forward and backward side by side.

Every op in minicnn is a subclass::

    class Mul(Function):
        def forward(self, a, b):          # arrays in, array out
            self.save_for_backward(a, b)
            return a * b

        def backward(self, gy):           # gy = dL/dy
            a, b = self.saved
            return gy * b, gy * a         # dL/da, dL/db

``Mul.apply(x, y)`` unwraps the tensors, runs ``forward`` on their arrays, wraps the
result in a new Tensor and -- if any input requires grad and recording is on -- links
the result to this Function so ``backward`` can find it later.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import anomaly, grad_mode
from .backend import get_array_module
from .tensor import Tensor

__all__ = ["Function", "as_tensor", "unbroadcast"]


class Function:
    """Base class of every differentiable operation.

    Attributes:
        inputs: the input Tensors (only kept when the output needs a gradient).
        saved: what ``forward`` saved for ``backward`` (freed after backward).
        needs_input_grad: per input, whether its gradient is wanted.  ``backward``
            returns None for the others and should skip computing them: this is what
            makes a frozen layer's backward cheap.
        fresh_gradients: True if ``backward`` always returns new arrays that nothing
            else refers to, one per input (conv2d's, for example).  A leaf tensor's
            ``.grad`` then takes such an array as it is; otherwise it gets a copy,
            because a gradient may be shared (``a + b`` hands the same array to both
            inputs) or read-only.  (Saves copying dL/dx: 0.7 ms, 2% of a conv layer.)
    """

    inputs: tuple[Tensor, ...] = ()
    needs_input_grad: tuple[bool, ...] = ()
    fresh_gradients: bool = False

    def __init__(self) -> None:
        self.saved: tuple[Any, ...] | None = ()

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def forward(self, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, grad_output: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.backward")

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run the op on Tensors (numbers and arrays are wrapped); record it for backward."""
        tensors = _to_tensors(inputs, cls.__name__)
        fn = cls()
        fn.needs_input_grad = tuple(t.requires_grad for t in tensors)
        out = Tensor(fn.forward(*(t.data for t in tensors), **params))
        if anomaly.is_anomaly_enabled():
            anomaly.check_forward(cls.__name__, [t.data for t in tensors], out.data)
            fn.created_at = anomaly.creation_site()
        if grad_mode.is_grad_enabled() and any(fn.needs_input_grad):
            if out.dtype.kind not in "fc":
                raise TypeError(f"{cls.__name__} produced {out.dtype} values, which cannot carry a gradient")
            fn.inputs = tensors
            out.requires_grad = True
            out.grad_fn = fn
        else:
            fn.saved = ()  # nothing will call backward: drop saved arrays at once
        return out


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """Wrap a number or array as a Tensor; a scalar takes the dtype of a floating ``like``.

    Keeping ``2.0 * x`` float32 when x is float32 is why the dtype comes from ``like``.
    NumPy scalars count as scalars too (as in PyTorch): under NumPy 2 rules
    ``float32 * np.float64(2)`` and ``float32 / np.prod(shape)`` (an np.int64) would be float64.
    """
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, _SCALARS) and like.dtype.kind == "f":
        xp = get_array_module(like.data)
        return Tensor(xp.asarray(x, dtype=like.dtype))
    if like is not None and isinstance(x, np.ndarray) and get_array_module(like.data) is not np:
        return Tensor(get_array_module(like.data).asarray(x))
    return Tensor(x)


_SCALARS = (int, float, bool, np.integer, np.floating, np.bool_)


def _to_tensors(inputs: tuple[Any, ...], op: str) -> tuple[Tensor, ...]:
    like = next((x for x in inputs if isinstance(x, Tensor) and x.dtype.kind == "f"), None)
    if like is None:
        like = next((x for x in inputs if isinstance(x, Tensor)), None)
    tensors = tuple(as_tensor(x, like) for x in inputs)
    if len(tensors) > 1:
        devices = {t.device for t in tensors}
        if len(devices) > 1:
            names = ", ".join(f"{t.shape} on {t.device}" for t in tensors)
            raise RuntimeError(
                f"{op}: all inputs must be on the same device, got {names}. "
                "Move them first, e.g. x.to('cuda') or x.to('cpu')"
            )
    return tensors


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting.

    If x of shape (3, 1) was broadcast to (2, 3, 4), every x element was used 2*4 times,
    so its gradient is the sum over the broadcast axes: sum over axis 0 (added in front)
    and over axis 2 (stretched from 1), keeping the size-1 axis.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad
