"""Max and average pooling, forward and backward, in plain NumPy.

Notation: see kernels/windows.py.  Output pixel (oh, ow) of plane (n, c) pools the
window of taps ih = oh*SH - PH + kh*DH, iw = ow*SW - PW + kw*DW (kh < KH, kw < KW).
x: (N, C, H, W) -> y: (N, C, OH, OW).  The caller picks OH, OW (floor or ceil_mode)
and checks PH <= KH/2, PW <= KW/2 as PyTorch does.

Max pooling, following PyTorch's CPU kernel exactly:
    y[n, c, oh, ow]       = max over the taps inside the input (padding acts as -inf)
    indices[n, c, oh, ow] = ih*W + iw of the winning tap, int64, a flat index into
                            the (H, W) plane (PyTorch's return_indices convention)
    ties   the FIRST maximum in row-major window order (kh, then kw) wins: a tap
           replaces the running maximum only if it is strictly greater
    NaN    a NaN tap always replaces the running maximum, so the LAST NaN wins and
           the output is NaN
    -inf   a window holding only -inf (or, for dilated windows on tiny inputs, no
           input pixel at all) keeps the index of its first tap with ih, iw >= 0;
           for an empty window that index lies outside the plane, and the backward
           pass drops it (PyTorch's behaviour, checked in tests/kernels)
    backward  dx[n, c].flat[indices[n, c, oh, ow]] += gy[n, c, oh, ow]
              (a pixel that wins several overlapping windows collects all of them)

Average pooling (no dilation), with PyTorch's divisor:
    y[n, c, oh, ow] = (sum of the taps inside the input) / divisor[oh, ow]
    count_include_pad=True    divisor = window clipped to the padded input
                              (rows from oh*SH - PH to min(oh*SH - PH + KH, H + PH))
    count_include_pad=False   divisor = number of real input pixels in the window
    A ceil_mode window that runs past the padded edge is clipped in both cases.
    backward  every tap inside the input receives gy[n, c, oh, ow] / divisor[oh, ow].

Implementations with the same contract:
    *_reference    loops over the KH*KW taps only, vectorized over all windows
    *_numpy        = the reference (measured: no pure-NumPy rewrite was faster)
Numba and CUDA kernels with the same loops: pooling_numba.py, pooling_cuda.py.
"""
from __future__ import annotations

import numpy as np

from .windows import first_tap_in_range, padded_for_windows, tap_slices


# --------------------------------------------------------------------- max pooling
def maxpool2d_forward_reference(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    DH: int, DW: int, OH: int, OW: int,
) -> tuple[np.ndarray, np.ndarray]:
    """x: (N, C, H, W) -> (y, indices), both (N, C, OH, OW); indices int64 = ih*W + iw.

        best, index = -inf, first tap inside the input
        for kh in range(KH):
            for kw in range(KW):
                v = xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]   # -inf in the padding
                if v > best or isnan(v):
                    best, index = v, ih*W + iw
    """
    N, C, H, W = x.shape
    xpad = padded_for_windows(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, fill=-np.inf)
    ih0 = np.arange(OH, dtype=np.int64) * SH - PH        # (OH,) first row of each window
    iw0 = np.arange(OW, dtype=np.int64) * SW - PW        # (OW,)
    y = np.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    first = first_tap_in_range(OH, SH, PH, DH)[:, None] * W + first_tap_in_range(OW, SW, PW, DW)
    indices = np.broadcast_to(first, (N, C, OH, OW)).copy()   # (N, C, OH, OW) int64
    for kh in range(KH):
        for kw in range(KW):
            v = xpad[tap_slices(kh, kw, SH, SW, DH, DW, OH, OW)]      # (N, C, OH, OW)
            wins = (v > y) | np.isnan(v)                              # strict: ties keep the first
            tap_index = (ih0 + kh * DH)[:, None] * W + (iw0 + kw * DW)  # (OH, OW)
            y = np.where(wins, v, y)
            indices = np.where(wins, tap_index, indices)
    return y, indices


def maxpool2d_backward_reference(gy: np.ndarray, indices: np.ndarray, H: int, W: int) -> np.ndarray:
    """gy, indices: (N, C, OH, OW) -> dx: (N, C, H, W).

        dx[n, c].flat[indices[n, c, oh, ow]] += gy[n, c, oh, ow]

    Plane p = n*C + c starts at offset p*H*W of dx.reshape(-1).  np.add.at
    accumulates repeated targets (a fancy-index `+=` would keep only one of them).
    Indices outside the plane (empty windows) are dropped.
    """
    N, C, OH, OW = gy.shape
    dx = np.zeros(N * C * H * W, dtype=gy.dtype)
    plane_start = np.arange(N * C, dtype=np.int64)[:, None] * (H * W)   # (N*C, 1)
    index = indices.reshape(N * C, OH * OW)
    inside = (index >= 0) & (index < H * W)
    np.add.at(dx, (plane_start + index)[inside], gy.reshape(N * C, OH * OW)[inside])
    return dx.reshape(N, C, H, W)


# NumPy has nothing meaningfully faster: an argmax over a copied (..., KH*KW) window
# view measured 2x slower than the tap loop, and np.add.at (fast for 1-D targets
# since NumPy 1.25) beats np.bincount.
maxpool2d_forward_numpy = maxpool2d_forward_reference
maxpool2d_backward_numpy = maxpool2d_backward_reference


# ----------------------------------------------------------------- average pooling
def avgpool_divisor(
    H: int, W: int, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    OH: int, OW: int, count_include_pad: bool, dtype,
) -> np.ndarray:
    """(OH, OW) array of the number each window's sum is divided by (PyTorch's rule).

    Along one axis the window of output o covers [start, end) with start = o*S - P
    and end = min(start + K, H + P), i.e. clipped to the padded input; without
    count_include_pad it is further clipped to the real input [0, H).  The 2-D
    divisor is the product of the two 1-D counts.
    """
    def counts(O: int, S: int, P: int, K: int, L: int) -> np.ndarray:
        start = np.arange(O, dtype=np.int64) * S - P
        end = np.minimum(start + K, L + P)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, L)
        return np.maximum(end - start, 1)      # never 0 (empty windows sum to 0 anyway)

    return (counts(OH, SH, PH, KH, H)[:, None] * counts(OW, SW, PW, KW, W)).astype(dtype)


def avgpool2d_forward_reference(
    x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
    OH: int, OW: int, count_include_pad: bool = True,
) -> np.ndarray:
    """x: (N, C, H, W) -> y: (N, C, OH, OW).

        y[n, c, oh, ow] = sum_{kh, kw} xpad[n, c, oh*SH + kh, ow*SW + kw] / divisor[oh, ow]
    """
    N, C, H, W = x.shape
    xpad = padded_for_windows(x, KH, KW, SH, SW, PH, PW, 1, 1, OH, OW, fill=0)
    total = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            total += xpad[tap_slices(kh, kw, SH, SW, 1, 1, OH, OW)]   # (N, C, OH, OW)
    return total / avgpool_divisor(H, W, KH, KW, SH, SW, PH, PW, OH, OW,
                                   count_include_pad, x.dtype)


def avgpool2d_backward_reference(
    gy: np.ndarray, N: int, C: int, H: int, W: int, KH: int, KW: int,
    SH: int, SW: int, PH: int, PW: int, OH: int, OW: int, count_include_pad: bool = True,
) -> np.ndarray:
    """gy: (N, C, OH, OW) -> dx: (N, C, H, W).

        g = gy / divisor
        dxpad[n, c, oh*SH + kh, ow*SW + kw] += g[n, c, oh, ow]   for every tap (kh, kw)
        dx = dxpad[:, :, PH:PH+H, PW:PW+W]
    """
    g = gy / avgpool_divisor(H, W, KH, KW, SH, SW, PH, PW, OH, OW, count_include_pad, gy.dtype)
    dxpad = padded_for_windows(np.zeros((N, C, H, W), dtype=gy.dtype),
                               KH, KW, SH, SW, PH, PW, 1, 1, OH, OW, fill=0)
    for kh in range(KH):
        for kw in range(KW):
            dxpad[tap_slices(kh, kw, SH, SW, 1, 1, OH, OW)] += g
    return np.ascontiguousarray(dxpad[:, :, PH:PH + H, PW:PW + W])


avgpool2d_forward_numpy = avgpool2d_forward_reference
avgpool2d_backward_numpy = avgpool2d_backward_reference
