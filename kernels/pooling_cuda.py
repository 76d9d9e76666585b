"""Max and average pooling as Numba-CUDA kernels (same contract as pooling.py).

Notation and PyTorch's rules (ties, NaN, divisors): see pooling.py.

    maxpool forward   one thread per output (n, c, oh, ow): the loop of
                      maxpool2d_forward_reference for one window.
    maxpool backward  one thread per gy element, scattering with cuda.atomic.add:
                      the contract passes only (gy, indices, H, W), not the window
                      geometry a gather would need.  Several windows may pick the
                      same pixel, so the adds must be atomic; the order they land
                      in, and so the last bits of a float sum, may vary between runs.
    avgpool forward   one thread per output.
    avgpool backward  one thread per dx[n, c, ih, iw], GATHERING gy/divisor from
                      every window that contains the pixel (no atomics): window oh
                      contains ih iff ih + PH - kh = oh*SH for some tap kh.

Sums are accumulated in float64 and rounded once on the store.
Why Numba-CUDA (and how to run these without a GPU): see cuda_launch.py.
"""
from __future__ import annotations

import math

import numpy as np

from .cuda_launch import array_module, cuda, launch


@cuda.jit(device=True)
def _first_tap_in_range(start, D):
    """First tap start + k*D >= 0 of a window (PyTorch's starting index)."""
    while start < 0:
        start += D
    return start


@cuda.jit(device=True)
def _window_count(o, S, P, K, L, count_include_pad):
    """Divisor along one axis for output o (see pooling.avgpool_divisor)."""
    # min/max are spelled out: the CUDA target of numba 0.68 fails to compile the
    # builtins for integers.
    start = o * S - P
    end = start + K
    if end > L + P:
        end = L + P                                   # clipped to the padded input
    if not count_include_pad:
        if start < 0:
            start = 0
        if end > L:
            end = L                                   # clipped to the real input
    return end - start if end > start else 1


@cuda.jit
def _maxpool_forward_kernel(x, y, indices, KH, KW, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    i = cuda.grid(1)                                  # one thread per output element
    if i >= N * C * OH * OW:
        return
    n_c_oh, ow = i // OW, i % OW
    n_c, oh = n_c_oh // OH, n_c_oh % OH
    n, c = n_c // C, n_c % C
    ih0 = oh * SH - PH
    iw0 = ow * SW - PW
    best = -math.inf
    best_index = _first_tap_in_range(ih0, DH) * W + _first_tap_in_range(iw0, DW)
    for kh in range(KH):
        ih = ih0 + kh * DH
        if ih < 0 or ih >= H:
            continue                                  # padding acts as -inf
        for kw in range(KW):
            iw = iw0 + kw * DW
            if iw < 0 or iw >= W:
                continue
            v = x[n, c, ih, iw]
            if v > best or math.isnan(v):             # strict: ties keep the first
                best = v
                best_index = ih * W + iw
    y[n, c, oh, ow] = best
    indices[n, c, oh, ow] = best_index


@cuda.jit
def _maxpool_backward_kernel(gy, indices, dx):
    # gy, indices: (N*C, OH*OW); dx: (N*C, H*W), zero on entry
    P, HW = dx.shape
    OHW = gy.shape[1]
    t = cuda.grid(1)                                  # one thread per gy element
    if t >= P * OHW:
        return
    p, o = t // OHW, t % OHW
    i = indices[p, o]
    if 0 <= i < HW:                                   # empty windows are dropped
        cuda.atomic.add(dx, (p, i), gy[p, o])


@cuda.jit
def _avgpool_forward_kernel(x, y, KH, KW, SH, SW, PH, PW, count_include_pad):
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    i = cuda.grid(1)                                  # one thread per output element
    if i >= N * C * OH * OW:
        return
    n_c_oh, ow = i // OW, i % OW
    n_c, oh = n_c_oh // OH, n_c_oh % OH
    n, c = n_c // C, n_c % C
    ih0 = oh * SH - PH
    iw0 = ow * SW - PW
    total = 0.0
    for kh in range(KH):
        ih = ih0 + kh
        if ih < 0 or ih >= H:
            continue                                  # padding adds 0
        for kw in range(KW):
            iw = iw0 + kw
            if 0 <= iw < W:
                total += x[n, c, ih, iw]
    divisor = (_window_count(oh, SH, PH, KH, H, count_include_pad)
               * _window_count(ow, SW, PW, KW, W, count_include_pad))
    y[n, c, oh, ow] = total / divisor


@cuda.jit
def _avgpool_backward_kernel(gy, dx, KH, KW, SH, SW, PH, PW, count_include_pad):
    N, C, H, W = dx.shape
    OH, OW = gy.shape[2], gy.shape[3]
    i = cuda.grid(1)                                  # one thread per dx element
    if i >= N * C * H * W:
        return
    n_c_ih, iw = i // W, i % W
    n_c, ih = n_c_ih // H, n_c_ih % H
    n, c = n_c // C, n_c % C
    total = 0.0
    for kh in range(KH):
        th = ih + PH - kh                             # = oh*SH if window oh holds ih at tap kh
        if th < 0 or th % SH != 0 or th // SH >= OH:
            continue
        oh = th // SH
        for kw in range(KW):
            tw = iw + PW - kw
            if tw < 0 or tw % SW != 0 or tw // SW >= OW:
                continue
            ow = tw // SW
            divisor = (_window_count(oh, SH, PH, KH, H, count_include_pad)
                       * _window_count(ow, SW, PW, KW, W, count_include_pad))
            total += gy[n, c, oh, ow] / divisor
    dx[n, c, ih, iw] = total


def maxpool2d_forward_cuda(x, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
                           DH: int, DW: int, OH: int, OW: int):
    """x: (N, C, H, W) -> (y, indices): (N, C, OH, OW); see maxpool2d_forward_reference."""
    xp = array_module(x)
    N, C = x.shape[:2]
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    indices = xp.empty((N, C, OH, OW), dtype=np.int64)
    x = xp.ascontiguousarray(x)
    launch(_maxpool_forward_kernel, y.size, x, x, y, indices, KH, KW, SH, SW, PH, PW, DH, DW)
    return y, indices


def maxpool2d_backward_cuda(gy, indices, H: int, W: int):
    """gy, indices: (N, C, OH, OW) -> dx: (N, C, H, W); see maxpool2d_backward_reference."""
    xp = array_module(gy)
    N, C, OH, OW = gy.shape
    dx = xp.zeros((N * C, H * W), dtype=gy.dtype)
    gy = xp.ascontiguousarray(gy).reshape(N * C, OH * OW)
    indices = xp.ascontiguousarray(indices).reshape(N * C, OH * OW)
    launch(_maxpool_backward_kernel, gy.size, gy, gy, indices, dx)
    return dx.reshape(N, C, H, W)


def avgpool2d_forward_cuda(x, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
                           OH: int, OW: int, count_include_pad: bool = True):
    """x: (N, C, H, W) -> y: (N, C, OH, OW); see avgpool2d_forward_reference."""
    xp = array_module(x)
    N, C = x.shape[:2]
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    x = xp.ascontiguousarray(x)
    launch(_avgpool_forward_kernel, y.size, x, x, y, KH, KW, SH, SW, PH, PW,
           bool(count_include_pad))
    return y


def avgpool2d_backward_cuda(gy, N: int, C: int, H: int, W: int, KH: int, KW: int,
                            SH: int, SW: int, PH: int, PW: int, OH: int, OW: int,
                            count_include_pad: bool = True):
    """gy: (N, C, OH, OW) -> dx: (N, C, H, W); see avgpool2d_backward_reference."""
    xp = array_module(gy)
    dx = xp.empty((N, C, H, W), dtype=gy.dtype)
    gy = xp.ascontiguousarray(gy)
    launch(_avgpool_backward_kernel, dx.size, gy, gy, dx, KH, KW, SH, SW, PH, PW,
           bool(count_include_pad))
    return dx
