"""``export``: a minicnn model -> an ONNX file that ONNX Runtime (or PyTorch, TensorRT ...) runs.

How the graph is found (tracing): the model runs once on ``example_input`` with a forward
hook on every leaf layer.  Each call of a known layer (Conv2d, Linear, ...) becomes ONNX
node(s); its parameters become *initializers* named as in ``state_dict()``
(``features.0.weight``).  Between layers a ``forward`` may compute on its own, like VGG's
``x.flatten(1)`` or a residual ``x + y``: such values are found by walking the autograd
graph back from a layer's input to a value already named, translating each ``Function``
on the way (Reshape, Permute, Add, ...; see ``FUNCTION_EXPORTERS``).  The example input
is given ``requires_grad=True`` so that every op records its Function, even in a frozen
model.  The batch size is left free (``N``) in the file.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import nn
from ..grad_mode import enable_grad
from ..nn.functional.pooling import adaptive_windows
from ..ops import elementwise as ew
from ..ops import shape as sh
from ..ops.matmul import MatMul
from ..tensor import Tensor
from .graph import require_onnx

__all__ = ["export", "EXPORTABLE_LAYERS", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17
_MIN_OPSET = 13          # Softmax over one axis and Dropout's ratio input need opset >= 13
_EXTERNAL_DATA_BYTES = 1 << 30   # beyond this, weights go to a side file (protobuf's limit is 2 GB)


@dataclass
class _LayerCall:
    """One call of a leaf layer during the traced forward pass."""

    path: str            # the layer's name in the model, e.g. "features.0"
    module: nn.Module
    input: Tensor
    output: Tensor


class _GraphBuilder:
    """Collects ONNX nodes and initializers; names every traced Tensor once."""

    def __init__(self, onnx: Any, state_names: dict[int, str]) -> None:
        self.onnx, self.state_names = onnx, state_names
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self.names: dict[int, str] = {}      # id(tensor) -> ONNX value name
        self._alive: list[Tensor] = []       # keeps named tensors alive, so ids stay unique
        self._taken = set(state_names.values())
        self._counter = itertools.count()

    def fresh(self, base: str) -> str:
        name = base
        while name in self._taken:
            name = f"{base}_{next(self._counter)}"
        self._taken.add(name)
        return name

    def node(self, op: str, inputs: list[str], base: str, **attrs: Any) -> str:
        """Append ``op(inputs)`` and return the name of its (single) output."""
        out = self.fresh(base)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def weight(self, t: Tensor) -> str:
        """A parameter or buffer as an initializer named by its ``state_dict`` key."""
        name = self.state_names[id(t)]
        if name not in self.initializers:
            self.initializers[name] = self.onnx.numpy_helper.from_array(np.asarray(t.numpy(), order="C"), name)
        return name

    def constant(self, value: np.ndarray, base: str) -> str:
        """A Constant node (not an initializer: importers must not mistake it for a weight)."""
        tensor = self.onnx.numpy_helper.from_array(np.asarray(value, order="C"))
        return self.node("Constant", [], base, value=tensor)

    def bind(self, t: Tensor, name: str) -> None:
        self.names[id(t)] = name
        self._alive.append(t)

    def name_of(self, t: Tensor) -> str:
        """The ONNX value holding ``t``, translating the Functions that made it if needed."""
        if id(t) in self.names:
            return self.names[id(t)]
        if id(t) in self.state_names:
            return self.weight(t)
        fn = t.grad_fn
        if fn is None:                        # made inside forward without the input: a constant
            name = self.constant(t.numpy(), "constant")
        else:
            translate = FUNCTION_EXPORTERS.get(type(fn))
            if translate is None:
                raise NotImplementedError(
                    f"export: the model's forward computes {type(fn).__name__} outside the layers "
                    f"export knows; between layers it can translate only "
                    f"{', '.join(sorted(c.__name__ for c in FUNCTION_EXPORTERS))}. Move that "
                    f"computation into supported layers ({', '.join(EXPORTABLE_LAYERS)})")
            name = translate(self, fn, [self.name_of(i) for i in fn.inputs], t)
        self.bind(t, name)
        return name


# ---------------------------------------------------------------------- layers
def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, (int, np.integer)) else [int(i) for i in v]


def _conv2d(b: _GraphBuilder, m: nn.Conv2d, x: str, call: _LayerCall) -> str:
    if m.padding == "valid":
        pads = [0, 0, 0, 0]
    elif m.padding == "same":   # total D*(K-1), the odd pixel at the bottom/right (as F.conv2d)
        totals = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        pads = [t // 2 for t in totals] + [t - t // 2 for t in totals]
    else:
        pads = list(m.padding) * 2                     # [top, left, bottom, right]
    inputs = [x, b.weight(m.weight)] + ([b.weight(m.bias)] if m.bias is not None else [])
    return b.node("Conv", inputs, call.path, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                  pads=pads, dilations=list(m.dilation), group=m.groups)


def _linear(b: _GraphBuilder, m: nn.Linear, x: str, call: _LayerCall) -> str:
    weight = b.weight(m.weight)
    bias = [b.weight(m.bias)] if m.bias is not None else []
    if call.input.ndim == 2:                           # y = x W^T + b
        return b.node("Gemm", [x, weight] + bias, call.path, transB=1)
    w_t = b.node("Transpose", [weight], call.path + "/weight_T", perm=[1, 0])
    y = b.node("MatMul", [x, w_t], call.path + "/matmul")  # (*, I) @ (I, O) -> (*, O)
    return b.node("Add", [y] + bias, call.path) if bias else y


def _batch_norm(b: _GraphBuilder, m: Any, x: str, call: _LayerCall) -> str:
    if m.running_mean is None:
        raise ValueError(f"export: {call.path} ({type(m).__name__}(track_running_stats=False)) uses batch "
                         "statistics even in evaluation mode, which ONNX's BatchNormalization cannot express")
    C, dtype = m.num_features, m.running_mean.dtype
    scale = b.weight(m.weight) if m.weight is not None else b.constant(np.ones(C, dtype), call.path + "/ones")
    shift = b.weight(m.bias) if m.bias is not None else b.constant(np.zeros(C, dtype), call.path + "/zeros")
    momentum = 1.0 - (0.1 if m.momentum is None else m.momentum)   # ONNX weighs the old value
    return b.node("BatchNormalization", [x, scale, shift, b.weight(m.running_mean), b.weight(m.running_var)],
                  call.path, epsilon=float(m.eps), momentum=float(momentum))


def _max_pool(b: _GraphBuilder, m: nn.MaxPool2d, x: str, call: _LayerCall) -> str:
    return b.node("MaxPool", [x], call.path, kernel_shape=_pair(m.kernel_size), strides=_pair(m.stride),
                  pads=_pair(m.padding) * 2, dilations=_pair(m.dilation), ceil_mode=int(m.ceil_mode))


def _avg_pool(b: _GraphBuilder, m: nn.AvgPool2d, x: str, call: _LayerCall) -> str:
    return b.node("AveragePool", [x], call.path, kernel_shape=_pair(m.kernel_size), strides=_pair(m.stride),
                  pads=_pair(m.padding) * 2, ceil_mode=int(m.ceil_mode),
                  count_include_pad=int(m.count_include_pad))


def _averaging_matrix(O: int, L: int, dtype: np.dtype) -> np.ndarray:
    """(O, L): row i averages the window of adaptive pooling's output cell i."""
    start, end = adaptive_windows(O, L, np)
    pos = np.arange(L)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_avg_pool(b: _GraphBuilder, m: nn.AdaptiveAvgPool2d, x: str, call: _LayerCall) -> str:
    """Identity, GlobalAveragePool, an AveragePool when the windows are regular, and otherwise
    the exact general form that ``F.adaptive_avg_pool2d`` computes: y = A_h @ x @ A_w^T."""
    (H, W), (OH, OW) = call.input.shape[2:], call.output.shape[2:]
    if (OH, OW) == (H, W):
        return x                                       # every window is one pixel
    if (OH, OW) == (1, 1):
        return b.node("GlobalAveragePool", [x], call.path)
    if H % OH == 0 and W % OW == 0:
        kernel = [H // OH, W // OW]
        return b.node("AveragePool", [x], call.path, kernel_shape=kernel, strides=kernel)
    dtype = call.input.dtype
    a_h = b.constant(_averaging_matrix(OH, H, dtype), call.path + "/A_h")          # (OH, H)
    a_w_t = b.constant(_averaging_matrix(OW, W, dtype).T.copy(), call.path + "/A_w_T")  # (W, OW)
    rows = b.node("MatMul", [a_h, x], call.path + "/rows")   # (OH, H) @ (N, C, H, W) -> (N, C, OH, W)
    return b.node("MatMul", [rows, a_w_t], call.path)        # (N, C, OH, W) @ (W, OW) -> (N, C, OH, OW)


def _flatten(b: _GraphBuilder, m: nn.Flatten, x: str, call: _LayerCall) -> str:
    return _reshape_to(b, x, call.input.shape, call.output.shape, call.path)


def _dropout(b: _GraphBuilder, m: nn.Dropout, x: str, call: _LayerCall) -> str:
    ratio = b.constant(np.array(m.p, dtype=call.input.dtype), call.path + "/ratio")
    return b.node("Dropout", [x, ratio], call.path)   # the identity at inference


def _softmax(op: str) -> Callable[..., str]:
    def export_softmax(b: _GraphBuilder, m: Any, x: str, call: _LayerCall) -> str:
        if m.dim is None:
            raise ValueError(f"export: {call.path} ({type(m).__name__}) needs an explicit dim")
        return b.node(op, [x], call.path, axis=int(m.dim))
    return export_softmax


def _simple(op: str, **attrs_of: Callable[[Any], Any]) -> Callable[..., str]:
    def export_layer(b: _GraphBuilder, m: Any, x: str, call: _LayerCall) -> str:
        return b.node(op, [x], call.path, **{k: f(m) for k, f in attrs_of.items()})
    return export_layer


LAYER_EXPORTERS: dict[type, Callable[..., str]] = {
    nn.Conv2d: _conv2d, nn.Linear: _linear, nn.BatchNorm2d: _batch_norm, nn.BatchNorm1d: _batch_norm,
    nn.MaxPool2d: _max_pool, nn.AvgPool2d: _avg_pool, nn.AdaptiveAvgPool2d: _adaptive_avg_pool,
    nn.Flatten: _flatten, nn.Dropout: _dropout, nn.Softmax: _softmax("Softmax"),
    nn.LogSoftmax: _softmax("LogSoftmax"), nn.ReLU: _simple("Relu"), nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"), nn.LeakyReLU: _simple("LeakyRelu", alpha=lambda m: float(m.negative_slope)),
    nn.Identity: lambda b, m, x, call: x,
}
EXPORTABLE_LAYERS: tuple[str, ...] = tuple(sorted(t.__name__ for t in LAYER_EXPORTERS))


# ---------------------------------------------------------------------- tensor ops between layers
def _reshape_to(b: _GraphBuilder, x: str, src: tuple[int, ...], dst: tuple[int, ...], base: str | None) -> str:
    """ONNX Flatten when dst = (prod(src[:k]), prod(src[k:])); else Reshape that keeps the batch free."""
    if len(dst) == 2:
        for k in range(1, len(src)):
            if (int(np.prod(src[:k])), int(np.prod(src[k:]))) == tuple(dst):
                return b.node("Flatten", [x], base or "flatten", axis=k)
    base = base or "reshape"
    target = list(dst)
    if len(src) > 0 and len(dst) > 0 and dst[0] == src[0]:
        target[0] = 0                                  # 0 = "copy the input's size": any batch size
    return b.node("Reshape", [x, b.constant(np.array(target, dtype=np.int64), base + "/shape")], base)


def _binary(op: str) -> Callable[..., str]:
    return lambda b, fn, ins, out: b.node(op, ins, op.lower())


FUNCTION_EXPORTERS: dict[type, Callable[..., str]] = {
    sh.Reshape: lambda b, fn, ins, out: _reshape_to(b, ins[0], fn.inputs[0].shape, out.shape, None),
    sh.Permute: lambda b, fn, ins, out: b.node("Transpose", ins, "transpose", perm=list(fn.saved[0])),
    sh.Concatenate: lambda b, fn, ins, out: b.node("Concat", ins, "concat", axis=int(fn.saved[0])),
    ew.Add: _binary("Add"), ew.Sub: _binary("Sub"), ew.Mul: _binary("Mul"), ew.Div: _binary("Div"),
    MatMul: _binary("MatMul"), ew.Neg: _binary("Neg"), ew.ReLU: _binary("Relu"),
    ew.Sigmoid: _binary("Sigmoid"), ew.Tanh: _binary("Tanh"),
}


# ---------------------------------------------------------------------- tracing and writing
def _trace(model: nn.Module, x: Tensor) -> tuple[list[_LayerCall], Any]:
    """Run ``model(x)`` in evaluation mode, recording every leaf layer call; restore the modes."""
    paths = {id(m): (name or type(m).__name__.lower()) for name, m in model.named_modules()}
    calls: list[_LayerCall] = []

    def record(module: nn.Module, args: tuple, output: Any) -> None:
        path = paths[id(module)]
        if type(module) not in LAYER_EXPORTERS:
            raise NotImplementedError(
                f"export: layer {path!r} ({type(module).__name__}) has no ONNX translation; export knows "
                f"{', '.join(EXPORTABLE_LAYERS)} (and any container or custom Module built from them)")
        if getattr(module, "return_indices", False):
            raise ValueError(f"export: layer {path!r} ({type(module).__name__}(return_indices=True)): ONNX's "
                             "indices differ from minicnn's; export the model without return_indices")
        if len(args) != 1 or not isinstance(args[0], Tensor) or not isinstance(output, Tensor):
            raise TypeError(f"export: layer {path!r} must take one Tensor and return one Tensor")
        calls.append(_LayerCall(path, module, args[0], output))

    modes = [(m, m.training) for m in model.modules()]
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(record) for m in leaves]
    model.eval()
    try:
        with enable_grad():
            output = model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes:
            m.training = training
    return calls, output


def export(model: nn.Module, path: str | os.PathLike[str] | None, example_input: Any, *,
           opset: int = DEFAULT_OPSET, input_name: str = "input", output_name: str = "output") -> Any:
    """Write ``model`` as an ONNX file (evaluation mode: Dropout is the identity, BatchNorm
    uses its running statistics).

    Args:
        model: a minicnn Module built from the layers in ``EXPORTABLE_LAYERS`` (Sequential,
            VGG and custom Modules whose forward combines them, with reshapes, flatten,
            transposes, + - * /, matmul and concatenation in between).
        path: the ``.onnx`` file to write (None: only return the model).
        example_input: one input batch, e.g. ``minicnn.randn(2, 3, 32, 32)``; the batch
            size stays free in the file.  Use a batch of 2 or more so that reshapes that
            keep the batch axis are recognised.
        opset: the ONNX operator-set version to write (13 or newer; default 17).
        input_name, output_name: the graph's value names (several outputs get 0, 1, ...).

    Returns:
        the ``onnx.ModelProto`` written.

    Example:
        >>> minicnn.onnx.export(model, "digits.onnx", minicnn.randn(2, 1, 28, 28))
        >>> import onnxruntime as ort
        >>> ort.InferenceSession("digits.onnx").run(None, {"input": x.numpy()})[0]
    """
    onnx = require_onnx()
    if not _MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"export: opset {opset} is not supported; use {_MIN_OPSET} to "
                         f"{onnx.defs.onnx_opset_version()} (default {DEFAULT_OPSET})")
    data = example_input.data if isinstance(example_input, Tensor) else np.asarray(example_input)
    if data.dtype.kind != "f":
        raise TypeError(f"export: example_input must be floating point, got {data.dtype}")
    x = Tensor(data, requires_grad=True)
    calls, output = _trace(model, x)
    state = [(f"{prefix}.{name}" if prefix else name, t)              # in state_dict() order
             for prefix, m in model.named_modules()
             for name, t in itertools.chain(m.named_parameters(recurse=False), m.named_buffers(recurse=False))]
    b = _GraphBuilder(onnx, {id(t): name for name, t in reversed(state)})   # a shared tensor: first name
    b.bind(x, b.fresh(input_name))
    for call in calls:
        y = LAYER_EXPORTERS[type(call.module)](b, call.module, b.name_of(call.input), call)
        b.bind(call.output, y)
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    wanted = [output_name] if len(outputs) == 1 else [f"{output_name}{i}" for i in range(len(outputs))]
    for t, name in zip(outputs, wanted):
        b.node("Identity", [b.name_of(t)], name)
    proto = _make_model(onnx, b, x, outputs, wanted, opset, [name for name, _ in state])
    if path is not None:
        _save(onnx, proto, os.fspath(path))
    return proto


def _value_info(onnx: Any, name: str, t: Tensor, batch: int) -> Any:
    dims = ["N" if i == 0 and n == batch else n for i, n in enumerate(t.shape)]
    return onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(t.dtype), dims)


def _make_model(onnx: Any, b: _GraphBuilder, x: Tensor, outputs: list[Tensor], names: list[str],
                opset: int, state_order: list[str]) -> Any:
    from .. import __version__

    batch = x.shape[0] if x.ndim else -1
    graph = onnx.helper.make_graph(
        b.nodes, "minicnn", [_value_info(onnx, b.names[id(x)], x, batch)],
        [_value_info(onnx, n, t, batch) for n, t in zip(names, outputs)],
        initializer=[b.initializers[n] for n in state_order if n in b.initializers])
    opset_id = onnx.helper.make_opsetid("", opset)
    proto = onnx.helper.make_model(graph, opset_imports=[opset_id], producer_name="minicnn",
                                   producer_version=__version__)
    proto.ir_version = onnx.helper.find_min_ir_version_for([opset_id])  # readable by older runtimes
    if not _is_large(proto):                     # a huge model is checked from its files in _save
        onnx.checker.check_model(proto)
    return proto


def _is_large(proto: Any) -> bool:
    return sum(len(t.raw_data) for t in proto.graph.initializer) >= _EXTERNAL_DATA_BYTES


def _save(onnx: Any, proto: Any, path: str) -> None:
    """Save; the weights of a very large model go to ``<file>.data`` next to it."""
    if not _is_large(proto):
        onnx.save_model(proto, path)
        return
    onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=os.path.basename(path) + ".data")
    onnx.checker.check_model(path)
