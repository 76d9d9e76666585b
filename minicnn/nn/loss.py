"""Loss functions as modules: ``criterion = CrossEntropyLoss(); loss = criterion(scores, labels)``.

Each wraps the function of the same name in ``minicnn.nn.functional``, where the formula
and its gradient are written out.  ``reduction`` is ``"mean"`` (default: average over the
batch), ``"sum"`` or ``"none"`` (one loss per sample).
"""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "SmoothL1Loss", "BCEWithLogitsLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction


class CrossEntropyLoss(_Loss):
    """Softmax + negative log-likelihood in one stable step: the classification loss.

    loss_n = -log softmax(x_n)[y_n] = -x_n[y_n] + log sum_c e^(x_n[c])

    Args:
        weight: optional (C,) per-class weights (a buffer, so it is saved and moved with the model).
        ignore_index: targets equal to this are skipped (default -100).
        reduction: "mean" | "sum" | "none".
        label_smoothing: in [0, 1]; mixes the one-hot target with a uniform distribution.

    Shape:
        input: (N, C) raw scores (logits, not probabilities); target: (N,) int64 class indices.
        output: scalar, or (N,) with reduction="none".
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002  (PyTorch's names)
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities: loss_n = -input[n, target[n]].

    Use after ``LogSoftmax(dim=1)``; ``CrossEntropyLoss`` does both in one step.
    Shape: input (N, C) log-probabilities, target (N,) int64  ->  scalar or (N,).
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error: loss = mean of (input - target)^2 over all elements.  Shapes: (*) and (*)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Huber-like loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta  (d = input - target).

    Quadratic near zero (smooth gradient), linear far away (robust to outliers); used for
    bounding-box regression.  Shapes: (*) and (*).
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta}")
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable step, for yes/no (multi-label) targets.

    loss = -[ pos_weight * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x)) ] * weight

    Args:
        weight: optional per-element weight, broadcast to the input (a buffer).
        reduction: "mean" | "sum" | "none".
        pos_weight: optional (C,) weight of the positive examples per class (a buffer).

    Shape: input (*) raw scores, target (*) floats in [0, 1]  ->  scalar or (*).
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
