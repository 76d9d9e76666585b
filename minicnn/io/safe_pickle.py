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

One more trap: the memo. ``LONG_BINPUT i`` stores the top of the stack at memo index
``i``, and CPython's unpickler grows its memo *array* to ``2*i`` entries first -- a
6-byte opcode with ``i = 2**32`` asks for 64 GB. A pickler numbers memo entries 0, 1,
2, ... as it goes, so before unpickling we walk the opcodes (``pickletools.genops``,
which executes nothing) and refuse any memo index larger than the opcode count so far.

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

Rebuilding the array needs the NumPy globals ``_reconstruct``, ``ndarray`` and
``dtype`` (or ``_frombuffer`` for protocol-5 pickles). They are replaced by checked
stand-ins (``numpy_pickle.py``) that accept only plain numeric arrays.

The objects ``find_class`` returns are ``pickle_standins``: inert markers and callable
wrappers that refuse pickle's ``BUILD`` opcode (which could otherwise modify them).
"""
from __future__ import annotations

import io
import os
import pickle
import pickletools
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

from minicnn.io._fileio import BoundedReader, stream_size
from minicnn.io.errors import (
    PathOrFile, UnsafePickleError, WeightFileError, reading, source_name,
)
from minicnn.io.numpy_pickle import numpy_globals, unwrap_arrays
from minicnn.io.pickle_standins import BuildRefused

__all__ = ["RestrictedUnpickler", "restricted_load", "load_cifar_batch", "load_cifar_meta"]

PersistentLoad = Callable[[Any], Any]


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only from ``allowed``.

    Args:
        file: binary file positioned at the start of a pickle.
        allowed: ``{(module, name): object}``; ``find_class`` returns the object, which
            must be a ``pickle_standins`` object (never the real ``os.system``!).
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

    def load(self) -> Any:
        try:
            return super().load()
        except BuildRefused as exc:  # a stand-in was misused: name the file
            raise UnsafePickleError(f"{self._name}: {exc}") from None

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
        _check_memo_indices(file, name, what)
        unpickler = RestrictedUnpickler(file, allowed, name, persistent_load, encoding,
                                        summary, hint)
        return unpickler.load()


_MEMO_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")


def _check_memo_indices(file: IO[bytes] | BoundedReader, name: str, what: str) -> None:
    """Walk the pickle's opcodes (nothing runs) and rewind; refuse absurd memo indices."""
    start = file.tell()
    for count, (opcode, arg, _pos) in enumerate(pickletools.genops(file)):
        if opcode.name in _MEMO_PUTS and not (isinstance(arg, int) and 0 <= arg <= count):
            raise WeightFileError(
                f"{name}: {what} stores memo entry {arg!r} after only {count} opcodes; "
                "expected memo indices numbered 0, 1, 2, ... (a huge index would make the "
                "unpickler allocate a huge table)")
    file.seek(start)


# --------------------------------------------------------------------------- CIFAR
def _load_pickled_dict(source: PathOrFile, what: str) -> tuple[dict[str, Any], str]:
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            obj = restricted_load(BoundedReader(f, stream_size(f)), numpy_globals(), name,
                                  what, encoding="bytes")
    else:
        raw = source if hasattr(source, "seek") else io.BytesIO(source.read())
        try:
            size = stream_size(raw)
        except (OSError, ValueError):  # unseekable stream: buffer it
            raw = io.BytesIO(raw.read())
            size = stream_size(raw)
        obj = restricted_load(BoundedReader(raw, size), numpy_globals(), name, what,
                              encoding="bytes")
    try:
        obj = unwrap_arrays(obj)  # PickledArray stand-ins -> NumPy arrays
    except BuildRefused as exc:
        raise UnsafePickleError(f"{name}: {exc}") from None
    if not isinstance(obj, dict):
        raise WeightFileError(f"{name}: {what} holds a {type(obj).__name__}; expected a dict")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, (bytes, str)):
            raise WeightFileError(f"{name}: {what} has a non-string key {key!r}")
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
