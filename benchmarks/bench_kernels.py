"""Speed sanity check for the CPU kernels alone (a script, not a test; not installed).

    python benchmarks/bench_kernels.py [--threads 2]

Times im2col/col2im and unfold/fold (3x3, padding 1) on (64, 32, 32, 32) and
(8, 128, 56, 56) and 2x2 max pooling on (64, 32, 28, 28) for every CPU implementation.
If PyTorch is installed it is timed too, as a yardstick only (minicnn never imports it).
Each number is the best of 5 repeats of the mean over a few calls, in ms.
Whole layers and networks against PyTorch: ``minicnn bench``.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from minicnn.kernels import load_kernels


def best_ms(fn: Callable[[], object], calls: int = 5, repeats: int = 5) -> float:
    """Best (over `repeats`) mean time per call of fn(), in milliseconds, after a warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e3


def bench_im2col(names: list[str], shape: tuple[int, int, int, int]) -> None:
    N, C, H, W = shape
    g = (3, 3, 1, 1, 1, 1, 1, 1, H, W)                 # 3x3, stride 1, padding 1: OH=H, OW=W
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = np.empty((N * H * W, C * 9), dtype=np.float32)   # reused, as a conv layer would
    print(f"im2col / col2im 3x3 p1 on {shape} float32, cols {out.shape} "
          f"({out.nbytes / 2**20:.0f} MiB)")
    columns = np.empty((N, C * 9, H * W), dtype=np.float32)
    for name in names:
        k = load_kernels(name)
        t_im2col = best_ms(lambda: k.im2col(x, *g, out=out))
        t_col2im = best_ms(lambda: k.col2im(out, N, C, H, W, *g))
        t_unfold = best_ms(lambda: k.unfold(x, *g, out=columns))
        t_fold = best_ms(lambda: k.fold(columns, N, C, H, W, *g))
        print(f"  {name:10s} im2col {t_im2col:8.2f} ms   col2im {t_col2im:8.2f} ms   "
              f"unfold {t_unfold:8.2f} ms   fold {t_fold:8.2f} ms")


def bench_maxpool(names: list[str], shape: tuple[int, int, int, int], threads: int) -> None:
    N, C, H, W = shape
    g = (2, 2, 2, 2, 0, 0, 1, 1, H // 2, W // 2)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    gy = np.random.default_rng(1).standard_normal((N, C, H // 2, W // 2)).astype(np.float32)
    print(f"max pooling 2x2 stride 2 on {shape} float32")
    for name in names:
        k = load_kernels(name)
        _, indices = k.maxpool2d_forward(x, *g)
        t_fwd = best_ms(lambda: k.maxpool2d_forward(x, *g))
        t_bwd = best_ms(lambda: k.maxpool2d_backward(gy, indices, H, W))
        print(f"  {name:10s} forward {t_fwd:7.2f} ms   backward {t_bwd:7.2f} ms   "
              f"sum {t_fwd + t_bwd:7.2f} ms")
    try:
        import torch                                   # optional yardstick only
    except ImportError:
        return
    torch.set_num_threads(threads)
    xt, gyt = torch.from_numpy(x), torch.from_numpy(gy)
    _, it = torch.nn.functional.max_pool2d(xt, 2, 2, return_indices=True)
    t_fwd = best_ms(lambda: torch.nn.functional.max_pool2d(xt, 2, 2, return_indices=True))
    t_bwd = best_ms(lambda: torch.ops.aten.max_pool2d_with_indices_backward(
        gyt, xt, [2, 2], [2, 2], [0, 0], [1, 1], False, it))
    print(f"  {'torch':10s} forward {t_fwd:7.2f} ms   backward {t_bwd:7.2f} ms   "
          f"sum {t_fwd + t_bwd:7.2f} ms   (torch {torch.__version__}, {threads} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="numba and torch threads")
    args = parser.parse_args()
    names = ["reference", "numpy"]
    try:
        load_kernels("numba")                          # first: it sets how numba's threads wait
        import numba
        numba.set_num_threads(args.threads)
        names.append("numba")
    except ImportError:
        print("numba is not installed: timing the NumPy kernels only")
    for shape in [(64, 32, 32, 32), (8, 128, 56, 56)]:
        bench_im2col(names, shape)
    bench_maxpool(names, (64, 32, 28, 28), args.threads)


if __name__ == "__main__":
    main()
