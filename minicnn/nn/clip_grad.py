"""Gradient clipping: keep one bad batch from throwing the parameters far away.

Call between ``loss.backward()`` and ``optimizer.step()``::

    loss.backward()
    clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()

Both functions replace ``p.grad`` with a clipped copy; the old gradient arrays are not
changed (the autograd engine may share them between tensors).
"""
from __future__ import annotations

from typing import Any, Iterable

from ..backend import get_array_module
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``.

    The total norm treats the gradients of all parameters as one long vector::

        total_norm = || (||g_1||, ||g_2||, ..., ||g_n||) ||     (each a p-norm, p = norm_type)
        coef = min(max_norm / (total_norm + 1e-6), 1)
        g_i <- coef * g_i

    The direction of the overall gradient is kept; only its length is capped.  The 1e-6
    avoids a division by zero (as in PyTorch), so clipped norms end slightly below max_norm.

    Args:
        parameters: a tensor or tensors (e.g. ``model.parameters()``); those whose grad is
            None are ignored.
        max_norm: the largest allowed total norm.
        norm_type: p of the p-norm; ``float("inf")`` (or ``"inf"``) for the largest |g|.
        error_if_nonfinite: raise if the total norm is NaN or infinite.

    Returns:
        The total norm *before* clipping, as a 0-d Tensor (``.item()`` gives the float):
        worth logging, it shows exploding gradients.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return Tensor(0.0)
    norm_type = float(norm_type)
    xp = get_array_module(with_grad[0].grad.data)
    norms = xp.stack([_vector_norm(p.grad.data, norm_type) for p in with_grad])  # (n,): one norm per tensor
    total_norm = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total_norm)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. Look for a NaN/inf loss or a too-high learning rate; to scale the gradients by the "
            "non-finite norm anyway, set error_if_nonfinite=False"
        )
    coef = xp.minimum(float(max_norm) / (total_norm + 1e-6), 1.0)  # same dtype as the gradients
    for p in with_grad:
        p.grad = Tensor(p.grad.data * coef)
    return Tensor(total_norm)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element into ``[-clip_value, clip_value]``.

    Unlike ``clip_grad_norm_`` this can change the direction of the gradient.

    Args:
        parameters: a tensor or tensors; those whose grad is None are ignored.
        clip_value: the largest allowed |g| (a positive number).
    """
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if p.grad is not None:
            xp = get_array_module(p.grad.data)
            p.grad = Tensor(xp.clip(p.grad.data, -clip_value, clip_value))


def _vector_norm(x: Any, p: float) -> Any:
    """The p-norm of all elements of ``x``, as a 0-d array of x's dtype.

    ``(sum |x|^p) ** (1/p)``; p = inf gives max |x|, p = -inf min |x|, p = 0 the number
    of non-zero elements.
    """
    xp = get_array_module(x)
    a = xp.abs(x).ravel()  # (numel,)
    if a.size == 0:
        return xp.zeros((), dtype=x.dtype)
    if p == float("inf"):
        return a.max()
    if p == float("-inf"):
        return a.min()
    if p == 0:
        return xp.asarray(xp.count_nonzero(a), dtype=x.dtype)
    if p == 2:
        return xp.sqrt((a * a).sum())
    return (a**p).sum() ** (1.0 / p)
