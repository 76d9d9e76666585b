"""The plain-Python form of an ONNX graph that ``OnnxModel`` runs, and the errors of this package.

An ONNX model is a list of *nodes* in execution order.  Each node names an operator
(``op_type``, e.g. ``"Conv"``), the *values* it reads and writes (by name: graph inputs,
weights called *initializers*, or outputs of earlier nodes) and its *attributes*
(``strides``, ``pads`` ...).  The importer turns the protobuf nodes into the ``Node``
records below, so nothing past the importer needs the ``onnx`` package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..tensor import Tensor

__all__ = ["Node", "InputSpec", "OpContext", "Value", "OnnxImportError", "UnsupportedOpError", "require_onnx"]

# What flows along a graph edge: a Tensor (on the differentiable path from the input or a
# weight), a NumPy array (a constant, e.g. a shape computed by Shape -> Gather -> Concat),
# or None (an optional input that was left out).
Value = Union[Tensor, np.ndarray, None]


class OnnxImportError(ValueError):
    """The ONNX file is not one minicnn can build a Module from (the message says why)."""


class UnsupportedOpError(OnnxImportError):
    """The graph uses an operator that minicnn does not implement."""


@dataclass(frozen=True)
class Node:
    """One ONNX node.

    Attributes:
        op_type: the operator, e.g. ``"Conv"``.
        name: the node's name in the file (or ``"#<index>"`` when it has none).
        inputs: names of the values read; ``""`` marks an optional input left out.
        outputs: names of the values written; ``""`` marks an optional output not wanted.
        attrs: attributes as Python values: int, float, str, lists, NumPy arrays (tensors).
    """

    op_type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """``Conv 'conv1' (x, w, b) -> (y)``, for error messages."""
        return f"{self.op_type} node {self.name!r} ({', '.join(self.inputs)}) -> ({', '.join(self.outputs)})"


@dataclass(frozen=True)
class InputSpec:
    """A graph input as declared in the file.

    Attributes:
        name: the value name, e.g. ``"input"``.
        shape: one entry per axis: an int for a fixed size, a str (e.g. ``"N"``) or None
            for a size that may vary.
        dtype: the declared element type, e.g. ``float32``.
    """

    name: str
    shape: tuple[int | str | None, ...]
    dtype: np.dtype

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name!r}: ({dims}) {self.dtype}"


@dataclass(frozen=True)
class OpContext:
    """What an op function needs besides its inputs.

    Attributes:
        node: the node being run (its attributes and names).
        opset: the model's version of the default ONNX operator set; some operators changed
            meaning between versions (Softmax at 13, Squeeze/Unsqueeze axes moved from an
            attribute to an input at 13, ReduceMean at 18 ...).
        training: the Module's mode: Dropout drops and BatchNormalization uses batch
            statistics only in training mode.
    """

    node: Node
    opset: int
    training: bool

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attrs.get(name, default)


def require_onnx() -> Any:
    """Import the ``onnx`` package, or say how to install it."""
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401  (the submodule is used by the importer)
    except ImportError as exc:
        raise ImportError(
            "minicnn.onnx needs the onnx package to read and write .onnx files: "
            "pip install minicnn[io]  (or: pip install onnx)") from exc
    return onnx
