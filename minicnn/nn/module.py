"""``Module``: the base class of every layer and model.

A Module is a tree.  Assigning to an attribute registers what is assigned::

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)        # a sub-Module   -> _modules["conv"]
            self.scale = nn.Parameter(ones(1))    # a Parameter    -> _parameters["scale"]
            self.register_buffer("steps", zeros(1, dtype="int64"))   # a buffer -> _buffers

        def forward(self, x):
            return self.conv(x) * self.scale

Everything else in this file walks that tree: ``parameters()`` (what an optimizer updates),
``state_dict()`` (what a checkpoint stores: parameters *and* buffers, under dotted names like
``features.0.weight``), ``train()/eval()``, ``freeze()``, ``to("cuda")``.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..backend import Device, device, to_device
from ..tensor import Tensor
from .parameter import Parameter
from .state_dict import IncompatibleKeys, check_state_dict, copy_state_dict

__all__ = ["Module", "IncompatibleKeys", "RemovableHandle"]

_hook_ids = itertools.count()  # unique keys for registered hooks


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: dict[int, Callable], key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class Module:
    """Base class for layers and models: subclass it, assign layers in ``__init__``, write ``forward``.

    Attributes:
        training: True in training mode (Dropout drops, BatchNorm uses batch statistics),
            False after ``eval()``.  Set for the whole tree with ``train()`` / ``eval()``.
    """

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ------------------------------------------------------------------ forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} has no forward(): define `def forward(self, x):` in your Module subclass"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``module(x)`` runs ``forward(x)``, then any forward hooks ``hook(module, args, output)``."""
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:  # a hook may replace the output
                output = result
        return output

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward (used by ``minicnn.summary``)."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        modules = self.__dict__.get("_modules")
        buffers = self.__dict__.get("_buffers")
        if isinstance(value, (Parameter, Module)) and params is None:
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before Module.__init__() ran: "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if isinstance(value, Parameter):
            self._forget(name, keep=params)
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to parameter '{name}' of {type(self).__name__}: "
                    f"expected a Parameter or None (wrap it: nn.Parameter(value))"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name, keep=modules)
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to sub-module '{name}' of {type(self).__name__}: "
                    "expected a Module or None"
                )
            modules[name] = None
        elif buffers is not None and name in buffers:
            buffers[name] = _as_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the three registries.
        # self.__dict__.get (not self._parameters) keeps copy/pickle of a half-built object safe.
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry)
            if found is not None and name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:  # tab completion shows layers and parameters
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def _forget(self, name: str, keep: dict | None = None) -> None:
        """Unregister ``name`` everywhere except ``keep``, the registry it is about to be written to
        (so replacing ``model[-1]`` keeps its position in ``_modules``)."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent_buffers.discard(name)

    def _check_new_name(self, kind: str, name: str, registry: dict) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")
        taken = name in self.__dict__ or hasattr(type(self), name) or any(
            name in other for other in (self._parameters, self._buffers, self._modules) if other is not registry
        )
        if taken:
            raise KeyError(f"attribute '{name}' already exists on {type(self).__name__}; pick another {kind} name")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, a placeholder such as a missing bias) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot register a parameter before Module.__init__() ran")
        self._check_new_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected a Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` under ``name`` (names like ``"0"`` are fine, unlike attributes)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): expected a Module, got {type(module).__name__}")
        self._check_new_name("module", name, self._modules)
        self._modules[name] = module

    register_module = add_module

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register a non-trainable tensor (e.g. BatchNorm's ``running_mean``).

        Buffers move with ``to()`` and are saved in ``state_dict()`` (unless
        ``persistent=False``), but are not in ``parameters()``: no optimizer touches them.
        ``tensor`` may be a Tensor, an array, or None (a placeholder, not saved).
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot register a buffer before Module.__init__() ran")
        self._check_new_name("buffer", name, self._buffers)
        self._buffers[name] = _as_buffer(name, tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    # ------------------------------------------------------------------ walking the tree
    def named_modules(self, prefix: str = "", memo: set[int] | None = None) -> Iterator[tuple[str, Module]]:
        """``(dotted_name, module)`` for this module (name ``prefix``) and every descendant, once each."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules (not their descendants)."""
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()  # a tensor shared by two layers is yielded once (optimizers rely on it)
        walk = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in walk:
            for name, t in getattr(module, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, parameter)``, e.g. ``("features.0.weight", Parameter)``."""
        yield from self._named_members("_parameters", prefix, recurse)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of the tree, each once: what you hand to an optimizer."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the model learns (each shared parameter counted once)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module (children first) and then on self; returns self.

        Example: ``model.apply(init_weights)`` to re-initialise every Conv2d your own way.
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode for this module and all below it."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be True or False, got {mode!r}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: Dropout passes inputs through, BatchNorm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def freeze(self) -> Module:
        """Stop training these parameters (``requires_grad=False``); returns self.

        Backward then skips every op whose inputs are all frozen (see ``Function.apply``),
        so frozen layers cost no gradient work, keep ``grad=None`` and are not updated.
        Typical fine-tuning: ``model.features.freeze()`` and train only the classifier.
        """
        return self.requires_grad_(False)

    def unfreeze(self) -> Module:
        """Train these parameters again (``requires_grad=True``); returns self."""
        return self.requires_grad_(True)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient before the next backward (which would add to it).

        ``grad = None`` by default (as PyTorch); ``set_to_none=False`` fills existing grads with 0.
        """
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ------------------------------------------------------------------ state dict
    def _state_tensors(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        """Every saved tensor under its dotted name: per module its parameters, then its buffers."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                out[prefix + name] = b
        for name, child in self._modules.items():
            if child is not None:
                out.update(child._state_tensors(prefix + name + "."))
        return out

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and buffers as NumPy arrays under torchvision-style dotted names.

        Keys look like ``features.0.weight``, ``features.1.running_mean`` (BatchNorm buffers,
        including the int64 ``num_batches_tracked``).  The arrays are copies (on the host),
        so a saved state dict is a snapshot that later training does not change.
        """
        return OrderedDict((k, np.array(t.numpy(), copy=True)) for k, t in self._state_tensors().items())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) from ``state_dict`` into this model's parameters and buffers.

        Values are converted to each parameter's dtype and copied *in place*, so an optimizer
        built before loading keeps updating the same Parameters.  Nothing is copied unless
        every check passes.

        Args:
            state_dict: a mapping from dotted names (as ``state_dict()`` makes) to arrays.
            strict: require exactly the model's keys.  With ``strict=False`` missing and
                unexpected keys are allowed and returned; shape mismatches are always errors.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            RuntimeError: listing every missing key, unexpected key and size mismatch at once.
        """
        own = self._state_tensors()
        result = check_state_dict(own, state_dict, strict, type(self).__name__)  # raises on any problem
        copy_state_dict(own, state_dict)
        return result

    # ------------------------------------------------------------------ devices and dtypes
    def to(self, target: str | Device | Any) -> Module:
        """Move (``"cpu"``, ``"cuda"``, ``"cuda:1"``) or cast (``"float64"``, ``np.float32``) in place.

        Every parameter, its gradient and every buffer gets new ``.data``; the Parameter
        objects stay the same.  A dtype cast changes floating-point tensors only (BatchNorm's
        int64 ``num_batches_tracked`` stays int64), as in PyTorch.

        Raises:
            RuntimeError: for ``"cuda"`` when CuPy or a GPU is missing (before anything moves).
        """
        if isinstance(target, Device) or (isinstance(target, str) and target.split(":")[0] in ("cpu", "cuda")):
            dev = device(target)  # raises the backend's clear error if CUDA is not usable

            def convert(a: Any) -> Any:
                return to_device(a, dev)
        else:
            try:
                dtype = np.dtype(target)
            except TypeError:
                raise TypeError(
                    f"to(): expected a device ('cpu', 'cuda') or a floating dtype ('float32'), got {target!r}"
                ) from None
            if dtype.kind != "f":
                raise TypeError(f"to(): can only cast modules to a floating dtype, got {dtype}")

            def convert(a: Any) -> Any:
                return a.astype(dtype) if a.dtype.kind == "f" else a

        for t in list(self.parameters()) + list(self.buffers()):
            t.data = convert(t.data)
            if t.grad is not None:
                t.grad.data = convert(t.grad.data)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def half(self) -> Module:
        return self.to(np.float16)

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside ``Name(...)`` when printed, e.g. ``in_features=4, out_features=2``."""
        return ""

    def __repr__(self) -> str:
        """``Name(extra)`` for a leaf; one indented ``(name): child`` line per child otherwise."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")  # indent the child's own lines
            lines.append(f"({name}): {child_text}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"


def _as_buffer(name: str, value: Any) -> Tensor | None:
    """A buffer is a Tensor that never requires grad (arrays are wrapped)."""
    if value is None:
        return None
    if isinstance(value, Parameter):
        raise TypeError(f"buffer '{name}' cannot be a Parameter; register it with register_parameter instead")
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, list, tuple, int, float)) or _is_gpu(value):
        return Tensor(value)
    raise TypeError(f"buffer '{name}' must be a Tensor, an array or None, got {type(value).__name__}")


def _is_gpu(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "cupy"
