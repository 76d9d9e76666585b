"""ONNX operators that compute or move values: arithmetic, shapes, constants.

Every function here takes the node's input values and an ``OpContext`` and returns the
output value (or a tuple of them).  A value is a Tensor when it lies on the
differentiable path (it came from the graph input or a weight) and a NumPy array when
it is a constant.  Exporters flatten feature maps with chains such as

    Shape(x) -> Gather(0) -> Unsqueeze -> Concat(with [-1]) -> Reshape(x, that)

Shape reads the *static* shape of a Tensor, so the whole chain runs in NumPy on small
integer arrays and only the final Reshape touches the Tensor.  When every input is a
NumPy array the op is evaluated in NumPy; as soon as one is a Tensor the op goes through
``minicnn``'s differentiable functions, so gradients reach the weights.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import ops
from ..function import as_tensor
from ..tensor import Tensor
from .graph import OpContext, Value

__all__ = ["TENSOR_OPS", "ONNX_DTYPES", "as_tensors"]

# TensorProto.DataType numbers -> NumPy dtypes (the ones a CNN graph meets).
ONNX_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32), 2: np.dtype(np.uint8), 3: np.dtype(np.int8), 4: np.dtype(np.uint16),
    5: np.dtype(np.int16), 6: np.dtype(np.int32), 7: np.dtype(np.int64), 9: np.dtype(np.bool_),
    10: np.dtype(np.float16), 11: np.dtype(np.float64), 12: np.dtype(np.uint32), 13: np.dtype(np.uint64),
}


def _is_const(v: Value) -> bool:
    return isinstance(v, (np.ndarray, np.generic))


def as_tensors(*values: Value) -> list[Tensor]:
    """Wrap NumPy constants as Tensors (on the device and in the float type of a Tensor input)."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    return [as_tensor(v, like) for v in values]


def _ints(v: Value, what: str) -> list[int]:
    """A constant integer list (a shape, axes, starts ...); a Tensor here would be data-dependent."""
    if isinstance(v, Tensor):
        raise ValueError(f"{what} must be a constant (an initializer or computed from shapes), "
                         "but it depends on the input data")
    return [int(i) for i in np.asarray(v).reshape(-1)]


def _axes(ctx: OpContext, inputs: Sequence[Value], index: int) -> list[int] | None:
    """``axes`` from input ``index`` (opset 13+ for Squeeze/Unsqueeze) or from the attribute."""
    if len(inputs) > index and inputs[index] is not None:
        return _ints(inputs[index], "axes")
    axes = ctx.attr("axes")
    return None if axes is None else [int(a) for a in axes]


# ---------------------------------------------------------------------- arithmetic
def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX integer division truncates toward zero (C semantics); NumPy's // floors."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q).astype(np.result_type(a, b))


def _both_const(a: Value, b: Value) -> bool:
    return _is_const(a) and _is_const(b)


def add(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Add: a + b, with NumPy broadcasting."""
    a, b = inputs
    if _both_const(a, b):
        return np.add(a, b).astype(np.result_type(a, b))
    return ops.add(*as_tensors(a, b))


def sub(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Sub: a - b, with NumPy broadcasting."""
    a, b = inputs
    if _both_const(a, b):
        return np.subtract(a, b).astype(np.result_type(a, b))
    return ops.sub(*as_tensors(a, b))


def mul(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Mul: a * b, with NumPy broadcasting."""
    a, b = inputs
    if _both_const(a, b):
        return np.multiply(a, b).astype(np.result_type(a, b))
    return ops.mul(*as_tensors(a, b))


def div(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Div: a / b (integer inputs: truncating division)."""
    a, b = inputs
    if _both_const(a, b):
        if np.result_type(a, b).kind in "iu":
            return _int_div(a, b)
        return np.asarray(a / b).astype(np.result_type(a, b))
    return ops.div(*as_tensors(a, b))


def neg(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Neg: -x."""
    (x,) = inputs
    return -x if _is_const(x) else ops.neg(x)


def matmul(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX MatMul: NumPy's matmul (batched, broadcasting)."""
    a, b = inputs
    if _both_const(a, b):
        return np.matmul(a, b)
    return ops.matmul(*as_tensors(a, b))


def reduce_mean(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX ReduceMean: mean over ``axes`` (an attribute before opset 18, an input from 18)."""
    x = inputs[0]
    axes = _axes(ctx, inputs, 1)
    keep = bool(ctx.attr("keepdims", 1))
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    if _is_const(x):
        return np.mean(x, axis=tuple(axes), keepdims=keep).astype(x.dtype)
    return ops.mean(x, dim=tuple(axes), keepdim=keep)


# ---------------------------------------------------------------------- shapes
def _reshape(x: Value, shape: Sequence[int]) -> Value:
    return x.reshape(tuple(shape)) if _is_const(x) else ops.reshape(x, tuple(shape))


def reshape(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Reshape: 0 copies that dimension of the input (unless allowzero=1), -1 is inferred."""
    x, shape = inputs
    target = _ints(shape, "Reshape's shape")
    if not ctx.attr("allowzero", 0):
        target = [x.shape[i] if t == 0 else t for i, t in enumerate(target)]
    return _reshape(x, target)


def flatten(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Flatten: (d0, ..., dn) -> (d0*...*d(axis-1), d(axis)*...*dn), always 2-D."""
    (x,) = inputs
    axis = int(ctx.attr("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    outer = int(np.prod(x.shape[:axis]))
    inner = int(np.prod(x.shape[axis:]))
    return _reshape(x, (outer, inner))                           # (outer, inner)


def transpose(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Transpose: y.shape[i] = x.shape[perm[i]]; perm defaults to reversing the axes.

    tf2onnx wraps Keras's channels-last layers in Transposes: perm (0, 3, 1, 2) turns
    NHWC into NCHW for a Conv, (0, 2, 3, 1) turns it back; executing them faithfully is
    all it takes to run such a graph.
    """
    (x,) = inputs
    perm = ctx.attr("perm")
    perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(int(p) for p in perm)
    return np.transpose(x, perm) if _is_const(x) else ops.permute(x, perm)


def squeeze(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Squeeze: remove the size-1 axes listed (all size-1 axes if none are)."""
    x = inputs[0]
    axes = _axes(ctx, inputs, 1)
    if axes is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1]
    axes = [a + x.ndim if a < 0 else a for a in axes]
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"Squeeze: axis {a} of shape {tuple(x.shape)} has size {x.shape[a]}, not 1")
    return _reshape(x, [n for i, n in enumerate(x.shape) if i not in axes])


def unsqueeze(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Unsqueeze: insert size-1 axes at ``axes``, which index the *output* shape."""
    x = inputs[0]
    axes = _axes(ctx, inputs, 1)
    if axes is None:
        raise ValueError("Unsqueeze needs axes (an attribute before opset 13, the second input from 13)")
    rank = x.ndim + len(axes)
    axes = sorted(a + rank if a < 0 else a for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return _reshape(x, shape)


def concat(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Concat along ``axis``."""
    axis = int(ctx.attr("axis"))
    if all(_is_const(v) for v in inputs):
        return np.concatenate(inputs, axis=axis)
    return ops.cat(as_tensors(*inputs), dim=axis)


def pad(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Pad, constant mode: pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...]."""
    x = inputs[0]
    mode = ctx.attr("mode", "constant")
    if mode != "constant":
        raise ValueError(f"Pad: mode {mode!r} is not supported; only mode='constant'")
    if ctx.opset < 11:
        pads, value = [int(p) for p in ctx.attr("pads")], float(ctx.attr("value", 0.0))
    else:
        pads = _ints(inputs[1], "Pad's pads")
        value = float(np.asarray(inputs[2]).reshape(-1)[0]) if len(inputs) > 2 and inputs[2] is not None else 0.0
    axes = _ints(inputs[3], "Pad's axes") if len(inputs) > 3 and inputs[3] is not None else list(range(x.ndim))
    half = len(pads) // 2
    widths = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        widths[a % x.ndim] = (pads[i], pads[i + half])
    if any(b < 0 or e < 0 for b, e in widths):
        raise ValueError(f"Pad: negative pads {pads} (cropping) are not supported")
    if _is_const(x):
        return np.pad(x, widths, constant_values=value)
    return ops.pad(x, widths, value=value)


# ---------------------------------------------------------------------- shape chains
def shape(inputs: list[Value], ctx: OpContext) -> np.ndarray:
    """ONNX Shape: the static shape as an int64 array (optionally shape[start:end], opset 15)."""
    (x,) = inputs
    dims = tuple(x.shape)
    start, end = ctx.attr("start", 0), ctx.attr("end", None)
    return np.array(dims[start:end], dtype=np.int64)


def gather(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Gather: y = take(x, indices, axis); a 0-d index removes that axis."""
    x, indices = inputs
    axis = int(ctx.attr("axis", 0))
    if isinstance(indices, Tensor):
        indices = indices.numpy()
    if _is_const(x):
        return np.asarray(np.take(x, indices, axis=axis))
    index = (slice(None),) * (axis % x.ndim) + (np.asarray(indices, dtype=np.int64),)
    return ops.getitem(x, index)


def slice_(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Slice: x[starts:ends:steps] on ``axes`` (attributes before opset 10, inputs after).

    Python's slicing already clamps out-of-range bounds the way ONNX specifies
    (e.g. ends = INT64_MAX means "to the end").
    """
    x = inputs[0]
    if ctx.opset < 10:
        starts, ends = ctx.attr("starts"), ctx.attr("ends")
        axes, steps = ctx.attr("axes"), None
    else:
        starts, ends = _ints(inputs[1], "Slice's starts"), _ints(inputs[2], "Slice's ends")
        axes = _ints(inputs[3], "Slice's axes") if len(inputs) > 3 and inputs[3] is not None else None
        steps = _ints(inputs[4], "Slice's steps") if len(inputs) > 4 and inputs[4] is not None else None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes, starts, ends, steps):
        index[int(a) % x.ndim] = slice(int(b), int(e), int(s))
    return x[tuple(index)] if _is_const(x) else ops.getitem(x, tuple(index))


def cast(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Cast to the type numbered ``to``; differentiable only from float to float."""
    (x,) = inputs
    to = int(ctx.attr("to"))
    if to not in ONNX_DTYPES:
        raise ValueError(f"Cast: target type {to} is not supported; supported: {sorted(ONNX_DTYPES)}")
    dtype = ONNX_DTYPES[to]
    if _is_const(x):
        return x.astype(dtype)
    if dtype.kind == "f" and x.dtype.kind == "f":
        return x.astype(dtype)
    return x.numpy().astype(dtype)          # integer/bool results have no gradient


def constant(inputs: list[Value], ctx: OpContext) -> np.ndarray:
    """ONNX Constant: the ``value`` tensor, or ``value_float(s)`` / ``value_int(s)``."""
    attrs = ctx.node.attrs
    if "value" in attrs:
        return np.asarray(attrs["value"])
    if "value_float" in attrs:
        return np.array(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.array(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.array(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.array(attrs["value_ints"], dtype=np.int64)
    raise ValueError(f"Constant: no supported value attribute among {sorted(attrs)}; "
                     "expected value, value_float(s) or value_int(s)")


def constant_of_shape(inputs: list[Value], ctx: OpContext) -> np.ndarray:
    """ONNX ConstantOfShape: an array of the given shape filled with ``value`` (default float 0)."""
    (dims,) = inputs
    value = np.asarray(ctx.attr("value", np.zeros(1, dtype=np.float32))).reshape(-1)
    return np.full(_ints(dims, "ConstantOfShape's shape"), value[0], dtype=value.dtype)


def identity(inputs: list[Value], ctx: OpContext) -> Value:
    """ONNX Identity: y = x."""
    return inputs[0]


TENSOR_OPS = {
    "Add": add, "Sub": sub, "Mul": mul, "Div": div, "Neg": neg, "MatMul": matmul, "ReduceMean": reduce_mean,
    "Reshape": reshape, "Flatten": flatten, "Transpose": transpose, "Squeeze": squeeze,
    "Unsqueeze": unsqueeze, "Concat": concat, "Pad": pad,
    "Shape": shape, "Gather": gather, "Slice": slice_, "Cast": cast, "Constant": constant,
    "ConstantOfShape": constant_of_shape, "Identity": identity,
}
