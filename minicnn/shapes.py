"""Shape arithmetic and validation, in one place, before any array work runs.

Every check raises an error that names the op, the shapes and what would work,
e.g. ``matmul: (2, 3) @ (4, 5): the inner dimensions 3 and 4 differ``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = [
    "broadcast_shape", "matmul_shape", "normalize_dims", "reshape_target",
    "ShapeWarning", "reset_shape_warnings", "pair", "window_span", "window_output_size",
    "ConvGeometry", "conv2d_geometry", "conv_transpose2d_geometry", "PoolGeometry", "pool2d_geometry",
    "check_same_float_dtype",
]


def broadcast_shape(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast result of shapes ``a`` and ``b`` (NumPy rules), or a ValueError naming ``op``."""
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a} and {b} cannot be broadcast together: aligned from the right, "
            "each pair of sizes must be equal or one of them 1"
        ) from None


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Result shape of ``a @ b`` (NumPy/PyTorch matmul rules, with batch broadcasting)."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got {a} @ {b}")
    k_a = a[-1]
    k_b = b[-2] if len(b) >= 2 else b[0]
    if k_a != k_b:
        raise ValueError(
            f"matmul: {a} @ {b}: the inner dimensions {k_a} and {k_b} differ "
            f"(the last size of the left operand must equal the "
            f"{'second-to-last' if len(b) >= 2 else 'only'} size of the right one)"
        )
    batch = broadcast_shape("matmul (batch dimensions)", a[:-2], b[:-2])
    rows = (a[-2],) if len(a) >= 2 else ()
    cols = (b[-1],) if len(b) >= 2 else ()
    return batch + rows + cols


def normalize_dims(op: str, dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """``dim`` as a sorted tuple of non-negative axes.

    None and an empty sequence both mean all axes (PyTorch's rule: ``x.sum(dim=())`` sums
    everything, unlike NumPy's ``axis=()``).  A 0-d tensor accepts dim 0 or -1, as in
    PyTorch, and has no axes to name, so the result is ().
    """
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim) if dim is not None else ()
    if not dims:
        return tuple(range(ndim))
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions "
                f"(expected a dim in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])"
            )
        out.append(int(d) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dims} names the same axis twice")
    return tuple(sorted(out)) if ndim > 0 else ()


def reshape_target(shape: tuple[int, ...], target: Sequence[int]) -> tuple[int, ...]:
    """Resolve one ``-1`` in ``target`` and check the element count matches ``shape``."""
    size = int(np.prod(shape))
    target = tuple(int(t) for t in target)
    if any(t < -1 for t in target):
        raise ValueError(f"reshape: sizes must be non-negative (or one -1), got {target} for {shape}")
    if target.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {target}")
    if -1 in target:
        known = int(np.prod([t for t in target if t != -1]))
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape {shape} ({size} elements) into {target}")
        target = tuple(size // known if t == -1 else t for t in target)
    if int(np.prod(target)) != size:
        raise ValueError(
            f"reshape: cannot reshape {shape} ({size} elements) into {target} "
            f"({int(np.prod(target))} elements)"
        )
    return target


# ====================================================================== convolution and pooling
#
# Notation (as in kernels/windows.py):
#     N, C, H, W      batch, input channels, input height, input width
#     C_out           output channels (convolution)
#     KH, KW          kernel (window) height and width
#     SH, SW          stride
#     PH, PW          zero padding on each side (top and bottom, left and right)
#     DH, DW          dilation: the gap between neighbouring taps of one window
#     OH, OW          output height and width
#
# One window spans DH*(KH-1) + 1 input rows, and PyTorch's output size is
#
#     OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1
#
# (``ceil`` instead of ``floor`` for pooling with ``ceil_mode=True``).

class ShapeWarning(UserWarning):
    """A layer's geometry is legal but probably not what was meant (e.g. input pixels never seen).

    Silence it with ``warnings.simplefilter("ignore", minicnn.shapes.ShapeWarning)``.
    """


# configurations that have warned already: each distinct one warns once per process
_WARNED: set[tuple] = set()


def reset_shape_warnings() -> None:
    """Forget which configurations have warned, so each warns again (for tests and notebooks)."""
    _WARNED.clear()


def pair(op: str, name: str, value: int | Sequence[int], minimum: int) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` stays ``(height, width)``; both must be ints >= ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        hw = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) in (1, 2)
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        hw = (int(value[0]), int(value[-1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (height, width), got {value!r}")
    if min(hw) < minimum:
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return hw


def window_span(kernel: int, dilation: int) -> int:
    """How many input pixels one dilated window covers: D*(K-1) + 1 (3 for a plain 3-tap kernel)."""
    return dilation * (kernel - 1) + 1


def window_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int = 1,
                       ceil_mode: bool = False) -> int:
    """Number of window positions along one axis, exactly as PyTorch counts them.

        out = floor((size + 2*pad - span) / stride) + 1          span = dilation*(kernel-1) + 1

    With ``ceil_mode`` the division rounds up, which adds a last, partial window; but that
    window must start inside the input or its left padding, so it is dropped when
    (out - 1)*stride >= size + pad (PyTorch's ``pooling_output_shape``).
    """
    numerator = size + 2 * pad - window_span(kernel, dilation)
    if not ceil_mode:
        return numerator // stride + 1          # // floors toward -inf, like torch's div_rtn
    out = -(-numerator // stride) + 1           # ceil
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _formula(size: int, kernel: int, stride: int, pad: int, dilation: int) -> str:
    """The output-size formula with the numbers filled in, e.g. '(7 + 2*0 - 3)/3 + 1 = 2.33'."""
    span = window_span(kernel, dilation)
    exact = (size + 2 * pad - span) / stride + 1
    value = str(int(exact)) if exact == int(exact) else f"{exact:.2f}"
    return f"({size} + 2*{pad} - {span})/{stride} + 1 = {value}"


def _check_fits(op: str, kind: str, hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                pad: tuple[int, int], dilation: tuple[int, int], ceil_mode: bool) -> tuple[int, int]:
    """(OH, OW), or a ValueError when the window does not fit the padded input.

    ``kind`` is "conv" or "pool": a convolution can always be fixed by padding, a pooling
    window only by a smaller kernel (PyTorch allows pooling padding up to half the kernel).
    """
    out = tuple(window_output_size(s, k, st, p, d, ceil_mode)
                for s, k, st, p, d in zip(hw, kernel, stride, pad, dilation))
    if min(out) >= 1:
        return out  # type: ignore[return-value]
    axis = 0 if out[0] < 1 else 1
    name = ("height", "width")[axis]
    span = window_span(kernel[axis], dilation[axis])
    dil = f" with dilation {dilation[axis]} (it spans {span} pixels)" if dilation[axis] > 1 else ""
    formula = _formula(hw[axis], kernel[axis], stride[axis], pad[axis], dilation[axis])
    msg = (f"{op}: a {kernel[0]}x{kernel[1]} kernel{dil} does not fit a {hw[0]}x{hw[1]} input with "
           f"padding {pad[axis]}: output {name} {formula} is below 1.")
    fit_pad = -(-(span - hw[axis]) // 2)   # ceil((span - size) / 2): padding that lets one window fit
    if kind == "conv":
        msg += (f" Use padding={fit_pad} or more, or a kernel spanning at most "
                f"{hw[axis] + 2 * pad[axis]} pixels.")
    else:
        msg += f" Use a kernel_size of at most {(hw[axis] + 2 * pad[axis] - 1) // dilation[axis] + 1}."
    raise ValueError(msg)


def _warn_untiled(op: str, kind: str, hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                  pad: tuple[int, int], dilation: tuple[int, int], out: tuple[int, int],
                  stacklevel: int) -> None:
    """Warn (once per configuration) when flooring the output size drops real input rows/columns.

    The remainder r = (size + 2*pad - span) mod stride is how many trailing rows of the padded
    input no window reaches.  Only when r > pad do real pixels go unseen (the bottom padding
    absorbs the rest).  A window narrower than its stride skips pixels between windows by
    design (a 1x1 stride-2 shortcut in ResNet), so that case does not warn.
    """
    lost = []      # (formula, "the last row" / "the last 2 columns") per axis that loses pixels
    fixes = []     # per axis: the smallest padding that tiles it exactly (None: no such padding)
    for axis, thing in enumerate(("row", "column")):
        s, k, st, p, d = hw[axis], kernel[axis], stride[axis], pad[axis], dilation[axis]
        span = window_span(k, d)
        unseen = (s + 2 * p - span) % st - p       # real input rows/columns no window reaches
        if unseen <= 0 or span < st:
            fixes.append(p)
            continue
        what = f"the last {thing}" if unseen == 1 else f"the last {unseen} {thing}s"
        lost.append((_formula(s, k, st, p, d), what))
        max_pad = p + st if kind == "conv" else k // 2   # pooling allows at most half a kernel
        fixes.append(next((q for q in range(p + 1, max_pad + 1) if (s + 2 * q - span) % st == 0), None))
    key = (op, hw, kernel, stride, pad, dilation)
    if not lost or key in _WARNED:
        return
    _WARNED.add(key)
    if len(lost) == 2 and lost[0][0] == lost[1][0]:   # the same numbers on both axes: say it once
        body = f"{lost[0][0]}: {lost[0][1]} and {lost[1][1]} of the input are never seen"
    else:
        body = "; ".join(f"{formula}: {what} of the input {'are' if what.endswith('s') else 'is'} never seen"
                         for formula, what in lost)
    if None in fixes:
        hint = "pad or crop the input so that (size + 2*padding - span) is a multiple of the stride"
    else:
        hint = f"padding={fixes[0] if fixes[0] == fixes[1] else tuple(fixes)} would use every pixel"
    if kind == "pool":
        hint += "; ceil_mode=True adds a last, partial window"
    warnings.warn(f"{op}: {body} (output {out[0]}x{out[1]}, rounded down as in PyTorch); {hint}.",
                  ShapeWarning, stacklevel=stacklevel + 1)


def _check_4d(op: str, x: tuple[int, ...]) -> None:
    if len(x) == 4:
        return
    hint = ""
    if len(x) == 3:
        hint = f"; for a single image add the batch axis: x.reshape{(1,) + tuple(x)}"
    elif len(x) == 2:
        hint = (f"; a single-channel {x[0]}x{x[1]} image needs batch and channel axes: "
                f"x.reshape{(1, 1) + tuple(x)}")
    raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x)}{hint}")


@dataclass(frozen=True)
class ConvGeometry:
    """Every size of one 2-D convolution (see the Notation above).

    ``extra_h``/``extra_w`` are 1 when ``padding="same"`` needs an odd total padding: PyTorch
    then pads PH rows on top and PH + 1 at the bottom (PW and PW + 1 for columns).
    """

    N: int
    C: int
    H: int
    W: int
    C_out: int
    KH: int
    KW: int
    SH: int
    SW: int
    PH: int
    PW: int
    DH: int
    DW: int
    OH: int
    OW: int
    groups: int
    extra_h: int = 0
    extra_w: int = 0


def conv2d_geometry(x: tuple[int, ...], weight: tuple[int, ...], bias: tuple[int, ...] | None,
                    stride: int | Sequence[int], padding: int | Sequence[int] | str,
                    dilation: int | Sequence[int], groups: int, op: str = "conv2d",
                    stacklevel: int = 2) -> ConvGeometry:
    """Validate a conv2d call (PyTorch's arguments) and compute its output size.

    x: (N, C, H, W), weight: (C_out, C/groups, KH, KW), bias: (C_out,) or None.
    ``padding`` is an int, a pair, ``"valid"`` (no padding) or ``"same"`` (output size = input
    size, stride 1 only; total padding DH*(KH-1) split as PyTorch does, the odd row at the bottom).
    Warns (``ShapeWarning``, once per configuration) when the stride leaves input pixels unseen.
    """
    _check_4d(op, x)
    if len(weight) != 4:
        raise ValueError(f"{op}: weight must be 4-D (C_out, C_in/groups, KH, KW), got shape {tuple(weight)}")
    N, C, H, W = x
    C_out, C_per_group, KH, KW = weight
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if C % groups or C_out % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide both the input channels ({C}) and the output "
            f"channels ({C_out}) of weight {tuple(weight)}")
    if C_per_group * groups != C:
        raise ValueError(
            f"{op}: weight {tuple(weight)} expects {C_per_group * groups} input channels "
            f"({C_per_group} x groups {groups}), but the input {tuple(x)} has {C}")
    if bias is not None and tuple(bias) != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},), one value per output channel, got {tuple(bias)}")
    SH, SW = pair(op, "stride", stride, 1)
    DH, DW = pair(op, "dilation", dilation, 1)
    extra = (0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            PH = PW = 0
        elif padding == "same":
            if (SH, SW) != (1, 1):
                centred = (DH * (KH - 1) // 2, DW * (KW - 1) // 2)
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions (stride={(SH, SW)}), "
                    f"as in PyTorch; pass the padding as a number, e.g. padding={centred}")
            total = (DH * (KH - 1), DW * (KW - 1))          # rows/columns to add so that OH = H
            PH, PW = total[0] // 2, total[1] // 2
            extra = (total[0] % 2, total[1] % 2)            # the odd one goes at the bottom/right
        else:
            raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    else:
        PH, PW = pair(op, "padding", padding, 0)
    # the odd "same" row/column is added to the input before the symmetric padding
    hw = (H + extra[0], W + extra[1])
    kernel, strides, pads, dils = (KH, KW), (SH, SW), (PH, PW), (DH, DW)
    OH, OW = _check_fits(op, "conv", hw, kernel, strides, pads, dils, ceil_mode=False)
    _warn_untiled(op, "conv", hw, kernel, strides, pads, dils, (OH, OW), stacklevel + 1)
    return ConvGeometry(N, C, H, W, C_out, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, int(groups), *extra)


def conv_transpose2d_geometry(x: tuple[int, ...], weight: tuple[int, ...], bias: tuple[int, ...] | None,
                              stride: int | Sequence[int], padding: int | Sequence[int],
                              output_padding: int | Sequence[int], groups: int,
                              dilation: int | Sequence[int], op: str = "conv_transpose2d") -> ConvGeometry:
    """Validate a conv_transpose2d call (PyTorch's arguments); return the geometry of the
    convolution it transposes.

    x: (N, C_in, H, W), weight: (C_in, C_out/groups, KH, KW), bias: (C_out,) or None.  The
    output is (N, C_out, OH, OW) with

        OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + output_padding + 1

    The returned ``ConvGeometry`` describes the conv2d whose input gradient this op is: its
    input is this op's output (C = C_out, H = OH, W = OW) and its output this op's input
    (C_out = C_in, OH = H, OW = W); the weight is the same array.
    """
    _check_4d(op, x)
    if len(weight) != 4:
        raise ValueError(f"{op}: weight must be 4-D (C_in, C_out/groups, KH, KW), got shape {tuple(weight)}")
    N, C_in, H, W = x
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if weight[0] != C_in:
        raise ValueError(f"{op}: weight {tuple(weight)} expects {weight[0]} input channels, "
                         f"but the input {tuple(x)} has {C_in}")
    if C_in % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels ({C_in})")
    C_out, KH, KW = weight[1] * groups, weight[2], weight[3]
    if bias is not None and tuple(bias) != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},), one value per output channel, got {tuple(bias)}")
    SH, SW = pair(op, "stride", stride, 1)
    PH, PW = pair(op, "padding", padding, 0)
    DH, DW = pair(op, "dilation", dilation, 1)
    extra = pair(op, "output_padding", output_padding, 0)
    if extra[0] >= max(SH, DH) or extra[1] >= max(SW, DW):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than the stride {(SH, SW)} "
                         f"or the dilation {(DH, DW)}, as in PyTorch")
    out = []
    for name, size, k, st, p, d, e in (("height", H, KH, SH, PH, DH, extra[0]),
                                       ("width", W, KW, SW, PW, DW, extra[1])):
        o = (size - 1) * st - 2 * p + d * (k - 1) + e + 1
        if o < 1:
            raise ValueError(
                f"{op}: output {name} (size - 1)*stride - 2*padding + dilation*(K - 1) + output_padding + 1 "
                f"= ({size} - 1)*{st} - 2*{p} + {d}*({k} - 1) + {e} + 1 = {o} is below 1; use less padding")
        out.append(o)
    OH, OW = out
    return ConvGeometry(N, C_out, OH, OW, C_in, KH, KW, SH, SW, PH, PW, DH, DW, H, W, int(groups))


@dataclass(frozen=True)
class PoolGeometry:
    """Every size of one 2-D pooling window (see the Notation above)."""

    N: int
    C: int
    H: int
    W: int
    KH: int
    KW: int
    SH: int
    SW: int
    PH: int
    PW: int
    DH: int
    DW: int
    OH: int
    OW: int


def pool2d_geometry(x: tuple[int, ...], kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
                    padding: int | Sequence[int], dilation: int | Sequence[int], ceil_mode: bool,
                    op: str = "max_pool2d", stacklevel: int = 2) -> PoolGeometry:
    """Validate a pooling call (PyTorch's arguments) and compute its output size.

    ``stride=None`` means stride = kernel_size (non-overlapping windows).  PyTorch allows
    at most half a kernel of padding: a window made only of padding would have no input.
    """
    _check_4d(op, x)
    N, C, H, W = x
    KH, KW = pair(op, "kernel_size", kernel_size, 1)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        SH, SW = KH, KW
    else:
        SH, SW = pair(op, "stride", stride, 1)
    PH, PW = pair(op, "padding", padding, 0)
    DH, DW = pair(op, "dilation", dilation, 1)
    if PH > KH // 2 or PW > KW // 2:
        raise ValueError(
            f"{op}: padding {(PH, PW)} is more than half the {KH}x{KW} kernel; PyTorch allows at most "
            f"padding={(KH // 2, KW // 2)} (otherwise a window could hold only padding)")
    hw, kernel, strides, pads, dils = (H, W), (KH, KW), (SH, SW), (PH, PW), (DH, DW)
    OH, OW = _check_fits(op, "pool", hw, kernel, strides, pads, dils, ceil_mode)
    if not ceil_mode:
        _warn_untiled(op, "pool", hw, kernel, strides, pads, dils, (OH, OW), stacklevel + 1)
    return PoolGeometry(N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)


def check_same_float_dtype(op: str, **arrays: object) -> None:
    """TypeError unless every given array (None skipped) has one floating dtype.

    NumPy would silently promote float32 @ float64 to float64; PyTorch refuses, and so do we.
    """
    named = {k: a.dtype for k, a in arrays.items() if a is not None}  # type: ignore[attr-defined]
    kinds = {k: d for k, d in named.items() if d.kind != "f"}
    if kinds:
        k, d = next(iter(kinds.items()))
        raise TypeError(f"{op}: {k} must be a floating-point tensor, got {d}; convert it with .float()")
    if len(set(named.values())) > 1:
        listed = ", ".join(f"{k} {d}" for k, d in named.items())
        raise TypeError(f"{op}: all inputs must have the same dtype, got {listed}; convert with .float() or .double()")
