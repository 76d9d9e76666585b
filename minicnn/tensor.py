"""The ``Tensor``: an array plus the record of how it was made, for reverse-mode autograd.

A tensor made by an operation remembers that operation (``grad_fn``, an instance of a
``Function`` subclass) and the operation remembers its inputs.  Calling ``backward()`` on
a scalar walks this graph from the output back to the leaves, applying the chain rule::

    dL/dx = sum over every op f that used x of  (dL/df) * (df/dx)

Each op's local rule lives in its ``Function.backward`` (see ``minicnn/ops/``); the graph
walk that calls them is in ``minicnn/autograd.py``.  This file holds the tensor itself.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .backend import Device, device, device_of, get_array_module, to_device

__all__ = ["Tensor"]

# The default floating-point type, as in PyTorch.  float64 is used by gradient checks.
DEFAULT_FLOAT = np.float32


def _as_array(data: Any, dtype: Any = None):
    """Turn ``data`` into a NumPy/CuPy array.

    Arrays keep their dtype (like ``torch.from_numpy``); Python floats and lists of them
    become float32, Python ints int64, bools bool (like ``torch.tensor``).
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = get_array_module(data)
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    if isinstance(data, (np.ndarray, np.generic)) or xp is not np:
        return xp.asarray(data)
    arr = np.asarray(data)
    if arr.dtype == np.float64:  # came from Python floats
        return arr.astype(DEFAULT_FLOAT)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr


class Tensor:
    """An n-dimensional array that can record operations for automatic differentiation.

    Args:
        data: an array, a nested list, a number or another Tensor.
        requires_grad: record operations on this tensor so ``backward`` fills ``.grad``.
            Only floating-point tensors can require gradients.
        dtype: optional NumPy dtype (e.g. ``"float64"``) to convert ``data`` to.

    Attributes:
        data: the underlying ``numpy.ndarray`` (or ``cupy.ndarray`` on a GPU).
        grad: ``dL/dself`` as a Tensor after ``backward()`` (leaves only, like PyTorch),
            accumulated over calls until ``zero_grad()``.
        grad_fn: the ``Function`` that produced this tensor, or None for a leaf.

    Example:
        >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        Tensor([2., 4., 6.])
    """

    # ndarray + Tensor must call Tensor.__radd__ (and so stay in the graph) rather than let
    # NumPy treat the tensor as an array: opting out of ufuncs makes NumPy defer to us.
    __array_ufunc__ = None

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(tensor)`` gives the data (on the CPU), like ``tensor.numpy()``."""
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _as_array(data, dtype)
        self.grad: Tensor | None = None
        self.grad_fn = None  # set by Function.apply for non-leaf tensors
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        """Number of elements (PyTorch calls this ``numel()``; ``size()`` is the shape there)."""
        return int(self.data.size)

    def numel(self) -> int:
        return int(self.data.size)

    @property
    def device(self) -> Device:
        return device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        """Iterate over the first axis: ``for row in x`` gives x[0], x[1], ... (differentiable)."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor; use .item() to get its value")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        extras = []
        if self.dtype != DEFAULT_FLOAT and self.dtype != np.int64 and self.dtype != np.bool_:
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        return "Tensor(" + ", ".join([body] + extras) + ")"

    def __hash__(self) -> int:  # tensors are hashed by identity (== is elementwise)
        return id(self)

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data)

    # ------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied to the host if on a GPU; shares memory on CPU)."""
        return np.asarray(to_device(self.data, Device("cpu")))

    def item(self) -> float | int | bool:
        if self.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def astype(self, dtype: Any) -> Tensor:
        """Convert to another dtype; differentiable between floating types.

        Converting to an integer or bool dtype gives a tensor outside the graph (it has
        no gradient), as in PyTorch.
        """
        from .ops.elementwise import Cast

        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":
            return Tensor(self.data.astype(dtype))
        return Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def to(self, target: str | Device | Any) -> Tensor:
        """``x.to("cuda")``, ``x.to("cpu")`` or ``x.to(np.float64)``; returns self when nothing changes."""
        if isinstance(target, Device) or (isinstance(target, str) and target.split(":")[0] in ("cpu", "cuda")):
            dev = device(target)
            if dev == self.device:
                return self
            from .ops.shape import ToDevice

            return ToDevice.apply(self, device=dev)
        try:
            dtype = np.dtype(target)
        except TypeError:
            raise ValueError(f"to(): {target!r} is neither a device ('cpu', 'cuda', 'cuda:1') "
                             "nor a dtype ('float32', np.float64)") from None
        return self if dtype == self.dtype else self.astype(dtype)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def detach(self) -> Tensor:
        """A new leaf tensor sharing the data, cut off from the graph."""
        return Tensor(self.data)

    # ------------------------------------------------------------ gradient state
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (only floating-point tensors can require grad)."""
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point tensors can require gradients, but this tensor is {self.dtype}. "
                "Convert it first, e.g. Tensor(data, dtype='float32', requires_grad=True) or x.float()"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Tensor:
        """Ask backward to keep ``.grad`` on this non-leaf tensor too (for inspection)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad = None``, as PyTorch's set_to_none)."""
        self.grad = None

    # ------------------------------------------------------------ backward
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate ``dself/dleaf`` into ``leaf.grad`` for every leaf that requires grad.

        Args:
            grad: ``dL/dself``, same shape as self.  May be omitted only for a scalar
                (one-element) tensor, where it is 1.
            retain_graph: keep the saved arrays so backward can run through this graph again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad())"
            )
        xp = get_array_module(self.data)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient works only for a scalar, but this tensor has "
                    f"shape {self.shape}. Reduce it first (e.g. loss = y.sum()) or pass "
                    f"grad= an array of shape {self.shape}"
                )
            g = xp.ones(self.data.shape, dtype=self.dtype)
        else:
            g = _as_array(grad, self.dtype)
            if g.shape != self.data.shape:
                raise ValueError(f"backward(): grad has shape {g.shape} but the tensor has shape {self.shape}")
        autograd.run_backward(self, g, retain_graph)

    # ------------------------------------------------------------ operators (see minicnn/ops/)
    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.pow(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    # comparisons give boolean tensors with no gradient
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data == _data(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data != _data(other))

    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < _data(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= _data(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > _data(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= _data(other))

    # ------------------------------------------------------------ methods (thin wrappers)
    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def abs(self) -> Tensor:
        return ops.abs(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        return ops.clip(self, min, max)

    clamp = clip

    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return ops.sum(self, dim, keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return ops.mean(self, dim, keepdim)

    def max(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return ops.max(self, dim, keepdim)

    def min(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return ops.min(self, dim, keepdim)

    def var(self, dim: int | Sequence[int] | None = None, keepdim: bool = False, correction: int = 1) -> Tensor:
        return ops.var(self, dim, keepdim, correction)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return Tensor(_arg_reduce(self.data, "argmax", dim, keepdim))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return Tensor(_arg_reduce(self.data, "argmin", dim, keepdim))

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        return ops.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims: int | Sequence[int]) -> Tensor:
        return ops.permute(self, *dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return ops.transpose(self, dim0, dim1)

    def unsqueeze(self, dim: int) -> Tensor:
        return ops.unsqueeze(self, dim)

    def squeeze(self, dim: int | None = None) -> Tensor:
        return ops.squeeze(self, dim)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _arg_reduce(a: Any, name: str, dim: int | None, keepdim: bool) -> Any:
    xp = get_array_module(a)
    out = getattr(xp, name)(a, axis=dim)
    if keepdim:
        out = xp.expand_dims(out, dim) if dim is not None else out.reshape((1,) * a.ndim)
    return out.astype(np.int64)


def tensors_of(items: Iterable[Any]) -> list[Tensor]:
    """The Tensor items of an iterable (used by optimizers and utilities)."""
    return [x for x in items if isinstance(x, Tensor)]


# Imported last: these modules import Tensor from this module.
from . import autograd, ops  # noqa: E402
