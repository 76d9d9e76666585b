# %% [markdown]
# # Tutorial 3 — Convolution is a matrix multiply
#
# The lecture defines a convolutional layer as a filter sliding over the image, taking a
# dot product at every position. Written as loops that is seven nested `for`s — correct,
# and far too slow in Python. Every fast implementation (Caffe, cuDNN's GEMM path,
# minicnn) uses the same trick instead: copy each receptive field into one **row of a
# matrix** (`im2col`, "image to columns"; some store its transpose, one column per field),
# and the whole convolution becomes a single matrix product, which BLAS computes at close
# to the machine's peak speed.
#
#     cols = im2col(x)                  (N*OH*OW, C*KH*KW)   one row per output pixel
#     y    = cols @ W.reshape(C_out, C*KH*KW).T               one column per filter
#
# This tutorial does it by hand on a 4x4 image, checks minicnn's `conv2d` gives the same
# numbers, derives the backward pass (`col2im`), gradient-checks all of it, and finally
# races the naive loops against the matrix multiply.
#
# Notation: N, C, H, W (batch, channels, height, width), KH x KW filters, OH x OW output.

# %%
import os

# One thread for NumPy's BLAS and for Numba, like the naive loops get: the race in section 5
# then compares the methods, not the core counts, and a busy machine disturbs it less.
# (Thread pools are sized when the libraries load, so this comes before `import numpy`.)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import time
from pathlib import Path

import numpy as np

import minicnn
from minicnn import Tensor
from minicnn.kernels import im2col
from minicnn.nn import functional as F

FAST = os.environ.get("MINICNN_FAST") == "1"          # the tests run a smaller timing case
OUT = Path(os.environ.get("MINICNN_OUT", "out/tutorials/03_conv_as_matmul"))
np.set_printoptions(linewidth=100)

# %% [markdown]
# ## 1. im2col by hand
#
# One 4x4 image (N = C = 1) holding the numbers 1..16, and one 2x2 filter:
#
#     x =  1  2  3  4        w = 1 2
#          5  6  7  8            3 4
#          9 10 11 12
#         13 14 15 16
#
# With stride 1 and no padding the output is (4 - 2)/1 + 1 = 3 on each side: 9 output
# pixels, so `cols` has 9 rows, and each row holds the 2*2 = 4 pixels that output pixel
# sees, in the order (kh, kw) — the order of `w.reshape(-1)`. The first window is the
# top-left 2x2 block, so row 0 is `[1, 2, 5, 6]`; one step right adds 1 to each pixel.

# %%
x = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
w = np.array([[1, 2], [3, 4]], dtype=np.float32)
KH, KW = w.shape
OH, OW = x.shape[0] - KH + 1, x.shape[1] - KW + 1       # (N - F)/S + 1 = 3

cols = np.zeros((OH * OW, KH * KW), dtype=np.float32)   # (OH*OW, KH*KW) = (9, 4)
for oh in range(OH):
    for ow in range(OW):
        cols[oh * OW + ow] = x[oh:oh + KH, ow:ow + KW].reshape(-1)   # the receptive field as a row
print("cols = im2col(x), one row per output pixel:")
print(cols.astype(int))

# %% [markdown]
# The convolution is now one matrix-vector product: each output pixel is its row of `cols`
# dotted with the flattened filter `[1, 2, 3, 4]`. The first one, by hand:
# 1*1 + 2*2 + 5*3 + 6*4 = 44. Moving one pixel right adds 1 to each of the four pixels, so
# adds 1 + 2 + 3 + 4 = 10; moving down adds 4 to each pixel, so adds 40:
#
#     y =  44  54  64
#          84  94 104
#         124 134 144

# %%
y_by_hand = (cols @ w.reshape(-1)).reshape(OH, OW)      # (9, 4) @ (4,) -> (9,) -> (3, 3)
print("y = cols @ w.reshape(-1), reshaped to 3x3:")
print(y_by_hand.astype(int))

# %% [markdown]
# ## 2. The same numbers from minicnn
#
# minicnn's im2col kernel (`kernels/im2col.py`, `im2col_reference` is the one to read)
# builds the same matrix from the batch and channel axes too, `(N, C, H, W)`, and the full
# geometry (kernel, stride, padding, dilation, output size). minicnn's `conv2d` (open
# `minicnn/nn/functional/conv.py`) multiplies the same numbers transposed: `unfold` writes
# one *column* per output pixel, a (C*KH*KW, OH*OW) matrix per image (PyTorch's `F.unfold`
# layout), because copying whole rows of x is faster, and then `y = W @ cols` is already in
# (C_out, OH, OW) order. For 3x3, stride-1 layers with many channels it switches to a
# different algorithm, Winograd's, which needs fewer multiplications (tutorial 9).

# %%
x4 = x.reshape(1, 1, 4, 4)                              # (N, C, H, W)
w4 = w.reshape(1, 1, 2, 2)                              # (C_out, C, KH, KW)
cols_minicnn = im2col.im2col_reference(x4, KH, KW, 1, 1, 0, 0, 1, 1, OH, OW)
print(f"minicnn's im2col: shape {cols_minicnn.shape}, equal to ours: {np.array_equal(cols_minicnn, cols)}")
unfolded = im2col.unfold_reference(x4, KH, KW, 1, 1, 0, 0, 1, 1, OH, OW)   # (N, KH*KW, OH*OW) = (1, 4, 9)
print(f"minicnn's unfold (what conv2d uses): shape {unfolded.shape}, "
      f"equal to ours transposed: {np.array_equal(unfolded[0], cols.T)}")
y_minicnn = F.conv2d(Tensor(x4), Tensor(w4))
print("minicnn conv2d:")
print(y_minicnn.numpy()[0, 0].astype(int))
print(f"conv2d equals cols @ w: {np.array_equal(y_minicnn.numpy()[0, 0], y_by_hand)}")

# %% [markdown]
# ## 3. The backward pass: col2im
#
# Write the forward pass as `y = cols @ w_row` (`w_row = w.reshape(-1)`, shape (4,)). Given
# the upstream gradient `gy = dL/dy` (one number per output pixel, shape (9,)), a matrix
# product's gradients are the other factor, transposed:
#
#     dL/dw    = cols.T @ gy           (4,)      each filter tap sums the pixels it touched
#     dL/dcols = outer(gy, w_row)      (9, 4)    each row gets gy[row] * w_row
#     dL/dx    = col2im(dL/dcols)      (4, 4)    add each entry back where im2col copied it from
#
# `col2im` is the *adjoint* of im2col: a pixel that appears in several windows receives the
# sum of the gradients of all its copies. Take L = sum(y), so gy is all ones:
#
# * dL/dw: each tap sums a 3x3 block of x. Tap (0, 0) sums rows 0-2, columns 0-2:
#   1+2+3+5+6+7+9+10+11 = 54; shifting right adds 9*1, down adds 9*4: **[54, 63, 90, 99]**.
# * dL/dx: every window adds `w` onto its 2x2 block. The corner pixel (0, 0) is in one
#   window, as tap w[0,0] = 1; pixel (0, 1) is in two, as w[0,1] + w[0,0] = 3; an inner pixel
#   is in four, as 1 + 2 + 3 + 4 = 10:
#
#         1  3  3  2
#         4 10 10  6
#         4 10 10  6
#         3  7  7  4

# %%
gy = np.ones(OH * OW, dtype=np.float32)                 # dL/dy for L = sum(y), flattened (9,)
dw_by_hand = cols.T @ gy                                # (4, 9) @ (9,) -> (4,)
dcols = np.outer(gy, w.reshape(-1))                     # (9, 4)
dx_by_hand = np.zeros_like(x)
for oh in range(OH):
    for ow in range(OW):
        dx_by_hand[oh:oh + KH, ow:ow + KW] += dcols[oh * OW + ow].reshape(KH, KW)   # col2im
print(f"by hand:     dL/dw = {dw_by_hand.astype(int)}")
print("by hand:     dL/dx =")
print(dx_by_hand.astype(int))

xt, wt = Tensor(x4, requires_grad=True), Tensor(w4, requires_grad=True)
F.conv2d(xt, wt).sum().backward()
print(f"by backward: dL/dw = {wt.grad.numpy().reshape(-1).astype(int)}")
print("by backward: dL/dx =")
print(xt.grad.numpy()[0, 0].astype(int))
col2im_minicnn = im2col.col2im_reference(dcols, 1, 1, 4, 4, KH, KW, 1, 1, 0, 0, 1, 1, OH, OW)
print(f"minicnn's col2im of dL/dcols equals ours: {np.array_equal(col2im_minicnn[0, 0], dx_by_hand)}")

# %% [markdown]
# ## 4. Gradient-check everything
#
# Three convolutions, one check each (Tutorial 1 explains `gradcheck`: centred finite
# differences in float64, CS231n's relative error):
#
# 1. our im2col by hand, built from autograd operations (slicing, `stack`, `@`), so
#    autograd derives its backward — including the col2im — on its own;
# 2. minicnn's `conv2d`, whose backward is written by hand (GEMMs + fold, col2im transposed),
#    here on a harder case: 2 images, 3 channels, 4 filters, stride 2, padding 1;
# 3. `conv2d_naive`, the seven loops, on the same case.

# %%
def conv_by_im2col(x: Tensor, w: Tensor) -> Tensor:
    """The 1x1x4x4 convolution of section 1, written with differentiable operations."""
    rows = [x[0, 0, oh:oh + KH, ow:ow + KW].reshape(KH * KW) for oh in range(OH) for ow in range(OW)]
    cols = minicnn.stack(rows)                          # (OH*OW, KH*KW) = (9, 4)
    return (cols @ w.reshape(KH * KW, 1)).reshape(1, 1, OH, OW)


rng = np.random.default_rng(0)
harder = [rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)]  # x, w, b
checks = {
    "im2col by hand": (conv_by_im2col, [x4, w4], ["x", "w"]),
    "minicnn conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), harder, ["x", "w", "b"]),
    "conv2d_naive": (lambda x, w, b: F.conv2d_naive(x, w, b, stride=2, padding=1), harder, ["x", "w", "b"]),
}
for name, (fn, inputs, names) in checks.items():
    report = minicnn.gradcheck(fn, inputs, names=names)
    worst = max(r.max_rel_error for r in report.inputs)
    print(f"gradcheck {name}: passed {report.ok}, worst relative error {worst:.1e}")

# %% [markdown]
# ## 5. The loops against the matrix multiply
#
# `conv2d_naive` is the lecture's formula as nested Python loops, one multiply-add at a time.
# `conv2d` does the same arithmetic as unfold + one GEMM (this layer has too few channels for
# Winograd). Both compute the same thing (up to float32 rounding, because the sums are added
# in a different order), forwards and backwards.
# The difference is speed: each Python loop iteration costs tens of nanoseconds of interpreter
# work for a single multiply, while the GEMM runs compiled, vectorised, cache-blocked code.

# %%
shape = (2, 3, 10, 10) if FAST else (4, 3, 16, 16)
x_big = minicnn.randn(*shape, rng=1)
w_big = minicnn.randn(8, 3, 3, 3, rng=2)
b_big = minicnn.randn(8, rng=3)


def forward_backward(conv, repeat: int = 1):
    """Run conv forward and backward; return (best seconds of `repeat` runs, y, dL/dx, dL/dw, dL/db)."""
    best = float("inf")
    for _ in range(repeat):
        xt, wt, bt = (Tensor(t.numpy(), requires_grad=True) for t in (x_big, w_big, b_big))
        start = time.perf_counter()
        y = conv(xt, wt, bt, padding=1)
        (y * y).sum().backward()                        # a loss whose gradient is not all ones
        best = min(best, time.perf_counter() - start)   # the fastest run: the least disturbed by other programs
    return best, y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


forward_backward(F.conv2d)                              # warm up (the first call may compile kernels)
naive = forward_backward(F.conv2d_naive)
fast = forward_backward(F.conv2d, repeat=20)
N, C, H, W = shape
print(f"x {shape}, w (8, 3, 3, 3), padding 1: conv2d's cols is (3*3*3, {N}*{H}*{W}) = {(27, N * H * W)}")
for name, a, b in zip(["y", "dL/dx", "dL/dw", "dL/db"], naive[1:], fast[1:]):
    relative = np.abs(a - b).max() / max(1.0, np.abs(a).max())
    print(f"naive vs unfold+GEMM: max |difference| in {name:5s} = {relative:.1e} (relative)")
print(f"forward+backward: naive loops {1000 * naive[0]:.0f} ms, unfold + GEMM {1000 * fast[0]:.2f} ms, "
      f"speed-up {naive[0] / fast[0]:.0f}x")

# %% [markdown]
# Your numbers depend on the machine (and on what else it is doing), but expect a speed-up
# of hundreds of times or more.
# The naive loop does N*C_out*OH*OW*C*KH*KW multiply-adds one by one in Python; unfold does
# one cheap copy and hands the whole sum to BLAS. Tutorial 9 measures where the remaining
# time goes (the copy or the GEMM), what compiled kernels (Numba) add, and how Winograd
# gets by with fewer multiply-adds.
#
# ## 6. A picture of section 1
#
# The input, the filter, the `cols` matrix with its 9 rows, and the output. Output pixel
# (0, 0) is framed in red: its 2x2 window of x, its row of `cols`, its value in y; output
# pixel (1, 1) in orange. The two windows overlap in pixel 6, so it is copied into both rows.

# %%
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed (pip install 'minicnn[viz]'): no picture")

if plt is not None:
    from matplotlib.patches import Rectangle

    panels = [("x (4x4)", x), ("w (2x2)", w), ("cols = im2col(x)  (9x4)", cols), ("y = cols @ w  (3x3)", y_by_hand)]
    fig, axes = plt.subplots(1, 4, figsize=(10, 5.2), gridspec_kw={"width_ratios": [4, 2, 4, 3]})
    for ax, (title, a) in zip(axes, panels):
        ax.imshow(a, cmap="Blues", vmin=0, vmax=a.max() * 1.6)
        for (i, j), v in np.ndenumerate(a):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    # two output pixels, (0, 0) and (1, 1): their window in x, their row of cols, their value in y
    for (oh, ow), colour in (((0, 0), "red"), ((1, 1), "darkorange")):
        row = oh * OW + ow
        for ax, (left, top, width, height) in zip(
                (axes[0], axes[2], axes[3]), ((ow, oh, KW, KH), (0, row, KH * KW, 1), (ow, oh, 1, 1))):
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=colour,
                                   linewidth=2.5))
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "im2col.png", dpi=90)
    plt.close(fig)
    print(f"saved {OUT / 'im2col.png'}")
