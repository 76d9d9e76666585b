"""Convert Keras (channels-last) weight layouts to minicnn's (channels-first) layouts.

Notation:
    KH, KW   kernel height and width
    C        input channels (C_in),  O  output channels / units
    H, Wd    height and width of the feature map that a Flatten layer flattens

Keras stores images as (N, H, W, C) and weights as

    Conv2D kernel   (KH, KW, C, O)   "HWIO"
    Dense kernel    (in, out)        y = x @ K + b

minicnn (like PyTorch) stores images as (N, C, H, W) and weights as

    Conv2d weight   (O, C, KH, KW)   "OIHW"
    Linear weight   (out, in)        y = x @ W.T + b

Both libraries compute *cross-correlation* (no kernel flip), so a conv kernel only
needs its axes permuted:  W[o, c, kh, kw] = K[kh, kw, c, o].
"""
from __future__ import annotations

import numpy as np

__all__ = ["conv_kernel_hwio_to_oihw", "dense_in_out_to_out_in",
           "permute_dense_rows_nhwc_to_nchw"]


def conv_kernel_hwio_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """Keras Conv2D kernel (KH, KW, C, O) -> minicnn Conv2d weight (O, C, KH, KW).

    W[o, c, kh, kw] = K[kh, kw, c, o]; returns a C-contiguous copy.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"conv_kernel_hwio_to_oihw: expected a 4-d (KH, KW, C_in, C_out) "
                         f"kernel, got shape {kernel.shape}")
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # (O, C, KH, KW)


def dense_in_out_to_out_in(kernel: np.ndarray) -> np.ndarray:
    """Keras Dense kernel (in, out) -> minicnn Linear weight (out, in).

    Keras computes y = x @ K, minicnn y = x @ W.T, so W = K.T.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"dense_in_out_to_out_in: expected a 2-d (in, out) kernel, got "
                         f"shape {kernel.shape}")
    return np.ascontiguousarray(kernel.T)  # (out, in)


def permute_dense_rows_nhwc_to_nchw(kernel: np.ndarray, C: int, H: int, Wd: int) -> np.ndarray:
    """Reorder the rows of the first Dense kernel after a Flatten, HWC -> CHW order.

    A Flatten turns a (H, Wd, C) feature map ``a`` into a vector. Keras flattens in
    channels-last order, minicnn in channels-first order::

        keras row   r_k = (h * Wd + w) * C + c        x_k[r_k] = a[h, w, c]
        minicnn row r_m = (c * H + h) * Wd + w        x_m[r_m] = a[h, w, c]

    Both vectors hold the same numbers in a different order, so the Dense output
    ``y = x_k @ K`` is unchanged if the kernel rows move with them: the new kernel
    ``K'[r_m] = K[r_k]`` gives ``x_m @ K' = x_k @ K``. With ``K`` viewed as
    (H, Wd, C, out), that is the axis permutation (h, w, c) -> (c, h, w).

    Args:
        kernel: Keras Dense kernel of shape (H*Wd*C, out), rows in (h, w, c) order.
        C, H, Wd: channels, height and width of the map *before* Flatten.

    Returns:
        (C*H*Wd, out) kernel with rows in (c, h, w) order; still (in, out) -- apply
        ``dense_in_out_to_out_in`` afterwards for a minicnn Linear weight.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] != C * H * Wd:
        raise ValueError(
            f"permute_dense_rows_nhwc_to_nchw: kernel of shape {kernel.shape} does not have "
            f"C*H*Wd = {C}*{H}*{Wd} = {C * H * Wd} rows; pass the (in, out) Keras kernel and "
            "the (C, H, W) of the feature map that was flattened")
    out = kernel.shape[1]
    hwc = kernel.reshape(H, Wd, C, out)                    # rows indexed (h, w, c)
    chw = hwc.transpose(2, 0, 1, 3)                        # (C, H, Wd, out)
    return np.ascontiguousarray(chw).reshape(C * H * Wd, out)  # rows indexed (c, h, w)
