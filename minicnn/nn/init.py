"""Weight initialisation, PyTorch's ``torch.nn.init`` formulas: fill a Tensor in place.

Why it matters: each layer multiplies the signal by its weights.  If the weights are too
large the activations (and gradients) grow layer after layer; too small and they vanish.
The schemes below pick the spread so that the variance stays about the same per layer.

Notation:
    fan_in   = number of inputs feeding one output unit  = C_in  * KH * KW  (Conv2d) or I (Linear)
    fan_out  = number of outputs one input unit feeds    = C_out * KH * KW  (Conv2d) or O (Linear)
    gain     = how much the nonlinearity shrinks the variance (sqrt(2) for ReLU, see calculate_gain)

    Glorot/Xavier (tanh-era):  Var(W) = gain^2 * 2 / (fan_in + fan_out)
    He/Kaiming    (ReLU-era):  Var(W) = gain^2 / fan          (fan = fan_in or fan_out)
    A uniform U(-b, b) has variance b^2 / 3, so the uniform versions use b = sqrt(3) * std.

Every function takes ``rng=None`` (the default generator, reset by ``minicnn.manual_seed``),
an int seed or a ``numpy.random.Generator``, keeps the tensor's dtype (float32 stays float32)
and returns the tensor.  PyTorch's random stream is different, so the same seed gives the
same *distribution* as PyTorch, not the same numbers.
"""
from __future__ import annotations

import math
from typing import Union

import numpy as np

from ..backend import to_device
from ..random import get_rng
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
]

Rng = Union[np.random.Generator, int, None]  # see minicnn.random.get_rng


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    ============  ==============================
    nonlinearity  gain
    ============  ==============================
    linear, conv  1
    sigmoid       1
    tanh          5/3
    relu          sqrt(2)        (ReLU zeroes half the inputs: halves the variance)
    leaky_relu    sqrt(2 / (1 + negative_slope^2)), negative_slope = param (default 0.01)
    selu          3/4
    ============  ==============================
    """
    linear_like = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                   "conv_transpose3d", "sigmoid")
    if nonlinearity in linear_like:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; "
        "use one of 'linear', 'conv2d', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu'"
    )


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape (O, I) or (C_out, C_in/groups, KH, KW)."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a weight with at least 2 dimensions (out, in, ...), got shape {shape}"
        )
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1  # KH * KW for a conv
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' (keeps forward activations) or 'fan_out' (keeps gradients), got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check_tensor(tensor: Tensor) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init functions fill a Tensor (e.g. layer.weight), got {type(tensor).__name__}")


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    """Write host ``values`` into ``tensor.data`` in place, in the tensor's dtype and device."""
    _check_tensor(tensor)
    tensor.data[...] = to_device(values.astype(tensor.dtype, copy=False), tensor.device)
    return tensor


def _draw_dtype(tensor: Tensor) -> type:
    """Draw float32 numbers for float32/float16 tensors (no float64 temporaries), float64 for float64."""
    return np.float64 if tensor.dtype == np.float64 else np.float32


def _draw(tensor: Tensor, rng: Rng, normal: bool) -> np.ndarray:
    """U(0, 1) or N(0, 1) samples of the tensor's shape, drawn into its own array when possible.

    Drawing straight into ``tensor.data`` (``out=``) skips a 400 MB temporary and copy for
    VGG-16's first Linear layer; other dtypes and GPU arrays get a float32/float64 draw.
    """
    gen = get_rng(rng)
    draw = gen.standard_normal if normal else gen.random
    a = tensor.data
    if isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous:
        draw(out=a, dtype=a.dtype)
        return a
    return draw(tensor.shape, dtype=_draw_dtype(tensor))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, rng: Rng = None) -> Tensor:
    """Fill with U(a, b):  a + (b - a) * u,  u ~ U(0, 1)."""
    _check_tensor(tensor)
    u = _draw(tensor, rng, normal=False)
    u *= u.dtype.type(b - a)  # scalars in u's dtype: float32 stays float32
    u += u.dtype.type(a)
    return tensor if u is tensor.data else _fill(tensor, u)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, rng: Rng = None) -> Tensor:
    """Fill with N(mean, std^2):  mean + std * z,  z ~ N(0, 1)."""
    _check_tensor(tensor)
    z = _draw(tensor, rng, normal=True)
    z *= z.dtype.type(std)
    z += z.dtype.type(mean)
    return tensor if z is tensor.data else _fill(tensor, z)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val, dtype=tensor.dtype))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, rng: Rng = None) -> Tensor:
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # U(-b, b) has std b / sqrt(3)
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, rng: Rng = None) -> Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, rng)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", rng: Rng = None) -> Tensor:
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan).

    ``a`` is the negative slope of the leaky ReLU that follows (used only with
    ``nonlinearity="leaky_relu"``).  PyTorch's Conv2d and Linear use ``a=sqrt(5)``, which
    gives gain = sqrt(2 / 6) and so b = 1 / sqrt(fan_in).
    """
    if 0 in tensor.shape:
        return tensor  # nothing to fill
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", rng: Rng = None) -> Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan); for ReLU nets use nonlinearity="relu"."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, rng)
