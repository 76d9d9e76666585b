"""2-D convolution as unfold (im2col) + matrix multiplications (GEMMs).

Notation:
    N, C, H, W      batch, input channels, input height and width
    C_out           output channels
    G               groups: input and output channels are split into G independent blocks
    KH, KW          kernel height and width
    SH, SW          stride;  PH, PW: zero padding;  DH, DW: dilation
    OH, OW          output size, OH = floor((H + 2*PH - DH*(KH-1) - 1)/SH) + 1
    P               output pixels of one image: OH*OW
    K               one group's receptive field: (C/G)*KH*KW values

The convolution (cross-correlation, as in every deep-learning library) is

    y[n, o, oh, ow] = b[o] + sum over c, kh, kw of
                      x[n, g*C/G + c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW] * w[o, c, kh, kw]

for output channel o in group g = o // (C_out/G).  ``conv_naive.py`` computes exactly these
loops.  Here unfold (im2col) copies every receptive field of image n into one column of a
matrix, so the sum over (c, kh, kw) of all its output pixels becomes one matrix product:

    cols[n] = unfold(x)[n]                        (C*KH*KW, P), column p = the field of pixel p
    y[n]    = W.reshape(C_out, C*KH*KW) @ cols[n] (C_out, P) = y[n] in (C_out, OH, OW) order

and with the images' columns side by side, the whole batch is one product (see Conv2d).

With groups, group g multiplies its own block of K rows by its own C_out/G filters.
(``kernels/im2col.py`` explains unfold; its ``im2col`` is the same matrix transposed,
one row per output pixel, as tutorial 3 builds it.)
"""
from __future__ import annotations

import os

from ... import kernels, ops, shapes
from ...backend import get_array_module, scratch
from ...function import Function
from ...shapes import ConvGeometry
from ...tensor import Tensor
from ._common import float_tensor
from .conv_winograd import Conv2dWinograd

__all__ = ["conv2d", "choose_algorithm"]

# MINICNN_CONV=im2col|winograd forces conv2d's algorithm (where Winograd applies);
# unset or "auto" lets choose_algorithm decide.
CONV_ENV_VAR = "MINICNN_CONV"
CONV_ALGORITHMS = ("im2col", "winograd")
# Winograd pays once both channel counts and the number of 2x2 output tiles in the batch
# reach these (measured forward and forward+backward on VGG16's and the benchmark's layers,
# docs/performance.md): with fewer its 16 GEMMs are too thin to run fast and the transforms,
# which only move memory, dominate.
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_TILES = 128

# How many bytes of scratch matrices (unfolded columns and reordered outputs) one slice of
# the batch may use; see Conv2d, "Memory".  Measured with 2 threads: larger slices mean
# fewer GEMM calls (each a thread barrier), 0-4% faster from 48 to 160 MB on the benchmark
# shapes (up to 35% when OpenBLAS's threads spin between calls), while the memory of the
# (8, 128, 56, 56) -> 256 layer grows 18 MB per image in a slice (+63 MB at 32 MB, +97 MB
# at 64 MB; PyTorch: +70 MB).  48 MB keeps two of those images per slice.
COLS_BYTES = 48 * 2**20

# Images with at least this many output pixels get one GEMM each, written straight into
# y (and read straight from dL/dy) instead of one GEMM per slice of the batch, whose
# (C_out, n*P) result must be reordered to (n, C_out, P): for large images that copy is as
# slow as the GEMM itself (measured on (4, 3, 224, 224) -> 64: 9 ms for y, 9 for dL/dy,
# of a 62 ms forward+backward), while a per-image GEMM is large enough to run at full speed.
# Forward+backward, per image / per slice (2 threads): 0.84 on (4, 3, 224, 224) -> 64,
# 0.85 on (32, 3, 64, 64) -> 32, 0.98-1.02 with 16-64 input channels at 4096-12544 pixels.
# Small images stay batched: 64 GEMM calls per layer are fragile on a busy machine (every
# call is a thread barrier), although (64, 1, 28, 28) -> 32 measured 0.86 on a quiet one.
PER_IMAGE_PIXELS = 4096


class Conv2d(Function):
    """y = conv2d(x, W) + b.   x: (N, C, H, W)  W: (C_out, C/G, KH, KW)  b: (C_out,)  ->  y: (N, C_out, OH, OW)

    The columns of all images side by side form one matrix per group g,

        cols_g = [cols[0]_g | cols[1]_g | ... ]            (K, N*P): column (n, p) = a receptive field

    (im2col(x).T; unfold writes it directly, see ``_unfold``), so each product is one GEMM:

        Y_g        = W_g @ cols_g                          (C_out/G, K) @ (K, N*P)
        y          = Y + b, reordered to (N, C_out, OH, OW)

    Backward, the same matrices in the two other orders (GY_g: gy reordered to (C_out/G, N*P)):

        dL/dW_g    = GY_g @ cols_g.T                       (C_out/G, K): needs cols
        dL/dcols_g = W_g.T @ GY_g                          (K, N*P)
        dL/dx      = fold(dL/dcols)                        fold is the adjoint of unfold
        dL/db      = sum of gy over N, OH, OW

    Each is computed only for an input that needs it (``needs_input_grad``): a frozen
    weight skips the weight GEMM (and forward keeps nothing for it), and an input that
    needs no gradient (the images, or a frozen earlier layer) skips the dcols GEMM and fold.

    Memory: cols is C*KH*KW times the size of x (115 MB for 8 images of 128x56x56).
    When it fits in ``COLS_BYTES`` it is kept for dL/dW.  Otherwise both passes walk the
    batch in slices of images whose cols fit, in reused scratch buffers, and backward
    unfolds x again: a copy, cheap next to the GEMMs (about 2-5% of their time on the
    benchmark shapes).

    Speed (measured against alternatives, see docs/performance.md): unfold copies whole
    input rows (memory-copy speed; im2col's row-per-pixel layout is 3-5x slower to
    write), and one large GEMM per slice of the batch beats one GEMM per image when BLAS
    threads share a busy machine (every call is a thread barrier) -- except for large
    images (``PER_IMAGE_PIXELS``), whose per-image GEMMs are large anyway and skip the
    reordering of y and gy:  y[i] = W_g @ cols_g[:, image i's P columns].
    """

    fresh_gradients = True          # backward returns new arrays: a leaf x keeps dL/dx uncopied

    def forward(self, x, weight, bias=None, *, geometry: ConvGeometry):
        g = geometry
        xp = get_array_module(x)
        N, G, P = x.shape[0], g.groups, g.OH * g.OW
        w_g = weight.reshape(G, g.C_out // G, -1)                              # (G, C_out/G, K)
        y = xp.empty((N, g.C_out, P), dtype=x.dtype)                           # (N, C_out, OH*OW)
        batches = _image_batches(x, weight.shape, g)
        # dL/dW needs cols again: keep them when the whole batch fits in one slice
        keep_cols = self.needs_input_grad[1] and len(batches) == 1
        for batch in batches:
            cols = _unfold(x[batch], g, keep=keep_cols)                         # (G, K, n*P)
            if P >= PER_IMAGE_PIXELS:
                # large images: one GEMM per image, straight into y[i] (no reordering copy)
                for j, i in enumerate(range(batch.start, batch.stop)):
                    y_i = y[i].reshape(G, g.C_out // G, P)
                    xp.matmul(w_g, cols[:, :, j * P:(j + 1) * P], out=y_i)     # (G, C_out/G, P)
                    if bias is not None:
                        y[i] += bias.reshape(g.C_out, 1)                        # while y[i] is in cache
                continue
            Y = scratch("conv2d.y", (G, g.C_out // G, cols.shape[2]), x.dtype, x)
            xp.matmul(w_g, cols, out=Y)                                         # (G, C_out/G, n*P)
            Y = Y.reshape(g.C_out, -1)                                          # (C_out, n*P)
            if bias is not None:
                Y += bias.reshape(g.C_out, 1)         # here, not in the copy below: 2x faster (measured)
            y[batch] = Y.reshape(g.C_out, -1, P).transpose(1, 0, 2)            # (n, C_out, P)
        # kept: cols, or x to unfold again (when dL/dW is needed); x.shape, not the geometry's
        # H, W: it includes the odd row/column of padding="same"
        x_kept = x if self.needs_input_grad[1] and not keep_cols else None
        self.save_for_backward(cols if keep_cols else None, x_kept, w_g, x.shape, geometry)
        return y.reshape(N, g.C_out, g.OH, g.OW)

    def backward(self, gy):
        kept_cols, x, w_g, x_shape, g = self.saved
        xp = get_array_module(gy)
        N, C, H, W = x_shape
        G, P = g.groups, g.OH * g.OW
        needs = self.needs_input_grad
        gx = xp.empty(x_shape, dtype=gy.dtype) if needs[0] else None
        gw_t = xp.zeros((G, w_g.shape[2], w_g.shape[1]), dtype=gy.dtype) if needs[1] else None
        w_shape = (g.C_out, C // G, g.KH, g.KW)
        for batch in _image_batches(gy, w_shape, g) if needs[0] or needs[1] else ():
            n = batch.stop - batch.start
            cols = dcols = None
            if needs[1]:
                cols = kept_cols if kept_cols is not None else _unfold(x[batch], g)   # (G, K, n*P)
            if needs[0]:
                dcols = scratch("conv2d.cols", (G, w_g.shape[2], n * P), gy.dtype, gy)
            # the columns of image j: [:, :, j*P:(j+1)*P] for large images, else all of them
            if P >= PER_IMAGE_PIXELS:
                parts = [(slice(j * P, (j + 1) * P), xp.ascontiguousarray(gy[i]).reshape(G, -1, P))
                         for j, i in enumerate(range(batch.start, batch.stop))]     # (G, C_out/G, P)
            else:
                GY = scratch("conv2d.y", (g.C_out, n, P), gy.dtype, gy)
                GY[...] = gy[batch].reshape(n, g.C_out, P).transpose(1, 0, 2)     # (C_out, n, P)
                parts = [(slice(None), GY.reshape(G, g.C_out // G, n * P))]       # (G, C_out/G, n*P)
            for columns, GY in parts:
                if needs[1]:
                    # computed as (cols @ GY.T), the transposed result: for these long sums
                    # OpenBLAS is up to 2x faster when the result is taller than wide (measured)
                    gw_t += cols[:, :, columns] @ GY.transpose(0, 2, 1)          # (G, K, C_out/G)
                if needs[0]:
                    xp.matmul(w_g.transpose(0, 2, 1), GY, out=dcols[:, :, columns])   # (G, K, P or n*P)
            if needs[0]:
                kernels.get_kernels(gy).fold(
                    _as_images(dcols, n, P), n, C, H, W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW,
                    g.DH, g.DW, g.OH, g.OW, out=gx[batch])
        gw = None if gw_t is None else gw_t.transpose(0, 2, 1).reshape(w_shape)
        if len(needs) == 2:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if needs[2] else None
        return gx, gw, gb


def _unfold(x, g: ConvGeometry, keep: bool = False):
    """unfold(x) of the images x: (n, C, H, W) as one matrix per group: (G, K, n*P).

    The buffer is laid out (C*KH*KW, n, P); unfold writes it through the transposed
    view (n, C*KH*KW, P) that ``_as_images`` gives, so image n's columns land side by
    side with the other images' (no copy afterwards).  It is the scratch buffer, or a
    new array when the caller keeps it (``keep``).
    """
    n, C = x.shape[:2]
    P = g.OH * g.OW
    shape = (C * g.KH * g.KW, n * P)                                            # (C*KH*KW, n*P)
    xp = get_array_module(x)
    cols = xp.empty(shape, dtype=x.dtype) if keep else scratch("conv2d.cols", shape, x.dtype, x)
    kernels.get_kernels(x).unfold(x, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH, g.OW,
                                  out=_as_images(cols, n, P))
    return cols.reshape(g.groups, -1, n * P)                                    # (G, K, n*P)


def _as_images(cols, n: int, P: int):
    """(..., n*P) columns of n images -> the (n, rows, P) view unfold and fold use."""
    return cols.reshape(-1, n, P).transpose(1, 0, 2)


def _image_batches(like, w_shape: tuple[int, ...], g: ConvGeometry) -> list[slice]:
    """Split the batch into slices of images whose scratch matrices fit COLS_BYTES.

    Per image: its columns, (C*KH*KW, P), and its output (or output gradient) reordered
    for the GEMM, (C_out, P).  At least one image per slice, however large.
    """
    N = like.shape[0]
    C_out, C = w_shape[0], w_shape[1] * g.groups
    per_image = (C * g.KH * g.KW + C_out) * g.OH * g.OW * like.dtype.itemsize
    n = max(1, min(N, COLS_BYTES // per_image))
    return [slice(i, min(i + n, N)) for i in range(0, N, n)]


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0, dilation: int | tuple[int, int] = 1,
           groups: int = 1) -> Tensor:
    """2-D convolution over a batch of images (PyTorch's ``F.conv2d``).

    Args:
        input: x, (N, C, H, W).
        weight: (C_out, C/groups, KH, KW).
        bias: (C_out,) or None.
        stride: SH = SW, or (SH, SW).
        padding: zeros added on each side: an int, (PH, PW), "valid" (= 0) or "same" (output
            as large as the input; stride 1 only; an odd total goes to the bottom/right,
            as in PyTorch).
        dilation: DH = DW, or (DH, DW): the gap between kernel taps (1 = a plain kernel).
        groups: G; each group of C/G input channels has its own C_out/G filters
            (G = C is a depthwise convolution).

    Returns:
        y: (N, C_out, OH, OW) with OH = floor((H + 2*PH - DH*(KH-1) - 1)/SH) + 1 and OW likewise.
        When the stride leaves input rows or columns unseen (the floor drops them), a
        ``minicnn.shapes.ShapeWarning`` says so, once per configuration.

    Example:
        >>> x = minicnn.randn(8, 3, 32, 32)
        >>> w = minicnn.randn(16, 3, 3, 3)
        >>> conv2d(x, w, padding=1).shape
        (8, 16, 32, 32)
    """
    x = float_tensor("conv2d", "input", input)
    w = float_tensor("conv2d", "weight", weight)
    b = None if bias is None else float_tensor("conv2d", "bias", bias)
    geometry = shapes.conv2d_geometry(x.shape, w.shape, None if b is None else b.shape,
                                      stride, padding, dilation, groups)
    shapes.check_same_float_dtype("conv2d", input=x.data, weight=w.data, bias=None if b is None else b.data)
    if geometry.extra_h or geometry.extra_w:
        # "same" with an odd total padding: one more row/column at the bottom/right (PyTorch's split)
        x = ops.pad(x, ((0, 0), (0, 0), (0, geometry.extra_h), (0, geometry.extra_w)))
    function = Conv2dWinograd if choose_algorithm(geometry, x.data) == "winograd" else Conv2d
    if b is None:
        return function.apply(x, w, geometry=geometry)
    return function.apply(x, w, b, geometry=geometry)


def choose_algorithm(geometry: ConvGeometry, x) -> str:
    """"im2col" (any convolution) or "winograd" (3x3, stride 1, no dilation, one group).

    Automatic choice: Winograd for NumPy arrays with at least WINOGRAD_MIN_CHANNELS input
    and output channels and WINOGRAD_MIN_TILES 2x2 output tiles, when the compiled (Numba)
    kernels run; im2col otherwise.  With the NumPy transforms (MINICNN_KERNELS=reference or
    numpy, or no numba) Winograd is slower than im2col (measured 3-6x on the benchmark's
    layers: the transforms are memory-bound array passes); on the GPU its CUDA transforms
    run but have not been measured against cuBLAS.  MINICNN_CONV forces either;
    "winograd" falls back to im2col where it does not apply.
    """
    g = geometry
    applies = (g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.groups) == (3, 3, 1, 1, 1, 1, 1)
    requested = os.environ.get(CONV_ENV_VAR, "").strip().lower()
    if requested not in ("", "auto") + CONV_ALGORITHMS:
        raise ValueError(f"{CONV_ENV_VAR}={os.environ[CONV_ENV_VAR]!r} is not a convolution "
                         f"algorithm; use one of {', '.join(CONV_ALGORITHMS)} (or unset it to "
                         f"choose automatically)")
    if not applies or requested == "im2col":
        return "im2col"
    if requested == "winograd":
        return "winograd"
    compiled_cpu = kernels.get_kernels(x).name == "numba"
    tiles = x.shape[0] * ((g.OH + 1) // 2) * ((g.OW + 1) // 2)
    big = min(g.C_out, x.shape[1]) >= WINOGRAD_MIN_CHANNELS and tiles >= WINOGRAD_MIN_TILES
    return "winograd" if compiled_cpu and big else "im2col"
