"""ONNX operators that are neural-network layers, each mapped onto ``minicnn.nn.functional``.

Notation (as in ``minicnn.shapes``): x is (N, C, H, W); a KH x KW window moves with stride
(SH, SW) and dilation (DH, DW).  ONNX writes padding per side,

    pads = [top, left, bottom, right]          (x1_begin, x2_begin, x1_end, x2_end)

while ``F.conv2d`` / ``F.max_pool2d`` take one (PH, PW) for both sides.  Symmetric pads
map directly; asymmetric ones (from ``auto_pad="SAME_UPPER"`` with an even kernel or a
stride, or from TensorFlow's "same" padding) are applied first with an explicit pad
(zeros for Conv and AveragePool, -inf for MaxPool) and the layer then runs unpadded.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .. import ops
from ..nn import functional as F
from ..tensor import Tensor
from .graph import OpContext, Value
from .ops_tensor import as_tensors

__all__ = ["NN_OPS"]


# ---------------------------------------------------------------------- padding
def window_pads(ctx: OpContext, spatial: tuple[int, ...], kernel: tuple[int, ...],
                strides: tuple[int, ...], dilations: tuple[int, ...]) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis, from ``pads`` or ``auto_pad``.

    SAME_UPPER / SAME_LOWER pad so that OH = ceil(H / SH):

        total = max((OH - 1)*SH + DH*(KH - 1) + 1 - H, 0)

    split in two halves; the odd pixel goes at the end (UPPER) or the beginning (LOWER).
    """
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    n = len(spatial)
    if auto_pad == "NOTSET":
        pads = [int(p) for p in ctx.attr("pads", [0] * 2 * n)]
        return [(pads[i], pads[i + n]) for i in range(n)]
    if auto_pad == "VALID":
        return [(0, 0)] * n
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise ValueError(f"auto_pad={auto_pad!r}; expected NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    out = []
    for L, K, S, D in zip(spatial, kernel, strides, dilations):
        total = max((math.ceil(L / S) - 1) * S + D * (K - 1) + 1 - L, 0)
        small, big = total // 2, total - total // 2
        out.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
    return out


def _pad_explicitly(x: Tensor, pads: list[tuple[int, int]], value: float) -> Tensor:
    """Pad H and W of (N, C, H, W) by pads = [(top, bottom), (left, right)] with ``value``."""
    return ops.pad(x, ((0, 0), (0, 0), pads[0], pads[1]), value=value)   # (N, C, H+t+b, W+l+r)


def _is_symmetric(pads: list[tuple[int, int]]) -> bool:
    return all(begin == end for begin, end in pads)


def _window(ctx: OpContext, x: Tensor, kernel: tuple[int, ...] | None = None) -> tuple:
    """Kernel, strides (default 1), dilations (default 1) and pads of a Conv/Pool node."""
    if x.ndim != 4:
        raise ValueError(f"{ctx.node.op_type}: only 2-D windows are supported, i.e. an input "
                         f"(N, C, H, W); got shape {tuple(x.shape)}")
    if ctx.attr("kernel_shape", kernel) is None:
        raise ValueError(f"{ctx.node.op_type}: the kernel_shape attribute is missing")
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape", kernel))
    strides = tuple(int(s) for s in ctx.attr("strides", (1, 1)))
    dilations = tuple(int(d) for d in ctx.attr("dilations", (1, 1)))
    pads = window_pads(ctx, tuple(x.shape[2:]), kernel, strides, dilations)
    return kernel, strides, dilations, pads


# ---------------------------------------------------------------------- convolution and pooling
def conv(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX Conv: y = conv2d(x, W, B) with strides, dilations, group and per-side pads."""
    x, w = as_tensors(inputs[0], inputs[1])
    b = as_tensors(x, inputs[2])[1] if len(inputs) > 2 and inputs[2] is not None else None
    kernel, strides, dilations, pads = _window(ctx, x, tuple(w.shape[2:]))
    if kernel != tuple(w.shape[2:]):
        raise ValueError(f"Conv: kernel_shape {kernel} does not match the weight's shape {tuple(w.shape)}")
    padding = tuple(begin for begin, _ in pads)
    if not _is_symmetric(pads):
        x, padding = _pad_explicitly(x, pads, 0.0), (0, 0)
    return F.conv2d(x, w, b, stride=strides, padding=padding, dilation=dilations,
                    groups=int(ctx.attr("group", 1)))


def max_pool(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX MaxPool: the max of each window; padding counts as -inf (never the maximum)."""
    (x,) = as_tensors(inputs[0])
    if len(ctx.node.outputs) > 1 and ctx.node.outputs[1]:
        raise ValueError("MaxPool: the second output (Indices) is not supported")
    kernel, strides, dilations, pads = _window(ctx, x)
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    padding = tuple(begin for begin, _ in pads)
    if _is_symmetric(pads) and all(p <= k // 2 for p, k in zip(padding, kernel)):
        return F.max_pool2d(x, kernel, strides, padding, dilations, ceil_mode=ceil_mode)
    if ceil_mode:
        raise ValueError(f"MaxPool: ceil_mode=1 with pads {pads} (asymmetric, or more than half "
                         "the kernel) is not supported")
    return F.max_pool2d(_pad_explicitly(x, pads, -np.inf), kernel, strides, 0, dilations)


def average_pool(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX AveragePool: the mean of each window.

    ``count_include_pad`` defaults to 0 in ONNX (divide by the real pixels only), unlike
    PyTorch's default.  With padding that ``F.avg_pool2d`` cannot take, the padded mean
    is corrected by the fraction of real pixels in each window:

        mean over real pixels = avg_pool(pad(x)) / avg_pool(pad(ones))
    """
    (x,) = as_tensors(inputs[0])
    kernel, strides, dilations, pads = _window(ctx, x)
    if dilations != (1, 1):
        raise ValueError(f"AveragePool: dilations {dilations} are not supported; only 1")
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    include_pad = bool(ctx.attr("count_include_pad", 0))
    padding = tuple(begin for begin, _ in pads)
    if _is_symmetric(pads) and all(p <= k // 2 for p, k in zip(padding, kernel)):
        return F.avg_pool2d(x, kernel, strides, padding, ceil_mode=ceil_mode, count_include_pad=include_pad)
    if ceil_mode:
        raise ValueError(f"AveragePool: ceil_mode=1 with pads {pads} (asymmetric, or more than half "
                         "the kernel) is not supported")
    y = F.avg_pool2d(_pad_explicitly(x, pads, 0.0), kernel, strides)
    if include_pad:
        return y
    ones = Tensor(np.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)).to(x.device)
    real_fraction = F.avg_pool2d(_pad_explicitly(ones, pads, 0.0), kernel, strides)  # (1, 1, OH, OW)
    return y / real_fraction


def global_average_pool(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX GlobalAveragePool: (N, C, H, W) -> (N, C, 1, 1), the mean of each channel."""
    (x,) = as_tensors(inputs[0])
    return ops.mean(x, dim=tuple(range(2, x.ndim)), keepdim=True)


# ---------------------------------------------------------------------- fully connected
def gemm(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX Gemm: Y = alpha * A' @ B' + beta * C, with A' = A.T if transA, B' = B.T if transB.

    With transB=1, alpha = beta = 1 and a bias vector this is exactly ``nn.Linear``:
    y = x W^T + b with W stored (out_features, in_features), PyTorch's layout.
    """
    a, b = as_tensors(inputs[0], inputs[1])
    c = as_tensors(a, inputs[2])[1] if len(inputs) > 2 and inputs[2] is not None else None
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Gemm: A and B must be matrices, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if not trans_a and trans_b and alpha == 1.0 and beta == 1.0 and (c is None or c.shape == (b.shape[0],)):
        return F.linear(a, b, c)                           # (N, I) @ (O, I)^T + (O,) -> (N, O)
    a = ops.permute(a, (1, 0)) if trans_a else a           # (M, K)
    b = ops.permute(b, (1, 0)) if trans_b else b           # (K, N)
    y = ops.matmul(a, b)                                   # (M, N)
    if alpha != 1.0:
        y = y * alpha
    if c is not None and beta != 0.0:
        y = y + (c if beta == 1.0 else c * beta)           # C broadcasts to (M, N)
    return y


# ---------------------------------------------------------------------- normalisation, dropout
def batch_normalization(inputs: list[Value], ctx: OpContext) -> Tensor | tuple:
    """ONNX BatchNormalization: y = (x - mean) / sqrt(var + epsilon) * scale + B, per channel.

    Evaluation mode uses the stored running mean and variance; training mode uses the
    batch's statistics and updates the running ones.  ONNX's momentum weighs the *old*
    value (running = running * momentum + batch * (1 - momentum)), PyTorch's the new
    one, so ``F.batch_norm`` gets momentum 1 - m.
    """
    x, scale, bias, mean, var = as_tensors(*inputs[:5])
    if int(ctx.attr("spatial", 1)) != 1:
        raise ValueError("BatchNormalization: spatial=0 (per-pixel statistics, opset < 9) is not supported")
    momentum = 1.0 - float(ctx.attr("momentum", 0.9))
    y = F.batch_norm(x, mean, var, scale, bias, training=ctx.training, momentum=momentum,
                     eps=float(ctx.attr("epsilon", 1e-5)))
    extra = len(ctx.node.outputs) - 1          # training-mode exports also output the statistics
    return (y, mean, var, mean, var)[: 1 + extra] if extra else y


def dropout(inputs: list[Value], ctx: OpContext) -> Tensor | tuple:
    """ONNX Dropout: identity in evaluation mode; in training mode zero each element with
    probability ``ratio`` and scale the rest by 1/(1 - ratio) (an attribute before opset 12,
    an input from 12).  The graph's own training_mode input is ignored: the Module's mode
    (``model.train()`` / ``model.eval()``) decides, as for ``nn.Dropout``."""
    (x,) = as_tensors(inputs[0])
    if ctx.opset < 12:
        ratio = float(ctx.attr("ratio", 0.5))
    else:
        ratio = float(np.asarray(inputs[1]).reshape(-1)[0]) if len(inputs) > 1 and inputs[1] is not None else 0.5
    y = F.dropout(x, ratio, training=ctx.training)
    if len(ctx.node.outputs) > 1 and ctx.node.outputs[1]:
        # the optional mask output: which elements were kept (inputs that were 0 count as dropped)
        return y, (y.data != 0) if ctx.training else np.ones(x.shape, dtype=bool)
    return y


# ---------------------------------------------------------------------- activations
def relu(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX Relu: max(x, 0)."""
    return F.relu(as_tensors(inputs[0])[0])


def leaky_relu(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX LeakyRelu: x if x > 0 else alpha * x (alpha defaults to 0.01)."""
    return F.leaky_relu(as_tensors(inputs[0])[0], float(ctx.attr("alpha", 0.01)))


def sigmoid(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX Sigmoid: 1 / (1 + e^-x)."""
    return F.sigmoid(as_tensors(inputs[0])[0])


def tanh(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX Tanh."""
    return F.tanh(as_tensors(inputs[0])[0])


def _along_axis(fn: Callable[..., Tensor], inputs: list[Value], ctx: OpContext) -> Tensor:
    (x,) = as_tensors(inputs[0])
    if ctx.opset >= 13:
        return fn(x, dim=int(ctx.attr("axis", -1)))
    # Before opset 13: flatten to 2-D at ``axis`` (default 1) and normalise each row.
    axis = int(ctx.attr("axis", 1)) % x.ndim
    rows = ops.reshape(x, (int(np.prod(x.shape[:axis])), -1))    # (outer, inner)
    return ops.reshape(fn(rows, dim=1), x.shape)


def softmax(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX Softmax: e^x_i / sum_j e^x_j along ``axis`` (opset 13+, default -1); before
    opset 13 over all the axes from ``axis`` (default 1) on, taken together."""
    return _along_axis(F.softmax, inputs, ctx)


def log_softmax(inputs: list[Value], ctx: OpContext) -> Tensor:
    """ONNX LogSoftmax: log(softmax(x)), with Softmax's axis rules."""
    return _along_axis(F.log_softmax, inputs, ctx)


NN_OPS: dict[str, Any] = {
    "Conv": conv, "MaxPool": max_pool, "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool, "Gemm": gemm,
    "BatchNormalization": batch_normalization, "Dropout": dropout,
    "Relu": relu, "LeakyRelu": leaky_relu, "Sigmoid": sigmoid, "Tanh": tanh,
    "Softmax": softmax, "LogSoftmax": log_softmax,
}
