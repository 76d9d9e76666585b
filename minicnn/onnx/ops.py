"""The operator table: ONNX op type -> the function that runs it.

    OPS["Conv"](inputs, ctx) -> output value(s)

The functions live in ``ops_nn.py`` (layers: Conv, pooling, Gemm, BatchNormalization,
Dropout, activations) and ``ops_tensor.py`` (arithmetic, shapes, constants).  The two
sets below tell the importer what kind of thing an initializer is, from where it is used:

- an input slot in ``CONSTANT_INPUTS`` takes a constant (a shape, axes, a dropout ratio):
  an initializer used there stays a NumPy array;
- BatchNormalization's mean and variance (``BUFFER_INPUTS``) become buffers: saved in
  ``state_dict()``, updated in training mode, but not trained by an optimizer;
- every other floating-point initializer is a weight and becomes a trainable Parameter.
"""
from __future__ import annotations

from typing import Any, Callable

from .graph import OpContext, Value
from .ops_nn import NN_OPS
from .ops_tensor import TENSOR_OPS

__all__ = ["OPS", "SUPPORTED_OPS", "CONSTANT_INPUTS", "BUFFER_INPUTS"]

OpFunction = Callable[[list[Value], OpContext], Any]

OPS: dict[str, OpFunction] = {**NN_OPS, **TENSOR_OPS}
SUPPORTED_OPS: tuple[str, ...] = tuple(sorted(OPS))

# op type -> indices of inputs that are constants, never trained
CONSTANT_INPUTS: dict[str, frozenset[int]] = {
    "Reshape": frozenset({1}), "Squeeze": frozenset({1}), "Unsqueeze": frozenset({1}),
    "Slice": frozenset({1, 2, 3, 4}), "Pad": frozenset({1, 2, 3}), "Gather": frozenset({1}),
    "Dropout": frozenset({1, 2}), "ReduceMean": frozenset({1}), "Shape": frozenset({0}),
    "ConstantOfShape": frozenset({0}),
}
# op type -> indices of inputs that are running statistics (buffers)
BUFFER_INPUTS: dict[str, frozenset[int]] = {"BatchNormalization": frozenset({3, 4})}
