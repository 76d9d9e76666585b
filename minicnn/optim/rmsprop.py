"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""
from __future__ import annotations

from typing import Any, Iterable

from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), PyTorch's ``torch.optim.RMSprop`` algorithm.

    Notation:
        g: the gradient;  v: running mean of g^2;  g_avg: running mean of g (centered only)
        alpha: smoothing constant, how slowly v forgets;  b: momentum buffer

    At every step, for each parameter p::

        g <- -g                              if maximize
        g <- g + weight_decay * p            L2 regularisation added to the gradient
        v <- alpha * v + (1 - alpha) * g^2
        if centered:                         divide by an estimate of the std, not the RMS
            g_avg <- alpha * g_avg + (1 - alpha) * g
            v_tilde = v - g_avg^2
        else:
            v_tilde = v
        if momentum > 0:
            b <- momentum * b + g / (sqrt(v_tilde) + eps)
            p <- p - lr * b
        else:
            p <- p - lr * g / (sqrt(v_tilde) + eps)

    v, g_avg and b start at zero.

    Args:
        params: tensors to optimize, or parameter-group dicts (see ``Optimizer``).
        lr: learning rate.  Default: 1e-2.
        alpha: smoothing constant.  Default: 0.99.
        eps: added to the denominator so it is never 0.  Default: 1e-8.
        weight_decay: L2 penalty added to the gradient.  Default: 0.
        momentum: momentum factor.  Default: 0.
        centered: normalise by the gradient's estimated variance.  Default: False.
        maximize: ascend the objective instead of descending it.  Default: False.

    State (per parameter): ``step``, ``square_avg`` (v), ``momentum_buffer`` (b) when
    momentum > 0, ``grad_avg`` (g_avg) when centered.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        if options["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {options['lr']} (it must be >= 0; 1e-2 is the default)")
        if options["eps"] < 0.0:
            raise ValueError(f"Invalid epsilon value: {options['eps']} (it must be >= 0, e.g. 1e-8)")
        if options["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {options['momentum']} (it must be >= 0, e.g. 0.9)")
        if options["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']} (it must be >= 0)")
        if options["alpha"] < 0.0:
            raise ValueError(f"Invalid alpha value: {options['alpha']} (it must be >= 0, e.g. 0.99)")

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        if not state:  # first step: the running averages start at zero
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.data)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.data)

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            g = g + weight_decay * p.data  # a new array: p.grad is never changed
        state["step"] += 1

        v = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * g * g
        if group["centered"]:
            g_avg = state["grad_avg"] = alpha * state["grad_avg"] + (1 - alpha) * g
            v = v - g_avg * g_avg  # variance = E[g^2] - E[g]^2
        denom = xp.sqrt(v) + eps

        if momentum > 0:
            buf = state["momentum_buffer"] = momentum * state["momentum_buffer"] + g / denom
            p.data -= lr * buf
        else:
            p.data -= lr * g / denom
