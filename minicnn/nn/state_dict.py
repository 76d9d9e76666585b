"""Loading a state dict: match names, check shapes, then copy in place.

A state dict maps dotted names to arrays, e.g. ``{"features.0.weight": (64, 3, 3, 3) array,
"features.1.running_mean": (64,) array, ...}``.  ``Module.state_dict()`` makes one and
``Module.load_state_dict()`` uses the two functions below, so every problem is reported in
one error and nothing is half-loaded.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

from ..backend import to_device
from ..tensor import Tensor

__all__ = ["IncompatibleKeys", "check_state_dict", "copy_state_dict"]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` could not match."""

    missing_keys: list[str]      # in the model, not in the state dict (left as they were)
    unexpected_keys: list[str]   # in the state dict, not in the model (ignored)


def check_state_dict(own: Mapping[str, Tensor], state_dict: Mapping[str, Any], strict: bool,
                     model_name: str) -> IncompatibleKeys:
    """Compare ``state_dict`` with the model's tensors ``own``; raise listing every problem.

    Shape mismatches are always errors; missing and unexpected keys only with ``strict``.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"load_state_dict: expected a dict of name -> array, got {type(state_dict).__name__}")
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = []
    for key, target in own.items():
        if key in state_dict:
            found = tuple(np.shape(_array_of(state_dict[key])))  # CuPy arrays have .shape too
            if found != target.shape:
                mismatched.append(f"size mismatch for {key}: expected {target.shape}, found {found}")
    problems, hints = [], []
    if strict and missing:
        problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
    if strict and unexpected:
        problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
    if strict and (missing or unexpected):
        hints.append("compare the names with print(list(model.state_dict())); if they differ only by a "
                     "prefix, rename the keys first; load_state_dict(sd, strict=False) skips unmatched keys")
    if mismatched:
        problems += mismatched
        hints.append("a layer has a different size than in the checkpoint (e.g. a 1000-class head and a "
                     "10-class model): delete those keys from the dict and load with strict=False, "
                     "so the new layer keeps its fresh initialisation")
    if problems:
        raise RuntimeError(
            f"Error(s) in loading state_dict for {model_name}:\n\t" + "\n\t".join(problems)
            + "\nNothing was loaded. To fix: " + "; ".join(hints) + "."
        )
    return IncompatibleKeys(missing, unexpected)


def copy_state_dict(own: Mapping[str, Tensor], state_dict: Mapping[str, Any]) -> None:
    """Copy each matching value into the model's tensor, in place, in that tensor's dtype and device.

    ``data[...] = value`` writes into the existing array: the Parameter (and the array an
    optimizer may hold) stays the same object and only the numbers change.
    """
    for key, target in own.items():
        if key in state_dict:
            value = _array_of(state_dict[key])
            value = value if _is_gpu(value) else np.asarray(value)
            target.data[...] = to_device(value, target.device).astype(target.dtype, copy=False)


def _array_of(value: Any) -> Any:
    """The array in a state-dict value (a Tensor or anything array-like)."""
    return value.data if isinstance(value, Tensor) else value


def _is_gpu(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "cupy"
