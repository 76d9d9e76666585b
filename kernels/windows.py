"""Sliding-window geometry shared by the reference kernels (im2col, pooling).

Notation (used by every kernel in this package):
    N, C, H, W      batch, channels, input height, input width
    KH, KW          kernel (window) height and width
    SH, SW          stride
    PH, PW          padding added on each side (top/bottom, left/right)
    DH, DW          dilation: the gap between the taps of one window
    OH, OW          output height and width (computed by the caller)

Output pixel (oh, ow) reads the input pixels

    ih = oh*SH - PH + kh*DH        for kh in 0..KH-1
    iw = ow*SW - PW + kw*DW        for kw in 0..KW-1

Positions with ih outside 0..H-1 (or iw outside 0..W-1) lie in the padding.
The caller chooses OH and OW, usually OH = floor((H + 2*PH - DH*(KH-1) - 1)/SH) + 1
(or ceil(...) for pooling with ceil_mode), so a window may even run past the padded
edge; the kernels treat every out-of-range position as padding.
"""
from __future__ import annotations

import numpy as np


def padded_for_windows(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int, fill: float,
) -> np.ndarray:
    """Copy x: (N, C, H, W) into a (N, C, Hp, Wp) buffer filled with `fill`.

    x lands at xpad[:, :, PH:PH+H, PW:PW+W], so input row ih sits at padded row
    ih + PH, and window tap (oh, kh) sits at padded row oh*SH + kh*DH >= 0.
    Hp is large enough for the last tap of the last window,
    (OH-1)*SH + (KH-1)*DH + 1, which exceeds H + 2*PH only for ceil_mode windows.
    """
    N, C, H, W = x.shape
    Hp = max(PH + H, (OH - 1) * SH + (KH - 1) * DH + 1)
    Wp = max(PW + W, (OW - 1) * SW + (KW - 1) * DW + 1)
    xpad = np.full((N, C, Hp, Wp), fill, dtype=x.dtype)
    xpad[:, :, PH:PH + H, PW:PW + W] = x
    return xpad


def tap_slices(kh: int, kw: int, SH: int, SW: int, DH: int, DW: int,
               OH: int, OW: int) -> tuple[slice, slice, slice, slice]:
    """Index of tap (kh, kw) of every window in a padded (N, C, Hp, Wp) array.

    xpad[tap_slices(...)] is (N, C, OH, OW) with element [n, c, oh, ow] =
    xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]: a strided view, no copy.
    """
    h0, w0 = kh * DH, kw * DW
    return (slice(None), slice(None),
            slice(h0, h0 + (OH - 1) * SH + 1, SH),
            slice(w0, w0 + (OW - 1) * SW + 1, SW))


def first_tap_in_range(O: int, S: int, P: int, D: int) -> np.ndarray:
    """(O,) int64: for each window along one axis, its first tap at index >= 0.

    The window of output o starts at o*S - P; taps step by D. PyTorch's max pooling
    starts its search there (index ih0*W + iw0 when no tap beats -inf), so the
    kernels report the same index for windows that hold only -inf.
    """
    start = np.arange(O, dtype=np.int64) * S - P
    skipped = -(np.minimum(start, 0) // D)          # ceil(max(0, -start) / D) taps
    return start + skipped * D
