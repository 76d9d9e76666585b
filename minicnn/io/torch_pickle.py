"""Unpickle the object tree inside a ``torch.save`` file -- without torch, without code.

How ``torch.save`` pickles a tensor
-----------------------------------
A tensor is a *view* of a flat *storage*: element ``t[i0, i1, ...]`` lives at storage
index ``offset + i0*stride0 + i1*stride1 + ...``. The pickle records the view as a call::

    torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)

and the storage itself as a *persistent id* (the bytes live outside the pickle)::

    ("storage", torch.FloatStorage, key, location, numel)            # zip format
    ("storage", torch.FloatStorage, key, location, numel, view_meta)  # legacy format

Dtypes without a typed storage class (uint16/32/64) use ``_rebuild_tensor_v3`` with an
``UntypedStorage`` (numel counts *bytes*) and the dtype (e.g. ``torch.uint16``) as an
extra argument.

What this module does
---------------------
``TorchUnpickling`` maps exactly those globals onto safe stand-ins that build
*placeholders*: ``StorageRef`` for a storage and ``TensorRef`` for a view. Every
placeholder is validated when it is built (dtype known, sizes and strides
non-negative, ``offset + extent`` inside the storage, the storage no bigger than the
file), so a lying file fails before a single data byte is read. ``materialize`` later
turns a ``TensorRef`` plus its storage bytes into a NumPy array (``as_strided`` over
the storage, then a copy). Every other global -- ``os.system``, ``builtins.eval``,
``subprocess.Popen``, a pickled ``nn.Module`` class -- is refused by name.

All stand-ins are ``pickle_standins.Frozen``: the pickle's ``BUILD`` opcode cannot
change a ``TensorRef`` after it was validated, nor patch an allowed function.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minicnn.io.errors import WeightFileError
from minicnn.io.pickle_standins import Frozen, Marker, SafeGlobal


@dataclass(frozen=True)
class TorchDType(Frozen):
    """A torch dtype and how its elements are stored on disk (little-endian)."""

    name: str          # torch's name, e.g. "float32"
    stored: str | None  # NumPy dtype of the stored bytes; None = no NumPy equivalent

    @property
    def itemsize(self) -> int:
        return np.dtype(self.stored).itemsize if self.stored else 1


_DTYPES = {d.name: d for d in (
    TorchDType("float64", "<f8"), TorchDType("float32", "<f4"), TorchDType("float16", "<f2"),
    # bfloat16 = the top 16 bits of a float32; NumPy has no such type, so we read the
    # raw uint16 and widen it exactly to float32 (see ``materialize``).
    TorchDType("bfloat16", "<u2"),
    TorchDType("int64", "<i8"), TorchDType("int32", "<i4"), TorchDType("int16", "<i2"),
    TorchDType("int8", "i1"), TorchDType("uint8", "u1"), TorchDType("bool", "?"),
    TorchDType("uint16", "<u2"), TorchDType("uint32", "<u4"), TorchDType("uint64", "<u8"),
    TorchDType("complex64", "<c8"), TorchDType("complex128", "<c16"),
)}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
            "int": "int32", "short": "int16", "cfloat": "complex64", "cdouble": "complex128"}
_NO_NUMPY = ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
             "float8_e8m0fnu", "complex32", "qint8", "quint8", "qint32", "quint4x2")
_STORAGE_CLASSES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}
UNTYPED = TorchDType("untyped bytes", "u1")


@dataclass(frozen=True)
class StorageType(Frozen):
    """Stand-in for a ``torch.*Storage`` class named in the pickle."""

    name: str
    dtype: TorchDType  # UNTYPED for torch.UntypedStorage (numel then counts bytes)


@dataclass(frozen=True)
class StorageRef(Frozen):
    """A storage the pickle refers to; its bytes live outside the pickle under ``key``.

    ``start``/``nbytes`` select a byte range of the root storage (legacy storage views;
    otherwise the whole root: ``start = 0``, ``nbytes = root_nbytes``).
    """

    key: str
    dtype: TorchDType
    root_nbytes: int
    start: int
    nbytes: int


@dataclass(frozen=True)
class TensorRef(Frozen):
    """A tensor = a strided view of a storage. Offsets and strides count elements."""

    storage: StorageRef
    dtype: TorchDType
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.size)


# Stand-ins for the classes torch.Tensor / torch.nn.Parameter: only compared, never called.
_TENSOR, _PARAMETER = Marker("torch.Tensor"), Marker("torch.nn.Parameter")


class TorchUnpickling:
    """The allow-list and persistent-id handler for one torch pickle.

    Args:
        name: file name for error messages.
        file_size: bytes in the whole file; no storage may claim more.
        legacy: True for the legacy (non-zip) format, whose storage ids have 6 fields.
        check_storage: optional ``(key, nbytes)`` callback that verifies the storage
            exists outside the pickle with exactly that size (the zip reader uses it).
    """

    def __init__(self, name: str, file_size: int, legacy: bool,
                 check_storage: Callable[[str, int], None] | None = None) -> None:
        self.name = name
        self.file_size = file_size
        self.legacy = legacy
        self.check_storage = check_storage
        self.roots: dict[str, tuple[TorchDType, int]] = {}  # key -> (dtype, numel)
        self._tensor_rebuilders: tuple[SafeGlobal, ...] = ()

    # ------------------------------------------------------------------ allow-list
    def allowed_globals(self) -> dict[tuple[str, str], Any]:
        """``{(module, name): stand-in}`` for every global a torch.save pickle uses."""
        rebuild_v2 = SafeGlobal(self._rebuild_tensor_v2, "torch._utils._rebuild_tensor_v2")
        self._tensor_rebuilders = (
            SafeGlobal(self._rebuild_tensor, "torch._utils._rebuild_tensor"), rebuild_v2,
            SafeGlobal(self._rebuild_tensor_v3, "torch._utils._rebuild_tensor_v3"),
            SafeGlobal(_rebuild_parameter, "torch._utils._rebuild_parameter"),
        )
        from_type = SafeGlobal(self._rebuild_from_type_v2, "torch._tensor._rebuild_from_type_v2")
        table: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): OrderedDict,  # a real class; building one is safe
            ("torch", "Size"): SafeGlobal(tuple, "torch.Size"),
            ("torch._utils", "_rebuild_parameter_with_state"):
                SafeGlobal(_rebuild_parameter, "torch._utils._rebuild_parameter_with_state"),
            ("torch._tensor", "_rebuild_from_type_v2"): from_type,
            ("torch.tensor", "_rebuild_from_type_v2"): from_type,  # torch < 1.8 module name
            ("torch", "Tensor"): _TENSOR,
            ("torch.nn.parameter", "Parameter"): _PARAMETER,
            ("torch", "UntypedStorage"): StorageType("UntypedStorage", UNTYPED),
            ("torch.storage", "UntypedStorage"): StorageType("UntypedStorage", UNTYPED),
        }
        for rebuilder in self._tensor_rebuilders:
            table[tuple(rebuilder.label.rsplit(".", 1))] = rebuilder
        for cls, dtype_name in _STORAGE_CLASSES.items():
            for module in ("torch", "torch.cuda"):  # legacy GPU checkpoints: torch.cuda.*
                table[(module, cls)] = StorageType(cls, _DTYPES[dtype_name])
        for dtype_name, dtype in _DTYPES.items():
            table[("torch", dtype_name)] = dtype
        for alias, dtype_name in _ALIASES.items():
            table[("torch", alias)] = _DTYPES[dtype_name]
        for dtype_name in _NO_NUMPY:
            table[("torch", dtype_name)] = TorchDType(dtype_name, None)
        return table

    # ------------------------------------------------------------------ storages
    def persistent_load(self, pid: Any) -> StorageRef:
        """Turn a storage persistent id into a validated ``StorageRef``."""
        fields = 6 if self.legacy else 5
        if not isinstance(pid, tuple) or not pid:
            raise WeightFileError(f"{self.name}: persistent id {pid!r:.80}; expected a tuple")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module":
            raise WeightFileError(
                f"{self.name}: the file pickles a whole nn.Module ({pid[1]!r:.60}); only "
                "tensors can be read without running code -- save model.state_dict() "
                "instead of the model")
        if kind != "storage" or len(pid) != fields:
            raise WeightFileError(
                f"{self.name}: persistent id {pid!r:.120}; expected ('storage', type, key, "
                f"location, numel{', view' if self.legacy else ''}) with {fields} fields")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, StorageType):
            raise WeightFileError(f"{self.name}: storage type {storage_type!r:.60}; "
                                  "expected a torch.*Storage class")
        key = key.decode("ascii") if isinstance(key, bytes) else key
        if not isinstance(key, str) or not _is_count(numel):
            raise WeightFileError(f"{self.name}: storage id {pid!r:.120} has a bad key "
                                  "or element count")
        dtype = storage_type.dtype
        root_nbytes = numel * dtype.itemsize
        if root_nbytes > self.file_size:
            raise WeightFileError(
                f"{self.name}: storage {key!r} claims {numel} x {dtype.itemsize}-byte "
                f"elements = {root_nbytes} bytes, but the whole file has only "
                f"{self.file_size} bytes")
        known = self.roots.setdefault(key, (dtype, numel))
        if known != (dtype, numel):
            raise WeightFileError(
                f"{self.name}: storage {key!r} appears as {known[1]} x {known[0].name} "
                f"and as {numel} x {dtype.name}; expected one dtype and size per storage")
        if self.check_storage is not None:
            self.check_storage(key, root_nbytes)
        start, nbytes = 0, root_nbytes
        view = pid[5] if self.legacy else None
        if view is not None:  # legacy storage view: (view_key, offset, size) in elements
            if not (isinstance(view, tuple) and len(view) == 3
                    and _is_count(view[1]) and _is_count(view[2])):
                raise WeightFileError(f"{self.name}: storage view {view!r:.80}; expected "
                                      "(key, offset, size)")
            start, nbytes = view[1] * dtype.itemsize, view[2] * dtype.itemsize
            if start + nbytes > root_nbytes:
                raise WeightFileError(
                    f"{self.name}: storage view {view!r:.80} ends at byte {start + nbytes} "
                    f"but storage {key!r} has {root_nbytes} bytes")
        return StorageRef(key, dtype, root_nbytes, start, nbytes)

    # ------------------------------------------------------------------ tensors
    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any) -> TensorRef:
        if not isinstance(storage, StorageRef):
            raise WeightFileError(f"{self.name}: tensor built from {storage!r:.60}; "
                                  "expected a storage persistent id")
        if storage.dtype is UNTYPED:
            raise WeightFileError(f"{self.name}: tensor over an untyped storage without "
                                  "a dtype; expected _rebuild_tensor_v3 for untyped storages")
        return self._view(storage, storage.dtype, offset, size, stride)

    def _rebuild_tensor_v2(self, storage: Any, offset: Any, size: Any, stride: Any,
                           requires_grad: Any = False, hooks: Any = None,
                           metadata: Any = None) -> TensorRef:
        return self._rebuild_tensor(storage, offset, size, stride)

    def _rebuild_tensor_v3(self, storage: Any, offset: Any, size: Any, stride: Any,
                           requires_grad: Any, hooks: Any, dtype: Any,
                           metadata: Any = None) -> TensorRef:
        if not isinstance(storage, StorageRef) or not isinstance(dtype, TorchDType):
            raise WeightFileError(f"{self.name}: _rebuild_tensor_v3 got {storage!r:.40}, "
                                  f"{dtype!r:.40}; expected a storage and a torch dtype")
        return self._view(storage, dtype, offset, size, stride)

    def _rebuild_from_type_v2(self, func: Any, new_type: Any, args: Any, state: Any) -> Any:
        # Tensor subclasses are rebuilt as func(*args) then converted to new_type; we
        # accept only plain Tensor / Parameter, whose conversion changes nothing.
        if (new_type is not _TENSOR and new_type is not _PARAMETER) \
                or not any(func is r for r in self._tensor_rebuilders) \
                or not isinstance(args, tuple):
            raise WeightFileError(f"{self.name}: tensor subclass {new_type!r:.60}; expected "
                                  "torch.Tensor or torch.nn.Parameter")
        return func(*args)

    def _view(self, storage: StorageRef, dtype: TorchDType, offset: Any, size: Any,
              stride: Any) -> TensorRef:
        """Validate a strided view before any data is read."""
        if dtype.stored is None:
            raise WeightFileError(f"{self.name}: torch dtype {dtype.name} has no NumPy "
                                  "equivalent; convert the tensor (e.g. .float()) before saving")
        if storage.dtype is not UNTYPED and storage.dtype != dtype:
            raise WeightFileError(f"{self.name}: {dtype.name} tensor over a "
                                  f"{storage.dtype.name} storage; expected matching dtypes")
        if not (_is_count(offset) and isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) and all(map(_is_count, size + stride))):
            raise WeightFileError(
                f"{self.name}: tensor view offset={offset!r:.40} size={size!r:.60} "
                f"stride={stride!r:.60}; expected non-negative ints, one stride per dim")
        numel = math.prod(size)
        # Last element touched: offset + sum_d (size_d - 1) * stride_d   (if numel > 0)
        end = offset + (sum((n - 1) * s for n, s in zip(size, stride)) + 1 if numel else 0)
        if end * dtype.itemsize > storage.nbytes:
            raise WeightFileError(
                f"{self.name}: tensor of size {list(size)} (offset {offset}, stride "
                f"{list(stride)}) needs elements up to {end} of storage {storage.key!r}, "
                f"which holds only {storage.nbytes // dtype.itemsize} {dtype.name} "
                "elements; expected offset + extent to fit inside the storage")
        if numel * dtype.itemsize > storage.nbytes:
            raise WeightFileError(
                f"{self.name}: tensor of size {list(size)} has {numel} elements but its "
                f"storage {storage.key!r} holds {storage.nbytes // dtype.itemsize}; "
                "expanded (stride-0) views are refused -- save t.contiguous() instead")
        return TensorRef(storage, dtype, offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None,
                       state: Any = None) -> Any:
    """``nn.Parameter(data)`` is just its data here."""
    return data


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def materialize(tensor: TensorRef, root: bytes | memoryview, big_endian: bool,
                name: str) -> np.ndarray:
    """Copy the strided view ``tensor`` out of the root storage bytes ``root``.

    ``root`` must hold ``tensor.storage.root_nbytes`` bytes (the caller checks). The
    result is a C-contiguous, native-endian array that owns its memory; bfloat16 is
    widened exactly to float32 by placing its 16 bits at the top of a float32.
    """
    storage = tensor.storage
    if len(root) != storage.root_nbytes or storage.start + storage.nbytes > len(root):
        raise WeightFileError(f"{name}: storage {storage.key!r} has {len(root)} bytes, "
                              f"expected {storage.root_nbytes}")
    dtype = np.dtype(tensor.dtype.stored)
    if big_endian:
        dtype = dtype.newbyteorder(">")
    if tensor.numel == 0:
        out = np.zeros(tensor.size, dtype=dtype.newbyteorder("="))
    else:
        # as_strided does no bounds checks, so re-check here what _view validated:
        # the last element, offset + sum (n - 1) * stride, must lie inside the storage.
        last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride))
        if last < 0 or (last + 1) * dtype.itemsize > storage.nbytes:
            raise WeightFileError(f"{name}: tensor view reaches element {last} outside "
                                  f"storage {storage.key!r}")
        start = storage.start + tensor.offset * dtype.itemsize  # in bytes
        count = (storage.start + storage.nbytes - start) // dtype.itemsize
        flat = np.frombuffer(root, dtype=dtype, count=count, offset=start)  # (count,)
        strides = tuple(s * dtype.itemsize for s in tensor.stride)           # bytes
        view = np.lib.stride_tricks.as_strided(flat, shape=tensor.size, strides=strides,
                                               writeable=False)
        out = np.array(view, dtype=dtype.newbyteorder("="), order="C")     # copy
    if tensor.dtype.name == "bfloat16":
        out = (out.astype(np.uint32) << 16).view(np.float32)  # bf16 bits -> top of fp32
    return out
