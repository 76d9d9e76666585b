"""Rebuild pickled NumPy arrays without letting the pickle reach NumPy's own unpickling.

How NumPy pickles an array (protocols 2-4)::

    a = numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')   # empty shell
    d = numpy.dtype('u1', False, True)                                  # the dtype...
    d.__setstate__((3, '|', None, None, None, -1, -1, 0))               # ...its state
    a.__setstate__((1, (10000, 3072), d, False, raw_bytes))             # fill the shell

and at protocol 5 as ``numpy.core.numeric._frombuffer(raw, d, shape, order)``.

Handing the pickle the real ``_reconstruct``, ``ndarray`` and ``dtype`` would let it run
NumPy's ``__setstate__`` on states it chooses -- and NumPy trusts them: a dtype state
with the right flags makes it treat raw bytes as object pointers (a segfault, or worse),
and ``ndarray(huge_shape)`` allocates before anything is checked. So the stand-ins
below only *record* what the pickle asks for, accept exactly the states NumPy itself
writes for plain numeric arrays, and build the array with ``np.frombuffer`` after
checking that ``len(raw) == prod(shape) * itemsize``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minicnn.io.pickle_standins import BuildRefused, Frozen, Marker, SafeGlobal

__all__ = ["numpy_globals", "unwrap_arrays", "PickledArray", "PickledDType"]

_PLAIN_KINDS = "biuf"  # bool, signed int, unsigned int, float
_NDARRAY = Marker("numpy.ndarray")


def plain_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` if it is a plain number type (no objects, fields, sub-arrays), else raise."""
    if dtype.hasobject or dtype.kind not in _PLAIN_KINDS or dtype.fields is not None \
            or dtype.subdtype is not None:
        raise BuildRefused(f"an array of dtype {dtype!r}; expected a plain numeric dtype "
                           "(bool, int, uint, float) -- object arrays are refused")
    return dtype


def _text(value: Any) -> str:
    if isinstance(value, bytes):  # Python 2 str under encoding="bytes"
        return value.decode("latin1")
    if not isinstance(value, str):
        raise BuildRefused(f"expected a string, got {type(value).__name__}")
    return value


class PickledDType(Frozen):
    """``numpy.dtype(code, align, copy)`` as pickled, plus its one allowed state."""

    __slots__ = ("dtype", "_stated")

    def __init__(self, code: Any, align: Any = False, copy: Any = False) -> None:
        self.dtype = plain_dtype(np.dtype(_text(code)))  # e.g. 'u1', 'f4', '<i8'
        self._stated = False

    def __setstate__(self, state: Any) -> None:
        # NumPy writes (3, byteorder, None, None, None, -1, -1, 0) for a plain number
        # type (version 4 appends a metadata slot). Anything else is refused.
        if self._stated or not isinstance(state, tuple) or len(state) not in (8, 9) \
                or state[0] not in (3, 4) or state[2:8] != (None, None, None, -1, -1, 0) \
                or (len(state) == 9 and state[8] is not None):
            raise BuildRefused(f"dtype state {state!r:.80}; expected (3, byteorder, None, "
                               "None, None, -1, -1, 0) for a plain numeric dtype")
        order = _text(state[1])
        if order not in ("<", ">", "|", "="):
            raise BuildRefused(f"dtype byte order {order!r}; expected one of < > | =")
        self.dtype = self.dtype.newbyteorder(order) if order in "<>" else self.dtype
        self._stated = True


class PickledArray(Frozen):
    """An array shell from ``_reconstruct``, filled once by its (checked) state."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray | None = None) -> None:
        self.array = array

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) != 5 \
                or state[0] != 1:
            raise BuildRefused(f"array state {state!r:.80}; expected (1, shape, dtype, "
                               "is_fortran, raw_bytes)")
        _version, shape, dtype, fortran, raw = state
        if isinstance(raw, str):  # Python 2 str decoded as latin1: undo it
            raw = raw.encode("latin1")
        if not isinstance(fortran, bool):
            raise BuildRefused(f"array order flag {fortran!r:.20}; expected True/False")
        self.array = _from_bytes(raw, dtype, shape, "F" if fortran else "C")


def _from_bytes(raw: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    """Copy ``raw`` into a new native-endian array after checking every claim."""
    if not isinstance(dtype, PickledDType):
        raise BuildRefused(f"array dtype {dtype!r:.40}; expected a pickled numpy.dtype")
    if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise BuildRefused(f"array shape {shape!r:.60}; expected a tuple of ints >= 0")
    if not isinstance(raw, (bytes, bytearray)):
        raise BuildRefused(f"array data of type {type(raw).__name__}; expected bytes")
    count = math.prod(shape)
    if len(raw) != count * dtype.dtype.itemsize:
        raise BuildRefused(f"array of shape {shape} and dtype {dtype.dtype} needs "
                           f"{count * dtype.dtype.itemsize} bytes, the pickle holds {len(raw)}")
    flat = np.frombuffer(raw, dtype=dtype.dtype, count=count)        # (count,) read-only
    shaped = flat.reshape(shape, order=order)                         # F order: column-major
    return np.array(shaped, dtype=dtype.dtype.newbyteorder("="), order="C")  # owned copy


def _reconstruct(subtype: Any, shape: Any, code: Any) -> PickledArray:
    if subtype is not _NDARRAY or shape != (0,):
        raise BuildRefused(f"_reconstruct({subtype!r:.30}, {shape!r:.30}); expected "
                           "(numpy.ndarray, (0,)) as NumPy writes it")
    return PickledArray()


def _frombuffer(raw: Any, dtype: Any, shape: Any, order: Any) -> PickledArray:
    if order not in ("C", "F"):
        raise BuildRefused(f"_frombuffer order {order!r:.10}; expected 'C' or 'F'")
    return PickledArray(_from_bytes(raw, dtype, shape, order))


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """Python 3 pickles bytes at protocol 2 as ``_codecs.encode(text, 'latin1')``."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise BuildRefused(f"_codecs.encode(..., {encoding!r:.20}); expected 'latin1'")
    return text.encode("latin1")


def numpy_globals() -> dict[tuple[str, str], Any]:
    """Allow-list for pickled plain NumPy arrays (NumPy 1.x and 2.x module names)."""
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): SafeGlobal(PickledDType, "numpy.dtype"),
        ("_codecs", "encode"): SafeGlobal(_latin1_encode, "_codecs.encode"),
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = SafeGlobal(
            _reconstruct, f"{core}.multiarray._reconstruct")
        table[(f"{core}.numeric", "_frombuffer")] = SafeGlobal(
            _frombuffer, f"{core}.numeric._frombuffer")
    return table


def unwrap_arrays(obj: Any, depth: int = 0) -> Any:
    """Replace every ``PickledArray`` in a dict/list/tuple tree by its NumPy array."""
    if depth > 32:
        raise BuildRefused("containers nested more than 32 deep")
    if isinstance(obj, PickledArray):
        if obj.array is None:
            raise BuildRefused("an array shell that was never filled")
        return obj.array
    if isinstance(obj, (PickledDType, Frozen)):
        raise BuildRefused(f"a bare {type(obj).__name__} in the data; expected arrays")
    if isinstance(obj, dict):
        return {k: unwrap_arrays(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(unwrap_arrays(v, depth + 1) for v in obj)
    return obj
