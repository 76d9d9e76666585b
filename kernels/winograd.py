"""Winograd F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplications.

Notation: N, C, H, W (input), C_out, OH, OW (output), PH, PW (padding) as in windows.py;
    TH, TW    tiles per image: TH = ceil(OH/2), TW = ceil(OW/2)
    T         tiles of the whole batch: N*TH*TW, tile t = (n*TH + th)*TW + tw
    xi        one of the 4x4 = 16 "frequencies" of the transformed tiles, xi = 4*i + j

Split the output into 2x2 tiles.  Tile (th, tw) needs a 4x4 patch d of the padded input
(rows 2*th - PH ... 2*th - PH + 3, zeros outside x).  Lavin & Gray (2015, "Fast
Algorithms for Convolutional Neural Networks") showed that its 2x2 outputs under a 3x3
filter g are

    Y = A^T [ (G g G^T) * (B^T d B) ] A           (* is the elementwise product)

with the constant matrices below: 16 multiplications per tile and channel instead of
2*2*9 = 36.  Summed over the input channels c, the elementwise product at each of the
16 positions xi is a matrix product over c:

    U[xi] = (G g G^T)[xi]       (C_out, C)        weight transform   (once per call)
    V[xi] = (B^T d B)[xi]       (C, T)            input transform    (input_transform)
    M[xi] = U[xi] @ V[xi]       (C_out, T)        16 GEMMs
    y     = A^T M A per tile    (N, C_out, OH, OW) output transform  (output_transform)

Backward is the same chain read backwards; each transform is linear, so its gradient
is its transpose (adjoint):

    dM         = A dY A^T per tile                output_grad_transform
    dL/dU[xi]  = dM[xi] @ V[xi]^T                 (C_out, C)
    dL/dV[xi]  = U[xi]^T @ dM[xi]                 (C, T)
    dL/dx      = B dV B^T, added onto the         input_grad_transform  (patches overlap:
                 4x4 patch of every tile                                 they are 2 apart)
    dL/dg      = G^T dL/dU G                      weight_grad_transform

Cost: the GEMMs do 16*C_out*C*T = 4*C_out*C*N*OH*OW multiply-adds where im2col's do
9*C_out*C*N*OH*OW, but V and M are 4x the size of x and y: it pays when C and C_out are
large enough for the GEMMs to dominate (conv2d measures and decides, see conv.py).
F(2x2, 3x3) loses almost no float32 accuracy (its matrices hold only 0, +-1 and +-1/2).

Implementations with the same contract: the ``*_reference`` functions here (NumPy, whole
tiles at a time), winograd_numba.py (Numba CPU) and winograd_cuda.py (Numba-CUDA).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Lavin & Gray's F(2x2, 3x3) matrices
BT = np.array([[1, 0, -1, 0],
               [0, 1, 1, 0],
               [0, -1, 1, 0],
               [0, 1, 0, -1]], dtype=np.float64)        # (4, 4): input tile  d -> B^T d B
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)             # (4, 3): filter      g -> G g G^T
AT = np.array([[1, 1, 1, 0],
               [0, 1, -1, -1]], dtype=np.float64)       # (2, 4): product     m -> A^T m A


def tiles(OH: int, OW: int) -> tuple[int, int]:
    """(TH, TW): how many 2x2 output tiles cover an OH x OW output (the last may stick out)."""
    return (OH + 1) // 2, (OW + 1) // 2


# V, M and their gradients are 16 planes, one per xi, and each kernel writes (or reads) all
# 16 of them tile by tile.  With planes exactly C*T floats apart the 16 addresses are a
# large power-of-two multiple apart, so they compete for the same few cache sets: the
# transforms ran 2-4x slower (measured on (8, 128, 56, 56): 17.7 -> 6.8 ms for the input
# transform).  ``planes`` puts PLANE_PAD floats between consecutive planes.
PLANE_PAD = 16


def planes_size(rows: int, T: int) -> int:
    """How many elements a flat buffer needs for ``planes(buffer, rows, T)``."""
    return 16 * (rows * T + PLANE_PAD)


def planes(buffer, rows: int, T: int):
    """The (16, rows, T) view of a flat buffer, one (rows, T) plane per xi, planes padded apart.

    Each plane is an ordinary C-ordered matrix (what a GEMM wants); only the step from one
    plane to the next is longer than rows*T.
    """
    return buffer[:planes_size(rows, T)].reshape(16, rows * T + PLANE_PAD)[:, :rows * T].reshape(16, rows, T)


def new_planes(rows: int, T: int, dtype, xp=np):
    """A new (16, rows, T) array laid out as ``planes`` describes (xp: numpy or cupy)."""
    return planes(xp.empty(planes_size(rows, T), dtype=dtype), rows, T)


def _check_out(out, shape: tuple[int, ...], dtype, what: str, plane_padded: bool = False, xp=np):
    """`out` checked (shape, dtype, each (rows, T) plane C-ordered), or a new xp array."""
    if out is None:
        return new_planes(shape[1], shape[2], dtype, xp) if plane_padded else xp.empty(shape, dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    # the stride of a length-1 axis is never used (planes(buffer, 1, 1) has float32 strides (68, 68, 68))
    planes_ok = out.ndim >= 2 and (out.shape[-1] == 1 or out.strides[-1] == itemsize) and (
        out.shape[-2] == 1 or out.strides[-2] == out.shape[-1] * itemsize)
    ok = out.shape == tuple(shape) and out.dtype == dtype and (
        planes_ok if plane_padded else out.flags.c_contiguous)
    if not ok:
        layout = ("a (16, rows, T) array whose planes are C-ordered matrices, e.g. "
                  "winograd.planes(buffer, rows, T)") if plane_padded else "a C-contiguous array"
        raise ValueError(f"{what}: out must be {layout}, {np.dtype(dtype)}, of shape {tuple(shape)}; "
                         f"got {out.dtype} {out.shape} with strides {out.strides} (or pass out=None)")
    return out


def check_tiles(A, T: int, what: str) -> None:
    """A must be (16, rows, T): the compiled kernels trust its shape (they do not check indices)."""
    if A.ndim != 3 or A.shape[0] != 16 or A.shape[2] != T:
        raise ValueError(f"{what}: expected a (16, rows, {T}) array (T = N*TH*TW tiles, "
                         f"TH, TW = ceil(OH/2), ceil(OW/2)), got shape {tuple(A.shape)}")


# --------------------------------------------------------------------------- weights
# G g G^T for every filter at once: entry (i, j) is sum over (k, l) of G[i, k] g[k, l] G[j, l],
# so with the 3x3 filters flattened to 9 numbers it is one matrix product with the Kronecker
# product GG[(i, j), (k, l)] = G[i, k] * G[j, l].  (One GEMM: measured 1.9 ms for a 512x512
# layer, where a three-operand einsum took 46 ms and two batched 4x3 matmuls 42 ms.)
GG = np.kron(G, G)                                      # (16, 9)


def weight_transform(w):
    """w: (C_out, C, 3, 3) -> U: (16, C_out, C), U[4*i + j] = (G w G^T)[:, :, i, j].

    Works on NumPy and CuPy arrays (``__array_namespace__``).
    """
    xp = w.__array_namespace__()
    C_out, C = w.shape[:2]
    U = xp.asarray(GG, dtype=w.dtype) @ w.reshape(C_out * C, 9).T    # (16, C_out*C)
    return U.reshape(16, C_out, C)


def weight_grad_transform(dU):
    """dL/dU: (16, C_out, C) -> dL/dw: (C_out, C, 3, 3) = G^T dU G (the adjoint of weight_transform)."""
    xp = dU.__array_namespace__()
    C_out, C = dU.shape[1:]
    dw = dU.reshape(16, C_out * C).T @ xp.asarray(GG, dtype=dU.dtype)  # (C_out*C, 9)
    return dw.reshape(C_out, C, 3, 3)


# --------------------------------------------------------------------------- reference
def check_tile_counts(x_shape: tuple[int, ...], PH: int, PW: int, TH: int, TW: int) -> None:
    """TH, TW must be tiles(OH, OW) of this input: the compiled kernels trust them."""
    OH, OW = x_shape[2] + 2 * PH - 2, x_shape[3] + 2 * PW - 2
    if (TH, TW) != tiles(OH, OW) or OH < 1 or OW < 1:
        raise ValueError(f"input_transform: input {tuple(x_shape)} with padding ({PH}, {PW}) has a "
                         f"{OH}x{OW} output, covered by tiles(OH, OW) = {tiles(OH, OW)} tiles, "
                         f"not TH, TW = ({TH}, {TW})")


def _padded(x, PH: int, PW: int, TH: int, TW: int):
    """x: (N, C, H, W) inside zeros: (N, C, 2*TH + 2, 2*TW + 2), x starting at row PH, column PW.

    2*TH + 2 >= OH + 2 = H + 2*PH: x fits, with at least PH rows of zeros below it
    (one more when OH is odd: the last tile's row that sticks out).
    """
    N, C, H, W = x.shape
    xp_ = np.zeros((N, C, 2 * TH + 2, 2 * TW + 2), dtype=x.dtype)
    xp_[:, :, PH:PH + H, PW:PW + W] = x
    return xp_


def input_transform_reference(x: np.ndarray, PH: int, PW: int, TH: int, TW: int,
                              out: np.ndarray | None = None) -> np.ndarray:
    """x: (N, C, H, W) -> V: (16, C, N*TH*TW), V[:, c, t] = B^T d B of tile t's 4x4 patch d."""
    N, C = x.shape[:2]
    check_tile_counts(x.shape, PH, PW, TH, TW)
    V = _check_out(out, (16, C, N * TH * TW), x.dtype, "input_transform", plane_padded=True)
    # every 4x4 patch, 2 apart: (N, C, TH, TW, 4, 4)
    d = sliding_window_view(_padded(x, PH, PW, TH, TW), (4, 4), axis=(2, 3))[:, :, ::2, ::2]
    bt = BT.astype(x.dtype)
    # optimize=True: NumPy contracts one matrix at a time (BLAS), not in one naive loop (3x faster here)
    v = np.einsum("ik,nchwkl,jl->ijcnhw", bt, d, bt, optimize=True)  # (4, 4, C, N, TH, TW) = B^T d B
    V[...] = v.reshape(16, C, N * TH * TW)
    return V


def output_transform_reference(M: np.ndarray, N: int, OH: int, OW: int, bias: np.ndarray | None = None,
                               out: np.ndarray | None = None) -> np.ndarray:
    """M: (16, C_out, N*TH*TW) -> y: (N, C_out, OH, OW), each 2x2 tile = A^T m A (+ bias)."""
    C_out = M.shape[1]
    TH, TW = tiles(OH, OW)
    y = _check_out(out, (N, C_out, OH, OW), M.dtype, "output_transform")
    at = AT.astype(M.dtype)
    m = M.reshape(4, 4, C_out, N, TH, TW)
    Y = np.einsum("ik,klonhw,jl->nohiwj", at, m, at, optimize=True)  # (N, C_out, TH, 2, TW, 2)
    y[...] = Y.reshape(N, C_out, 2 * TH, 2 * TW)[:, :, :OH, :OW]   # drop what sticks out
    if bias is not None:
        y += bias.reshape(1, C_out, 1, 1)
    return y


def output_grad_transform_reference(gy: np.ndarray, TH: int, TW: int,
                                    out: np.ndarray | None = None) -> np.ndarray:
    """dL/dy: (N, C_out, OH, OW) -> dL/dM: (16, C_out, N*TH*TW), A dY A^T per tile (zeros past the edge)."""
    N, C_out, OH, OW = gy.shape
    dM = _check_out(out, (16, C_out, N * TH * TW), gy.dtype, "output_grad_transform", plane_padded=True)
    g = np.zeros((N, C_out, 2 * TH, 2 * TW), dtype=gy.dtype)
    g[:, :, :OH, :OW] = gy
    g = g.reshape(N, C_out, TH, 2, TW, 2)
    at = AT.astype(gy.dtype)
    dm = np.einsum("ik,nohiwj,jl->klonhw", at, g, at, optimize=True)  # (4, 4, C_out, N, TH, TW) = A dY A^T
    dM[...] = dm.reshape(16, C_out, N * TH * TW)
    return dM


def input_grad_transform_reference(dV: np.ndarray, N: int, H: int, W: int, PH: int, PW: int,
                                   out: np.ndarray | None = None) -> np.ndarray:
    """dL/dV: (16, C, N*TH*TW) -> dL/dx: (N, C, H, W); B dV B^T per tile, summed where patches overlap.

    TH, TW come from dV's size and N: T = N*TH*TW, with TH = ceil(OH/2) for the
    geometry the caller used (pass them through ``tiles``; here they are recovered
    from the padded size: OH = H + 2*PH - 2).
    """
    C = dV.shape[1]
    TH, TW = tiles(H + 2 * PH - 2, W + 2 * PW - 2)
    dx = _check_out(out, (N, C, H, W), dV.dtype, "input_grad_transform")
    bt = BT.astype(dV.dtype)
    dv = dV.reshape(4, 4, C, N, TH, TW)
    dd = np.einsum("ki,klcnhw,lj->nchwij", bt, dv, bt, optimize=True)  # (N, C, TH, TW, 4, 4) = B dV B^T
    # The 4x4 patches are 2 apart, so each one's four 2x2 quadrants (qa, qb) land on
    # distinct 2x2 blocks: add quadrant by quadrant into the padded gradient, seen as
    # (N, C, TH+1 blocks, 2, TW+1 blocks, 2).
    g = np.zeros((N, C, TH + 1, 2, TW + 1, 2), dtype=dV.dtype)
    for qa in (0, 1):
        for qb in (0, 1):
            quadrant = dd[:, :, :, :, 2 * qa:2 * qa + 2, 2 * qb:2 * qb + 2]   # (N, C, TH, TW, 2, 2)
            g[:, :, qa:qa + TH, :, qb:qb + TW, :] += quadrant.transpose(0, 1, 2, 4, 3, 5)
    g = g.reshape(N, C, 2 * TH + 2, 2 * TW + 2)
    dx[...] = g[:, :, PH:PH + H, PW:PW + W]               # drop the padding's share
    return dx


# The NumPy implementation is the reference: the einsums already work on all tiles at once.
input_transform_numpy = input_transform_reference
output_transform_numpy = output_transform_reference
output_grad_transform_numpy = output_grad_transform_reference
input_grad_transform_numpy = input_grad_transform_reference
