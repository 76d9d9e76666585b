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
#
# Strided windows (SW > 1) go through "phase planes".  With stride SW, output column ow of
# tap kw reads input column iw = ow*SW + iw0 (iw0 = kw*DW - PW): every SW-th pixel.  Write
# iw0 = s*SW + p (p = iw0 % SW, s = iw0 // SW); then iw = (ow + s)*SW + p, so the tap reads
#
#     phases[p, ih, ow + s]    where    phases[p, ih, j] = x[n, c, ih, j*SW + p]
#
# i.e. a contiguous run of phase plane p (of length L = number of columns iw = p (mod SW)).
# Each plane is split into its SW phases once; all KH*KW*OH output rows then copy with unit
# stride, which LLVM vectorizes, instead of gathering every SW-th pixel (measured on one
# 16-pixel row: 2.6 ns with unit stride, 8.7-12 ns for stride 2).  For SW == 1 the only
# phase plane is x[n, c] itself: no copy.  fold adds into phase planes and merges them back.
# Net effect (2 threads, 3x3 p1, x (32, 64, 32, 32) stride 2): unfold 5.1 -> 2.9 ms,
# fold 4.4 -> 2.7 ms; stride 1 unchanged.  Measured and not kept: splitting each row into
# left padding / interior / right padding (no bounds test in the interior): 1.1x slower for
# stride 2, 2x for stride 1 (Numba's short loops and slices cost more than the test); the
# strided gather with a compile-time stride 2: 1.25x slower.
@numba.njit(cache=True)
def _split_phases(plane, phases):
    """phases[p, ih, j] = plane[ih, j*SW + p]:  plane (H, W) -> phases (SW, H, ceil(W/SW))."""
    SW, H, Wp = phases.shape
    W = plane.shape[1]
    if SW == 2 and W == 2 * Wp:
        # stride 2, even W: the even / odd pixels of each row are the even / odd elements of
        # the flattened plane, so one long loop de-interleaves it (measured: 5x faster than
        # the row-by-row loop below, which LLVM cannot vectorize)
        flat, even, odd = plane.ravel(), phases[0].ravel(), phases[1].ravel()
        for i in range(H * Wp):
            even[i] = flat[2 * i]
            odd[i] = flat[2 * i + 1]
        return
    for p in range(SW):
        for ih in range(H):
            for j in range((W - p + SW - 1) // SW):     # the columns iw = j*SW + p < W
                phases[p, ih, j] = plane[ih, j * SW + p]


@numba.njit(cache=True)
def _merge_phases(phases, plane):
    """The inverse of _split_phases: plane[ih, j*SW + p] = phases[p, ih, j]."""
    SW, H, Wp = phases.shape
    W = plane.shape[1]
    if SW == 2 and W == 2 * Wp:                         # see _split_phases
        flat, even, odd = plane.ravel(), phases[0].ravel(), phases[1].ravel()
        for i in range(H * Wp):
            flat[2 * i] = even[i]
            flat[2 * i + 1] = odd[i]
        return
    for p in range(SW):
        for ih in range(H):
            for j in range((W - p + SW - 1) // SW):
                plane[ih, j * SW + p] = phases[p, ih, j]


@numba.njit(parallel=True, cache=True)
def _unfold_kernel(x, cols, images_first, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = x.shape
    Wp = (W + SW - 1) // SW                           # width of a phase plane
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        if SW == 1:
            phases = x[n, c:c + 1]                    # (1, H, W): x itself
        else:
            phases = np.empty((SW, H, Wp), x.dtype)   # (SW, H, Wp)
            _split_phases(x[n, c], phases)
        for kh in range(KH):
            for kw in range(KW):
                k = (c * KH + kh) * KW + kw
                row = cols[n, k] if images_first else cols[k, n]   # (OH*OW,)
                iw0 = kw * DW - PW                    # iw = ow*SW + iw0 = (ow + s)*SW + p
                p = iw0 % SW
                s = iw0 // SW
                L = (W - p + SW - 1) // SW            # columns in phase plane p
                for oh in range(OH):
                    # one output row: a contiguous run of one phase row, contiguous in cols.
                    # (A bounds test per element: splitting off the padded ends measured slower.)
                    dst = row[oh * OW:(oh + 1) * OW]
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        dst[:] = 0                    # a padding row
                        continue
                    src = phases[p, ih]
                    for ow in range(OW):
                        j = ow + s
                        dst[ow] = src[j] if 0 <= j < L else 0
    return cols


@numba.njit(parallel=True, cache=True)
def _fold_kernel(cols, images_first, dx, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = dx.shape
    Wp = (W + SW - 1) // SW
    for n_c in numba.prange(N * C):                   # one (n, c) plane per task
        n = n_c // C
        c = n_c % C
        if SW == 1:
            phases = dx[n, c:c + 1]                   # (1, H, W): add into dx directly
            phases[:] = 0
        else:
            phases = np.zeros((SW, H, Wp), dx.dtype)  # (SW, H, Wp), merged into dx below
        for kh in range(KH):
            for kw in range(KW):
                k = (c * KH + kh) * KW + kw
                row = cols[n, k] if images_first else cols[k, n]   # (OH*OW,)
                iw0 = kw * DW - PW                    # as in _unfold_kernel
                p = iw0 % SW
                s = iw0 // SW
                L = (W - p + SW - 1) // SW
                for oh in range(OH):
                    ih = oh * SH - PH + kh * DH
                    if ih < 0 or ih >= H:
                        continue                      # padding: gradient dropped
                    src = row[oh * OW:(oh + 1) * OW]
                    dst = phases[p, ih]
                    for ow in range(OW):
                        j = ow + s
                        if 0 <= j < L:
                            dst[j] += src[ow]
        if SW != 1:
            _merge_phases(phases, dx[n, c])
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
