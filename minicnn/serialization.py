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

import re
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
    """Load what ``save`` wrote: the same tree, with NumPy arrays where Tensors/arrays were.

    Raises:
        WeightFileError (a ``ValueError``): the file is damaged or truncated, an array fails
            its SHA-256 checksum, or the manifest's tree refers to arrays that are not there.
    """
    from .io.errors import WeightFileError
    from .io.npz import load_npz

    arrays, manifest = load_npz(path)
    if not manifest or "structure" not in manifest:
        # a plain npz (e.g. np.savez of a state dict): return its arrays as a dict
        return dict(arrays)
    try:
        return _join(manifest["structure"], arrays)
    except _BadStructure as exc:
        raise WeightFileError(f"{path}: the checkpoint's manifest does not match its arrays "
                              f"({exc}); the file was modified or corrupted") from None
    except RecursionError:
        raise WeightFileError(f"{path}: the checkpoint's tree is nested too deeply; the file "
                              "was modified or corrupted") from None


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


class _BadStructure(Exception):
    """The manifest's tree cannot be rebuilt from the stored arrays (says where)."""


def _join(node: Any, arrays: dict[str, np.ndarray], where: str = "") -> Any:
    """The inverse of ``_split``: put the arrays back at their references.

    The manifest is JSON from the file, so every reference is checked: a damaged file must
    fail with a clear error, not a ``KeyError`` from deep inside. ``where`` is the node's path
    in the tree (``model/fc.weight``), for messages.
    """
    here = where or "the root"
    if isinstance(node, dict):
        if set(node) == {_ARRAY}:
            name = node[_ARRAY]
            if not isinstance(name, str) or name not in arrays:
                raise _BadStructure(f"{here} refers to array {name!r:.60}, which the file "
                                    "does not hold")
            return arrays[name]
        if set(node) == {_TUPLE}:
            if not isinstance(node[_TUPLE], list):
                raise _BadStructure(f"{here} is a tuple of {type(node[_TUPLE]).__name__}; "
                                    "expected a list of items")
            return tuple(_join(v, arrays, f"{where}/{i}".lstrip("/")) for i, v in enumerate(node[_TUPLE]))
        out = {}
        for key, value in node.items():
            if key.startswith("__int__"):  # an int key, e.g. optimizer state {0: {...}}
                digits = key[len("__int__"):]
                if re.fullmatch(r"-?[0-9]+", digits) is None:
                    raise _BadStructure(f"{here} has the key {key!r:.60}; expected __int__<n>")
                key = int(digits)
            out[key] = _join(value, arrays, f"{where}/{key}".lstrip("/"))
        return out
    if isinstance(node, list):
        return [_join(v, arrays, f"{where}/{i}".lstrip("/")) for i, v in enumerate(node)]
    return node
