"""``minicnn.save`` / ``minicnn.load``: state dicts and checkpoints as ``.npz``, never pickle.

A checkpoint is a tree: ``{"model": {"features.0.weight": array, ...}, "epoch": 3,
"optimizer": {"state": {...}, "param_groups": [...]}}``.  ``save`` splits it into

- the arrays, stored as ``.npy`` members named by their path in the tree
  (``model/features.0.weight``), and
- everything else (numbers, strings, lists, the shape of the tree) as JSON in the
  manifest, with a SHA-256 checksum of the arrays,

and writes them through ``minicnn.io.npz`` (temporary file + atomic rename; the checksum
is verified on load).  Loading uses ``allow_pickle=False``: a file cannot run code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load"]

_ARRAY = "__array__"  # marks a leaf stored as an npz member: {"__array__": "member name"}
_TUPLE = "__tuple__"


def save(obj: Any, path: str | Path) -> None:
    """Save a (nested) dict / list of arrays, Tensors, numbers and strings to ``path`` (.npz)."""
    from .io.npz import save_npz

    arrays: dict[str, np.ndarray] = {}
    structure = _split(obj, "", arrays)
    save_npz(path, arrays, manifest={"format": "minicnn-save", "version": 1, "structure": structure})


def load(path: str | Path) -> Any:
    """Load what ``save`` wrote: the same tree, with NumPy arrays where Tensors/arrays were."""
    from .io.npz import load_npz

    arrays, manifest = load_npz(path)
    if not manifest or "structure" not in manifest:
        # a plain npz (e.g. np.savez of a state dict): return its arrays as a dict
        return dict(arrays)
    return _join(manifest["structure"], arrays)


def _split(obj: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """Replace every array in ``obj`` by a reference, collecting the arrays."""
    if isinstance(obj, Tensor):
        obj = obj.numpy()
    if isinstance(obj, np.ndarray):
        name = prefix or "value"
        if obj.dtype == object:
            raise TypeError(f"save: {name} is an object array, which cannot be stored without pickle")
        arrays[name] = obj
        return {_ARRAY: name}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be strings or ints, got {key!r} in {prefix or 'the root'}")
            out[str(key) if isinstance(key, str) else f"__int__{key}"] = _split(value, f"{prefix}/{key}".lstrip("/"), arrays)
        return out
    if isinstance(obj, (list, tuple)):
        items = [_split(v, f"{prefix}/{i}".lstrip("/"), arrays) for i, v in enumerate(obj)]
        return {_TUPLE: items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {prefix or 'the root'}; "
                    "use arrays, Tensors, numbers, strings, lists and dicts")


def _join(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(node, dict):
        if set(node) == {_ARRAY}:
            return arrays[node[_ARRAY]]
        if set(node) == {_TUPLE}:
            return tuple(_join(v, arrays) for v in node[_TUPLE])
        return {(int(k[7:]) if k.startswith("__int__") else k): _join(v, arrays) for k, v in node.items()}
    if isinstance(node, list):
        return [_join(v, arrays) for v in node]
    return node
