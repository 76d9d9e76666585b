"""im2col / col2im as Numba CPU kernels (same contract as im2col.py).

The loops spell out, element by element, what im2col_reference does one kernel tap
at a time (Notation: see kernels/windows.py):

    cols[(n*OH + oh)*OW + ow, (c*KH + kh)*KW + kw] = x[n, c, ih, iw]   (0 in the padding)
    with ih = oh*SH - PH + kh*DH,  iw = ow*SW - PW + kw*DW

and unfold / fold the same with cols[n, (c*KH + kh)*KW + kw, oh*OW + ow].

Parallelism (numba.prange, one task per iteration of the outer loop):
    im2col   over the N*OH output rows (n, oh): each task writes its own OW rows of cols.
    col2im, unfold, fold
             over the N*C planes (n, c): overlapping windows add into the same dx
             pixel, and only pixels of the task's own plane, so no two threads ever
             write the same element (no race, no atomics).

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
        "minicnn.kernels.im2col_numba needs numba: pip install minicnn[fast] "
        "(or set MINICNN_KERNELS=numpy)") from error

from .im2col import cols_buffer, contiguous_columns


@numba.njit(parallel=True, cache=True)
def _im2col_kernel(x, cols, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = x.shape
    for n_oh in numba.prange(N * OH):                 # one output row (n, oh) per task
        n = n_oh // OH
        oh = n_oh % OH
        rows = cols[n_oh * OW:(n_oh + 1) * OW]        # (OW, C*KH*KW): this task's rows
        # Column by column: each inner ow-loop reads one input row left to right.
        for c in range(C):
            for kh in range(KH):
                ih = oh * SH - PH + kh * DH
                for kw in range(KW):
                    k = (c * KH + kh) * KW + kw
                    for ow in range(OW):
                        iw = ow * SW - PW + kw * DW
                        if 0 <= ih < H and 0 <= iw < W:
                            rows[ow, k] = x[n, c, ih, iw]
                        else:
                            rows[ow, k] = 0           # padding
    return cols


@numba.njit(parallel=True, cache=True)
def _col2im_kernel(cols, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = dx.shape
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        for oh in range(OH):
            rows = cols[(n * OH + oh) * OW:(n * OH + oh + 1) * OW]   # (OW, C*KH*KW)
            for kh in range(KH):
                ih = oh * SH - PH + kh * DH
                if ih < 0 or ih >= H:
                    continue                          # padding: gradient dropped
                for kw in range(KW):
                    k = (c * KH + kh) * KW + kw
                    for ow in range(OW):
                        iw = ow * SW - PW + kw * DW
                        if 0 <= iw < W:
                            dx[n, c, ih, iw] += rows[ow, k]
    return dx


def im2col_numba(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int, out: np.ndarray | None = None,
) -> np.ndarray:
    """x: (N, C, H, W) -> cols: (N*OH*OW, C*KH*KW); see im2col_reference."""
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N * OH * OW, C * KH * KW), x.dtype)
    return _im2col_kernel(np.ascontiguousarray(x), cols, KH, KW, SH, SW, PH, PW,
                          DH, DW, OH, OW)


def col2im_numba(
    cols: np.ndarray, N: int, C: int, H: int, W: int, KH: int, KW: int,
    SH: int, SW: int, PH: int, PW: int, DH: int, DW: int, OH: int, OW: int,
) -> np.ndarray:
    """cols: (N*OH*OW, C*KH*KW) -> dx: (N, C, H, W); see col2im_reference."""
    dx = np.zeros((N, C, H, W), dtype=cols.dtype)
    return _col2im_kernel(np.ascontiguousarray(cols), dx, KH, KW, SH, SW, PH, PW,
                          DH, DW, OH, OW)


# unfold / fold take the columns as a C-contiguous 3-D array, either (N, K, OH*OW) as in the
# contract (images_first=True) or (K, N, OH*OW), the layout of the transposed view conv2d
# passes (images_first=False); see im2col.contiguous_columns.
@numba.njit(parallel=True, cache=True)
def _unfold_kernel(x, cols, images_first, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = x.shape
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        for kh in range(KH):
            for kw in range(KW):
                k = (c * KH + kh) * KW + kw
                row = cols[n, k] if images_first else cols[k, n]   # (OH*OW,)
                for oh in range(OH):
                    # one output row: a (strided) run of one input row, contiguous in cols.
                    # (Splitting off the padded ends to skip the test below measured slower.)
                    dst = row[oh * OW:(oh + 1) * OW]
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        dst[:] = 0                    # a padding row
                        continue
                    src = x[n, c, ih]
                    for ow in range(OW):
                        iw = ow * SW - PW + kw * DW
                        dst[ow] = src[iw] if 0 <= iw < W else 0
    return cols


@numba.njit(parallel=True, cache=True)
def _fold_kernel(cols, images_first, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = dx.shape
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        plane = dx[n, c]
        plane[:] = 0
        for kh in range(KH):
            for kw in range(KW):
                k = (c * KH + kh) * KW + kw
                row = cols[n, k] if images_first else cols[k, n]   # (OH*OW,)
                for oh in range(OH):
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        continue                      # padding: gradient dropped
                    src = row[oh * OW:(oh + 1) * OW]
                    dst = plane[ih]
                    for ow in range(OW):
                        iw = ow * SW - PW + kw * DW
                        if 0 <= iw < W:
                            dst[iw] += src[ow]
    return dx


def unfold_numba(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int, out: np.ndarray | None = None,
) -> np.ndarray:
    """x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW); see unfold_reference (`out` may be strided)."""
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N, C * KH * KW, OH * OW), x.dtype, op="unfold", contiguous=False)
    layout = contiguous_columns(cols)
    if layout is None:                                # other strides: unfold, then copy
        cols[...] = unfold_numba(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
        return cols
    _unfold_kernel(np.ascontiguousarray(x), *layout, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
    return cols


def fold_numba(
    cols: np.ndarray, N: int, C: int, H: int, W: int, KH: int, KW: int,
    SH: int, SW: int, PH: int, PW: int, DH: int, DW: int, OH: int, OW: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """cols: (N, C*KH*KW, OH*OW) -> dx: (N, C, H, W); see fold_reference (`cols` may be strided)."""
    dx = cols_buffer(out, (N, C, H, W), cols.dtype, op="fold")
    layout = contiguous_columns(cols) or (np.ascontiguousarray(cols), True)
    return _fold_kernel(*layout, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)
