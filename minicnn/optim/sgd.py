"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's ``torch.optim.SGD`` algorithm).

    For each parameter p with gradient g, at every step::

        g <- -g                                  if maximize
        g <- g + weight_decay * p                L2 regularisation (gradient of wd/2 * |p|^2)
        if momentum != 0:
            b <- g                               at the first step
            b <- momentum * b + (1 - dampening) * g   afterwards (the "velocity")
            g <- g + momentum * b                if nesterov: look one step ahead
            g <- b                               otherwise
        p <- p - lr * g

    Args:
        params: tensors to optimize, or parameter-group dicts (see ``Optimizer``).
        lr: learning rate.  Default: 1e-3.
        momentum: momentum factor (0.9 is the usual choice).  Default: 0.
        dampening: scales down the new gradient in the velocity.  Default: 0.
        weight_decay: L2 penalty added to the gradient.  Default: 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).  Default: False.
        maximize: ascend the objective instead of descending it.  Default: False.

    State (per parameter): ``momentum_buffer`` (the velocity b), when momentum != 0.

    Example:
        >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        if options["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {options['lr']} (it must be >= 0; 0.1 or 0.01 are common)")
        if options["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {options['momentum']} (it must be >= 0, e.g. 0.9)")
        if options["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']} (it must be >= 0, e.g. 5e-4)")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening "
                f"(got momentum={options['momentum']}, dampening={options['dampening']}; "
                "e.g. SGD(params, lr=0.1, momentum=0.9, nesterov=True))"
            )

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])

        d_p = -grad if group["maximize"] else grad
        if weight_decay != 0:
            d_p = d_p + weight_decay * p.data  # a new array: p.grad is never changed
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = d_p.copy()  # the first velocity is the gradient itself
            else:
                buf = momentum * buf + (1 - dampening) * d_p
            state["momentum_buffer"] = buf
            d_p = d_p + momentum * buf if group["nesterov"] else buf
        p.data -= lr * d_p
