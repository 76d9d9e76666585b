"""3x3 stride-1 convolution by Winograd's F(2x2, 3x3): the same result as conv2d, fewer multiplications.

conv2d (conv.py) sends a convolution here when it has 3x3 filters, stride 1, no
dilation, one group and enough channels for it to pay (see ``conv.choose_algorithm``);
``MINICNN_CONV=im2col`` or ``winograd`` forces the choice.  The math is in
kernels/winograd.py; in short, with T the 2x2 output tiles of the batch:

    U = G g G^T         (16, C_out, C)     weight transform
    V = B^T d B         (16, C, T)         input transform: every tile's 4x4 input patch
    M = U @ V           (16, C_out, T)     16 GEMMs, one per position xi of the 4x4 tile
    y = A^T M A         (N, C_out, OH, OW) output transform (+ bias)

4*C_out*C multiply-adds per output pixel where im2col does 9*C_out*C; the price is V
and M, 4x the size of x and y, and four transforms that only move memory.
"""
from __future__ import annotations

from ... import kernels
from ...backend import get_array_module, scratch
from ...function import Function
from ...kernels import winograd
from ...shapes import ConvGeometry


class Conv2dWinograd(Function):
    """y = conv2d(x, W) + b for 3x3 filters, stride 1.   x: (N, C, H, W)  W: (C_out, C, 3, 3)  ->  y: (N, C_out, OH, OW)

    Backward (each transform's gradient is its transpose, see kernels/winograd.py):

        dM       = A dY A^T per tile               (16, C_out, T)
        dL/dU    = dM @ V^T                        (16, C_out, C)  -> dL/dW = G^T dL/dU G
        dL/dV    = U^T @ dM                        (16, C, T)      -> dL/dx = B dL/dV B^T, added
                                                                      over the overlapping patches
        dL/db    = sum of gy over N, OH, OW

    Memory: like conv2d's columns, V and M live in reused scratch buffers, a slice of the
    batch at a time (``COLS_BYTES`` for both); V is kept for dL/dW when all of it fits in
    ``COLS_BYTES``, and computed again in backward otherwise (keeping it saves one input
    transform: about 6 ms of 55-65 on the benchmark's (64, 32, 32, 32) -> 64 layer).
    """

    fresh_gradients = True          # backward returns new arrays: a leaf x keeps dL/dx uncopied

    def forward(self, x, weight, bias=None, *, geometry: ConvGeometry):
        g = geometry
        xp = get_array_module(x)
        k = kernels.get_kernels(x)
        N, C = x.shape[:2]
        TH, TW = winograd.tiles(g.OH, g.OW)
        U = winograd.weight_transform(weight)                                  # (16, C_out, C)
        y = xp.empty((N, g.C_out, g.OH, g.OW), dtype=x.dtype)
        batches = _image_batches(N, C, g.C_out, TH * TW, x.dtype.itemsize)
        # dL/dW needs V again: keep it (one array per slice) when all of it fits COLS_BYTES
        V_bytes = 16 * C * N * TH * TW * x.dtype.itemsize
        keep_V = self.needs_input_grad[1] and V_bytes <= _cols_bytes()
        kept_V = []
        for batch in batches:
            n = batch.stop - batch.start
            V = _planes("conv2d.winograd_v", C, n * TH * TW, x, new=keep_V)     # (16, C, n*TH*TW)
            k.winograd_input(x[batch], g.PH, g.PW, TH, TW, out=V)
            M = _planes("conv2d.winograd_m", g.C_out, n * TH * TW, x)          # (16, C_out, n*TH*TW)
            xp.matmul(U, V, out=M)
            k.winograd_output(M, n, g.OH, g.OW, bias, out=y[batch])
            if keep_V:
                kept_V.append(V)
        x_kept = x if self.needs_input_grad[1] and not keep_V else None
        self.save_for_backward(kept_V or None, x_kept, U, x.shape, geometry)
        return y

    def backward(self, gy):
        kept_V, x, U, x_shape, g = self.saved
        xp = get_array_module(gy)
        k = kernels.get_kernels(gy)
        N, C, H, W = x_shape
        TH, TW = winograd.tiles(g.OH, g.OW)
        needs = self.needs_input_grad
        gx = xp.empty(x_shape, dtype=gy.dtype) if needs[0] else None
        dU = xp.zeros(U.shape, dtype=gy.dtype) if needs[1] else None           # (16, C_out, C)
        batches = _image_batches(N, C, g.C_out, TH * TW, gy.dtype.itemsize)
        for i, batch in enumerate(batches if needs[0] or needs[1] else ()):
            n = batch.stop - batch.start
            dM = _planes("conv2d.winograd_m", g.C_out, n * TH * TW, gy)        # (16, C_out, n*TH*TW)
            k.winograd_output_grad(gy[batch], TH, TW, out=dM)
            if needs[1]:
                V = kept_V[i] if kept_V is not None else None
                if V is None:                                                   # not kept: transform again
                    V = _planes("conv2d.winograd_v", C, n * TH * TW, gy)
                    k.winograd_input(x[batch], g.PH, g.PW, TH, TW, out=V)
            # dV goes into V's scratch buffer: plane xi of V is used up just before dV[xi]
            # is written.  Plane by plane, so dM[xi] is still in cache for the second
            # product (4% faster than two batched products, measured).
            dV = _planes("conv2d.winograd_v", C, n * TH * TW, gy) if needs[0] else None
            for xi in range(16):
                if needs[1]:
                    dU[xi] += dM[xi] @ V[xi].T                                  # (C_out, C)
                if needs[0]:
                    xp.matmul(U[xi].T, dM[xi], out=dV[xi])                      # (C, n*TH*TW)
            if needs[0]:
                k.winograd_input_grad(dV, n, H, W, g.PH, g.PW, out=gx[batch])
        gw = None if dU is None else winograd.weight_grad_transform(dU)         # (C_out, C, 3, 3)
        if len(needs) == 2:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if needs[2] else None
        return gx, gw, gb


def _planes(name: str, rows: int, T: int, like, new: bool = False):
    """A (16, rows, T) array for V, M or their gradients, laid out as ``winograd.planes``.

    From the scratch buffer ``name`` (reused across calls), or new when the caller keeps it.
    """
    size = winograd.planes_size(rows, T)
    if new:
        buffer = get_array_module(like).empty(size, dtype=like.dtype)
    else:
        buffer = scratch(name, (size,), like.dtype, like)
    return winograd.planes(buffer, rows, T)


def _cols_bytes() -> int:
    from .conv import COLS_BYTES                        # here: conv.py imports this module
    return COLS_BYTES


def _image_batches(N: int, C: int, C_out: int, tiles_per_image: int, itemsize: int) -> list[slice]:
    """Split the batch into equal slices of images whose V and M fit COLS_BYTES (at least one image)."""
    per_image = 16 * (C + C_out) * tiles_per_image * itemsize
    most = max(1, min(N, _cols_bytes() // per_image))
    count = -(-N // most)                               # slices needed
    n = -(-N // count)                                  # images per slice, spread evenly
    return [slice(i, min(i + n, N)) for i in range(0, N, n)]
