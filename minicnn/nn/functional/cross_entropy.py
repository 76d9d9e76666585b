"""Classification losses: ``cross_entropy`` (from logits) and ``nll_loss`` (from log-probabilities).

Notation:
    N, C    batch and classes.  The input is (N, C); or (N, C, d1, d2, ...) for one prediction
            per position (e.g. per pixel in segmentation); or (C,) for a single sample
    M       rows: one per prediction (N, or N*d1*d2*...), the class axis moved last: (M, C)
    y_i     the target class of row i, an int in 0..C-1 (or ``ignore_index``: row i is skipped)
    w_c     the weight of class c (all 1 when ``weight`` is None)
    eps     ``label_smoothing``

Both losses are minus the (weighted) log-probability of the target.  The "mean" reduction
divides by the total weight of the counted rows, D = sum of w_{y_i} over rows that are not
ignored (simply their number when there are no weights), exactly as PyTorch does.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import shapes
from ...backend import get_array_module
from ...function import Function
from ...tensor import Tensor
from ._common import any_tensor, check_reduction, float_tensor, reduce_loss, unreduce_grad

__all__ = ["cross_entropy", "nll_loss"]


class CrossEntropy(Function):
    """Softmax followed by the negative log-likelihood, fused into one op.

    With p = softmax(z) over the classes of each row and q the row's weighted target
    distribution (the one-hot vector of y_i when there are no weights and no smoothing),

        q_ic = (1 - eps) w_{y_i} [c = y_i] + (eps/C) w_c     (q_i = 0 for an ignored row;
                                                             w_c t_ic for probability targets t)
        log p_ic = z_ic - max_c z_ic - log sum_c e^(z_ic - max_c z_ic)
        loss_i   = - sum_c q_ic log p_ic

    Its gradient needs no division by p, which is why the two ops are fused:

        dloss_i/dz_ic = p_ic * (sum_c' q_ic') - q_ic       = p_i - onehot(y_i)  without weights

    so with the "mean" reduction dL/dz = (softmax(z) - onehot(y)) / N.
    """

    def forward(self, x, *, q, denominator, reduction: str):
        xp = get_array_module(x)
        # nan/inf logits, or a mean over nothing (0/0), give nan quietly, as in PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            z = _rows(x)                                              # (M, C)
            shifted = z - z.max(axis=1, keepdims=True)                # every exponent <= 0
            log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
            losses = -(q * log_p).sum(axis=1)                         # (M,)
            self.save_for_backward(log_p, q, x.shape, denominator, reduction)
            return reduce_loss(losses.reshape(_loss_shape(x.shape)), reduction, denominator)

    def backward(self, gy):
        log_p, q, shape, denominator, reduction = self.saved
        xp = get_array_module(log_p)
        g = xp.exp(log_p) * q.sum(axis=1, keepdims=True) - q          # (M, C): p - onehot
        return _unrows(g * _row_scale(gy, reduction, denominator, g), shape)


class NLLLoss(Function):
    """loss_i = -w_{y_i} x_{i, y_i}  (x holds log-probabilities; 0 for an ignored row).

    Only the target entry of each row is read, so -inf elsewhere (log 0) is harmless:

        dloss_i/dx_ic = -w_{y_i}  if c = y_i,  else 0
    """

    def forward(self, x, *, target, row_weight, denominator, reduction: str):
        xp = get_array_module(x)
        rows = xp.arange(row_weight.shape[0])
        losses = -row_weight * _rows(x)[rows, target]                 # (M,)
        self.save_for_backward(target, row_weight, x.shape, denominator, reduction)
        with np.errstate(invalid="ignore", divide="ignore"):
            return reduce_loss(losses.reshape(_loss_shape(x.shape)), reduction, denominator)

    def backward(self, gy):
        target, row_weight, shape, denominator, reduction = self.saved
        xp = get_array_module(row_weight)
        M, C = row_weight.shape[0], (shape[0] if len(shape) == 1 else shape[1])
        g = xp.zeros((M, C), dtype=row_weight.dtype)                   # (M, C)
        g[xp.arange(M), target] = -row_weight
        return _unrows(g * _row_scale(gy, reduction, denominator, g), shape)


# ---------------------------------------------------------------------- the row layout
def _rows(x):
    """(C,) -> (1, C);  (N, C) stays;  (N, C, d1, ...) -> (N*d1*..., C), the class axis last."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    return get_array_module(x).moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(g, shape: tuple[int, ...]):
    """The inverse of ``_rows``: (M, C) -> the input's shape."""
    if len(shape) <= 2:
        return g.reshape(shape)
    moved = g.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))   # (N, d1, ..., C)
    return get_array_module(g).ascontiguousarray(get_array_module(g).moveaxis(moved, -1, 1))


def _loss_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of the per-row losses: the input's without the class axis."""
    return () if len(shape) == 1 else (shape[0],) + tuple(shape[2:])


def _row_scale(gy, reduction: str, denominator, g):
    """dL/dloss_i as a column that broadcasts over the classes of each row.

    When nothing was counted (D = 0, e.g. every target ignored) the "mean" loss is 0/0 = nan
    as in PyTorch, and the gradient is 0: no row contributed to the loss.
    """
    if reduction == "none":
        return gy.reshape(-1, 1)
    if reduction == "mean" and denominator == 0:
        return gy.dtype.type(0)
    return unreduce_grad(gy, reduction, denominator, g.shape[0], g.dtype)


# ---------------------------------------------------------------------- validation and targets
def _check_input(op: str, x: Any) -> tuple[Tensor, int, tuple[int, ...]]:
    x = float_tensor(op, "input", x)
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class axis, (N, C) or (C,), got a scalar")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    return x, C, _loss_shape(x.shape)


def _class_indices(op: str, x: Tensor, C: int, target: Tensor, ignore_index: int) -> Any:
    """The (M,) int array of target classes, after checking dtype, shape and range."""
    expected = _loss_shape(x.shape)
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: target must hold class indices as integers (int64), got {target.dtype}; "
            f"convert it with target.long()")
    if target.shape != expected:
        raise ValueError(
            f"{op}: input {x.shape} needs a target of shape {expected} (one class index per "
            f"prediction), got {target.shape}")
    t = target.data.reshape(-1)
    xp = get_array_module(t)
    bad = ((t < 0) | (t >= C)) & (t != ignore_index)
    if bool(bad.any()):
        label = int(t[xp.argmax(bad)])
        raise ValueError(
            f"{op}: target holds label {label} but the input {x.shape} has {C} classes: labels must "
            f"be 0..{C - 1} (or ignore_index={ignore_index} to skip a prediction)")
    return t


def _class_weight(op: str, x: Tensor, C: int, weight: Any) -> Any:
    """The (C,) class weights (ones when None), checked against the input."""
    xp = get_array_module(x.data)
    if weight is None:
        return xp.ones(C, dtype=x.dtype)
    w = float_tensor(op, "weight", weight).data
    if w.shape != (C,):
        raise ValueError(f"{op}: weight must have shape ({C},), one value per class, got {w.shape}")
    shapes.check_same_float_dtype(op, input=x.data, weight=w)
    return w


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) and the targets (PyTorch's ``F.cross_entropy``).

    Args:
        input: logits (unnormalised scores), (N, C), (N, C, d1, ...) or (C,).
        target: class indices, int, (N,), (N, d1, ...) or () -- or class probabilities, float,
            the shape of ``input``.
        weight: (C,) rescaling weight per class, or None.
        ignore_index: a target value that is skipped (no loss, no gradient, not counted in
            the mean).  Only for class-index targets.
        reduction: "mean" (divided by the total weight of the counted targets; by the number
            of predictions for probability targets), "sum" or "none" (one loss per prediction).
        label_smoothing: eps in [0, 1]: the target becomes (1 - eps) * onehot + eps/C.

    Returns:
        a scalar, or for "none" a tensor of shape (N,) / (N, d1, ...) / ().
    """
    op = "cross_entropy"
    check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0 and 1, got {label_smoothing}")
    x, C, loss_shape = _check_input(op, input)
    target = any_tensor(op, "target", target)
    w = _class_weight(op, x, C, weight)
    eps = float(label_smoothing)
    xp = get_array_module(x.data)
    if target.dtype.kind == "f" and target.shape == x.shape:
        # class probabilities t: q_ic = w_c t_ic, mean over the M predictions
        shapes.check_same_float_dtype(op, input=x.data, target=target.data)
        t = _rows(target.data)
        if eps > 0:
            t = t * (1 - eps) + eps / C
        q = t * w
        denominator = q.shape[0]
    else:
        t = _class_indices(op, x, C, target, ignore_index)          # (M,)
        counted = t != ignore_index
        safe = xp.where(counted, t, 0)                               # any valid class for ignored rows
        w_y = w[safe] * counted                                      # (M,) weight of each row's target
        q = xp.zeros((t.shape[0], C), dtype=x.dtype)
        q[xp.arange(t.shape[0]), safe] = (1 - eps) * w_y
        if eps > 0:
            q += (eps / C) * w * counted[:, None]
        denominator = w_y.sum()
    return CrossEntropy.apply(x, q=q, denominator=denominator, reduction=reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes (PyTorch's ``F.nll_loss``).

    ``nll_loss(log_softmax(x, dim=1), y)`` equals ``cross_entropy(x, y)``.

    Args:
        input: log-probabilities, (N, C), (N, C, d1, ...) or (C,).
        target: class indices, int, (N,), (N, d1, ...) or ().
        weight, ignore_index, reduction: as for ``cross_entropy``.

    Returns:
        a scalar, or for "none" a tensor of shape (N,) / (N, d1, ...) / ().
    """
    op = "nll_loss"
    check_reduction(op, reduction)
    x, C, _ = _check_input(op, input)
    target = any_tensor(op, "target", target)
    w = _class_weight(op, x, C, weight)
    t = _class_indices(op, x, C, target, ignore_index)
    counted = t != ignore_index
    safe = get_array_module(t).where(counted, t, 0)
    row_weight = w[safe] * counted                                   # (M,) w_{y_i}, 0 if ignored
    return NLLLoss.apply(x, target=safe, row_weight=row_weight, denominator=row_weight.sum(),
                         reduction=reduction)
