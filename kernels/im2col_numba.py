"""im2col / col2im as Numba CPU kernels (same contract as im2col.py).

The loops spell out, element by element, what im2col_reference does one kernel tap
at a time (Notation: see kernels/windows.py):

    cols[(n*OH + oh)*OW + ow, (c*KH + kh)*KW + kw] = x[n, c, ih, iw]   (0 in the padding)
    with ih = oh*SH - PH + kh*DH,  iw = ow*SW - PW + kw*DW

Parallelism (numba.prange, one task per iteration of the outer loop):
    im2col   over the N*OH output rows (n, oh): each task writes its own OW rows of cols.
    col2im   over the N*C planes (n, c): overlapping windows add into the same dx
             pixel, and only pixels of the task's own plane, so no two threads ever
             write the same element (no race, no atomics).

Compiled on first use per dtype and cached on disk (cache=True).  To step through
the kernels as plain Python, run with NUMBA_DISABLE_JIT=1.
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError as error:  # pragma: no cover - exercised only without numba
    raise ImportError(
        "minicnn.kernels.im2col_numba needs numba: pip install minicnn[fast] "
        "(or set MINICNN_KERNELS=numpy)") from error

from .im2col import cols_buffer


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
