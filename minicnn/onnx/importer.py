"""``load_model``: an ONNX file -> a trainable minicnn ``OnnxModel``.

The steps, each with its own check and error message:

1. read the weights with ``minicnn.io.read_onnx`` (external data files are read only
   from the model's own folder) and the graph with the ``onnx`` package;
2. validate: the operator-set version, every op supported, then the ONNX checker;
3. turn each protobuf node into a plain ``Node`` (attributes become Python values);
4. sort the initializers into weights (Parameters), BatchNorm statistics (buffers) and
   constants, from the input slots that use them (see ``ops.py``);
5. build the ``OnnxModel``.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from .graph import InputSpec, Node, OnnxImportError, UnsupportedOpError, require_onnx
from .model import OnnxModel
from .ops import BUFFER_INPUTS, CONSTANT_INPUTS, SUPPORTED_OPS
from .ops_tensor import ONNX_DTYPES

__all__ = ["load_model", "MIN_OPSET"]

# Operators changed meaning at opset 7 (Gemm/Add broadcasting, BatchNormalization, Dropout);
# older graphs can be upgraded with onnx.version_converter.
MIN_OPSET = 7
_DEFAULT_DOMAINS = ("", "ai.onnx")


def load_model(source: str | os.PathLike[str] | Any, check: bool = True) -> OnnxModel:
    """Build a differentiable minicnn Module from an ONNX model.

    Args:
        source: the path of an ``.onnx`` file, or an ``onnx.ModelProto`` already in memory
            (whose weights must then be inside it, not in external data files).
        check: run ``onnx.checker`` on the model first (default True).

    Returns:
        an ``OnnxModel`` in evaluation mode; its float weights are trainable Parameters
        named as in the file (``features.0.weight`` for a PyTorch export).

    Raises:
        ImportError: the ``onnx`` package is missing (``pip install minicnn[io]``).
        FileNotFoundError: there is no such file.
        minicnn.io.WeightFileError: the file is empty, truncated or not ONNX, or its external
            data is missing or lies outside the model's folder.
        OnnxImportError: the ONNX checker rejects the model, its opset is older than 7, a
            ModelProto in memory refers to external data, or a node reads an undefined value.
        UnsupportedOpError: the graph uses an op minicnn does not implement; the message
            names the op, the node and every supported op.

    Example:
        >>> model = minicnn.onnx.load_model("vgg16.onnx")
        >>> logits = model(x)                       # x: (N, 3, 224, 224) float32
        >>> model.train(); optimizer = minicnn.optim.SGD(model.parameters(), lr=1e-3)
    """
    onnx = require_onnx()
    if isinstance(source, onnx.ModelProto):
        proto, where = source, "the ModelProto"
        arrays = _initializers_in_memory(onnx, proto, where)
    elif isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        if not os.path.isfile(where):
            raise FileNotFoundError(f"load_model: no such file {where!r}")
        from ..io import read_onnx

        arrays = read_onnx(where).arrays              # WeightFileError for corrupt files
        proto = onnx.load(where, load_external_data=False)
    else:
        raise TypeError(f"load_model: expected a path or an onnx.ModelProto, got {type(source).__name__}")
    opset = _default_opset(proto, where)
    graph = proto.graph
    _check_supported(graph.node, where)          # before the checker, which rejects unknown ops less clearly
    if check:
        _run_checker(onnx, proto if isinstance(source, onnx.ModelProto) else where, where)
    if len(graph.sparse_initializer):
        raise OnnxImportError(f"{where}: sparse initializers are not supported")
    nodes = [_convert_node(onnx, node, i, where) for i, node in enumerate(graph.node)]
    inputs = [_input_spec(onnx, vi, where) for vi in graph.input if vi.name not in arrays]
    outputs = [vi.name for vi in graph.output]
    _check_defined(nodes, inputs, arrays, outputs, where)
    weights, buffers, constants = _sort_initializers(nodes, arrays)
    return OnnxModel(nodes, inputs, outputs, weights, buffers, constants, opset, proto.producer_name)


# ---------------------------------------------------------------------- validation
def _initializers_in_memory(onnx: Any, proto: Any, where: str) -> dict[str, np.ndarray]:
    arrays = {}
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise OnnxImportError(
                f"{where}: initializer {tensor.name!r} keeps its data in an external file, "
                "which cannot be found from a model in memory; pass the .onnx file's path to "
                "load_model so the data is read from the model's folder")
        arrays[tensor.name] = _to_numpy(onnx, tensor)
    return arrays


def _run_checker(onnx: Any, model_or_path: Any, where: str) -> None:
    try:
        onnx.checker.check_model(model_or_path)
    except onnx.checker.ValidationError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OnnxImportError(f"{where}: not a valid ONNX model, the ONNX checker says: {first_line} "
                              "(load_model(..., check=False) skips this check)") from exc


def _default_opset(proto: Any, where: str) -> int:
    versions = [o.version for o in proto.opset_import if o.domain in _DEFAULT_DOMAINS]
    if not versions:
        raise OnnxImportError(f"{where}: the model imports no version of the default ONNX "
                              "operator set (opset_import has no domain '' / 'ai.onnx')")
    opset = int(versions[0])
    if opset < MIN_OPSET:
        raise OnnxImportError(
            f"{where}: opset {opset} is older than {MIN_OPSET}, the oldest minicnn supports. "
            "Upgrade it first: onnx.save(onnx.version_converter.convert_version("
            "onnx.load(path), 13), new_path)")
    return opset


def _check_supported(proto_nodes: Any, where: str) -> None:
    """One error listing every unsupported op (with its first node) and the supported ones."""
    unsupported: dict[str, str] = {}
    for i, node in enumerate(proto_nodes):
        op = node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
        if op not in SUPPORTED_OPS and op not in unsupported:
            unsupported[op] = node.name or f"#{i}"
    if unsupported:
        found = "; ".join(f"op {op} (node {name!r})" for op, name in unsupported.items())
        raise UnsupportedOpError(
            f"{where}: unsupported ONNX operator(s): {found}. minicnn.onnx supports: "
            f"{', '.join(SUPPORTED_OPS)}")


def _check_defined(nodes: list[Node], inputs: list[InputSpec], arrays: dict[str, np.ndarray],
                   outputs: list[str], where: str) -> None:
    """Every value must be defined (input, initializer, earlier node) before it is read."""
    defined = {spec.name for spec in inputs} | set(arrays)
    for node in nodes:
        for name in node.inputs:
            if name and name not in defined:
                raise OnnxImportError(
                    f"{where}: {node.describe()} reads {name!r}, which no graph input, "
                    "initializer or earlier node defines (nodes must be in topological order)")
        defined.update(n for n in node.outputs if n)
    missing = [name for name in outputs if name not in defined]
    if missing:
        raise OnnxImportError(f"{where}: graph output(s) {missing} are never computed")


# ---------------------------------------------------------------------- conversion
def _to_numpy(onnx: Any, tensor: Any) -> np.ndarray:
    """TensorProto -> NumPy; bfloat16 / float8 widen to float32 (exactly)."""
    value = onnx.numpy_helper.to_array(tensor)
    if value.dtype.kind == "V":                    # ml_dtypes' bfloat16, float8 ...
        value = value.astype(np.float32)
    return np.array(value, dtype=value.dtype.newbyteorder("="), order="C")


def _convert_node(onnx: Any, node: Any, index: int, where: str) -> Node:
    attrs = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, onnx.TensorProto):
            if value.data_location == onnx.TensorProto.EXTERNAL:
                raise OnnxImportError(f"{where}: node {node.name!r} has a tensor attribute in external "
                                      "data, which is not supported")
            value = _to_numpy(onnx, value)
        elif isinstance(value, list):
            value = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        attrs[attribute.name] = value
    return Node(node.op_type, node.name or f"#{index}", tuple(node.input), tuple(node.output), attrs)


def _input_spec(onnx: Any, value_info: Any, where: str) -> InputSpec:
    tensor_type = value_info.type.tensor_type
    if tensor_type.elem_type not in ONNX_DTYPES:
        elem = tensor_type.elem_type
        type_name = onnx.TensorProto.DataType.Name(elem) if elem else "not a tensor"
        raise OnnxImportError(f"{where}: graph input {value_info.name!r} has type {type_name}; "
                              "expected a numeric tensor")
    dims: list[int | str | None] = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return InputSpec(value_info.name, tuple(dims), ONNX_DTYPES[tensor_type.elem_type])


def _sort_initializers(nodes: list[Node], arrays: dict[str, np.ndarray]) -> tuple[dict, dict, dict]:
    """(weights, buffers, constants) by how each initializer is used.

    A float initializer read by any ordinary input slot (Conv's W and B, Gemm's B and C,
    Add, Mul ...) is a weight; one read only as BatchNormalization's mean or variance is
    a buffer; integers, and floats read only as constants (a dropout ratio ...), stay
    NumPy constants.
    """
    roles: dict[str, set[str]] = {name: set() for name in arrays}
    for node in nodes:
        for i, name in enumerate(node.inputs):
            if name in roles:
                if i in CONSTANT_INPUTS.get(node.op_type, ()):
                    roles[name].add("constant")
                elif i in BUFFER_INPUTS.get(node.op_type, ()):
                    roles[name].add("buffer")
                else:
                    roles[name].add("weight")
    weights, buffers, constants = {}, {}, {}
    for name, array in arrays.items():
        if array.dtype.kind != "f" or not roles[name] - {"constant"}:
            constants[name] = array
        elif "weight" in roles[name]:
            weights[name] = array
        else:
            buffers[name] = array
    return weights, buffers, constants
