"""Read PyTorch ``.pt`` / ``.pth`` weight files without importing torch.

Two container formats carry the same pickle (see ``torch_pickle.py`` for the pickle):

Zip format (``torch.save`` since torch 1.6)::

    <prefix>/data.pkl          the pickled object tree (storages as persistent ids)
    <prefix>/data/<key>        raw bytes of storage <key> (numel * itemsize bytes)
    <prefix>/byteorder         "little" or "big" (absent in old files: little)
    <prefix>/version, .format_version, .storage_alignment, .data/serialization_id

  ``<prefix>`` is usually ``archive`` but may be any single folder name.

Legacy format (``_use_new_zipfile_serialization=False``; e.g. torchvision's
``vgg16-397923af.pth``), five things back to back::

    pickle(MAGIC_NUMBER = 0x1950a86a20f9469cfc6c)
    pickle(PROTOCOL_VERSION = 1001)
    pickle(sys_info)              {'protocol_version', 'little_endian', 'type_sizes'}
    pickle(object tree)           storages as ('storage', type, key, location, numel, view)
    pickle(sorted storage keys)
    then for each key in that order: int64 little-endian element count, then the
    storage's count * itemsize bytes (always little-endian)

The object saved is often a checkpoint dict wrapping the state dict
(``{'state_dict': sd, 'epoch': 3}``, ``{'model': sd, 'optimizer': ...}``);
``read_torch`` finds the state dict (a dict of str -> tensor) inside it.
"""
from __future__ import annotations

import io
import os
from collections import Counter
from typing import Any

import numpy as np

from minicnn.io._fileio import (
    BoundedReader, OutputBudget, check_zip_member, open_zip, read_exact, read_zip_member,
)
from minicnn.io.errors import WeightFileError, reading
from minicnn.io.safe_pickle import restricted_load
from minicnn.io.torch_pickle import TensorRef, TorchUnpickling, materialize
from minicnn.io.weight_file import WeightFile

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
# The magic number as pickle opcode LONG1 (0x8a), length 10, little-endian digits:
# every legacy file has these bytes within its first few bytes (after PROTO/FRAME).
LEGACY_MAGIC_BYTES = b"\x8a\x0a" + MAGIC_NUMBER.to_bytes(10, "little")

# Checkpoint keys that usually hold the model's state dict, most likely first.
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "module",
                   "params", "weights", "model_ema", "ema", "state_dict_ema")
_SEARCH_DEPTH = 3
_ALLOWED_SUMMARY = ("collections.OrderedDict, the torch._utils._rebuild_tensor* / "
                    "_rebuild_parameter functions, torch.*Storage classes and torch dtypes")
_HINT = "; if the file pickles a whole model, re-save it with torch.save(model.state_dict())"


def read_torch(path: str | os.PathLike[str], key: str | None = None) -> WeightFile:
    """Read the state dict of a ``torch.save`` file (zip or legacy) as NumPy arrays.

    Args:
        path: the ``.pt`` / ``.pth`` file.
        key: where the state dict sits in a checkpoint dict, as a ``/``-separated path
            (e.g. ``"model"`` or ``"ema/model"``); ``None`` searches for it.

    Returns:
        ``WeightFile`` with ``arrays`` in the state dict's order and ``meta`` holding
        ``variant`` ("zip"/"legacy"), ``state_dict_key`` and the checkpoint's scalar
        ``extras`` (e.g. ``{"epoch": 3}``).

    Raises:
        WeightFileError: malformed/truncated file, a refused pickle global, or no
            unambiguous state dict.
    """
    name = os.fspath(path)
    size = os.path.getsize(name)
    with open(name, "rb") as f:
        head = f.read(64)
    if not head:
        raise WeightFileError(f"{name}: empty file; expected a PyTorch checkpoint")
    with reading(name, "PyTorch checkpoint"):
        if head.startswith(b"PK"):
            arrays, meta = _read_zip(name, size, key)
        elif LEGACY_MAGIC_BYTES in head[:32]:
            arrays, meta = _read_legacy(name, size, key)
        else:
            raise WeightFileError(
                f"{name}: starts with {head[:8]!r}; expected a PyTorch checkpoint (a zip "
                "archive 'PK...' or a legacy file starting with the pickled magic number)")
    return WeightFile(arrays, "torch", meta, name)


# ------------------------------------------------------------------------ zip format
def data_pkl_members(names: list[str]) -> list[str]:
    """Members named ``data.pkl`` or ``<one folder>/data.pkl`` (torch.save's pickle)."""
    return [n for n in names if n == "data.pkl"
            or (n.endswith("/data.pkl") and n.count("/") == 1)]


def _read_zip(name: str, size: int, key: str | None) -> tuple[dict[str, np.ndarray], dict]:
    with open_zip(name, name, "a PyTorch zip checkpoint") as zf:
        infos = {info.filename: info for info in zf.infolist()}
        if any(n.endswith("/constants.pkl") for n in infos):
            raise WeightFileError(
                f"{name}: a TorchScript archive (torch.jit.save); it holds code, not just "
                "weights -- load it in torch and save model.state_dict() instead")
        pickles = data_pkl_members(list(infos))
        if len(pickles) != 1:
            raise WeightFileError(
                f"{name}: found {len(pickles)} '<prefix>/data.pkl' members; expected "
                "exactly one, as written by torch.save")
        prefix = pickles[0][: -len("data.pkl")]

        big_endian = False
        if prefix + "byteorder" in infos:
            order = read_zip_member(zf, infos[prefix + "byteorder"], size, name)
            if order not in (b"little", b"big"):
                raise WeightFileError(f"{name}: byteorder record {order[:20]!r}; expected "
                                      "b'little' or b'big'")
            big_endian = order == b"big"

        def check_storage(storage_key: str, nbytes: int) -> None:
            info = infos.get(f"{prefix}data/{storage_key}")
            if info is None:
                raise WeightFileError(f"{name}: storage {storage_key!r} is referenced but "
                                      f"there is no member '{prefix}data/{storage_key}'")
            check_zip_member(info, size, name)
            if info.file_size != nbytes:
                raise WeightFileError(
                    f"{name}: storage {storage_key!r} should have {nbytes} bytes but member "
                    f"'{info.filename}' has {info.file_size}")

        state = TorchUnpickling(name, size, legacy=False, check_storage=check_storage)
        pickled = read_zip_member(zf, infos[pickles[0]], size, name)
        tree = restricted_load(io.BytesIO(pickled), state.allowed_globals(), name,
                               "the pickle of a PyTorch zip checkpoint",
                               persistent_load=state.persistent_load, encoding="utf-8",
                               summary=_ALLOWED_SUMMARY, hint=_HINT)
        where, state_dict = find_state_dict(tree, name, key)
        _reserve(state_dict, size, name)

        # Read each storage once; drop it after its last tensor is copied out.
        uses = Counter(t.storage.key for t in state_dict.values())
        cache: dict[str, bytes] = {}
        arrays: dict[str, np.ndarray] = {}
        for tensor_name, tensor in state_dict.items():
            skey = tensor.storage.key
            if skey not in cache:
                cache[skey] = read_zip_member(zf, infos[f"{prefix}data/{skey}"], size, name)
            arrays[tensor_name] = materialize(tensor, cache[skey], big_endian, name)
            uses[skey] -= 1
            if uses[skey] == 0:
                del cache[skey]
    meta = {"variant": "zip", "state_dict_key": where, "extras": _extras(tree),
            "byteorder": "big" if big_endian else "little"}
    return arrays, meta


# ------------------------------------------------------------------------ legacy format
def _read_legacy(name: str, size: int, key: str | None) -> tuple[dict[str, np.ndarray], dict]:
    with open(name, "rb") as raw:
        f = BoundedReader(raw, size)
        what = "a legacy PyTorch file"
        magic = restricted_load(f, {}, name, f"the magic number of {what}")
        if magic != MAGIC_NUMBER:
            raise WeightFileError(f"{name}: magic number {magic!r:.40}; expected "
                                  f"{MAGIC_NUMBER:#x} ({what})")
        version = restricted_load(f, {}, name, f"the protocol version of {what}")
        if version != PROTOCOL_VERSION:
            raise WeightFileError(f"{name}: protocol version {version!r:.40}; expected "
                                  f"{PROTOCOL_VERSION}")
        sys_info = restricted_load(f, {}, name, f"the sys_info record of {what}")
        if not isinstance(sys_info, dict):
            raise WeightFileError(f"{name}: sys_info is {type(sys_info).__name__}; "
                                  "expected a dict")

        state = TorchUnpickling(name, size, legacy=True)
        tree = restricted_load(f, state.allowed_globals(), name, f"the pickle of {what}",
                               persistent_load=state.persistent_load, encoding="utf-8",
                               summary=_ALLOWED_SUMMARY, hint=_HINT)
        keys = restricted_load(f, {}, name, f"the storage key list of {what}")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise WeightFileError(f"{name}: storage key list is {keys!r:.60}; expected a "
                                  "list of str")
        where, state_dict = find_state_dict(tree, name, key)
        _reserve(state_dict, size, name)

        by_storage: dict[str, list[str]] = {}
        for tensor_name, tensor in state_dict.items():
            by_storage.setdefault(tensor.storage.key, []).append(tensor_name)
        copied: dict[str, np.ndarray] = {}
        for skey in keys:  # storages follow the pickles in this order
            if skey not in state.roots:
                raise WeightFileError(f"{name}: storage {skey!r} is listed but never "
                                      "referenced by the pickle")
            dtype, numel = state.roots[skey]
            count = int.from_bytes(read_exact(f, 8, name, f"the size of storage {skey!r}"),
                                   "little", signed=True)
            if count != numel:
                raise WeightFileError(f"{name}: storage {skey!r} has {count} elements on "
                                      f"disk but the pickle says {numel}")
            nbytes = numel * dtype.itemsize
            if nbytes > f.remaining():
                raise WeightFileError(
                    f"{name}: storage {skey!r} needs {nbytes} bytes but only "
                    f"{f.remaining()} remain; the file is truncated")
            if skey in by_storage:
                data = read_exact(f, nbytes, name, f"storage {skey!r}")
                for tensor_name in by_storage.pop(skey):
                    copied[tensor_name] = materialize(state_dict[tensor_name], data, False,
                                                      name)
            else:
                f.seek(nbytes, os.SEEK_CUR)  # a storage the state dict does not use
        if by_storage:
            raise WeightFileError(f"{name}: storages {sorted(by_storage)} hold tensors of "
                                  "the state dict but are missing from the file")
    arrays = {tensor_name: copied[tensor_name] for tensor_name in state_dict}  # file order
    meta = {"variant": "legacy", "state_dict_key": where, "extras": _extras(tree),
            "sys_info": {k: v for k, v in sys_info.items() if isinstance(k, str)}}
    return arrays, meta


# ------------------------------------------------------------------------ finding the weights
def _is_state_dict(obj: Any) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, TensorRef) for k, v in obj.items()))


def find_state_dict(tree: Any, name: str, key: str | None) -> tuple[str, dict[str, TensorRef]]:
    """Locate the ``{str: tensor}`` dict in a checkpoint; return its ``/`` path and it.

    With ``key`` given, follow it; otherwise take the top level if it is a state dict,
    else the only state dict within ``_SEARCH_DEPTH`` levels, else the one whose key
    ranks first in ``STATE_DICT_KEYS``.
    """
    if key is not None:
        node = tree
        for part in key.split("/"):
            if not isinstance(node, dict) or part not in node:
                raise WeightFileError(f"{name}: no entry {key!r} in the checkpoint")
            node = node[part]
        if not _is_state_dict(node):
            raise WeightFileError(f"{name}: entry {key!r} is not a dict of str -> tensor")
        return key, node
    if _is_state_dict(tree):
        return "", tree

    found: list[tuple[str, ...]] = []
    frontier: list[tuple[tuple[str, ...], Any]] = [((), tree)]
    for _ in range(_SEARCH_DEPTH):
        deeper = []
        for path, node in frontier:
            if not isinstance(node, dict):
                continue
            for k, v in node.items():
                if not isinstance(k, str):
                    continue
                if _is_state_dict(v):
                    found.append(path + (k,))
                else:
                    deeper.append((path + (k,), v))
        frontier = deeper

    def rank(path: tuple[str, ...]) -> int:
        last = path[-1]
        return STATE_DICT_KEYS.index(last) if last in STATE_DICT_KEYS else len(STATE_DICT_KEYS)

    found.sort(key=lambda p: (rank(p), len(p)))
    if len(found) == 1 or (len(found) > 1 and rank(found[0]) < rank(found[1])):
        path = found[0]
        node = tree
        for part in path:
            node = node[part]
        return "/".join(path), node
    described = ", ".join("/".join(p) for p in found) or "none"
    raise WeightFileError(
        f"{name}: could not find a single state dict (a dict of name -> tensor); "
        f"candidates: {described}. Saved object is a {type(tree).__name__}"
        f"{' with keys ' + str(list(tree)[:10]) if isinstance(tree, dict) else ''}. "
        "Pass key='<path>' to choose one, or save model.state_dict()")


def _reserve(state_dict: dict[str, TensorRef], file_size: int, name: str) -> None:
    """Check the total size of the arrays to build before building any of them."""
    budget = OutputBudget(file_size, name)
    for tensor_name, tensor in state_dict.items():
        itemsize = 4 if tensor.dtype.name == "bfloat16" else tensor.dtype.itemsize  # widened
        budget.spend(tensor.numel * itemsize, f"tensor {tensor_name!r}")


def _extras(tree: Any) -> dict[str, Any]:
    """Top-level scalar entries of a checkpoint dict, e.g. {'epoch': 3}."""
    if not isinstance(tree, dict):
        return {}
    return {k: v for k, v in tree.items()
            if isinstance(k, str) and isinstance(v, (bool, int, float, str, type(None)))}
