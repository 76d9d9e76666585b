"""Winograd F(2x2, 3x3) transforms as Numba-CUDA kernels (same contract as winograd.py).

Notation and math: see winograd.py (T = N*TH*TW tiles, tile t = (n*TH + th)*TW + tw,
xi = 4*i + j).  V, M and their gradients are (16, rows, T) arrays whose planes may be
padded apart (``winograd.planes``): the kernels index them by [xi, row, t], so any
strides work and CuPy arrays go in without a copy.  (NumPy arrays, which the CUDA
simulator runs on, must be one contiguous block: padded planes are copied there.)

    input_transform        one thread per (c, t): reads tile t's 4x4 patch of x[n, c]
                           (0 in the padding) and writes the 16 values V[:, c, t] = B^T d B.
    output_transform       one thread per (o, t): reads M[:, o, t], writes the 2x2 tile
                           A^T m A (+ bias) of y[n, o], dropping what sticks out.
    output_grad_transform  one thread per (o, t): reads the 2x2 tile of gy (0 past the
                           edge), writes the 16 values dM[:, o, t] = A dY A^T.
    input_grad_transform   one thread per dx[n, c, ih, iw]: it GATHERS its share of
                           B dV B^T from the (at most 2x2) tiles whose 4x4 patch covers
                           it, instead of each tile scattering 16 values, so no two threads
                           write the same element and no atomics are needed.  Patches
                           start 2 apart, so padded row p = ih + PH is row a = p - 2*th of
                           the patches th = p//2 (a = p%2) and th = p//2 - 1 (a = p%2 + 2).

In the first three, thread i = row*T + t: neighbouring threads handle neighbouring
tiles, so their loads and stores of one plane of V / M are coalesced.  The gather of
input_grad_transform reads a tile's 16 dV values once for each of the 16 pixels of
its patch (mostly from cache: neighbouring threads share tiles) but needs neither
atomics nor a second pass; one thread per
(n, c, tile row) would scatter without races too, but with N*C*TH threads, too few
to fill a GPU on small batches.

B^T, A^T and B hold only 0 and +-1, so the products are the additions written out in
winograd_numba.py, and the arithmetic stays in the arrays' dtype, rounding as the
reference does: unlike im2col_cuda.py's sums, a float32 kernel does no float64 work
(consumer GPUs run float64 at 1/32 to 1/64 of the float32 rate; the PTX test checks).

Why Numba-CUDA rather than a CuPy RawKernel (and how to run these without a GPU):
see cuda_launch.py.  In short: the kernels are the same Python loops as
winograd_numba.py, and the CUDA simulator tests them against the reference.
"""
from __future__ import annotations

import numpy as np

from .cuda_launch import array_module, cuda, launch
from .winograd import _check_out, check_tile_counts, check_tiles, tiles


@cuda.jit(device=True)
def _bt(a0, a1, a2, a3):
    """B^T applied to one column (a0..a3) of a 4x4 tile."""
    return a0 - a2, a1 + a2, a2 - a1, a1 - a3


@cuda.jit(device=True)
def _b_entry(v0, v1, v2, v3, a):
    """Entry a of B v (B = (B^T)^T): the four entries of winograd_numba._b, one at a time."""
    if a == 0:
        return v0
    if a == 1:
        return v1 - v2 + v3
    if a == 2:
        return v1 + v2 - v0
    return -v3


@cuda.jit(device=True)
def _tile_position(t, TH, TW):
    """Tile t = (n*TH + th)*TW + tw of the batch -> (n, th, tw)."""
    n_th, tw = t // TW, t % TW
    return n_th // TH, n_th % TH, tw


@cuda.jit(device=True)
def _padded_pixel(x, n, c, ih, iw):
    """x[n, c, ih, iw], or 0 (of x's dtype) in the padding."""
    if 0 <= ih < x.shape[2] and 0 <= iw < x.shape[3]:
        return x[n, c, ih, iw]
    return x.dtype.type(0)


@cuda.jit
def _input_kernel(x, V, PH, PW, TH, TW):
    C, T = V.shape[1], V.shape[2]
    i = cuda.grid(1)                                  # one thread per (c, t)
    if i >= C * T:
        return
    c, t = i // T, i % T
    n, th, tw = _tile_position(t, TH, TW)
    ih, iw = 2 * th - PH, 2 * tw - PW                 # the patch's top-left pixel in x
    # r = B^T d: the patch's rows combined, column by column
    r00, r10, r20, r30 = _bt(_padded_pixel(x, n, c, ih, iw), _padded_pixel(x, n, c, ih + 1, iw),
                             _padded_pixel(x, n, c, ih + 2, iw), _padded_pixel(x, n, c, ih + 3, iw))
    r01, r11, r21, r31 = _bt(_padded_pixel(x, n, c, ih, iw + 1), _padded_pixel(x, n, c, ih + 1, iw + 1),
                             _padded_pixel(x, n, c, ih + 2, iw + 1), _padded_pixel(x, n, c, ih + 3, iw + 1))
    r02, r12, r22, r32 = _bt(_padded_pixel(x, n, c, ih, iw + 2), _padded_pixel(x, n, c, ih + 1, iw + 2),
                             _padded_pixel(x, n, c, ih + 2, iw + 2), _padded_pixel(x, n, c, ih + 3, iw + 2))
    r03, r13, r23, r33 = _bt(_padded_pixel(x, n, c, ih, iw + 3), _padded_pixel(x, n, c, ih + 1, iw + 3),
                             _padded_pixel(x, n, c, ih + 2, iw + 3), _padded_pixel(x, n, c, ih + 3, iw + 3))
    # V = r B: each row of r, transformed the same way
    V[0, c, t], V[1, c, t], V[2, c, t], V[3, c, t] = _bt(r00, r01, r02, r03)
    V[4, c, t], V[5, c, t], V[6, c, t], V[7, c, t] = _bt(r10, r11, r12, r13)
    V[8, c, t], V[9, c, t], V[10, c, t], V[11, c, t] = _bt(r20, r21, r22, r23)
    V[12, c, t], V[13, c, t], V[14, c, t], V[15, c, t] = _bt(r30, r31, r32, r33)


@cuda.jit
def _output_kernel(M, y, bias, has_bias):
    N, C_out, OH, OW = y.shape
    T = M.shape[2]
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    i = cuda.grid(1)                                  # one thread per (o, t)
    if i >= C_out * T:
        return
    o, t = i // T, i % T
    n, th, tw = _tile_position(t, TH, TW)
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
    y00 = s00 + s01 + s02
    y01 = s01 - s02 - s03
    y10 = s10 + s11 + s12
    y11 = s11 - s12 - s13
    if has_bias:
        y00 += bias[o]
        y01 += bias[o]
        y10 += bias[o]
        y11 += bias[o]
    oh, ow = 2 * th, 2 * tw
    y[n, o, oh, ow] = y00                             # oh < OH, ow < OW: TH, TW = ceil(OH/2), ceil(OW/2)
    if ow + 1 < OW:                                   # drop what sticks out
        y[n, o, oh, ow + 1] = y01
    if oh + 1 < OH:
        y[n, o, oh + 1, ow] = y10
        if ow + 1 < OW:
            y[n, o, oh + 1, ow + 1] = y11


@cuda.jit
def _output_grad_kernel(gy, dM, TH, TW):
    C_out, T = dM.shape[1], dM.shape[2]
    i = cuda.grid(1)                                  # one thread per (o, t)
    if i >= C_out * T:
        return
    o, t = i // T, i % T
    n, th, tw = _tile_position(t, TH, TW)
    oh, ow = 2 * th, 2 * tw
    g00 = _padded_pixel(gy, n, o, oh, ow)             # dY in whole tiles, 0 past the edge
    g01 = _padded_pixel(gy, n, o, oh, ow + 1)
    g10 = _padded_pixel(gy, n, o, oh + 1, ow)
    g11 = _padded_pixel(gy, n, o, oh + 1, ow + 1)
    # u = A g (4 x 2): rows g0, g0 + g1, g0 - g1, -g1
    # dM = u A^T: the same combination of each row's two entries
    dM[0, o, t], dM[1, o, t], dM[2, o, t], dM[3, o, t] = g00, g00 + g01, g00 - g01, -g01
    u0, u1 = g00 + g10, g01 + g11
    dM[4, o, t], dM[5, o, t], dM[6, o, t], dM[7, o, t] = u0, u0 + u1, u0 - u1, -u1
    u0, u1 = g00 - g10, g01 - g11
    dM[8, o, t], dM[9, o, t], dM[10, o, t], dM[11, o, t] = u0, u0 + u1, u0 - u1, -u1
    dM[12, o, t], dM[13, o, t], dM[14, o, t], dM[15, o, t] = -g10, -g10 - g11, -g10 + g11, g11


@cuda.jit(device=True)
def _patch_entry(dV, c, t, a, b):
    """(B dV B^T)[a, b] for tile t of channel c: the gradient of its patch's pixel (a, b)."""
    # r_l = (B dV)[a, l]: row a of B combines the rows k of dV[4*k + l]
    r0 = _b_entry(dV[0, c, t], dV[4, c, t], dV[8, c, t], dV[12, c, t], a)
    r1 = _b_entry(dV[1, c, t], dV[5, c, t], dV[9, c, t], dV[13, c, t], a)
    r2 = _b_entry(dV[2, c, t], dV[6, c, t], dV[10, c, t], dV[14, c, t], a)
    r3 = _b_entry(dV[3, c, t], dV[7, c, t], dV[11, c, t], dV[15, c, t], a)
    return _b_entry(r0, r1, r2, r3, b)                # (r B^T)[b]


@cuda.jit
def _input_grad_kernel(dV, dx, PH, PW, TH, TW):
    N, C, H, W = dx.shape
    i = cuda.grid(1)                                  # one thread per dx element
    if i >= N * C * H * W:
        return
    n_c_ih, iw = i // W, i % W
    n_c, ih = n_c_ih // H, n_c_ih % H
    n, c = n_c // C, n_c % C
    p, q = ih + PH, iw + PW                           # the pixel in the padded plane
    total = dx.dtype.type(0)                          # stays 0 if no tile reads the pixel
    # tiles th = p//2 (row a = p%2) and p//2 - 1 (row a = p%2 + 2), in the reference's order
    for th in range(p // 2, p // 2 - 2, -1):
        if th < 0 or th >= TH:
            continue
        for tw in range(q // 2, q // 2 - 2, -1):
            if tw < 0 or tw >= TW:
                continue
            total += _patch_entry(dV, c, (n * TH + th) * TW + tw, p - 2 * th, q - 2 * tw)
    dx[n, c, ih, iw] = total


def _kernel_array(a):
    """`a` as a kernel argument.

    CuPy arrays go in as they are: __cuda_array_interface__ carries the strides, so
    padded planes need no copy.  A NumPy array (the simulator, or a host array numba
    copies to the GPU and back) must be one contiguous block, so a strided one is copied.
    """
    return a if array_module(a) is not np else np.ascontiguousarray(a)


def input_transform_cuda(x, PH: int, PW: int, TH: int, TW: int, out=None):
    """x: (N, C, H, W) -> V: (16, C, N*TH*TW); see input_transform_reference."""
    xp = array_module(x)
    N, C = x.shape[:2]
    check_tile_counts(x.shape, PH, PW, TH, TW)
    V = _check_out(out, (16, C, N * TH * TW), x.dtype, "input_transform", plane_padded=True, xp=xp)
    V_kernel = _kernel_array(V)
    launch(_input_kernel, C * N * TH * TW, x, _kernel_array(x), V_kernel, PH, PW, TH, TW)
    if V_kernel is not V:                             # NumPy planes padded apart: copy back
        V[...] = V_kernel
    return V


def output_transform_cuda(M, N: int, OH: int, OW: int, bias=None, out=None):
    """M: (16, C_out, N*TH*TW) -> y: (N, C_out, OH, OW); see output_transform_reference."""
    xp = array_module(M)
    TH, TW = tiles(OH, OW)
    check_tiles(M, N * TH * TW, "output_transform")
    C_out = M.shape[1]
    y = _check_out(out, (N, C_out, OH, OW), M.dtype, "output_transform", xp=xp)
    b = xp.zeros(1, dtype=M.dtype) if bias is None else xp.ascontiguousarray(bias, dtype=M.dtype)
    launch(_output_kernel, C_out * N * TH * TW, M, _kernel_array(M), y, b, bias is not None)
    return y


def output_grad_transform_cuda(gy, TH: int, TW: int, out=None):
    """dL/dy: (N, C_out, OH, OW) -> dL/dM: (16, C_out, N*TH*TW); see output_grad_transform_reference."""
    xp = array_module(gy)
    N, C_out = gy.shape[:2]
    dM = _check_out(out, (16, C_out, N * TH * TW), gy.dtype, "output_grad_transform",
                    plane_padded=True, xp=xp)
    dM_kernel = _kernel_array(dM)
    launch(_output_grad_kernel, C_out * N * TH * TW, gy, _kernel_array(gy), dM_kernel, TH, TW)
    if dM_kernel is not dM:                           # NumPy planes padded apart: copy back
        dM[...] = dM_kernel
    return dM


def input_grad_transform_cuda(dV, N: int, H: int, W: int, PH: int, PW: int, out=None):
    """dL/dV: (16, C, N*TH*TW) -> dL/dx: (N, C, H, W); see input_grad_transform_reference."""
    xp = array_module(dV)
    TH, TW = tiles(H + 2 * PH - 2, W + 2 * PW - 2)
    check_tiles(dV, N * TH * TW, "input_grad_transform")
    C = dV.shape[1]
    dx = _check_out(out, (N, C, H, W), dV.dtype, "input_grad_transform", xp=xp)
    launch(_input_grad_kernel, dx.size, dV, _kernel_array(dV), dx, PH, PW, TH, TW)
    return dx
