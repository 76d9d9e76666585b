"""Read the weights (graph initializers) of an ONNX model with the ``onnx`` package.

An ONNX file is a protobuf ``ModelProto``; its ``graph.initializer`` list holds the
trained weights as ``TensorProto`` messages (name, dims, data type, bytes). Exporters
name them after the source model, e.g. ``"features.0.weight"`` from PyTorch.

Models over 2 GB keep tensor bytes in *external data* files next to the model: the
tensor then carries ``location`` (a path relative to the model's folder), ``offset``
and ``length``. We read those ourselves after checking that the location stays
inside the model's folder (no absolute paths, no ``..``, no symlink escapes) and that
offset + length fit in the data file -- a model must not be able to make us read
``/etc/passwd`` -- and that length matches the tensor's dims and type.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from minicnn.io._fileio import OutputBudget
from minicnn.io.errors import WeightFileError, reading
from minicnn.io.weight_file import WeightFile

__all__ = ["read_onnx", "looks_like_onnx"]

# Field tags a ModelProto can start with after ir_version (field 1, tag 0x08):
# producer_name 0x12, producer_version 0x1a, domain 0x22, model_version 0x28,
# doc_string 0x32, graph 0x3a, opset_import 0x42, metadata_props 0x72.
_MODEL_TAGS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72}
_PACKED_4BIT = ("INT4", "UINT4", "FLOAT4E2M1")


def looks_like_onnx(head: bytes) -> bool:
    """True if ``head`` starts like a serialized ModelProto: ir_version, then a field."""
    return len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] < 0x80 and head[2] in _MODEL_TAGS


def _import_onnx() -> Any:
    try:
        import onnx
        import onnx.numpy_helper
    except ImportError as exc:
        raise ImportError("reading ONNX files needs onnx: pip install minicnn[io]") from exc
    return onnx


def read_onnx(path: str | os.PathLike[str], allow_external_data: bool = True) -> WeightFile:
    """Read every initializer of an ONNX model as a NumPy array, in graph order.

    Args:
        path: the ``.onnx`` file.
        allow_external_data: if False, a model whose weights live in external files is
            refused instead of read.

    Returns:
        ``WeightFile(format="onnx")`` with ``meta`` holding ``ir_version``,
        ``opsets`` ({domain: version}), ``producer`` and ``external_files``.
    """
    onnx = _import_onnx()
    name = os.fspath(path)
    size = os.path.getsize(name)
    if size == 0:
        raise WeightFileError(f"{name}: empty file; expected an ONNX model")
    base_dir = os.path.dirname(os.path.abspath(name))
    arrays: dict[str, np.ndarray] = {}
    external: set[str] = set()
    budget = OutputBudget(size, name)
    with reading(name, "ONNX model"):
        model = onnx.ModelProto()
        with open(name, "rb") as f:
            model.ParseFromString(f.read())
        if not model.HasField("graph"):
            raise WeightFileError(f"{name}: protobuf without a graph; expected an ONNX "
                                  "ModelProto")
        for tensor in model.graph.initializer:
            if tensor.name in arrays:
                raise WeightFileError(f"{name}: initializer {tensor.name!r} appears twice")
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                if not allow_external_data:
                    raise WeightFileError(
                        f"{name}: initializer {tensor.name!r} keeps its data in an external "
                        "file; pass allow_external_data=True to read it")
                external.add(_load_external(onnx, tensor, base_dir, name, budget, external))
            arrays[tensor.name] = _to_numpy(onnx, tensor, name)
        meta = {"ir_version": model.ir_version, "producer": model.producer_name,
                "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
                "external_files": sorted(external)}
    return WeightFile(arrays, "onnx", meta, name)


def _expected_nbytes(onnx: Any, tensor: Any, name: str) -> int:
    numel = math.prod(tensor.dims)
    type_name = onnx.TensorProto.DataType.Name(tensor.data_type)
    if type_name in _PACKED_4BIT:
        return (numel + 1) // 2  # two 4-bit values per byte
    if type_name in ("STRING", "UNDEFINED"):
        raise WeightFileError(f"{name}: initializer {tensor.name!r} has type {type_name}; "
                              "expected a numeric tensor")
    return numel * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize


def _load_external(onnx: Any, tensor: Any, base_dir: str, name: str, budget: OutputBudget,
                   seen: set[str]) -> str:
    """Read an external-data tensor's bytes into ``raw_data`` after checking the path."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    where = f"{name}: initializer {tensor.name!r}"
    if not location or os.path.isabs(location) or ".." in location.replace("\\", "/").split("/"):
        raise WeightFileError(f"{where}: external data location {location!r}; expected a "
                              "relative path inside the model's folder")
    data_path = os.path.realpath(os.path.join(base_dir, location))
    if os.path.commonpath([data_path, os.path.realpath(base_dir)]) != os.path.realpath(base_dir):
        raise WeightFileError(f"{where}: external data {location!r} resolves outside the "
                              "model's folder; refused")
    if not os.path.isfile(data_path):
        raise WeightFileError(f"{where}: external data file {location!r} not found next "
                              "to the model")
    try:
        offset = int(info.get("offset", "0"))
        nbytes = _expected_nbytes(onnx, tensor, name)
        length = int(info.get("length", str(nbytes)))
    except ValueError as exc:
        raise WeightFileError(f"{where}: bad external offset/length {info}") from exc
    file_size = os.path.getsize(data_path)
    if offset < 0 or length != nbytes or offset + length > file_size:
        raise WeightFileError(
            f"{where}: external data [{offset}, {offset + length}) of {location!r} "
            f"(a {file_size}-byte file); expected {nbytes} bytes for dims "
            f"{list(tensor.dims)} inside the file")
    if location not in seen:
        budget.grow(file_size)  # each data file counts once as input
    budget.spend(length, f"external data of {tensor.name!r}")
    with open(data_path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise WeightFileError(f"{where}: external data file {location!r} is truncated")
    tensor.raw_data = data
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT
    return location


def _to_numpy(onnx: Any, tensor: Any, name: str) -> np.ndarray:
    """TensorProto -> plain NumPy array; bfloat16/float8 widen to float32, int4 to int8."""
    if tensor.HasField("raw_data"):
        expected = _expected_nbytes(onnx, tensor, name)
        if len(tensor.raw_data) != expected:
            raise WeightFileError(
                f"{name}: initializer {tensor.name!r} has {len(tensor.raw_data)} bytes of "
                f"data; dims {list(tensor.dims)} need {expected}")
    value = onnx.numpy_helper.to_array(tensor)
    if value.dtype.kind == "V":  # ml_dtypes types: bfloat16, float8*, int4, uint4, ...
        kind = value.dtype.name
        if "float" in kind:
            value = value.astype(np.float32)  # exact: these all fit in float32
        elif kind.startswith("uint"):
            value = value.astype(np.uint8)
        elif kind.startswith("int"):
            value = value.astype(np.int8)
    if value.dtype.kind not in "biufc":
        raise WeightFileError(f"{name}: initializer {tensor.name!r} has dtype {value.dtype}; "
                              "expected a numeric tensor")
    return np.array(value, dtype=value.dtype.newbyteorder("="), order="C")  # owned copy
