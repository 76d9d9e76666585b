"""A restricted unpickler, and the CIFAR-10/100 batch loader built on it.

Why a pickle needs restricting
------------------------------
A pickle is not data, it is a small program for a stack machine. Its ``GLOBAL`` /
``STACK_GLOBAL`` opcodes import *any* ``module.name`` and its ``REDUCE`` opcode calls
it, so ``pickle.load`` on a file containing ``GLOBAL os system`` + ``REDUCE`` runs a
shell command. Every import goes through ``Unpickler.find_class(module, name)``; we
override it to return objects only from an explicit allow-list and to raise
``UnsafePickleError`` for everything else -- before anything is imported or called.
Persistent ids (``PERSID``/``BINPERSID``) are refused too unless the caller handles
them (the PyTorch reader does, see ``torch_pickle.py``).

CIFAR batches
-------------
The "python version" of CIFAR-10/100 is a pickle (protocol 2, written by Python 2) of
a dict with byte-string keys::

    b'data'          uint8 array (N, 3072): each row is R(32x32), G(32x32), B(32x32)
    b'labels'        list of N ints in [0, 10)            (CIFAR-10)
    b'fine_labels'   list of N ints in [0, 100)           (CIFAR-100)
    b'coarse_labels' list of N ints in [0, 20)            (CIFAR-100)
    b'filenames'     list of N byte strings
    b'batch_label'   byte string

Rebuilding the array needs three NumPy globals (``_reconstruct``, ``ndarray``,
``dtype``; or ``_frombuffer`` for protocol-5 pickles), and we check afterwards that
its dtype is a plain number type (an object array could hold anything).
"""
from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

from minicnn.io._fileio import BoundedReader, stream_size
from minicnn.io.errors import (
    PathOrFile, UnsafePickleError, WeightFileError, reading, source_name,
)

__all__ = ["RestrictedUnpickler", "restricted_load", "load_cifar_batch",
           "load_cifar_meta", "CIFAR_GLOBALS"]

PersistentLoad = Callable[[Any], Any]


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only from ``allowed``.

    Args:
        file: binary file positioned at the start of a pickle.
        allowed: ``{(module, name): object}``; ``find_class`` returns the object, which
            should be a safe local stand-in (never the real ``os.system``!).
        name: file name used in error messages.
        persistent_load: handler for persistent ids, or ``None`` to refuse them.
        encoding: how Python 2 ``str`` objects are decoded (``"bytes"`` keeps bytes).
        summary: short description of ``allowed`` for error messages (default: the
            list itself, or its modules when it is long).
        hint: extra advice appended to the refusal message.
    """

    def __init__(self, file: IO[bytes] | BoundedReader, allowed: Mapping[tuple[str, str], Any],
                 name: str, persistent_load: PersistentLoad | None = None,
                 encoding: str = "ASCII", summary: str | None = None, hint: str = "") -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed
        self._name = name
        self._persistent = persistent_load
        self._summary = summary or _summarize(allowed)
        self._hint = hint

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"{self._name}: refused to load the Python global '{module}.{name}' "
                f"from the pickle (nothing was run); a data file needs only "
                f"{self._summary}{self._hint}"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise UnsafePickleError(
                f"{self._name}: the pickle contains a persistent id {pid!r:.80}; "
                "expected plain data without external references"
            )
        return self._persistent(pid)


def _summarize(allowed: Mapping[tuple[str, str], Any]) -> str:
    if not allowed:
        return "plain data (no globals at all)"
    names = sorted(f"{m}.{n}" for m, n in allowed)
    if len(names) <= 8:
        return "these globals: " + ", ".join(names)
    return "globals from: " + ", ".join(sorted({m for m, _ in allowed}))


def restricted_load(file: IO[bytes] | BoundedReader, allowed: Mapping[tuple[str, str], Any],
                    name: str, what: str, *, persistent_load: PersistentLoad | None = None,
                    encoding: str = "ASCII", summary: str | None = None,
                    hint: str = "") -> Any:
    """Unpickle one object from ``file`` with only ``allowed`` globals.

    Any failure (refused global, truncated or malformed pickle) raises
    ``WeightFileError`` naming ``name`` and ``what`` was being read.
    """
    with reading(name, what):
        unpickler = RestrictedUnpickler(file, allowed, name, persistent_load, encoding,
                                        summary, hint)
        return unpickler.load()


# --------------------------------------------------------------------------- NumPy arrays
_PLAIN_KINDS = "biuf"  # bool, signed int, unsigned int, float


def _plain_dtype(dtype: np.dtype, name: str) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.kind not in _PLAIN_KINDS \
            or dtype.fields is not None or dtype.subdtype is not None:
        raise WeightFileError(
            f"{name}: the pickle holds an array of dtype {dtype!r}; expected a plain "
            "numeric dtype (bool, int, uint, float) -- object arrays are refused"
        )
    return dtype


def _numpy_globals(name: str) -> dict[tuple[str, str], Any]:
    """The NumPy globals a pickled plain ndarray needs, as checked stand-ins."""
    reconstruct = np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct

    def safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not np.ndarray:
            raise WeightFileError(f"{name}: _reconstruct of {subtype!r}; expected numpy.ndarray")
        return reconstruct(np.ndarray, shape, dtype)

    def safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
        dtype = _plain_dtype(np.dtype(dtype), name)
        flat = np.frombuffer(bytes(buf), dtype=dtype)
        return flat.reshape(shape, order=order).copy(order="K")

    table: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                         ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):  # NumPy 1.x and 2.x module names
        table[(f"{core}.multiarray", "_reconstruct")] = safe_reconstruct
        table[(f"{core}.numeric", "_frombuffer")] = safe_frombuffer
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1").
    table[("_codecs", "encode")] = _latin1_encode
    return table


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise WeightFileError(f"_codecs.encode with encoding {encoding!r}; expected 'latin1'")
    return text.encode("latin1")


CIFAR_GLOBALS = ("numpy.ndarray", "numpy.dtype", "numpy(._)core.multiarray._reconstruct",
                 "numpy(._)core.numeric._frombuffer", "_codecs.encode (latin1 only)")


# --------------------------------------------------------------------------- CIFAR
def _load_pickled_dict(source: PathOrFile, what: str) -> tuple[dict[str, Any], str]:
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            obj = restricted_load(BoundedReader(f, stream_size(f)), _numpy_globals(name),
                                  name, what, encoding="bytes")
    else:
        raw = source if hasattr(source, "seek") else io.BytesIO(source.read())
        try:
            size = stream_size(raw)
        except (OSError, ValueError):  # unseekable stream (e.g. a tar member): buffer it
            raw = io.BytesIO(raw.read())
            size = stream_size(raw)
        obj = restricted_load(BoundedReader(raw, size), _numpy_globals(name), name, what,
                              encoding="bytes")
    if not isinstance(obj, dict):
        raise WeightFileError(f"{name}: {what} holds a {type(obj).__name__}; expected a dict")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, (bytes, str)):
            raise WeightFileError(f"{name}: {what} has a non-string key {key!r}")
        if isinstance(value, np.ndarray):
            _plain_dtype(value.dtype, name)  # no object arrays, whatever the key
        out[key.decode("latin1") if isinstance(key, bytes) else key] = value
    return out, name


def _labels(value: Any, n: int, classes: int, key: str, name: str) -> np.ndarray:
    labels = np.asarray(value)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise WeightFileError(
            f"{name}: {key!r} has shape {labels.shape} and dtype {labels.dtype}; expected "
            f"{n} integer labels (one per row of 'data')"
        )
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise WeightFileError(
            f"{name}: {key!r} has labels in [{labels.min()}, {labels.max()}]; expected "
            f"[0, {classes})"
        )
    return labels.astype(np.int64)


def _text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def load_cifar_batch(source: PathOrFile) -> dict[str, Any]:
    """Load one CIFAR-10 or CIFAR-100 python batch (``data_batch_1``, ``test``, ``train``).

    Only the NumPy globals needed to rebuild a plain uint8 array are allowed; any other
    global (e.g. ``os.system``) raises ``WeightFileError`` and nothing runs.

    Args:
        source: path, or a binary file object (e.g. a member of the CIFAR tarball).

    Returns:
        A dict with str keys::

            "data"          uint8 (N, 3072), rows are R, G, B planes of 32x32
                            (reshape to (N, 3, 32, 32) for NCHW)
            "labels"        int64 (N,) in [0, 10)      -- CIFAR-10 batches
            "fine_labels"   int64 (N,) in [0, 100)     -- CIFAR-100
            "coarse_labels" int64 (N,) in [0, 20)      -- CIFAR-100
            "filenames"     list of N str (if present)
            "batch_label"   str (if present)
    """
    batch, name = _load_pickled_dict(source, "a CIFAR batch")
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        got = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
               else type(data).__name__)
        raise WeightFileError(
            f"{name}: 'data' is a {got}; expected a uint8 array of shape (N, 3072)")
    n = data.shape[0]
    out: dict[str, Any] = {"data": np.asarray(data, order="C")}  # (N, 3072)
    found = False
    for key, classes in (("labels", 10), ("fine_labels", 100), ("coarse_labels", 20)):
        if key in batch:
            out[key] = _labels(batch[key], n, classes, key, name)
            found = True
    if not found:
        raise WeightFileError(
            f"{name}: no labels; expected key 'labels' (CIFAR-10) or 'fine_labels' and "
            f"'coarse_labels' (CIFAR-100), found {sorted(batch)}")
    if "filenames" in batch:
        filenames = batch["filenames"]
        if not isinstance(filenames, list) or len(filenames) != n:
            raise WeightFileError(f"{name}: 'filenames' is not a list of {n} names")
        out["filenames"] = [_text(f) for f in filenames]
    if "batch_label" in batch:
        out["batch_label"] = _text(batch["batch_label"])
    return out


def load_cifar_meta(source: PathOrFile) -> dict[str, Any]:
    """Load ``batches.meta`` (CIFAR-10) or ``meta`` (CIFAR-100): lists of class names.

    Returns a dict with str keys, e.g. ``{"label_names": ["airplane", ...]}`` or
    ``{"fine_label_names": [...], "coarse_label_names": [...]}``; ints are kept.
    """
    meta, name = _load_pickled_dict(source, "a CIFAR meta file")
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, list):
            out[key] = [_text(v) for v in value]
        elif isinstance(value, (int, bytes, str)):
            out[key] = value if isinstance(value, int) else _text(value)
    if not any(key.endswith("label_names") for key in out):
        raise WeightFileError(
            f"{name}: no class names; expected 'label_names' or 'fine_label_names', "
            f"found {sorted(meta)}")
    return out
