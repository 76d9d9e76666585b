"""Assignment 1: a tiny autograd engine on NumPy arrays (tasks 1-3).

A :class:`Tensor` holds

    data        a float64 ndarray (the value)
    grad        an array of the same shape: dL/d(this tensor), filled in by backward()
    _parents    the tensors this one was computed from
    _backward   a function that adds this tensor's grad, times the local derivative, into the
                parents' grads: the chain rule for one operation

Every operation builds its output, then defines ``_backward``. For out = a * b:

    out = Tensor(a.data * b.data, (a, b))
    def _backward():
        a.grad += out.grad * b.data        # dL/da = dL/dout * dout/da
        b.grad += out.grad * a.data
    out._backward = _backward

Gradients are *added* (``+=``), never assigned: a tensor used twice (a * a) receives the sum of
both contributions. :meth:`Tensor.backward` (given) visits the graph from the output back to the
inputs so that each ``_backward`` runs after every use of its output has been accounted for.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` (shaped like a broadcast result) back down to ``shape``.

    Broadcasting copies an operand along missing leading axes and along axes of size 1; each
    copy passed its own gradient, so the gradient of the operand is the sum over the copies:

        shape (3,)   in a (2, 3) result:  sum grad over axis 0           -> (3,)
        shape (2, 1) in a (2, 3) result:  sum over axis 1, keeping it    -> (2, 1)
        shape ()     in a (2, 3) result:  sum everything                 -> ()

    Args:
        grad: gradient of the broadcast result.
        shape: the operand's shape (broadcastable to grad.shape).

    Returns:
        an array of exactly ``shape``.
    """
    # BEGIN SOLUTION
    while grad.ndim > len(shape):                     # leading axes the operand did not have
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):               # axes where the operand had size 1
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad
    # END SOLUTION


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class Tensor:
    """An array that remembers how it was computed, so that backward() can apply the chain rule.

    Args:
        data: anything np.asarray accepts; stored as float64.
    """

    def __init__(self, data: Any, _parents: tuple[Tensor, ...] = (), _op: str = "") -> None:
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = _parents
        self._backward: Callable[[], None] = lambda: None
        self._op = _op

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Tensor({self.data!r}, op={self._op!r})"

    # ---- task 1: elementwise operations and sum --------------------------------------------

    def __add__(self, other: Tensor | float | np.ndarray) -> Tensor:
        """self + other (shapes broadcast like NumPy's)."""
        other = _as_tensor(other)
        # BEGIN SOLUTION
        out = Tensor(self.data + other.data, (self, other), "+")

        def _backward() -> None:                      # d(a + b)/da = d(a + b)/db = 1
            self.grad += unbroadcast(out.grad, self.shape)
            other.grad += unbroadcast(out.grad, other.shape)

        out._backward = _backward
        return out
        # END SOLUTION

    def __mul__(self, other: Tensor | float | np.ndarray) -> Tensor:
        """self * other, elementwise (shapes broadcast like NumPy's)."""
        other = _as_tensor(other)
        # BEGIN SOLUTION
        out = Tensor(self.data * other.data, (self, other), "*")

        def _backward() -> None:                      # d(ab)/da = b, d(ab)/db = a
            self.grad += unbroadcast(out.grad * other.data, self.shape)
            other.grad += unbroadcast(out.grad * self.data, other.shape)

        out._backward = _backward
        return out
        # END SOLUTION

    def __pow__(self, exponent: float) -> Tensor:
        """self ** exponent for a constant (Python number) exponent."""
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"Tensor ** only supports a constant int or float exponent, "
                            f"got {type(exponent).__name__}")
        # BEGIN SOLUTION
        out = Tensor(self.data ** exponent, (self,), f"**{exponent}")

        def _backward() -> None:                      # d(x^p)/dx = p x^(p-1)
            self.grad += out.grad * exponent * self.data ** (exponent - 1)

        out._backward = _backward
        return out
        # END SOLUTION

    def relu(self) -> Tensor:
        """max(self, 0) elementwise; its derivative is 1 where self > 0 and 0 elsewhere."""
        # BEGIN SOLUTION
        out = Tensor(np.maximum(self.data, 0), (self,), "relu")

        def _backward() -> None:
            self.grad += out.grad * (self.data > 0)

        out._backward = _backward
        return out
        # END SOLUTION

    def exp(self) -> Tensor:
        """e ** self elementwise."""
        # BEGIN SOLUTION
        out = Tensor(np.exp(self.data), (self,), "exp")

        def _backward() -> None:                      # d(e^x)/dx = e^x: reuse the output
            self.grad += out.grad * out.data

        out._backward = _backward
        return out
        # END SOLUTION

    def log(self) -> Tensor:
        """Natural logarithm elementwise."""
        # BEGIN SOLUTION
        out = Tensor(np.log(self.data), (self,), "log")

        def _backward() -> None:                      # d(log x)/dx = 1/x
            self.grad += out.grad / self.data

        out._backward = _backward
        return out
        # END SOLUTION

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all elements when None), like np.sum."""
        # BEGIN SOLUTION
        out = Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")

        def _backward() -> None:                      # every summed element gets the output's grad
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self.grad += np.broadcast_to(g, self.shape)

        out._backward = _backward
        return out
        # END SOLUTION

    # ---- task 3: matrix product ---------------------------------------------------------------

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        """self @ other for two matrices: (N, K) @ (K, M) -> (N, M).

        With G = dL/dout: dL/dself = G @ other.T (N, K) and dL/dother = self.T @ G (K, M).
        """
        other = _as_tensor(other)
        if self.data.ndim != 2 or other.data.ndim != 2 or self.shape[1] != other.shape[0]:
            raise ValueError(f"matmul needs (N, K) @ (K, M) matrices, got {self.shape} @ {other.shape}")
        # BEGIN SOLUTION
        out = Tensor(self.data @ other.data, (self, other), "@")

        def _backward() -> None:
            self.grad += out.grad @ other.data.T
            other.grad += self.data.T @ out.grad

        out._backward = _backward
        return out
        # END SOLUTION

    # ---- given: operations built from the ones above ------------------------------------------

    def __radd__(self, other: float | np.ndarray) -> Tensor:   # 2 + t
        return self + other

    def __rmul__(self, other: float | np.ndarray) -> Tensor:   # 2 * t
        return self * other

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Tensor | float | np.ndarray) -> Tensor:
        return self + (-_as_tensor(other))

    def __rsub__(self, other: float | np.ndarray) -> Tensor:   # 2 - t
        return _as_tensor(other) + (-self)

    def __truediv__(self, other: Tensor | float | np.ndarray) -> Tensor:
        return self * _as_tensor(other) ** -1.0

    def mean(self) -> Tensor:
        return self.sum() * (1.0 / self.data.size)

    # ---- given: backpropagation ---------------------------------------------------------------

    def backward(self, grad: np.ndarray | None = None) -> None:
        """Fill ``.grad`` of every tensor this one depends on with dself/dtensor (times ``grad``).

        Args:
            grad: dL/dself, the "seed" (default 1, for a scalar self).
        """
        order: list[Tensor] = []                      # topological order: parents before children
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:                                  # iterative DFS: deep graphs don't hit the recursion limit
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if id(p) not in seen)
        self.grad = np.ones_like(self.data) if grad is None else np.asarray(grad, dtype=np.float64).copy()
        for node in reversed(order):                  # from the output back to the inputs
            node._backward()
