"""Adam and AdamW: momentum plus a per-element step size from the gradient's running RMS."""
from __future__ import annotations

import math
from typing import Any, Iterable

from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), PyTorch's ``torch.optim.Adam`` algorithm.

    Notation:
        g: the gradient; t: the step count, 1 at the first step
        m: running mean of g (first moment);  v: running mean of g^2 (second moment)
        beta1, beta2: how slowly m and v forget; both start at 0

    At every step, for each parameter p::

        g <- -g                              if maximize
        g <- g + weight_decay * p            L2 regularisation added to the gradient
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        v_max <- max(v_max, v), and v_max replaces v below     if amsgrad
        m_hat = m / (1 - beta1^t)            bias correction: m and v started at 0
        v_hat = v / (1 - beta2^t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    Each element moves by about ``lr`` whatever the scale of its gradient: the division by
    sqrt(v_hat) normalises it.

    Args:
        params: tensors to optimize, or parameter-group dicts (see ``Optimizer``).
        lr: learning rate.  Default: 1e-3.
        betas: (beta1, beta2).  Default: (0.9, 0.999).
        eps: added to the denominator so it is never 0.  Default: 1e-8.
        weight_decay: L2 penalty added to the gradient.  Default: 0.  (For decoupled
            weight decay, which works better with Adam, use ``AdamW``.)
        amsgrad: use the maximum of all v so far (AMSGrad).  Default: False.
        maximize: ascend the objective instead of descending it.  Default: False.

    State (per parameter): ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v), and
    ``max_exp_avg_sq`` (v_max) with amsgrad.
    """

    decoupled_weight_decay = False  # AdamW sets this

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        beta1, beta2 = options["betas"]
        if options["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {options['lr']} (it must be >= 0; 1e-3 is common for Adam)")
        if options["eps"] < 0.0:
            raise ValueError(f"Invalid epsilon value: {options['eps']} (it must be >= 0, e.g. 1e-8)")
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1} (it must be in [0, 1), e.g. 0.9)")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2} (it must be in [0, 1), e.g. 0.999)")
        if options["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']} (it must be >= 0)")

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:  # first step: the moments start at zero
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                p.data *= 1 - lr * weight_decay  # AdamW: shrink p directly, g is untouched
            else:
                g = g + weight_decay * p.data  # Adam: L2 term in the gradient (a new array)

        state["step"] += 1
        t = state["step"]
        m = state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
        v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)

        # lr * m_hat / (sqrt(v_hat) + eps), computed as PyTorch does: the bias corrections are
        # folded into Python-float scalars, step_size = lr / (1 - beta1^t) and sqrt(1 - beta2^t).
        step_size = lr / (1 - beta1**t)
        denom = xp.sqrt(v) / math.sqrt(1 - beta2**t) + eps
        p.data -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Adam's L2 term ``g + wd * p`` is divided by sqrt(v_hat) like the rest of the gradient,
    so parameters with large gradients are barely regularised.  AdamW instead shrinks
    every parameter by the same factor before the Adam step::

        p <- p * (1 - lr * weight_decay)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)      (Adam, with no L2 term in g)

    Args:
        same as ``Adam``, but ``weight_decay`` defaults to 1e-2.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
