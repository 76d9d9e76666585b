"""Winograd F(2x2, 3x3) transforms as Numba CPU kernels (same contract as winograd.py).

Each kernel does, for one tile at a time, what the reference does with einsum over all
tiles: the 4x4 (or 2x2) matrix products are written out as the additions they are
(the matrices hold only 0, +-1, +-1/2), first along rows, then along columns.

    B^T d B    rows r = B^T d:  r0 = d0 - d2   r1 = d1 + d2   r2 = d2 - d1   r3 = d1 - d3
               then the same on the columns of r
    A^T m A    s0 = m0 + m1 + m2   s1 = m1 - m2 - m3   (rows, then columns)
    A g A^T    u0 = g0   u1 = g0 + g1   u2 = g0 - g1   u3 = -g1
    B v B^T    z0 = v0   z1 = v1 - v2 + v3   z2 = v1 + v2 - v0   z3 = -v3

Parallelism (numba.prange): one (n, c) plane (or (n, o) output plane) per task.  Every
task writes only its own channel's row of V/M and its own plane of y/dx (the
overlapping patches of input_grad_transform add into the task's own plane), so no two
threads write the same element.  Compiled on first use per dtype, cached on disk.
"""
from __future__ import annotations

import numpy as np

from .numba_threads import prefer_sleeping_threads

prefer_sleeping_threads()        # before numba's OpenMP runtime loads: see numba_threads.py
try:
    import numba
except ImportError as error:  # pragma: no cover - exercised only without numba
    raise ImportError(
        "minicnn.kernels.winograd_numba needs numba: pip install minicnn[fast] "
        "(or set MINICNN_KERNELS=numpy)") from error

from .winograd import _check_out, check_tile_counts, check_tiles, new_planes, tiles


@numba.njit(inline="always")
def _bt(a0, a1, a2, a3):
    """B^T applied to one column (a0..a3) of a 4x4 tile."""
    return a0 - a2, a1 + a2, a2 - a1, a1 - a3


@numba.njit(inline="always")
def _b(a0, a1, a2, a3):
    """B applied to one column of a 4x4 tile (the transpose of _bt)."""
    return a0, a1 - a2 + a3, a1 + a2 - a0, -a3


# Every kernel first copies its plane into (or builds it in) a small zero-bordered buffer
# of whole tiles, so the tile loops run without a bounds test per pixel: straight-line
# code the compiler can vectorise over tw (measured 2-4x faster than testing each pixel).

@numba.njit(parallel=True, cache=True)
def _input_kernel(x, V, PH, PW, TH, TW):
    N, C, H, W = x.shape
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        d = np.zeros((2 * TH + 2, 2 * TW + 2), dtype=x.dtype)   # the padded plane
        d[PH:PH + H, PW:PW + W] = x[n, c]
        for th in range(TH):
            t0 = (n * TH + th) * TW
            for tw in range(TW):
                i = 2 * th
                j = 2 * tw
                # r = B^T d: the 4x4 patch's rows i..i+3 combined, column by column
                r00, r10, r20, r30 = _bt(d[i, j], d[i + 1, j], d[i + 2, j], d[i + 3, j])
                r01, r11, r21, r31 = _bt(d[i, j + 1], d[i + 1, j + 1], d[i + 2, j + 1], d[i + 3, j + 1])
                r02, r12, r22, r32 = _bt(d[i, j + 2], d[i + 1, j + 2], d[i + 2, j + 2], d[i + 3, j + 2])
                r03, r13, r23, r33 = _bt(d[i, j + 3], d[i + 1, j + 3], d[i + 2, j + 3], d[i + 3, j + 3])
                # V = r B: each row of r, transformed the same way
                V[0, c, t0 + tw], V[1, c, t0 + tw], V[2, c, t0 + tw], V[3, c, t0 + tw] = _bt(r00, r01, r02, r03)
                V[4, c, t0 + tw], V[5, c, t0 + tw], V[6, c, t0 + tw], V[7, c, t0 + tw] = _bt(r10, r11, r12, r13)
                V[8, c, t0 + tw], V[9, c, t0 + tw], V[10, c, t0 + tw], V[11, c, t0 + tw] = _bt(r20, r21, r22, r23)
                V[12, c, t0 + tw], V[13, c, t0 + tw], V[14, c, t0 + tw], V[15, c, t0 + tw] = _bt(r30, r31, r32, r33)
    return V


@numba.njit(parallel=True, cache=True)
def _output_kernel(M, y, bias, has_bias):
    N, C_out, OH, OW = y.shape
    TH = (OH + 1) // 2
    TW = (OW + 1) // 2
    for n_o in numba.prange(N * C_out):               # one (n, o) output plane per task
        n = n_o // C_out
        o = n_o % C_out
        Y = np.empty((2 * TH, 2 * TW), dtype=y.dtype)    # whole tiles; cropped below
        for th in range(TH):
            t0 = (n * TH + th) * TW
            for tw in range(TW):
                t = t0 + tw
                # s = A^T m (2 x 4): rows 0+1+2 and 1-2-3 of the 4x4 m, column by column
                s00 = M[0, o, t] + M[4, o, t] + M[8, o, t]
                s01 = M[1, o, t] + M[5, o, t] + M[9, o, t]
                s02 = M[2, o, t] + M[6, o, t] + M[10, o, t]
                s03 = M[3, o, t] + M[7, o, t] + M[11, o, t]
                s10 = M[4, o, t] - M[8, o, t] - M[12, o, t]
                s11 = M[5, o, t] - M[9, o, t] - M[13, o, t]
                s12 = M[6, o, t] - M[10, o, t] - M[14, o, t]
                s13 = M[7, o, t] - M[11, o, t] - M[15, o, t]
                # Y = s A: the same combination of s's columns
                Y[2 * th, 2 * tw] = s00 + s01 + s02
                Y[2 * th, 2 * tw + 1] = s01 - s02 - s03
                Y[2 * th + 1, 2 * tw] = s10 + s11 + s12
                Y[2 * th + 1, 2 * tw + 1] = s11 - s12 - s13
        b = bias[o] if has_bias else y.dtype.type(0)  # (a plain 0 would make b float64)
        y[n, o] = Y[:OH, :OW] + b                      # drop what sticks out
    return y


@numba.njit(parallel=True, cache=True)
def _output_grad_kernel(gy, dM, TH, TW):
    N, C_out, OH, OW = gy.shape
    for n_o in numba.prange(N * C_out):               # one (n, o) plane per task
        n = n_o // C_out
        o = n_o % C_out
        g = np.zeros((2 * TH, 2 * TW), dtype=gy.dtype)   # dY in whole tiles, 0 past the edge
        g[:OH, :OW] = gy[n, o]
        for th in range(TH):
            t0 = (n * TH + th) * TW
            for tw in range(TW):
                t = t0 + tw
                g00 = g[2 * th, 2 * tw]
                g01 = g[2 * th, 2 * tw + 1]
                g10 = g[2 * th + 1, 2 * tw]
                g11 = g[2 * th + 1, 2 * tw + 1]
                # u = A g (4 x 2): rows g0, g0 + g1, g0 - g1, -g1
                # dM = u A^T: the same combination of each row's two entries
                dM[0, o, t], dM[1, o, t], dM[2, o, t], dM[3, o, t] = g00, g00 + g01, g00 - g01, -g01
                u0, u1 = g00 + g10, g01 + g11
                dM[4, o, t], dM[5, o, t], dM[6, o, t], dM[7, o, t] = u0, u0 + u1, u0 - u1, -u1
                u0, u1 = g00 - g10, g01 - g11
                dM[8, o, t], dM[9, o, t], dM[10, o, t], dM[11, o, t] = u0, u0 + u1, u0 - u1, -u1
                dM[12, o, t], dM[13, o, t], dM[14, o, t], dM[15, o, t] = -g10, -g10 - g11, -g10 + g11, g11
    return dM


@numba.njit(parallel=True, cache=True)
def _input_grad_kernel(dV, dx, PH, PW, TH, TW):
    N, C, H, W = dx.shape
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        g = np.zeros((2 * TH + 2, 2 * TW + 2), dtype=dx.dtype)   # dL/d(padded plane)
        for th in range(TH):
            t0 = (n * TH + th) * TW
            for tw in range(TW):
                t = t0 + tw
                i = 2 * th
                j = 2 * tw
                # z = dV B^T, row by row, then B z column by column, added onto the patch
                z00, z01, z02, z03 = _b(dV[0, c, t], dV[1, c, t], dV[2, c, t], dV[3, c, t])
                z10, z11, z12, z13 = _b(dV[4, c, t], dV[5, c, t], dV[6, c, t], dV[7, c, t])
                z20, z21, z22, z23 = _b(dV[8, c, t], dV[9, c, t], dV[10, c, t], dV[11, c, t])
                z30, z31, z32, z33 = _b(dV[12, c, t], dV[13, c, t], dV[14, c, t], dV[15, c, t])
                a0, a1, a2, a3 = _b(z00, z10, z20, z30)
                g[i, j] += a0
                g[i + 1, j] += a1
                g[i + 2, j] += a2
                g[i + 3, j] += a3
                a0, a1, a2, a3 = _b(z01, z11, z21, z31)
                g[i, j + 1] += a0
                g[i + 1, j + 1] += a1
                g[i + 2, j + 1] += a2
                g[i + 3, j + 1] += a3
                a0, a1, a2, a3 = _b(z02, z12, z22, z32)
                g[i, j + 2] += a0
                g[i + 1, j + 2] += a1
                g[i + 2, j + 2] += a2
                g[i + 3, j + 2] += a3
                a0, a1, a2, a3 = _b(z03, z13, z23, z33)
                g[i, j + 3] += a0
                g[i + 1, j + 3] += a1
                g[i + 2, j + 3] += a2
                g[i + 3, j + 3] += a3
        dx[n, c] = g[PH:PH + H, PW:PW + W]            # drop the padding's share
    return dx


def input_transform_numba(x: np.ndarray, PH: int, PW: int, TH: int, TW: int,
                          out: np.ndarray | None = None) -> np.ndarray:
    """x: (N, C, H, W) -> V: (16, C, N*TH*TW); see input_transform_reference."""
    N, C = x.shape[:2]
    check_tile_counts(x.shape, PH, PW, TH, TW)
    V = _check_out(out, (16, C, N * TH * TW), x.dtype, "input_transform", plane_padded=True)
    return _input_kernel(np.ascontiguousarray(x), V, PH, PW, TH, TW)


def output_transform_numba(M: np.ndarray, N: int, OH: int, OW: int, bias: np.ndarray | None = None,
                           out: np.ndarray | None = None) -> np.ndarray:
    """M: (16, C_out, N*TH*TW) -> y: (N, C_out, OH, OW); see output_transform_reference."""
    TH, TW = tiles(OH, OW)
    check_tiles(M, N * TH * TW, "output_transform")
    C_out = M.shape[1]
    y = _check_out(out, (N, C_out, OH, OW), M.dtype, "output_transform")
    b = np.zeros(1, dtype=M.dtype) if bias is None else np.ascontiguousarray(bias, dtype=M.dtype)
    return _output_kernel(_planes_ordered(M), y, b, bias is not None)


def output_grad_transform_numba(gy: np.ndarray, TH: int, TW: int,
                                out: np.ndarray | None = None) -> np.ndarray:
    """dL/dy: (N, C_out, OH, OW) -> dL/dM: (16, C_out, N*TH*TW); see output_grad_transform_reference."""
    N, C_out = gy.shape[:2]
    dM = _check_out(out, (16, C_out, N * TH * TW), gy.dtype, "output_grad_transform", plane_padded=True)
    return _output_grad_kernel(np.ascontiguousarray(gy), dM, TH, TW)


def input_grad_transform_numba(dV: np.ndarray, N: int, H: int, W: int, PH: int, PW: int,
                               out: np.ndarray | None = None) -> np.ndarray:
    """dL/dV: (16, C, N*TH*TW) -> dL/dx: (N, C, H, W); see input_grad_transform_reference."""
    C = dV.shape[1]
    TH, TW = tiles(H + 2 * PH - 2, W + 2 * PW - 2)
    check_tiles(dV, N * TH * TW, "input_grad_transform")
    dx = _check_out(out, (N, C, H, W), dV.dtype, "input_grad_transform")
    return _input_grad_kernel(_planes_ordered(dV), dx, PH, PW, TH, TW)


def _planes_ordered(A: np.ndarray) -> np.ndarray:
    """A (16, rows, T) input as is if its planes are C-ordered (padded apart or not), else copied so."""
    itemsize = A.dtype.itemsize
    if A.strides[2] == itemsize and A.strides[1] == A.shape[2] * itemsize:
        return A
    out = new_planes(A.shape[1], A.shape[2], A.dtype)
    out[...] = A
    return out
