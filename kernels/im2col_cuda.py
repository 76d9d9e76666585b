"""im2col / col2im as Numba-CUDA kernels (same contract as im2col.py).

Notation: see kernels/windows.py.  Each thread computes one output element:

    im2col   one thread per cols[row, k]: it splits row = (n*OH + oh)*OW + ow and
             k = (c*KH + kh)*KW + kw and copies x[n, c, ih, iw] (0 in the padding).
             Neighbouring threads write neighbouring elements (coalesced stores).
    col2im   one thread per dx[n, c, ih, iw]: it GATHERS the cols entries copied
             from that pixel instead of scattering them, so no two threads write
             the same element and no atomics are needed.  Tap (kh, kw) of output
             (oh, ow) read pixel ih iff ih + PH - kh*DH = oh*SH for an oh in 0..OH-1,
             i.e. iff (ih + PH - kh*DH) is >= 0 and divisible by SH.
    unfold   one thread per cols[n, k, p] (p = oh*OW + ow), coalesced stores.
    fold     one thread per dx[n, c, ih, iw], gathering like col2im.
    Both take cols as a C-contiguous [n, k, p] or [k, n, p] array (images_first), as
    the Numba CPU kernels do (see im2col.contiguous_columns).

Sums are accumulated in float64 and rounded once on the store.
Why Numba-CUDA (and how to run these without a GPU): see cuda_launch.py.
"""
from __future__ import annotations

from .cuda_launch import array_module, cuda, launch
from .im2col import cols_buffer, contiguous_columns


@cuda.jit
def _im2col_kernel(x, cols, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = x.shape
    K = cols.shape[1]                                 # C*KH*KW
    i = cuda.grid(1)                                  # one thread per cols element
    if i >= cols.shape[0] * K:
        return
    row, k = i // K, i % K
    n_oh, ow = row // OW, row % OW
    n, oh = n_oh // OH, n_oh % OH
    c_kh, kw = k // KW, k % KW
    c, kh = c_kh // KH, c_kh % KH
    ih = oh * SH - PH + kh * DH
    iw = ow * SW - PW + kw * DW
    if 0 <= ih < H and 0 <= iw < W:
        cols[row, k] = x[n, c, ih, iw]
    else:
        cols[row, k] = 0                              # padding


@cuda.jit
def _col2im_kernel(cols, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = dx.shape
    i = cuda.grid(1)                                  # one thread per dx element
    if i >= N * C * H * W:
        return
    n_c_ih, iw = i // W, i % W
    n_c, ih = n_c_ih // H, n_c_ih % H
    n, c = n_c // C, n_c % C
    total = 0.0
    for kh in range(KH):
        th = ih + PH - kh * DH                        # = oh*SH if this tap read ih
        if th < 0 or th % SH != 0 or th // SH >= OH:
            continue
        oh = th // SH
        for kw in range(KW):
            tw = iw + PW - kw * DW
            if tw < 0 or tw % SW != 0 or tw // SW >= OW:
                continue
            ow = tw // SW
            total += cols[(n * OH + oh) * OW + ow, (c * KH + kh) * KW + kw]
    dx[n, c, ih, iw] = total


def im2col_cuda(x, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
                DH: int, DW: int, OH: int, OW: int, out=None):
    """x: (N, C, H, W) -> cols: (N*OH*OW, C*KH*KW); see im2col_reference."""
    xp = array_module(x)
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N * OH * OW, C * KH * KW), x.dtype, xp)
    x = xp.ascontiguousarray(x)
    launch(_im2col_kernel, cols.size, x, x, cols, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    return cols


def col2im_cuda(cols, N: int, C: int, H: int, W: int, KH: int, KW: int,
                SH: int, SW: int, PH: int, PW: int, DH: int, DW: int, OH: int, OW: int):
    """cols: (N*OH*OW, C*KH*KW) -> dx: (N, C, H, W); see col2im_reference."""
    xp = array_module(cols)
    dx = xp.empty((N, C, H, W), dtype=cols.dtype)
    cols = xp.ascontiguousarray(cols)
    launch(_col2im_kernel, dx.size, cols, cols, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    return dx



@cuda.jit
def _unfold_kernel(x, cols, images_first, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = x.shape
    K, P = C * KH * KW, OH * OW
    i = cuda.grid(1)                                  # one thread per cols element
    if i >= N * K * P:
        return
    n_k, p = i // P, i % P
    n, k = n_k // K, n_k % K
    oh, ow = p // OW, p % OW
    c_kh, kw = k // KW, k % KW
    c, kh = c_kh // KH, c_kh % KH
    ih = oh * SH - PH + kh * DH
    iw = ow * SW - PW + kw * DW
    value = x[n, c, ih, iw] if 0 <= ih < H and 0 <= iw < W else 0   # 0: padding
    if images_first:
        cols[n, k, p] = value
    else:
        cols[k, n, p] = value


@cuda.jit
def _fold_kernel(cols, images_first, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = dx.shape
    i = cuda.grid(1)                                  # one thread per dx element
    if i >= N * C * H * W:
        return
    n_c_ih, iw = i // W, i % W
    n_c, ih = n_c_ih // H, n_c_ih % H
    n, c = n_c // C, n_c % C
    total = 0.0
    for kh in range(KH):
        th = ih + PH - kh * DH                        # = oh*SH if this tap read ih
        if th < 0 or th % SH != 0 or th // SH >= OH:
            continue
        oh = th // SH
        for kw in range(KW):
            tw = iw + PW - kw * DW
            if tw < 0 or tw % SW != 0 or tw // SW >= OW:
                continue
            ow = tw // SW
            k, p = (c * KH + kh) * KW + kw, oh * OW + ow
            total += cols[n, k, p] if images_first else cols[k, n, p]
    dx[n, c, ih, iw] = total


def unfold_cuda(x, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
                DH: int, DW: int, OH: int, OW: int, out=None):
    """x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW); see unfold_reference."""
    xp = array_module(x)
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N, C * KH * KW, OH * OW), x.dtype, xp, op="unfold", contiguous=False)
    layout = contiguous_columns(cols)
    if layout is None:                                # other strides: unfold, then copy
        cols[...] = unfold_cuda(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
        return cols
    x = xp.ascontiguousarray(x)
    launch(_unfold_kernel, cols.size, x, x, *layout, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    return cols


def fold_cuda(cols, N: int, C: int, H: int, W: int, KH: int, KW: int,
              SH: int, SW: int, PH: int, PW: int, DH: int, DW: int, OH: int, OW: int,
              out=None):
    """cols: (N, C*KH*KW, OH*OW) -> dx: (N, C, H, W); see fold_reference."""
    xp = array_module(cols)
    dx = cols_buffer(out, (N, C, H, W), cols.dtype, xp, op="fold")
    layout = contiguous_columns(cols) or (xp.ascontiguousarray(cols), True)
    launch(_fold_kernel, dx.size, cols, *layout, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    return dx
