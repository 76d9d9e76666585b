"""``OnnxModel``: a Module that runs an imported ONNX graph with minicnn's differentiable ops.

``forward`` walks the nodes in order, like an interpreter::

    values = {graph inputs, weights, constants}
    for node in nodes:
        values[node.outputs] = OPS[node.op_type]([values[name] for name in node.inputs], ctx)
    return values[graph outputs]

Every op is built from minicnn functions (``F.conv2d``, ``ops.matmul`` ...), so the
result carries an autograd graph: ``loss.backward()`` fills the ``.grad`` of the weights,
which are ordinary Parameters in ``parameters()`` and ``state_dict()``.  An optimizer can
fine-tune the imported network like any other model.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor
from .graph import InputSpec, Node, OpContext, Value
from .ops import OPS

__all__ = ["OnnxModel", "WeightGroup"]


class WeightGroup(Module):
    """An empty Module that only groups weights, so a dotted ONNX initializer name such as
    ``features.0.weight`` keeps that name in ``state_dict()`` (module ``features``, child
    ``0``, parameter ``weight``): weights exported from PyTorch load back by name.
    ``model.features[0].weight`` works as it does on the original Sequential."""

    def extra_repr(self) -> str:
        return ", ".join(f"{name}: {tuple(t.shape)}" for name, t in
                         list(self._parameters.items()) + list(self._buffers.items()))

    def __getitem__(self, key: int | str) -> Module:
        if str(key) not in self._modules:
            raise KeyError(f"no weights under {key!r} here; there are: {list(self._modules)}")
        return self._modules[str(key)]


class OnnxModel(Module):
    """An ONNX graph as a trainable minicnn Module (made by ``minicnn.onnx.load_model``).

    Args:
        nodes: the graph's nodes, in execution order.
        inputs: the graph inputs (names, declared shapes and dtypes).
        outputs: names of the graph outputs.
        weights: float initializers used as weights -> trainable Parameters.
        buffers: BatchNormalization running statistics -> buffers.
        constants: everything else (shapes, axes, Constant nodes ...) -> kept as NumPy arrays.
        opset: the version of the default ONNX operator set the graph was written for.
        producer: the program that wrote the file, e.g. ``"pytorch"`` or ``"tf2onnx"``.

    Shape:
        ``model(x)`` with one argument per graph input, each matching the declared shape
        (symbolic sizes such as the batch size N may vary); returns one Tensor per graph
        output (a tuple if there are several).

    Attributes:
        input_specs, output_names, nodes, opset, producer: the graph, as given.
        weight_names: ONNX initializer name -> its name in ``state_dict()`` (the same unless
            the ONNX name could not be used as a dotted path).

    The model starts in evaluation mode (as the ONNX file describes inference); call
    ``train()`` before fine-tuning so that Dropout drops and BatchNormalization uses batch
    statistics.
    """

    def __init__(self, nodes: Sequence[Node], inputs: Sequence[InputSpec], outputs: Sequence[str],
                 weights: dict[str, np.ndarray], buffers: dict[str, np.ndarray],
                 constants: dict[str, np.ndarray], opset: int, producer: str = "") -> None:
        super().__init__()
        self.nodes, self.input_specs, self.output_names = tuple(nodes), tuple(inputs), tuple(outputs)
        self.opset, self.producer = int(opset), producer
        self.constants = dict(constants)
        self.weight_names: dict[str, str] = {}
        self._slots: dict[str, tuple[Module, str]] = {}  # ONNX name -> (owner module, attribute)
        for name, array in weights.items():
            self._add_state(name, Parameter(array))
        for name, array in buffers.items():
            self._add_state(name, Tensor(array))
        self._free_after = _last_uses(self.nodes, set(self.output_names))
        self.eval()

    # ------------------------------------------------------------------ naming the weights
    def _add_state(self, onnx_name: str, tensor: Tensor) -> None:
        """Register a Parameter or buffer under its ONNX name, dots making sub-modules."""
        owner, attr = self._place(onnx_name)
        if isinstance(tensor, Parameter):
            owner.register_parameter(attr, tensor)
        else:
            owner.register_buffer(attr, tensor)
        self._slots[onnx_name] = (owner, attr)
        prefix = [n for n, m in self.named_modules() if m is owner][0]
        self.weight_names[onnx_name] = f"{prefix}.{attr}" if prefix else attr

    def _place(self, onnx_name: str) -> tuple[Module, str]:
        """Where ``features.0.weight`` goes: module features -> 0, attribute weight.

        A name that is not a clean dotted path (``onnx::Conv_12``, ``a..b``) or that
        collides with something already there is stored flat, dots replaced by ``_``.
        """
        parts = onnx_name.split(".")
        if all(parts):
            owner: Module = self
            for part in parts[:-1]:
                child = owner._modules.get(part)
                if isinstance(child, WeightGroup):
                    owner = child
                elif _is_free(owner, part):
                    owner.add_module(part, WeightGroup())
                    owner = owner._modules[part]
                else:
                    break
            else:
                if _is_free(owner, parts[-1]):
                    return owner, parts[-1]
        flat = onnx_name.replace(".", "_") or "_"
        while not _is_free(self, flat):
            flat += "_"
        return self, flat

    # ------------------------------------------------------------------ running the graph
    def forward(self, *inputs: Any) -> Tensor | tuple[Tensor, ...]:
        if len(inputs) != len(self.input_specs):
            raise TypeError(f"OnnxModel: the graph has {len(self.input_specs)} input(s) "
                            f"({', '.join(s.describe() for s in self.input_specs)}), got {len(inputs)}")
        values: dict[str, Value] = dict(self.constants)
        for name, (owner, attr) in self._slots.items():
            values[name] = getattr(owner, attr)
        for spec, x in zip(self.input_specs, inputs):
            values[spec.name] = _check_input(spec, x)
        for node, free in zip(self.nodes, self._free_after):
            ctx = OpContext(node, self.opset, self.training)
            args = [values[name] if name else None for name in node.inputs]
            try:
                out = OPS[node.op_type](args, ctx)
            except (ValueError, TypeError, IndexError, NotImplementedError) as exc:
                raise type(exc)(f"{node.describe()}: {exc}") from exc
            for name, value in zip(node.outputs, out if isinstance(out, tuple) else (out,)):
                if name:
                    values[name] = value
            for name in free:                     # drop activations no later node reads
                values.pop(name, None)
        results = tuple(_as_tensor_output(values[name]) for name in self.output_names)
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        counts = Counter(node.op_type for node in self.nodes)
        ops_text = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in counts.most_common())
        n_params = sum(1 for _ in self.parameters())
        n_buffers = sum(1 for _ in self.buffers())
        return (f"OnnxModel(producer={self.producer!r}, opset={self.opset},\n"
                f"  inputs=[{', '.join(s.describe() for s in self.input_specs)}], "
                f"outputs={list(self.output_names)},\n"
                f"  {len(self.nodes)} nodes: {ops_text},\n"
                f"  {n_params} parameters ({self.num_parameters():,} numbers), {n_buffers} buffers)")


def _is_free(owner: Module, name: str) -> bool:
    """True if ``name`` can be registered on ``owner`` (not an attribute or method already)."""
    return not (name in owner.__dict__ or hasattr(type(owner), name)
                or any(name in r for r in (owner._parameters, owner._buffers, owner._modules)))


def _last_uses(nodes: Sequence[Node], keep: set[str]) -> list[list[str]]:
    """For each node, the values it is the last reader of (so forward can drop them)."""
    last: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.inputs:
            if name:
                last[name] = i
    free: list[list[str]] = [[] for _ in nodes]
    for name, i in last.items():
        if name not in keep:
            free[i].append(name)
    return free


def _check_input(spec: InputSpec, x: Any) -> Tensor:
    """``x`` as a Tensor of the declared rank, fixed sizes and dtype (arrays are converted)."""
    if not isinstance(x, Tensor):
        x = Tensor(np.asarray(x, dtype=spec.dtype))
    wanted = "(" + ", ".join("N" if d is None else str(d) for d in spec.shape) + ")"
    if len(x.shape) != len(spec.shape) or any(
            isinstance(d, int) and d > 0 and d != n for d, n in zip(spec.shape, x.shape)):
        raise ValueError(f"OnnxModel: input {spec.name!r} must have shape {wanted} "
                         f"(named or '?' sizes may vary), got {tuple(x.shape)}")
    if x.dtype != spec.dtype:
        raise TypeError(f"OnnxModel: input {spec.name!r} must be {spec.dtype}, got {x.dtype}; "
                        f"convert it, e.g. x.astype('{spec.dtype}')")
    return x


def _as_tensor_output(v: Value) -> Tensor:
    return v if isinstance(v, Tensor) else Tensor(np.asarray(v))
