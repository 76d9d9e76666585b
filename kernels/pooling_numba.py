"""Max and average pooling as Numba CPU kernels (same contract as pooling.py).

Every kernel runs numba.prange over the N*C planes (n, c): a plane's outputs read
only that plane's input, and its backward pass writes only that plane of dx, so
threads never write the same element (no race, no atomics).  The loops are the
ones pooling.py describes; its docstring lists PyTorch's rules (ties: first maximum
in row-major order; NaN: the last NaN wins; divisors for average pooling).

Compiled on first use per dtype and cached on disk (cache=True).  To step through
the kernels as plain Python, run with NUMBA_DISABLE_JIT=1.
"""
from __future__ import annotations

import numpy as np

from .numba_threads import prefer_sleeping_threads

prefer_sleeping_threads()        # before numba's OpenMP runtime loads: see numba_threads.py
try:
    import numba
except ImportError as error:  # pragma: no cover - exercised only without numba
    raise ImportError(
        "minicnn.kernels.pooling_numba needs numba: pip install minicnn[fast] "
        "(or set MINICNN_KERNELS=numpy)") from error


@numba.njit(cache=True)
def _first_tap_in_range(start, D):
    """First tap start + k*D >= 0 of a window (PyTorch's starting index)."""
    while start < 0:
        start += D
    return start


@numba.njit(parallel=True, cache=True)
def _maxpool_forward_kernel(x, y, indices, KH, KW, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        for oh in range(OH):
            ih0 = oh * SH - PH
            for ow in range(OW):
                iw0 = ow * SW - PW
                best = -np.inf
                best_index = _first_tap_in_range(ih0, DH) * W + _first_tap_in_range(iw0, DW)
                for kh in range(KH):
                    ih = ih0 + kh * DH
                    if ih < 0 or ih >= H:
                        continue                      # padding acts as -inf: never wins
                    for kw in range(KW):
                        iw = iw0 + kw * DW
                        if iw < 0 or iw >= W:
                            continue
                        v = x[n, c, ih, iw]
                        if v > best or np.isnan(v):   # strict: ties keep the first
                            best = v
                            best_index = ih * W + iw
                y[n, c, oh, ow] = best
                indices[n, c, oh, ow] = best_index
    return y, indices


@numba.njit(parallel=True, cache=True)
def _maxpool2x2_forward_kernel(x, y, indices):
    # The same loop for the most common window, 2x2 with stride 2 and no padding, with
    # the four taps spelled out: with compile-time window sizes the comparisons become
    # branch-free selects (measured: 4-6x faster than the general kernel, whose
    # data-dependent branches mispredict on about half of the taps).
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        for oh in range(OH):
            top = x[n, c, 2 * oh]                     # the window's two input rows
            bottom = x[n, c, 2 * oh + 1]
            out = y[n, c, oh]
            where = indices[n, c, oh]
            for ow in range(OW):
                iw = 2 * ow
                best, index = top[iw], 2 * oh * W + iw                   # tap (0, 0)
                v = top[iw + 1]                                          # tap (0, 1)
                wins = (v > best) | (v != v)          # strictly greater, or NaN
                best, index = (v, index + 1) if wins else (best, index)
                v = bottom[iw]                                           # tap (1, 0)
                wins = (v > best) | (v != v)
                best, index = (v, (2 * oh + 1) * W + iw) if wins else (best, index)
                v = bottom[iw + 1]                                       # tap (1, 1)
                wins = (v > best) | (v != v)
                best, index = (v, (2 * oh + 1) * W + iw + 1) if wins else (best, index)
                out[ow] = best
                where[ow] = index
    return y, indices


@numba.njit(parallel=True, cache=True)
def _maxpool_backward_kernel(gy, indices, dx):
    # gy, indices: (N*C, OH*OW); dx: (N*C, H*W), zeroed here, plane by plane: each task
    # then scatters into a plane it has just written (in cache), and the zeroing runs
    # in parallel (measured: 1.5-2x faster than np.zeros before the kernel)
    planes, HW = dx.shape
    for p in numba.prange(planes):                    # one plane per task
        dx[p] = 0
        for o in range(gy.shape[1]):
            i = indices[p, o]
            if 0 <= i < HW:                           # empty windows are dropped
                dx[p, i] += gy[p, o]
    return dx


@numba.njit(cache=True)
def _window_count(o, S, P, K, L, count_include_pad):
    """Divisor along one axis for output o (see pooling.avgpool_divisor)."""
    start = o * S - P
    end = min(start + K, L + P)                       # clipped to the padded input
    if not count_include_pad:
        start = max(start, 0)
        end = min(end, L)                             # clipped to the real input
    return max(end - start, 1)


@numba.njit(parallel=True, cache=True)
def _avgpool_forward_kernel(x, y, KH, KW, SH, SW, PH, PW, count_include_pad):
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    for n_c in numba.prange(N * C):
        n = n_c // C
        c = n_c % C
        for oh in range(OH):
            ih0 = oh * SH - PH
            count_h = _window_count(oh, SH, PH, KH, H, count_include_pad)
            for ow in range(OW):
                iw0 = ow * SW - PW
                total = 0.0
                for ih in range(max(ih0, 0), min(ih0 + KH, H)):
                    for iw in range(max(iw0, 0), min(iw0 + KW, W)):
                        total += x[n, c, ih, iw]
                count_w = _window_count(ow, SW, PW, KW, W, count_include_pad)
                y[n, c, oh, ow] = total / (count_h * count_w)
    return y


@numba.njit(parallel=True, cache=True)
def _avgpool_backward_kernel(gy, dx, KH, KW, SH, SW, PH, PW, count_include_pad):
    N, C, H, W = dx.shape
    OH, OW = gy.shape[2], gy.shape[3]
    for n_c in numba.prange(N * C):
        n = n_c // C
        c = n_c % C
        for oh in range(OH):
            ih0 = oh * SH - PH
            count_h = _window_count(oh, SH, PH, KH, H, count_include_pad)
            for ow in range(OW):
                iw0 = ow * SW - PW
                count_w = _window_count(ow, SW, PW, KW, W, count_include_pad)
                g = gy[n, c, oh, ow] / (count_h * count_w)
                for ih in range(max(ih0, 0), min(ih0 + KH, H)):
                    for iw in range(max(iw0, 0), min(iw0 + KW, W)):
                        dx[n, c, ih, iw] += g
    return dx


def maxpool2d_forward_numba(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int,
) -> tuple[np.ndarray, np.ndarray]:
    """x: (N, C, H, W) -> (y, indices): (N, C, OH, OW); see maxpool2d_forward_reference."""
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    indices = np.empty((N, C, OH, OW), dtype=np.int64)
    x = np.ascontiguousarray(x)
    if (KH, KW, SH, SW, PH, PW, DH, DW) == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * OH <= H and 2 * OW <= W:
        return _maxpool2x2_forward_kernel(x, y, indices)
    return _maxpool_forward_kernel(x, y, indices, KH, KW, SH, SW, PH, PW, DH, DW)


def maxpool2d_backward_numba(gy: np.ndarray, indices: np.ndarray, H: int, W: int) -> np.ndarray:
    """gy, indices: (N, C, OH, OW) -> dx: (N, C, H, W); see maxpool2d_backward_reference."""
    N, C, OH, OW = gy.shape
    dx = np.empty((N * C, H * W), dtype=gy.dtype)
    _maxpool_backward_kernel(np.ascontiguousarray(gy).reshape(N * C, OH * OW),
                             np.ascontiguousarray(indices).reshape(N * C, OH * OW), dx)
    return dx.reshape(N, C, H, W)


def avgpool2d_forward_numba(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    OH: int, OW: int, count_include_pad: bool = True,
) -> np.ndarray:
    """x: (N, C, H, W) -> y: (N, C, OH, OW); see avgpool2d_forward_reference."""
    N, C = x.shape[:2]
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    return _avgpool_forward_kernel(np.ascontiguousarray(x), y, KH, KW, SH, SW, PH, PW,
                                   bool(count_include_pad))


def avgpool2d_backward_numba(
    gy: np.ndarray, N: int, C: int, H: int, W: int, KH: int, KW: int,
    SH: int, SW: int, PH: int, PW: int, OH: int, OW: int, count_include_pad: bool = True,
) -> np.ndarray:
    """gy: (N, C, OH, OW) -> dx: (N, C, H, W); see avgpool2d_backward_reference."""
    dx = np.zeros((N, C, H, W), dtype=gy.dtype)
    return _avgpool_backward_kernel(np.ascontiguousarray(gy), dx, KH, KW, SH, SW, PH, PW,
                                    bool(count_include_pad))
