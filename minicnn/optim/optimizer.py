"""``Optimizer``: the base class that turns gradients into parameter updates.

After ``loss.backward()`` every parameter ``p`` holds ``p.grad = dL/dp``.  An optimizer
walks over its parameters and applies an update rule, the simplest being gradient descent::

    p <- p - lr * dL/dp

The rule itself lives in a subclass (``SGD``, ``Adam``, ...), in ``_update``, written for
one parameter at a time.  This base class does the bookkeeping every rule shares:

- parameter groups: each group of parameters has its own options (``lr``,
  ``weight_decay``, ...) and falls back to the optimizer's defaults for the rest.
  Fine-tuning uses this: a high lr for the new head, a low one for the pretrained body::

      SGD([{"params": model.features.parameters(), "lr": 1e-4},
           {"params": model.classifier.parameters()}], lr=1e-2, momentum=0.9)

- per-parameter state (momentum buffers, running averages) in ``self.state[p]``;
- ``zero_grad``, ``step``, and ``state_dict`` / ``load_state_dict`` so that training can
  stop and resume bit-for-bit.

Two rules keep updates safe:

- updates change ``p.data`` in place (so a model and its optimizer keep sharing the same
  arrays) but never ``p.grad.data``: the autograd engine may hand one gradient array to
  several tensors, so ``d_p = g + wd * p`` is always a new array;
- hyperparameters enter the arithmetic as Python floats, so float32 stays float32
  (NumPy 2 would promote ``float32_array * np.float64(0.1)`` to float64).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from ..backend import Device, get_array_module, to_device
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: the tensors to optimize (e.g. ``model.parameters()``), or a list of dicts,
            one per parameter group: ``{"params": [...], "lr": 0.01, ...}``.  Options a
            group does not give are taken from ``defaults``.
        defaults: the default value of every option of this optimizer.

    Attributes:
        param_groups: list of dicts, each with a ``"params"`` list and all the options.
        state: per-parameter state, ``state[p] = {"step": 3, "exp_avg": array, ...}``.
        defaults: the options given to the constructor.

    Subclasses implement ``_update(p, grad, state, group)`` and may check their options in
    ``_check_options(options)``.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                f"but got a Tensor of shape {params.shape}. Wrap it in a list, e.g. SGD([w], lr=0.1)"
            )
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError(
                "optimizer got an empty parameter list. Does the model have parameters? "
                "(model.parameters() is a generator: it is empty the second time it is used)"
            )
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a layer unfrozen later).

        Raises:
            TypeError: if ``param_group`` is not a dict or holds something that is not a Tensor.
            ValueError: for a non-leaf tensor, a tensor already in another group, or an
                invalid option value.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict such as {{'params': [...], 'lr': 0.01}}, "
                            f"but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a parameter group needs a 'params' entry, e.g. "
                             "{'params': model.classifier.parameters(), 'lr': 0.01}")
        group = dict(param_group)  # a copy: the caller's dict is left as it was
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets changes between runs. Please use a list instead.")
        group["params"] = list(params)

        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed by an operation): its values "
                                 "are recomputed by every forward pass. Optimize the leaf tensors it was "
                                 "computed from, or make it a leaf with t = t.detach().requires_grad_()")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_options(group)

        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids):
            raise ValueError("a parameter group lists the same tensor twice; it would be updated twice per step")
        in_other_groups = {id(p) for g in self.param_groups for p in g["params"]}
        if in_other_groups.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError for an invalid option value (subclasses check their own options)."""

    # ------------------------------------------------------------------ the update
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next ``backward()`` (which would add to them).

        Args:
            set_to_none: set ``p.grad = None`` (the default, like PyTorch), so ``step``
                skips parameters that get no new gradient.  ``False`` gives zero arrays.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:  # a new array: the old one may be shared with another tensor's grad
                    p.grad = Tensor(get_array_module(p.grad.data).zeros_like(p.grad.data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if one is given.

        Parameters whose ``grad`` is None (not used by the loss, or ``zero_grad`` then no
        backward) or that do not require grad (frozen) are left unchanged.

        Args:
            closure: optional function that re-evaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None or not p.requires_grad:
                        continue
                    grad = p.grad.data
                    if grad.shape != p.data.shape:
                        raise ValueError(f"{type(self).__name__}.step: a parameter of shape {p.shape} "
                                         f"has a gradient of shape {tuple(grad.shape)}")
                    if grad.dtype != p.dtype:
                        grad = grad.astype(p.dtype)  # state arrays follow the parameter's dtype
                    self._update(p, grad, self.state[p], group)
        return loss

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Apply the update rule to one parameter: change ``p.data`` in place, never ``grad``.

        Args:
            p: the parameter.
            grad: ``dL/dp`` as an array of ``p``'s shape and dtype (read only).
            state: this parameter's state dict (empty at its first step), kept across steps.
            group: the options of ``p``'s parameter group (``group["lr"]``, ...).
        """
        raise NotImplementedError(f"{type(self).__name__}._update")

    # ------------------------------------------------------------------ saving and resuming
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data: NumPy arrays, numbers, booleans, lists, dicts.

        Parameters are referred to by their position (0, 1, 2, ... over all groups in
        order), as in PyTorch, because tensors cannot be saved by identity::

            {"state": {0: {"momentum_buffer": array}, 1: {...}},
             "param_groups": [{"lr": 0.1, "momentum": 0.9, ..., "params": [0, 1]}]}

        Arrays are copies on the CPU, so later steps do not change a saved state.
        """
        index: dict[int, int] = {}  # id(param) -> its position over all groups
        groups = []
        for group in self.param_groups:
            packed = {key: _plain(value) for key, value in group.items() if key != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {key: _plain(value) for key, value in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (possibly after a save/load round trip).

        The optimizer must have been built with the same parameter groups, in the same
        order and sizes.  State arrays are copied to each parameter's dtype and device.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups: "
                             f"{len(saved_groups)} saved, {len(self.param_groups)} in this optimizer")
        by_index: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group: group {i} has {len(saved['params'])} parameters saved "
                                 f"and {len(group['params'])} in this optimizer")
            for p, position in zip(group["params"], saved["params"]):
                by_index[int(position)] = p

        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for position, saved_state in state_dict["state"].items():
            if int(position) not in by_index:
                raise ValueError(f"loaded state dict has state for parameter {position}, "
                                 f"which no parameter group lists")
            p = by_index[int(position)]
            state[p] = {key: _restore(value, p, key) for key, value in saved_state.items()}

        groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            restored = {key: _restore_option(value, group.get(key)) for key, value in saved.items() if key != "params"}
            restored["params"] = group["params"]
            groups.append(restored)
        self.state = state
        self.param_groups = groups


def _plain(value: Any) -> Any:
    """A state or option value as plain data: CPU NumPy copies, Python numbers, lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a NumPy or CuPy array
        return np.array(to_device(value, Device("cpu")))
    return value


def _restore(value: Any, p: Tensor, key: str) -> Any:
    """A saved state value for parameter ``p``: arrays of p's shape go to p's dtype and device."""
    if isinstance(value, Tensor):
        value = value.data
    if not hasattr(value, "shape"):
        return value  # a number, e.g. "step"
    if tuple(value.shape) == p.shape:
        return get_array_module(p.data).array(value, dtype=p.dtype)  # a copy, on p's device
    if value.ndim == 0:
        return value.item()  # a number that went through an array-only format
    raise ValueError(f"loaded state {key!r} has shape {tuple(value.shape)} but its parameter has shape {p.shape}: "
                     "was the state dict saved from a different model?")


def _restore_option(value: Any, current: Any) -> Any:
    """A saved group option as a Python value; lists become tuples where the option is one (betas)."""
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(value)
    return value
