"""``summary(model, input_shape)``: a table of layers, output shapes, parameters and receptive fields.

Example (the lecture's first conv layer: ten 5x5 filters on a 32x32 RGB image, padding 2)::

    >>> print(minicnn.summary(nn.Sequential(nn.Conv2d(3, 10, 5, padding=2)), (3, 32, 32)))
    Layer (type)    Output shape    Params  Receptive field
    -------------------------------------------------------
    input           (3, 32, 32)          0                1
    0 (Conv2d)      (10, 32, 32)       760                5
    -------------------------------------------------------
    Total params: 760
    Trainable params: 760
    Frozen params: 0

Receptive field: how many input pixels (along one axis) one output value can see.  Going
through a layer with kernel K, dilation D and stride S (K_eff = D*(K - 1) + 1):

    r_out = r_in + (K_eff - 1) * j_in        j_out = j_in * S        (r = j = 1 at the input)

j ("jump") is the distance, in input pixels, between neighbouring values of a feature map.
For a stack of L stride-1 KxK convs this gives r = 1 + L*(K - 1): three 3x3 convs see 7x7,
which is why VGG stacks 3x3 convs instead of using one 7x7 (fewer parameters, more ReLUs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence, Tuple

import numpy as np

from .backend import get_array_module
from .grad_mode import no_grad
from .nn.module import Module
from .tensor import Tensor

__all__ = ["summary", "Summary", "LayerRow"]

Field = Tuple[Tuple[float, float], Tuple[float, float]]  # ((r_h, r_w), (j_h, j_w))


@dataclass
class LayerRow:
    """One executed layer.  ``output_shape`` excludes the batch axis; ``receptive_field`` is
    (height, width) in input pixels, or None once the values are no longer a 2-D map (after Flatten)."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    num_params: int
    receptive_field: tuple[int, int] | None
    jump: tuple[float, float] | None = None


@dataclass
class Summary:
    """What ``summary`` returns: the rows, the totals, and the table as ``str(summary)``."""

    input_shape: tuple[int, ...]
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    frozen_params: int = 0

    def row(self, name: str) -> LayerRow:
        """The row of the layer called ``name`` (e.g. ``"features.0"``)."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no layer named {name!r} in this summary; names: {[r.name for r in self.rows]}")

    def __str__(self) -> str:
        def rf_text(rf: tuple[int, int] | None) -> str:
            if rf is None:
                return "-"
            return str(rf[0]) if rf[0] == rf[1] else f"{rf[0]}x{rf[1]}"

        table = [("Layer (type)", "Output shape", "Params", "Receptive field"),
                 ("input", str(self.input_shape), "0", "1")]
        for r in self.rows:
            table.append((f"{r.name} ({r.type})", str(r.output_shape), f"{r.num_params:,}", rf_text(r.receptive_field)))
        widths = [max(len(line[i]) for line in table) for i in range(4)]
        rule = "-" * (sum(widths) + 3 * 2)
        lines = []
        for i, (name, shape, params, rf) in enumerate(table):
            lines.append(f"{name:<{widths[0]}}  {shape:<{widths[1]}}  {params:>{widths[2]}}  {rf:>{widths[3]}}")
            if i == 0:
                lines.append(rule)
        lines += [rule,
                  f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Frozen params: {self.frozen_params:,}"]
        return "\n".join(lines)

    __repr__ = __str__  # a notebook or REPL shows the table


def summary(model: Module, input_shape: Sequence[int], dtype: Any = None) -> Summary:
    """Run ``model`` once on zeros and tabulate every layer it calls.

    Args:
        model: any Module; each leaf layer (one without sub-modules) becomes a row, in the
            order forward calls it.
        input_shape: the shape of ONE sample, without the batch axis, e.g. (3, 32, 32);
            a batch of 1 is run.
        dtype: the input dtype; default: the parameters' dtype (float32 for a parameter-free model).

    Returns:
        a ``Summary`` (print it for the table).  Totals count each parameter once; frozen
        parameters are those with ``requires_grad=False``.

    The pass runs under ``no_grad`` in eval mode (so BatchNorm statistics and Dropout are
    untouched); each module's training flag is restored afterwards.
    """
    input_shape = tuple(int(n) for n in input_shape)
    params = list(model.parameters())
    total = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.requires_grad)
    result = Summary(input_shape, [], total_params=total, trainable_params=trainable, frozen_params=total - trainable)

    xp = get_array_module(params[0].data) if params else np  # the model's device
    if dtype is None:
        dtype = params[0].dtype if params else np.float32
    x = Tensor(xp.zeros((1,) + input_shape, dtype=dtype))  # (1, *input_shape): a batch of one
    # The receptive field (r, j) of every feature map made so far, keyed by id of the tensor
    # (the tensor is kept in the dict so its id is not reused).  An input that no hooked layer
    # made (e.g. the sum in a residual block) takes the field of the latest map.
    fields: dict[int, tuple[Tensor, Field | None]] = {id(x): (x, ((1, 1), (1, 1)))}
    latest: list[Field | None] = [((1, 1), (1, 1))]
    names = {id(m): name for name, m in model.named_modules()}

    def record(module: Module, inputs: tuple, output: Any) -> None:
        out = output[0] if isinstance(output, (tuple, list)) else output  # MaxPool2d(return_indices=True)
        inp = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
        field_in = fields[id(inp)][1] if inp is not None and id(inp) in fields else latest[0]
        field_out = _receptive_field(module, inp, out, field_in)
        if isinstance(out, Tensor):
            fields[id(out)] = (out, field_out)
        latest[0] = field_out
        result.rows.append(LayerRow(
            name=names.get(id(module)) or type(module).__name__,
            type=type(module).__name__,
            output_shape=tuple(out.shape[1:]) if isinstance(out, Tensor) else (),
            num_params=sum(p.size for p in module.parameters(recurse=False)),
            receptive_field=None if field_out is None else (round(field_out[0][0]), round(field_out[0][1])),
            jump=None if field_out is None else field_out[1],
        ))

    hooked = [m for m in model.modules() if not m._modules or next(m.parameters(recurse=False), None) is not None]
    handles = [m.register_forward_hook(record) for m in hooked]
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with no_grad():
            model(x)
    except (ValueError, RuntimeError, TypeError) as e:
        if type(e) not in (ValueError, RuntimeError, TypeError):
            raise  # a custom error type: leave it untouched
        raise type(e)(
            f"summary: the forward pass on an input of shape {x.shape} failed: {e}\n"
            f"(input_shape is one sample's shape WITHOUT the batch axis, e.g. (3, 32, 32))"
        ) from e
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes:
            m.training = mode
    return result


def _receptive_field(module: Module, inp: Tensor | None, out: Any, field_in: Field | None) -> Field | None:
    """``((r_h, r_w), (j_h, j_w))`` after ``module``, or None when the output is not a 2-D map."""
    if field_in is None or not isinstance(out, Tensor) or out.ndim != 4 or inp is None or inp.ndim != 4:
        return None
    (rh, rw), (jh, jw) = field_in
    if hasattr(module, "kernel_size") and hasattr(module, "stride"):  # Conv2d, MaxPool2d, AvgPool2d
        K, S, D = (_pair(getattr(module, a, 1)) for a in ("kernel_size", "stride", "dilation"))
    elif hasattr(module, "output_size"):  # adaptive pooling: window and step follow from the sizes
        (kh, sh), (kw, sw) = (_adaptive_window(inp.shape[a], out.shape[a]) for a in (2, 3))
        K, S, D = (kh, kw), (sh, sw), (1, 1)
    elif inp.shape[2:] == out.shape[2:]:  # ReLU, BatchNorm, Dropout...: pointwise, nothing changes
        return field_in
    else:
        return None  # an unknown layer that resamples the map: no honest answer
    k_eff = [d * (k - 1) + 1 for k, d in zip(K, D)]                 # K_eff = D*(K - 1) + 1
    r_out = (rh + (k_eff[0] - 1) * jh, rw + (k_eff[1] - 1) * jw)    # r_out = r_in + (K_eff - 1)*j_in
    return r_out, (jh * S[0], jw * S[1])                            # j_out = j_in * S


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, (int, np.integer)) else (v[0], v[1])


def _adaptive_window(size_in: int, size_out: int) -> tuple[int, float]:
    """(largest window, average step) of adaptive pooling from ``size_in`` to ``size_out``.

    Output i averages input indices floor(i*I/O) .. ceil((i+1)*I/O) - 1.
    """
    k = max(math.ceil((i + 1) * size_in / size_out) - (i * size_in) // size_out for i in range(size_out))
    return k, size_in / size_out
