"""Assignment 2: convolution and max pooling in plain NumPy, forward and backward.

Notation:
    N        batch size                 C        input channels
    H, W     input height and width     F        filters (output channels)
    KH, KW   kernel height and width    S        stride (the same along both axes)
    P        zero padding on every side (the same along both axes)
    OH = (H + 2P - KH) // S + 1         OW = (W + 2P - KW) // S + 1

All functions take and return NumPy arrays and keep the input's dtype (float32 stays float32).
minicnn's own versions of these functions are in minicnn/nn/functional/conv_naive.py and
kernels/im2col.py: read them after you have written yours, not before.
"""
from __future__ import annotations

import numpy as np


def output_size(H: int, W: int, KH: int, KW: int, stride: int = 1, pad: int = 0) -> tuple[int, int]:
    """(OH, OW) of a convolution or pooling window sliding over an (H, W) input.

    Raises:
        ValueError: the window does not fit, or does not tile the padded input exactly.
    """
    if (H + 2 * pad - KH) % stride or (W + 2 * pad - KW) % stride or H + 2 * pad < KH or W + 2 * pad < KW:
        raise ValueError(f"a {KH}x{KW} window with stride {stride} and padding {pad} does not tile a "
                         f"{H}x{W} input: (H + 2P - KH) / S + 1 = {(H + 2 * pad - KH) / stride + 1:.2f}")
    return (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1


def pad_input(x: np.ndarray, pad: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H + 2P, W + 2P), with P rows/columns of zeros on every side."""
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv2d_naive_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1,
                         pad: int = 0) -> np.ndarray:
    """Convolution (cross-correlation, as in every deep-learning library) with explicit loops.

        out[n, f, i, j] = b[f] + sum over c, u, v of  w[f, c, u, v] * xpad[n, c, i*S + u, j*S + v]

    Args:
        x: (N, C, H, W) input.
        w: (F, C, KH, KW) filters.
        b: (F,) biases.
        stride, pad: S and P.

    Returns:
        out: (N, F, OH, OW), same dtype as x.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = output_size(H, W, KH, KW, stride, pad)
    # BEGIN SOLUTION
    xpad = pad_input(x, pad)
    out = np.zeros((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = xpad[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]  # (C, KH, KW)
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    # END SOLUTION
    return out


def conv2d_naive_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int = 1,
                          pad: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss L through conv2d_naive_forward, given dout = dL/dout.

    Output out[n, f, i, j] used the window xpad[n, :, i*S:i*S+KH, j*S:j*S+KW] and filter w[f],
    so by the chain rule, summed over every n, f, i, j (over the whole batch):

        dw[f]                                  += dout[n, f, i, j] * window
        dxpad[n, :, i*S:i*S+KH, j*S:j*S+KW]    += dout[n, f, i, j] * w[f]
        db[f]                                  += dout[n, f, i, j]

    and dx is dxpad without its padding.

    Args:
        dout: (N, F, OH, OW) upstream gradient.
        x, w, stride, pad: the forward's inputs.

    Returns:
        (dx, dw, db) with the shapes of x, w and b: (N, C, H, W), (F, C, KH, KW), (F,).
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = output_size(H, W, KH, KW, stride, pad)
    # BEGIN SOLUTION
    xpad = pad_input(x, pad)
    dxpad = np.zeros_like(xpad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))                     # each b[f] was added to every out[:, f]
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    rows = slice(i * stride, i * stride + KH)
                    cols = slice(j * stride, j * stride + KW)
                    dw[f] += dout[n, f, i, j] * xpad[n, :, rows, cols]
                    dxpad[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    dx = dxpad[:, :, pad:pad + H, pad:pad + W]        # drop the gradient of the zero padding
    # END SOLUTION
    return dx, dw, db


def im2col(x: np.ndarray, KH: int, KW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Copy every receptive field of x into one row of a matrix.

        cols[(n*OH + i)*OW + j, (c*KH + u)*KW + v] = xpad[n, c, i*S + u, j*S + v]

    so that, with wmat = w.reshape(F, C*KH*KW), the convolution is one matrix product:
    out = (cols @ wmat.T + b).reshape(N, OH, OW, F).transpose(0, 3, 1, 2).

    Args:
        x: (N, C, H, W).
        KH, KW, stride, pad: the window.

    Returns:
        cols: (N*OH*OW, C*KH*KW), same dtype as x.

    Hint: loop over the KH*KW kernel offsets (u, v) only; for each one, a strided slice of
    xpad gives that tap for all n, c, i, j at once.
    """
    N, C, H, W = x.shape
    OH, OW = output_size(H, W, KH, KW, stride, pad)
    # BEGIN SOLUTION
    xpad = pad_input(x, pad)
    cols = np.empty((N, OH, OW, C, KH, KW), dtype=x.dtype)
    for u in range(KH):
        for v in range(KW):
            tap = xpad[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride]   # (N, C, OH, OW)
            cols[:, :, :, :, u, v] = tap.transpose(0, 2, 3, 1)                    # (N, OH, OW, C)
    return cols.reshape(N * OH * OW, C * KH * KW)
    # END SOLUTION


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], KH: int, KW: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """The adjoint of im2col: add every entry of cols back onto the pixel it was copied from.

    Pixels shared by overlapping windows receive the sum of their entries; entries that came
    from the padding are dropped. This turns dL/dcols into dL/dx, and satisfies
    sum(im2col(x) * cols) == sum(x * col2im(cols)) for every x and cols.

    Args:
        cols: (N*OH*OW, C*KH*KW).
        x_shape: (N, C, H, W), the shape of the image im2col was applied to.
        KH, KW, stride, pad: the window.

    Returns:
        dx: (N, C, H, W), same dtype as cols.
    """
    N, C, H, W = x_shape
    OH, OW = output_size(H, W, KH, KW, stride, pad)
    # BEGIN SOLUTION
    cols6 = cols.reshape(N, OH, OW, C, KH, KW)
    dxpad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for u in range(KH):
        for v in range(KW):
            tap = cols6[:, :, :, :, u, v].transpose(0, 3, 1, 2)                   # (N, C, OH, OW)
            dxpad[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride] += tap
    return dxpad[:, :, pad:pad + H, pad:pad + W]
    # END SOLUTION


def max_pool_forward(x: np.ndarray, kernel: int = 2, stride: int = 2) -> np.ndarray:
    """Max pooling without padding: the largest value of every kernel x kernel window.

        out[n, c, i, j] = max over u, v < kernel of  x[n, c, i*S + u, j*S + v]

    Args:
        x: (N, C, H, W).
        kernel, stride: window size and step (windows overlap when stride < kernel).

    Returns:
        out: (N, C, OH, OW), same dtype as x.
    """
    N, C, H, W = x.shape
    OH, OW = output_size(H, W, kernel, kernel, stride, 0)
    # BEGIN SOLUTION
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            window = x[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]  # (N, C, k, k)
            out[:, :, i, j] = window.max(axis=(2, 3))
    # END SOLUTION
    return out


def max_pool_backward(dout: np.ndarray, x: np.ndarray, kernel: int = 2, stride: int = 2) -> np.ndarray:
    """Gradient of max pooling: each dout[n, c, i, j] flows back to the position of its
    window's maximum only (the first one in row-major order when several are equal); where
    windows overlap, the contributions add up.

    Args:
        dout: (N, C, OH, OW) upstream gradient.
        x, kernel, stride: the forward's input and window.

    Returns:
        dx: (N, C, H, W), same dtype as x.
    """
    N, C, H, W = x.shape
    OH, OW = output_size(H, W, kernel, kernel, stride, 0)
    # BEGIN SOLUTION
    dx = np.zeros_like(x)
    n, c = np.indices((N, C))                                        # (N, C) each
    for i in range(OH):
        for j in range(OW):
            window = x[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            first_max = window.reshape(N, C, kernel * kernel).argmax(axis=2)    # (N, C)
            u, v = np.divmod(first_max, kernel)                      # row and column in the window
            dx[n, c, i * stride + u, j * stride + v] += dout[:, :, i, j]
    # END SOLUTION
    return dx
