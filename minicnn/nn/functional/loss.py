"""Elementwise losses: mse_loss, smooth_l1_loss, binary_cross_entropy_with_logits.

Each compares an input x with a target y of the same shape, element by element, and then
reduces: "mean" (the average over all elements), "sum", or "none" (the per-element losses).
Notation: d = x - y; n = the number of elements; gy = dL/d(loss) arrives from above.
(Class-index losses -- cross_entropy, nll_loss -- are in cross_entropy.py.)
"""
from __future__ import annotations

from typing import Any

from ... import shapes
from ...backend import get_array_module
from ...function import Function
from ...tensor import Tensor
from ._common import check_reduction, float_tensor, reduce_loss, unreduce_grad

__all__ = ["mse_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits"]


class MSELoss(Function):
    """loss = reduce(d^2), the squared L2 error;  dloss/dx = 2 d (/ n for "mean"),  dloss/dy = -dloss/dx."""

    def forward(self, x, y, *, reduction: str):
        d = x - y
        self.save_for_backward(d, reduction)
        return reduce_loss(d * d, reduction)

    def backward(self, gy):
        d, reduction = self.saved
        g = 2 * d * unreduce_grad(gy, reduction, None, d.size, d.dtype)
        return (g if self.needs_input_grad[0] else None, -g if self.needs_input_grad[1] else None)


class SmoothL1Loss(Function):
    """Huber-like loss: quadratic near 0, linear beyond ``beta`` (so outliers pull less).

        loss = 0.5 d^2 / beta     if |d| < beta
               |d| - 0.5 beta     otherwise
        dloss/dx = d / beta if |d| < beta, else sign(d)   -- i.e. clip(d / beta, -1, 1)

    With beta = 0 it is the L1 loss |d| with gradient sign(d), as in PyTorch.
    """

    def forward(self, x, y, *, reduction: str, beta: float):
        xp = get_array_module(x)
        d = x - y
        a = xp.abs(d)
        if beta == 0:
            losses = a
        else:
            b = x.dtype.type(beta)
            losses = xp.where(a < b, 0.5 * d * d / b, a - 0.5 * b)
        self.save_for_backward(d, reduction, beta)
        return reduce_loss(losses, reduction)

    def backward(self, gy):
        d, reduction, beta = self.saved
        xp = get_array_module(d)
        slope = xp.sign(d) if beta == 0 else xp.clip(d / d.dtype.type(beta), -1, 1)
        g = slope * unreduce_grad(gy, reduction, None, d.size, d.dtype)
        return (g if self.needs_input_grad[0] else None, -g if self.needs_input_grad[1] else None)


class BCEWithLogits(Function):
    """Binary cross-entropy of sigmoid(x) against y in [0, 1], fused and stable.

    With s = sigmoid(x) the loss is -[y log s + (1 - y) log(1 - s)].  Since
    log s = -softplus(-x) and log(1 - s) = -x - softplus(-x), it equals

        loss = (1 - y) x + softplus(-x)  =  max(x, 0) - x y + log(1 + e^-|x|)

    using softplus(-x) = log(1 + e^-x) = max(-x, 0) + log(1 + e^-|x|), which never
    exponentiates a positive number.  With pos_weight p the positive term is scaled,
    l = 1 + (p - 1) y, and an element weight w scales everything:

        loss     = w [(1 - y) x + l softplus(-x)]
        dloss/dx = w [(1 - y) - l (1 - s)]          = w (s - y)  when p = 1
        dloss/dy = w [-x + (p - 1) softplus(-x)]
    """

    def forward(self, x, y, *, weight, pos_weight, reduction: str):
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))                             # e^-|x| in (0, 1]: never overflows
        softplus_neg = xp.maximum(-x, 0) + xp.log1p(e)    # log(1 + e^-x)
        l = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
        losses = (1 - y) * x + l * softplus_neg
        if weight is not None:
            losses = losses * weight
        self.save_for_backward(x, y, e, softplus_neg, weight, pos_weight, reduction)
        return reduce_loss(losses, reduction)

    def backward(self, gy):
        x, y, e, softplus_neg, weight, pos_weight, reduction = self.saved
        xp = get_array_module(x)
        scale = unreduce_grad(gy, reduction, None, x.size, x.dtype)
        if weight is not None:
            scale = scale * weight
        gx = gt = None
        if self.needs_input_grad[0]:
            s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))  # sigmoid(x), stable on both sides
            gx = (s - y) if pos_weight is None else (1 - y) - (1 + (pos_weight - 1) * y) * (1 - s)
            gx = gx * scale
        if self.needs_input_grad[1]:
            gt = -x if pos_weight is None else -x + (pos_weight - 1) * softplus_neg
            gt = gt * scale
        return gx, gt


def _pair_of_tensors(op: str, input: Any, target: Any) -> tuple[Tensor, Tensor]:
    x = float_tensor(op, "input", input)
    y = float_tensor(op, "target", target)
    if x.shape != y.shape:
        raise ValueError(
            f"{op}: input {x.shape} and target {y.shape} must have the same shape (PyTorch would "
            f"broadcast them with a warning, which is almost always a bug); e.g. reshape the "
            f"target with target.reshape{x.shape}")
    shapes.check_same_float_dtype(op, input=x.data, target=y.data)
    return x, y


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (the L2 loss): reduce((input - target)^2).

    Args:
        input, target: tensors of one shape (any).
        reduction: "mean", "sum" or "none".
    """
    check_reduction("mse_loss", reduction)
    x, y = _pair_of_tensors("mse_loss", input, target)
    return MSELoss.apply(x, y, reduction=reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1 loss: 0.5 d^2/beta for |d| < beta, else |d| - 0.5 beta (see ``SmoothL1Loss``).

    Args:
        input, target: tensors of one shape (any).
        reduction: "mean", "sum" or "none".
        beta: where the loss turns from quadratic to linear, >= 0.
    """
    check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    x, y = _pair_of_tensors("smooth_l1_loss", input, target)
    return SmoothL1Loss.apply(x, y, reduction=reduction, beta=float(beta))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy from logits (PyTorch's ``F.binary_cross_entropy_with_logits``).

    For a logistic neuron with target 1 the gradient is sigmoid(x) - 1: the lecture's
    "(p - 1) x" once it is multiplied by the neuron's input.

    Args:
        input: logits x, any shape, e.g. (N,) or (N, C) for C independent yes/no labels.
        target: y in [0, 1], the shape of ``input`` (floats; 0/1 labels or soft labels).
        weight: a per-element weight, broadcastable to the input, or None.
        reduction: "mean", "sum" or "none".
        pos_weight: a weight for the positive term, broadcastable to the input -- usually
            (C,), e.g. (number of negatives / number of positives) per label.
    """
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    x = float_tensor(op, "input", input)
    y = float_tensor(op, "target", target)
    if x.shape != y.shape:
        raise ValueError(f"{op}: target size {y.shape} must be the same as input size {x.shape}")
    arrays = {"input": x.data, "target": y.data}
    for name, w in (("weight", weight), ("pos_weight", pos_weight)):
        if w is not None:
            arrays[name] = float_tensor(op, name, w).data
            if shapes.broadcast_shape(op, arrays[name].shape, x.shape) != x.shape:
                raise ValueError(
                    f"{op}: {name} {arrays[name].shape} must broadcast to the input shape {x.shape} "
                    f"without enlarging it")
    shapes.check_same_float_dtype(op, **arrays)
    return BCEWithLogits.apply(x, y, weight=arrays.get("weight"), pos_weight=arrays.get("pos_weight"),
                               reduction=reduction)
