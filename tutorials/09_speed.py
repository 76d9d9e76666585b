# %% [markdown]
# # Tutorial 9 — Speed: the NumPy reference, the Numba kernels and the GPU, side by side
#
# Tutorial 3 showed that a convolution is `im2col` (a copy) followed by one matrix multiply
# (a GEMM), and that this is hundreds of times faster than Python loops. minicnn's `conv2d`
# copies with `unfold`, the same numbers transposed (one column per output pixel), and for
# 3x3 layers with many channels it switches to Winograd's algorithm, which needs fewer
# multiplications (section 5). This tutorial measures what is left: how long the copy takes
# in each implementation of the kernels, how long the GEMM takes, what Winograd saves, and
# how minicnn compares with PyTorch on the same machine.
#
# minicnn has up to four implementations of its hot kernels (unfold/fold, im2col/col2im,
# pooling, Winograd's transforms), all with the same contract, chosen by
# `minicnn.kernels.get_kernels(x)`:
#
# | name | file | what it is |
# |---|---|---|
# | `reference` | `kernels/im2col.py` | readable NumPy: one strided copy per kernel tap |
# | `numpy` | `kernels/im2col.py` | the fastest pure-NumPy version (`as_strided`, one copy) |
# | `numba` | `kernels/im2col_numba.py` | the loops compiled by Numba, parallel over rows |
# | `cuda` | `kernels/im2col_cuda.py` | Numba-CUDA, one GPU thread per element (CuPy arrays) |
#
# The environment variable `MINICNN_KERNELS` overrides the choice, and the dispatcher reads
# it at every call, so this script switches implementations by setting `os.environ`.
# `MINICNN_CONV=im2col` or `winograd` likewise forces conv2d's algorithm (section 5).
#
# **Timing honestly.** Each number is the *fastest* of several runs (the run least
# disturbed by other programs) after one warm-up run (which compiles the Numba kernels).
# Your numbers will differ from anyone else's; the ratios between rows are what to read.

# %%
import os

# One thread for every contender -- NumPy's BLAS, Numba, PyTorch -- so the rows compare the
# code, not how many cores each library grabs, and a busy machine disturbs them less.
# (Thread pools are sized when the libraries load, so this comes before `import numpy`.)
# To measure with every core: OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 NUMBA_NUM_THREADS=2.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

import minicnn
from minicnn import Tensor, kernels, shapes
from minicnn.nn import functional as F
from minicnn.nn.functional.conv import choose_algorithm

FAST = os.environ.get("MINICNN_FAST") == "1"          # the tests: small shapes, few repeats
OUT = Path(os.environ.get("MINICNN_OUT", "out/tutorials/09_speed"))
REPEAT = 3 if FAST else 7

# (N, C, H, W), C_out: the two conv layers of the demo CNN, and (full run) a deeper layer
SHAPES = [((8, 1, 28, 28), 16), ((8, 16, 14, 14), 32)] if FAST else \
         [((64, 1, 28, 28), 16), ((64, 16, 14, 14), 32), ((16, 64, 32, 32), 64)]
K, S, P = 3, 1, 1                                       # 3x3 filters, stride 1, padding 1 ("same")


def best_ms(fn: Callable[[], object], repeat: int = REPEAT) -> float:
    """Milliseconds of the fastest of `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def use_kernels(name: str) -> None:
    """Select an implementation for every following call (read by kernels/dispatch.py)."""
    os.environ[kernels.ENV_VAR] = name


CONV_ENV_VAR = "MINICNN_CONV"                           # read by conv.choose_algorithm at every call


def use_conv(algorithm: str | None) -> None:
    """Force conv2d's algorithm ("im2col", "winograd", "auto") for every following call; None unsets it."""
    if algorithm is None:
        os.environ.pop(CONV_ENV_VAR, None)
    else:
        os.environ[CONV_ENV_VAR] = algorithm


# %% [markdown]
# ## 1. What can run on this machine
#
# `available_kernels()` tries to load each implementation and says why one cannot run.

# %%
info = kernels.available_kernels()
blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
      f"NumPy {np.__version__} with {blas.get('name')} {blas.get('version', '')}; "
      f"threads: BLAS {os.environ['OPENBLAS_NUM_THREADS']}, Numba {os.environ['NUMBA_NUM_THREADS']}")
for name, row in info["implementations"].items():
    print(f"  {name:9s} {'available  ' if row['available'] else 'unavailable'} {row['detail']}")
IMPLS = [name for name in ("reference", "numpy", "numba") if info["implementations"][name]["available"]]
GPU = info["implementations"]["cuda"]["available"] and minicnn.cuda_is_available()
if not GPU:
    print(f"no CuPy row below: {info['implementations']['cuda']['detail']} "
          f"(minicnn.cuda_is_available() = {minicnn.cuda_is_available()})")

try:
    import torch                                        # optional: PyTorch as the yardstick
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
except ImportError:
    torch = None
    print("PyTorch is not installed: no torch row below")

# %% [markdown]
# ## 2. The copies alone: im2col, col2im, unfold, fold
#
# im2col copies N*OH*OW rows of C*KH*KW values: it moves memory and does no arithmetic,
# so its speed is set by how well the implementation walks memory. col2im, its adjoint
# (the backward pass), adds overlapping windows back together. These are the kernels of
# tutorial 3 and the assignments; `conv2d` itself uses unfold and fold, the same numbers
# transposed: a (C*KH*KW, OH*OW) matrix per image, so every kernel tap copies whole rows of
# the input into whole rows of the matrix (memory-copy speed) where im2col scatters each
# input row into a strided column. The last column compares unfold + fold, what conv2d
# runs, with the reference implementation's.

# %%
def im2col_args(shape: tuple[int, int, int, int]) -> tuple[int, ...]:
    """(KH, KW, SH, SW, PH, PW, DH, DW, OH, OW) of a 3x3, stride-1, padding-1 conv."""
    N, C, H, W = shape
    OH, OW = (H + 2 * P - K) // S + 1, (W + 2 * P - K) // S + 1
    return K, K, S, S, P, P, 1, 1, OH, OW


def to_device(a: np.ndarray, name: str):
    """The array on the device implementation `name` runs on (CuPy for "cuda")."""
    return Tensor(a).to("cuda").data if name == "cuda" else a


def synchronize(name: str) -> None:
    """GPU kernels run asynchronously: wait for them before reading the clock."""
    if name == "cuda":
        import cupy
        cupy.cuda.Device().synchronize()


kernel_impls = IMPLS + (["cuda"] if GPU else [])
rng = np.random.default_rng(0)
print(f"{'shape':20s} {'kernels':10s} {'im2col ms':>10s} {'col2im ms':>10s} {'unfold ms':>10s} "
      f"{'fold ms':>10s}  {'vs reference':>12s}")
for shape, _ in SHAPES:
    x = rng.standard_normal(shape, dtype=np.float32)
    N, C, H, W = shape
    geometry = im2col_args(shape)
    base = None
    for name in kernel_impls:
        use_kernels(name)
        xd = to_device(x, name)
        k = kernels.get_kernels(xd)
        cols = k.im2col(xd, *geometry)                                   # (N*OH*OW, C*KH*KW)
        unfolded = k.unfold(xd, *geometry)                               # (N, C*KH*KW, OH*OW)
        t_im2col = best_ms(lambda: (k.im2col(xd, *geometry), synchronize(name)))
        t_col2im = best_ms(lambda: (k.col2im(cols, N, C, H, W, *geometry), synchronize(name)))
        t_unfold = best_ms(lambda: (k.unfold(xd, *geometry), synchronize(name)))
        t_fold = best_ms(lambda: (k.fold(unfolded, N, C, H, W, *geometry), synchronize(name)))
        base = base or t_unfold + t_fold
        print(f"{str(shape):20s} {name:10s} {t_im2col:10.2f} {t_col2im:10.2f} {t_unfold:10.2f} {t_fold:10.2f}  "
              f"{base / (t_unfold + t_fold):11.1f}x")

# %% [markdown]
# ## 3. conv2d forward + backward, and the GEMM alone
#
# One training step of a conv layer runs three matrix multiplies on the unfolded columns
# (M = N*OH*OW output pixels, K = C*KH*KW, O = C_out; cols: (K, M), the columns of all
# images side by side; GY: dL/dy reordered to (O, M)):
#
#     forward          Y         = W @ cols        (O, K) @ (K, M)
#     weight gradient  dL/dW.T   = cols @ GY.T     (K, M) @ (M, O)
#     input gradient   dL/dcols  = W.T @ GY        (K, O) @ (O, M)    then fold
#
# each 2*M*K*O floating-point operations. The "GEMM only" row times just these three
# products with NumPy on the same shapes: no implementation of unfold + GEMM can beat it.
# The GEMM share (GEMM time / conv time) says how much of minicnn's time is that
# unavoidable multiply; the rest is copying (unfold, fold, layout changes) and Python.
# This section forces `MINICNN_CONV=im2col`, conv2d's unfold + GEMM path, on every layer;
# section 5 races it against Winograd.

# %%
def layer_arrays(shape: tuple[int, int, int, int], c_out: int) -> tuple[np.ndarray, ...]:
    """Random x (N, C, H, W), He-initialised w (C_out, C, K, K), zero b, and a gradient gy for y."""
    N, C, H, W = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    w = (rng.standard_normal((c_out, C, K, K)) * np.sqrt(2 / (C * K * K))).astype(np.float32)
    b = np.zeros(c_out, dtype=np.float32)
    gy = rng.standard_normal((N, c_out, H, W), dtype=np.float32)
    return x, w, b, gy


def conv_step(x: np.ndarray, w: np.ndarray, b: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, ...]:
    """minicnn conv2d forward + backward; returns y and the three gradients."""
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, stride=S, padding=P)
    y.backward(Tensor(gy))
    return y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def torch_step(x: np.ndarray, w: np.ndarray, b: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, ...]:
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = torch.nn.functional.conv2d(xt, wt, bt, stride=S, padding=P)
    y.backward(torch.from_numpy(gy))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


previous_conv = os.environ.get(CONV_ENV_VAR)           # restored at the end of this section
use_conv("im2col")
results = {}                                            # (shape, row name) -> ms
print(f"{'shape':20s} {'C_out':>5s} {'implementation':16s} {'fwd+bwd ms':>10s} {'vs reference':>12s} "
      f"{'GEMM share':>10s}")
for shape, c_out in SHAPES:
    N, C, H, W = shape
    x, w, b, gy = layer_arrays(shape, c_out)

    M, Kdim = N * H * W, C * K * K
    cols = np.empty((Kdim, N, H * W), dtype=np.float32)                 # conv2d's layout: (K, N, OH*OW)
    kernels.load_kernels("numpy").unfold(x, *im2col_args(shape), out=cols.transpose(1, 0, 2))
    cols = cols.reshape(Kdim, M)                                         # (K, M)
    w_mat = w.reshape(c_out, Kdim)                                       # (O, K)
    gy_mat = np.ascontiguousarray(gy.reshape(N, c_out, H * W).transpose(1, 0, 2)).reshape(c_out, M)  # (O, M)
    t_gemm = best_ms(lambda: (w_mat @ cols, cols @ gy_mat.T, w_mat.T @ gy_mat))
    rows = {}
    for name in IMPLS:
        use_kernels(name)
        rows[name] = best_ms(lambda: conv_step(x, w, b, gy))
        results[shape, name] = rows[name]
        outputs = conv_step(x, w, b, gy)
        if name == IMPLS[0]:
            expected = outputs
        error = max(np.abs(o - e).max() / np.abs(e).max() for o, e in zip(outputs, expected))
        results[shape, name, "error"] = error
    if torch is not None:
        rows["torch"] = best_ms(lambda: torch_step(x, w, b, gy))
        results[shape, "torch"] = rows["torch"]
        results[shape, "torch", "error"] = max(np.abs(o - e).max() / np.abs(e).max()
                                               for o, e in zip(torch_step(x, w, b, gy), expected))
    rows["GEMM only"] = t_gemm
    results[shape, "GEMM only"] = t_gemm
    for name, ms in rows.items():
        share = f"{100 * t_gemm / ms:9.0f}%" if name not in ("GEMM only", "torch") else ""
        print(f"{str(shape):20s} {c_out:5d} {name:16s} {ms:10.2f} {rows['reference'] / ms:11.1f}x {share:>10s}")
    gflops = 3 * 2 * M * Kdim * c_out / 1e9
    print(f"{'':27s}3 GEMMs of 2*{M}*{Kdim}*{c_out} = {gflops:.3f} GFLOP: "
          f"{gflops / (t_gemm / 1000):.1f} GFLOP/s in the GEMM alone")
use_kernels("")                                         # back to the automatic choice
use_conv(previous_conv)

worst = max(v for key, v in results.items() if len(key) == 3 and key[1] != "torch")
print(f"all minicnn implementations agree: max relative difference {worst:.1e}")
if torch is not None:
    worst_torch = max(v for key, v in results.items() if len(key) == 3 and key[1] == "torch")
    print(f"PyTorch agrees with minicnn: max relative difference {worst_torch:.1e}")

# %% [markdown]
# How to read the table:
#
# * **The first layer (C = 1) is not a GEMM problem.** K = 1*3*3 = 9, so the matrices are
#   long and thin and the multiply does only 2*9 flops per value it reads: memory traffic
#   (unfold, reordering y and dL/dy between (N, C_out, OH*OW) and (C_out, M), fold) is
#   most of the time, and the GEMM share is small.
# * **Deeper layers are.** With C = 16 or 64, K = 144 or 576 and every value read takes part
#   in hundreds of multiply-adds: the GEMM share grows with depth, and a faster unfold can
#   only shave off the remainder.
# * **Which kernels win depends on the shape and the machine.** The reference is not slow:
#   it makes one big vectorised NumPy copy per kernel tap (9 for a 3x3 filter), which is
#   already limited by memory bandwidth. Numba's compiled loops gain most where there is a
#   lot to copy (many channels, large images) and when they get more than one thread
#   (they run in parallel over output rows).
# * **PyTorch** does the same arithmetic in compiled code end to end (oneDNN's convolution
#   kernels, no Python between the steps); the gap to minicnn is the copying and the Python
#   and autograd overhead around it, which matter most on small layers.
#
# ## 4. Where the time of one conv step goes
#
# The phases of `Conv2d.forward` and `Conv2d.backward` (`minicnn/nn/functional/conv.py`)
# timed one at a time, with the automatically chosen kernels, on the second shape.

# %%
(N, C, H, W), c_out = SHAPES[1]
x = rng.standard_normal((N, C, H, W), dtype=np.float32)
w_mat = rng.standard_normal((c_out, C * K * K), dtype=np.float32)                 # (C_out, C*K*K)
gy = rng.standard_normal((N, c_out, H, W), dtype=np.float32)
geometry = im2col_args((N, C, H, W))
k = kernels.get_kernels(x)
buffer = np.empty((C * K * K, N, H * W), dtype=np.float32)                        # (C*K*K, N, OH*OW)
cols_images = buffer.transpose(1, 0, 2)       # (N, C*K*K, OH*OW) view: unfold writes image n's columns here
k.unfold(x, *geometry, out=cols_images)
cols = buffer.reshape(C * K * K, -1)                                              # (C*K*K, M)
y_mat = w_mat @ cols                                                              # (C_out, M)
gy_mat = np.ascontiguousarray(gy.reshape(N, c_out, -1).transpose(1, 0, 2)).reshape(c_out, -1)  # (C_out, M)
dcols = w_mat.T @ gy_mat                                                          # (C*K*K, M)
dcols_images = dcols.reshape(-1, N, H * W).transpose(1, 0, 2)                     # (N, C*K*K, OH*OW)
phases = {
    "unfold": lambda: k.unfold(x, *geometry, out=cols_images),
    "GEMM forward": lambda: w_mat @ cols,
    "reorder y to (N, C_out, P)": lambda: np.ascontiguousarray(y_mat.reshape(c_out, N, -1).transpose(1, 0, 2)),
    "reorder gy to (C_out, M)": lambda: np.ascontiguousarray(gy.reshape(N, c_out, -1).transpose(1, 0, 2)),
    "GEMM weight gradient": lambda: cols @ gy_mat.T,
    "GEMM input gradient": lambda: w_mat.T @ gy_mat,
    "fold": lambda: k.fold(dcols_images, N, C, H, W, *geometry),
}
times = {name: best_ms(fn) for name, fn in phases.items()}
total = sum(times.values())
print(f"conv step on {(N, C, H, W)} -> {c_out} channels, kernels {k.name!r}: phases add up to {total:.2f} ms")
for name, ms in times.items():
    print(f"  {name:26s} {ms:7.3f} ms  {100 * ms / total:5.1f}%  {'#' * round(40 * ms / total)}")
gemm_share = sum(ms for name, ms in times.items() if name.startswith("GEMM")) / total
print(f"GEMMs: {100 * gemm_share:.0f}% of the phases; copying: {100 * (1 - gemm_share):.0f}%")
whole = results[SHAPES[1][0], k.name]
print(f"the whole conv2d step took {whole:.2f} ms; the other {max(whole - total, 0):.2f} ms are Python, autograd "
      f"bookkeeping, the bias, and fresh memory")

# %% [markdown]
# "Fresh memory": every step allocates new arrays for y and the gradients (and for cols,
# when it is small enough to keep for backward; larger ones go to a reused scratch buffer),
# and the operating system pays for the first touch of every new 4 KiB page. (`minicnn bench`
# measures with allocator settings that reuse memory, and prints how much that matters.)
#
# The GEMM time itself is spent inside the BLAS library NumPy links to (printed in section 1,
# usually OpenBLAS): cache-blocked, vectorised and optionally multi-threaded code. Compare the
# GFLOP/s printed in section 3 with what one core can do at most: with AVX2 and FMA it
# finishes 2 x 8 single-precision multiply-adds per cycle, 32 flops, about 100 GFLOP/s at
# 3 GHz; how much of it a GEMM reaches depends on the matrix shapes and the memory. No
# unfold + GEMM convolution can beat the GEMM; the ways to make a conv layer faster are less
# copying around it (better unfold kernels, fewer layout changes), fewer multiplications (a
# different algorithm: next section), or a GPU.
#
# ## 5. Winograd: fewer multiplications
#
# unfold + GEMM does every multiply-add of the lecture's formula: 9 per output pixel and
# (input, output) channel pair for a 3x3 filter. Winograd's F(2x2, 3x3) (Lavin & Gray, 2015;
# the math in `kernels/winograd.py`, the layer in `minicnn/nn/functional/conv_winograd.py`)
# gets the same outputs with 4:
#
#     cut the output into 2x2 tiles; tile t needs a 4x4 patch d of the (padded) input
#     V = B^T d B    (16, C, T)        every patch transformed: 16 numbers per tile and channel
#     U = G g G^T    (16, C_out, C)    every 3x3 filter g transformed to 16 numbers
#     M = U @ V      (16, C_out, T)    16 GEMMs, one per position of the 4x4 tile, summing over C
#     y = A^T M A    2x2 outputs per tile
#
# 16 multiply-adds per tile (4 output pixels) and channel pair instead of 4*9 = 36: 2.25x
# fewer. B, G and A hold only 0, +-1 and +-1/2, so the transforms are a few additions and
# mostly move memory (V and M are 4x the size of x and y), and float32 loses almost nothing.
# Backward is the same chain read backwards (each transform's gradient is its transpose).
# First the same numbers, with conv2d forced to each algorithm by `MINICNN_CONV`:

# %%
previous_conv = os.environ.get(CONV_ENV_VAR)           # restored at the end of this cell
C_small = 32
x_small = rng.standard_normal((2, C_small, 8, 8), dtype=np.float32)
w_small = (rng.standard_normal((C_small, C_small, K, K)) * np.sqrt(2 / (C_small * K * K))).astype(np.float32)
b_small = rng.standard_normal(C_small, dtype=np.float32)
gy_small = rng.standard_normal((2, C_small, 8, 8), dtype=np.float32)
by_algorithm = {}
for algorithm in ("im2col", "winograd"):
    use_conv(algorithm)
    by_algorithm[algorithm] = conv_step(x_small, w_small, b_small, gy_small)   # y, dL/dx, dL/dW, dL/db
differences = [np.abs(a - b).max() / np.abs(b).max()                 # relative to each output's scale
               for a, b in zip(by_algorithm["winograd"], by_algorithm["im2col"])]
print(f"conv2d {x_small.shape} -> {C_small} channels, 3x3, padding 1, {by_algorithm['winograd'][0].dtype}: "
      f"max |winograd - im2col| / max |im2col|: "
      + ", ".join(f"{name} {d:.1e}" for name, d in zip(("y", "dL/dx", "dL/dW", "dL/db"), differences)))
use_conv(previous_conv)

# %% [markdown]
# Now the race, forward + backward, on layers with few and many channels and tiles.
# `choose_algorithm` (in `conv.py`) is what conv2d asks when `MINICNN_CONV` is unset or
# "auto"; "tiles" counts the 2x2 output tiles of the whole batch, N*ceil(OH/2)*ceil(OW/2).

# %%
previous_conv = os.environ.get(CONV_ENV_VAR)           # restored at the end of this cell
# the demo CNN's two layers, a deeper one, and a 4x4 feature map deep in a network (one image)
WINOGRAD_LAYERS = [((64, 1, 28, 28), 16), ((64, 16, 14, 14), 32), ((16, 64, 32, 32), 64), ((1, 256, 4, 4), 256)]
print(f"{'layer':28s} {'tiles':>6s} {'auto picks':>10s} {'im2col ms':>10s} {'winograd ms':>12s} "
      f"{'im2col / winograd':>18s}")
for shape, c_out in WINOGRAD_LAYERS:
    N, C, H, W = shape
    x, w, b, gy = layer_arrays(shape, c_out)
    geometry = shapes.conv2d_geometry(x.shape, w.shape, b.shape, S, P, 1, 1)
    use_conv("auto")
    auto = choose_algorithm(geometry, x)
    ms = {}
    for algorithm in ("im2col", "winograd"):
        use_conv(algorithm)
        ms[algorithm] = best_ms(lambda: conv_step(x, w, b, gy))
    tiles = N * ((geometry.OH + 1) // 2) * ((geometry.OW + 1) // 2)
    print(f"{str(shape) + f' -> {c_out}':28s} {tiles:6d} {auto:>10s} {ms['im2col']:10.2f} {ms['winograd']:12.2f} "
          f"{ms['im2col'] / ms['winograd']:17.2f}x")
use_conv(previous_conv)

# %% [markdown]
# How to read it:
#
# * **One input channel: im2col.** Each of Winograd's 16 GEMMs sums over C = 1, so there is
#   almost no multiplying to save, and the transforms (V and M four times the size of x and
#   y) are all the work.
# * **Many channels: Winograd.** With 64 -> 64 channels the GEMMs are most of the time and
#   2.25x fewer multiply-adds show, though by less than 2.25x: the transforms remain, and the
#   16 smaller GEMMs (sums over C instead of 9*C, a quarter of the columns) run a little
#   slower per multiply-add than unfold's one large GEMM.
# * **Few tiles (small images, a small batch): im2col.** Each GEMM has only T columns (4 in
#   the last row), too thin for BLAS to run at full speed, and transforming the weights
#   (16 numbers for each of the C_out*C filters, forward and backward) is more work than
#   the GEMMs themselves.
# * **`choose_algorithm`** picks Winograd (on the CPU) only when both channel counts reach
#   32 and the batch has at least 128 tiles: the thresholds in `conv.py`, measured with two
#   threads on VGG16's layers and the benchmark's. In between, as on the demo's second
#   layer (16 -> 32 channels), the winner depends on the machine and the thread count:
#   compare the two columns above, and set `MINICNN_CONV=winograd` to force Winograd
#   wherever it applies (3x3, stride 1, no dilation, one group).
#
# ## 6. On a GPU
#
# With CuPy and a CUDA GPU, `Tensor.to("cuda")` moves the data and every kernel above runs
# as Numba-CUDA kernels while the GEMM runs in cuBLAS. The `cuda` row then appears in
# section 2. This machine has none, and section 1 printed why.

# %%
if GPU:
    use_kernels("cuda")
    shape, c_out = SHAPES[-1]
    x = Tensor(to_device(rng.standard_normal(shape, dtype=np.float32), "cuda"), requires_grad=True)
    w = Tensor(to_device(rng.standard_normal((c_out, shape[1], K, K), dtype=np.float32), "cuda"), requires_grad=True)

    def gpu_step() -> None:
        F.conv2d(x, w, padding=P).sum().backward()
        synchronize("cuda")

    ms = best_ms(gpu_step)
    print(f"GPU conv2d forward+backward on {shape}: {ms:.2f} ms, "
          f"{results[shape, 'reference'] / ms:.1f}x the reference on the CPU")
    use_kernels("")
else:
    print("skipped: no CUDA GPU with CuPy here")

# %% [markdown]
# ## 7. The picture

# %%
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed (pip install 'minicnn[viz]'): no picture")

if plt is not None:
    names = IMPLS + (["torch"] if torch is not None else []) + ["GEMM only"]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [results[shape, name] for shape, _ in SHAPES]
        ax.bar(np.arange(len(SHAPES)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(SHAPES)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{shape} -> {c}" for shape, c in SHAPES], fontsize=8)
    ax.set_ylabel("conv2d fwd+bwd (ms)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("conv2d forward + backward, 3x3, stride 1, padding 1")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "speed.png", dpi=90)
    plt.close(fig)
    print(f"saved {OUT / 'speed.png'}")
