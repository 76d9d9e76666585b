"""Shape arithmetic and validation, in one place, before any array work runs.

Every check raises an error that names the op, the shapes and what would work,
e.g. ``matmul: (2, 3) @ (4, 5): the inner dimensions 3 and 4 differ``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["broadcast_shape", "matmul_shape", "normalize_dims", "reshape_target"]


def broadcast_shape(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast result of shapes ``a`` and ``b`` (NumPy rules), or a ValueError naming ``op``."""
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a} and {b} cannot be broadcast together: aligned from the right, "
            "each pair of sizes must be equal or one of them 1"
        ) from None


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Result shape of ``a @ b`` (NumPy/PyTorch matmul rules, with batch broadcasting)."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got {a} @ {b}")
    k_a = a[-1]
    k_b = b[-2] if len(b) >= 2 else b[0]
    if k_a != k_b:
        raise ValueError(
            f"matmul: {a} @ {b}: the inner dimensions {k_a} and {k_b} differ "
            f"(the last size of the left operand must equal the "
            f"{'second-to-last' if len(b) >= 2 else 'only'} size of the right one)"
        )
    batch = broadcast_shape("matmul (batch dimensions)", a[:-2], b[:-2])
    rows = (a[-2],) if len(a) >= 2 else ()
    cols = (b[-1],) if len(b) >= 2 else ()
    return batch + rows + cols


def normalize_dims(op: str, dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """``dim`` as a sorted tuple of non-negative axes (None = all axes)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(int(d) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dims} names the same axis twice")
    return tuple(sorted(out))


def reshape_target(shape: tuple[int, ...], target: Sequence[int]) -> tuple[int, ...]:
    """Resolve one ``-1`` in ``target`` and check the element count matches ``shape``."""
    size = int(np.prod(shape))
    target = tuple(int(t) for t in target)
    if target.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {target}")
    if -1 in target:
        known = int(np.prod([t for t in target if t != -1]))
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape {shape} ({size} elements) into {target}")
        target = tuple(size // known if t == -1 else t for t in target)
    if int(np.prod(target)) != size:
        raise ValueError(
            f"reshape: cannot reshape {shape} ({size} elements) into {target} "
            f"({int(np.prod(target))} elements)"
        )
    return target
