"""The graph walk of reverse-mode autograd: ``Tensor.backward()`` calls ``run_backward``.

The graph: every tensor made by an op has ``grad_fn`` (the ``Function`` that made it),
which has ``inputs``.  ``run_backward`` orders the tensors so that each comes after every
tensor computed from it, then visits them output-first, handing each op dL/d(its output)
and adding what its ``backward`` returns into the gradients of its inputs: the chain rule,

    dL/dx = sum over every op f that used x of  (dL/df) * (df/dx)
"""
from __future__ import annotations

from typing import Any

from . import anomaly, grad_mode
from .tensor import Tensor

__all__ = ["run_backward"]


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors of the graph behind ``root``, every tensor after all of its inputs.

    An explicit stack instead of recursion, so a chain of 100,000 ops does not hit
    Python's recursion limit; a tensor used twice (a shared sub-graph) appears once.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node.grad_fn is not None:
            for inp in node.grad_fn.inputs:
                if inp.requires_grad and id(inp) not in visited:
                    stack.append((inp, False))
    return order


def run_backward(root: Tensor, grad: Any, retain_graph: bool) -> None:
    """Reverse-mode sweep: visit tensors output-first, hand each op ``dL/d(output)``.

    ``grads`` maps a tensor to the sum of the gradients flowing into it so far; by the
    time a tensor is visited every consumer has contributed, because consumers come
    later in the topological order.  Sums are formed out of place, so one gradient array
    may be shared between inputs (``a + b`` passes the same array to both) safely.
    ``owned`` holds the keys whose array was made in this sweep for that tensor alone
    (a sum, or a ``Function.fresh_gradients`` result): a leaf's ``.grad`` takes those
    without a copy.
    """
    grads: dict[int, Any] = {id(root): grad}
    owned: set[int] = set()
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node.grad_fn is None or node._retains_grad:
            _accumulate_grad(node, g, owned=node.grad_fn is None and id(node) in owned)
        fn = node.grad_fn
        if fn is None:
            continue
        if fn.saved is None:
            raise RuntimeError(
                f"trying to backward through the graph a second time (at {type(fn).__name__}): "
                "its saved arrays were freed after the first backward. "
                "Pass retain_graph=True to the first backward() if you need to call it twice."
            )
        with grad_mode.no_grad():
            input_grads = fn.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if anomaly.is_anomaly_enabled():
            anomaly.check_backward(type(fn).__name__, fn, g, input_grads)
        if len(input_grads) != len(fn.inputs):
            raise RuntimeError(
                f"{type(fn).__name__}.backward returned {len(input_grads)} gradients "
                f"for {len(fn.inputs)} inputs"
            )
        for inp, ig in zip(fn.inputs, input_grads):
            if ig is None or not inp.requires_grad:
                continue
            if ig.shape != inp.data.shape:
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned a gradient of shape {ig.shape} "
                    f"for an input of shape {inp.shape}"
                )
            fresh = fn.fresh_gradients
            if ig.dtype != inp.dtype:
                ig, fresh = ig.astype(inp.dtype), True
            key = id(inp)
            if key in grads:
                grads[key], fresh = grads[key] + ig, True
            else:
                grads[key] = ig
            if fresh:
                owned.add(key)
            else:
                owned.discard(key)
        if not retain_graph:
            # Free the saved arrays and the links to the inputs: the input tensors hold the
            # activations (the bulk of the memory), and while the output of the graph is alive
            # these links would keep every one of them alive.
            fn.saved = None
            fn.inputs = ()


def _accumulate_grad(t: Tensor, g: Any, owned: bool = False) -> None:
    """``t.grad += g``, out of place (``g`` may be shared with another tensor unless ``owned``)."""
    if t.grad is None:
        # A copy: g may be shared (a + b hands the same array to both inputs), read-only
        # (broadcast_to in Sum's backward) or the caller's array; .grad must be its own.
        t.grad = Tensor(g if owned else g.copy())
    else:
        t.grad = Tensor(t.grad.data + g)
