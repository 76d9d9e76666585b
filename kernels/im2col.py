"""im2col / col2im and unfold / fold: turn a convolution into matrix multiplications.

Notation: see kernels/windows.py (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW).

im2col copies every receptive field of x: (N, C, H, W) into one row of

    cols: (N*OH*OW, C*KH*KW)
    cols[(n*OH + oh)*OW + ow, (c*KH + kh)*KW + kw] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]

(0 where that position lies in the padding).  The column order (c, kh, kw) is the
memory order of a weight W: (C_out, C, KH, KW), so with Wmat = W.reshape(C_out, C*KH*KW)

    y = cols @ Wmat.T                      # (N*OH*OW, C_out)
    y = y.reshape(N, OH, OW, C_out).transpose(0, 3, 1, 2)

is the convolution.  With groups, group g uses the contiguous block of columns
belonging to its channels.  col2im is the adjoint (transpose) of im2col: it adds
every column entry back onto the input pixel it was copied from, so overlapping
windows accumulate and entries that came from the padding are dropped.  It turns
dL/dcols into dL/dx.

unfold / fold hold the same numbers in the other orientation, one matrix per image
(PyTorch's F.unfold / F.fold layout, the "columns" of Caffe's im2col):

    cols: (N, C*KH*KW, OH*OW)
    cols[n, (c*KH + kh)*KW + kw, oh*OW + ow] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]

so unfold(x)[n] = im2col(x)[n*OH*OW:(n+1)*OH*OW].T, and per image

    y[n] = Wmat @ cols[n]                  # (C_out, OH*OW): already the (N, C_out, OH, OW) layout

conv2d uses this orientation (see minicnn/nn/functional/conv.py): the product lands in
NCHW order with no transpose, and every kernel tap copies whole input rows to whole
output rows, so unfold runs at memory-copy speed (im2col writes each row of x as a
strided column: 3-5x slower, measured).  fold is the adjoint of unfold.

Implementations with the same contract:
    im2col_reference, col2im_reference   loops over the KH*KW kernel taps only; each
                                         step copies one strided slice (what to read)
    im2col_numpy                         one as_strided view, one copy into `out`
                                         (measured: as fast as the reference for 3x3,
                                         up to 2x faster for 5x5 on few channels)
    col2im_numpy                         = col2im_reference (already one vectorized
                                         add per tap; NumPy has nothing faster
                                         without np.add.at, which is slower)
    unfold_reference, fold_reference     the same tap loop; each step copies a whole
                                         (N, C, OH, OW) tap: no transpose at all
    unfold_numpy                         one as_strided view, one copy into `out`
    fold_numpy                           = fold_reference
The Numba and CUDA kernels with the same indexing are in im2col_numba.py and
im2col_cuda.py.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .windows import padded_for_windows, tap_slices


def cols_buffer(out: np.ndarray | None, shape: tuple[int, ...], dtype, xp=np,
                op: str = "im2col", contiguous: bool = True):
    """Return `out` if it can hold the result (shape, dtype, C-contiguous), else a new array.

    Reusing one buffer across calls avoids page-faulting a fresh allocation (about
    1.5 us per 4 KiB page) on every convolution.  With ``contiguous=False`` any strides
    are accepted (unfold / fold: conv2d passes a transposed view, see unfold_reference).
    """
    if out is None:
        return xp.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != dtype or (contiguous and not out.flags.c_contiguous):
        need = "a C-contiguous" if contiguous else "an"
        raise ValueError(
            f"{op}: out= must be {need} {dtype} array of shape {shape}, got "
            f"{out.dtype} {out.shape} (c_contiguous={out.flags.c_contiguous}); "
            f"pass out=None to allocate one")
    return out


def contiguous_columns(cols) -> tuple[object, bool] | None:
    """(array, images_first) for the compiled unfold/fold kernels, which index a C-contiguous
    array as [n, k, p] (images_first=True: cols itself) or [k, n, p] (False: the layout of
    the transposed view conv2d passes); None for any other strides.

    Numba compiles a separate, much slower loop for arrays of unknown strides (measured:
    3-4x for unfold), and the CUDA simulator cannot take them at all.
    """
    if cols.flags.c_contiguous:
        return cols, True
    if cols.transpose(1, 0, 2).flags.c_contiguous:
        return cols.transpose(1, 0, 2), False
    return None


def im2col_reference(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int, out: np.ndarray | None = None,
) -> np.ndarray:
    """x: (N, C, H, W) -> cols: (N*OH*OW, C*KH*KW), one row per output pixel.

    Computes, for every kernel tap (kh, kw), all output pixels at once:

        for kh in range(KH):
            for kw in range(KW):
                cols[(n, oh, ow), (c, kh, kw)] = xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]

    where xpad is x with PH rows / PW columns of zeros around it.
    """
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N * OH * OW, C * KH * KW), x.dtype)
    xpad = padded_for_windows(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, fill=0)
    cols6 = cols.reshape(N, OH, OW, C, KH, KW)            # a view of cols
    for kh in range(KH):
        for kw in range(KW):
            tap = xpad[tap_slices(kh, kw, SH, SW, DH, DW, OH, OW)]   # (N, C, OH, OW)
            cols6[:, :, :, :, kh, kw] = tap.transpose(0, 2, 3, 1)   # (N, OH, OW, C)
    return cols


def col2im_reference(
    cols: np.ndarray, N: int, C: int, H: int, W: int, KH: int, KW: int,
    SH: int, SW: int, PH: int, PW: int, DH: int, DW: int, OH: int, OW: int,
) -> np.ndarray:
    """cols: (N*OH*OW, C*KH*KW) -> dx: (N, C, H, W), the adjoint of im2col.

        for kh in range(KH):
            for kw in range(KW):
                dxpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW] += cols[(n, oh, ow), (c, kh, kw)]
        dx = dxpad[:, :, PH:PH+H, PW:PW+W]         # gradients of padding are dropped

    Within one tap the strided slice hits each position at most once, so `+=` is
    safe; overlaps between windows are summed across taps.
    """
    dxpad = padded_for_windows(np.zeros((N, C, H, W), dtype=cols.dtype),
                               KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, fill=0)
    cols6 = cols.reshape(N, OH, OW, C, KH, KW)
    for kh in range(KH):
        for kw in range(KW):
            tap = cols6[:, :, :, :, kh, kw].transpose(0, 3, 1, 2)   # (N, C, OH, OW)
            dxpad[tap_slices(kh, kw, SH, SW, DH, DW, OH, OW)] += tap
    return np.ascontiguousarray(dxpad[:, :, PH:PH + H, PW:PW + W])


def im2col_numpy(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int, out: np.ndarray | None = None,
) -> np.ndarray:
    """Same contract as im2col_reference, one copy instead of KH*KW.

    as_strided describes all windows as a (N, OH, OW, C, KH, KW) view of xpad
    (element [n, oh, ow, c, kh, kw] = xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]);
    a single np.copyto writes it, in cols order, into the output.
    """
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N * OH * OW, C * KH * KW), x.dtype)
    xpad = padded_for_windows(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, fill=0)
    sN, sC, sH, sW = xpad.strides
    windows = as_strided(xpad, shape=(N, OH, OW, C, KH, KW),
                         strides=(sN, SH * sH, SW * sW, sC, DH * sH, DW * sW),
                         writeable=False)
    np.copyto(cols.reshape(N, OH, OW, C, KH, KW), windows)
    return cols


col2im_numpy = col2im_reference


# ------------------------------------------------------------- unfold / fold
def unfold_reference(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int, out: np.ndarray | None = None,
) -> np.ndarray:
    """x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW), one column per output pixel.

        for kh in range(KH):
            for kw in range(KW):
                cols[n, (c, kh, kw), (oh, ow)] = xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]

    Each tap is an (N, C, OH, OW) strided view of xpad copied as it is: no transpose.

    `out` may be any (N, C*KH*KW, OH*OW) array, also a strided view: conv2d passes
    buf.transpose(1, 0, 2) of a (C*KH*KW, N, OH*OW) buffer, which makes the columns of
    all N images one (C*KH*KW, N*OH*OW) matrix, = im2col(x).T, for a single GEMM.
    """
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N, C * KH * KW, OH * OW), x.dtype, op="unfold", contiguous=False)
    xpad = padded_for_windows(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, fill=0)
    cols6 = cols.reshape(N, C, KH, KW, OH, OW)            # a view of cols
    for kh in range(KH):
        for kw in range(KW):
            cols6[:, :, kh, kw] = xpad[tap_slices(kh, kw, SH, SW, DH, DW, OH, OW)]
    return cols


def fold_reference(
    cols: np.ndarray, N: int, C: int, H: int, W: int, KH: int, KW: int,
    SH: int, SW: int, PH: int, PW: int, DH: int, DW: int, OH: int, OW: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """cols: (N, C*KH*KW, OH*OW) -> dx: (N, C, H, W), the adjoint of unfold.

        for kh in range(KH):
            for kw in range(KW):
                dxpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW] += cols[n, (c, kh, kw), (oh, ow)]
        dx = dxpad[:, :, PH:PH+H, PW:PW+W]         # gradients of padding are dropped

    `cols` may have any strides (see unfold_reference).  `out`, if given, is a
    (N, C, H, W) array the result is written into (overwritten).
    """
    dxpad = padded_for_windows(np.zeros((N, C, H, W), dtype=cols.dtype),
                               KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, fill=0)
    cols6 = cols.reshape(N, C, KH, KW, OH, OW)
    for kh in range(KH):
        for kw in range(KW):
            dxpad[tap_slices(kh, kw, SH, SW, DH, DW, OH, OW)] += cols6[:, :, kh, kw]
    dx = cols_buffer(out, (N, C, H, W), cols.dtype, op="fold")
    dx[...] = dxpad[:, :, PH:PH + H, PW:PW + W]
    return dx


def unfold_numpy(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int, out: np.ndarray | None = None,
) -> np.ndarray:
    """Same contract as unfold_reference: one as_strided view of all windows, one copy.

    The view is (N, C, KH, KW, OH, OW), element [n, c, kh, kw, oh, ow] =
    xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW], which is cols's own memory order.
    """
    N, C, H, W = x.shape
    cols = cols_buffer(out, (N, C * KH * KW, OH * OW), x.dtype, op="unfold", contiguous=False)
    xpad = padded_for_windows(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, fill=0)
    sN, sC, sH, sW = xpad.strides
    windows = as_strided(xpad, shape=(N, C, KH, KW, OH, OW),
                         strides=(sN, sC, DH * sH, DW * sW, SH * sH, SW * sW),
                         writeable=False)
    np.copyto(cols.reshape(N, C, KH, KW, OH, OW), windows)
    return cols


fold_numpy = fold_reference
