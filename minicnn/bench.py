"""``minicnn bench``: minicnn's speed, measured side by side with PyTorch and NumPy's GEMM.

Every number comes from this machine in this run, with the same thread count for all:

- conv2d forward and forward+backward on the lecture's shapes,
- 2x2 max pooling forward+backward,
- one training step of the demo CNN (batch 64, 1x28x28),
- VGG16 forward at 224x224,

for minicnn's reference path (``MINICNN_KERNELS=reference``, the readable NumPy code),
its fast path (the default dispatch: Numba when installed), PyTorch on the CPU (when
installed) and NumPy's own GEMM on the same matrix shapes that conv2d multiplies.  The
GEMM time is a floor: im2col + GEMM cannot beat the GEMM alone, so ``gemm share`` =
GEMM time / minicnn time says how much of minicnn's time is the unavoidable multiply.

Memory is measured in fresh subprocesses as growth of the peak resident set size.

Allocation settings: large fresh allocations page-fault at about 1.5 us per 4 KiB page
on the machines this was written on, which penalises any code that allocates a new
im2col buffer per call (and PyTorch with the default malloc).  The bench sets the same
glibc malloc thresholds for every contender (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``) so freed memory is reused instead of returned to the OS,
and prints them.  Run ``minicnn bench --no-malloc-tuning`` to see the defaults.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

__all__ = ["main", "CONV_SHAPES"]

# (N, C, H, W) -> C_out, kernel, stride, padding: the shapes named in the issue
CONV_SHAPES = [
    ((64, 1, 28, 28), 32, 3, 1, 1),
    ((64, 32, 32, 32), 64, 3, 1, 1),
    ((8, 128, 56, 56), 256, 3, 1, 1),
    ((4, 3, 224, 224), 64, 3, 1, 1),
    ((32, 64, 32, 32), 128, 3, 2, 1),
]
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


class _Kernels:
    """Temporarily set MINICNN_KERNELS (read by the dispatcher at call time)."""

    def __init__(self, choice: str | None) -> None:
        self.choice = choice

    def __enter__(self) -> None:
        self.old = os.environ.get("MINICNN_KERNELS")
        if self.choice is None:
            os.environ.pop("MINICNN_KERNELS", None)
        else:
            os.environ["MINICNN_KERNELS"] = self.choice

    def __exit__(self, *exc: object) -> None:
        if self.old is None:
            os.environ.pop("MINICNN_KERNELS", None)
        else:
            os.environ["MINICNN_KERNELS"] = self.old


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return torch


# ---------------------------------------------------------------- conv2d
def _conv_out(h: int, k: int, s: int, p: int) -> int:
    return (h + 2 * p - k) // s + 1


def bench_conv(shape, cout, k, s, p, repeat: int, reference: bool) -> dict[str, Any]:
    import minicnn
    from minicnn.nn import functional as F

    n, c, h, w = shape
    oh, ow = _conv_out(h, k, s, p), _conv_out(w, k, s, p)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape, dtype=np.float32)
    w_np = rng.standard_normal((cout, c, k, k), dtype=np.float32) * 0.05
    b_np = np.zeros(cout, np.float32)
    flops_fwd = 2.0 * n * oh * ow * cout * c * k * k
    row: dict[str, Any] = {"name": f"conv2d {shape}->{cout} {k}x{k} s{s} p{p}", "gflop_fwd": flops_fwd / 1e9}

    def minicnn_fwd() -> None:
        with minicnn.no_grad():
            F.conv2d(minicnn.Tensor(x_np), minicnn.Tensor(w_np), minicnn.Tensor(b_np), stride=s, padding=p)

    def minicnn_fwd_bwd() -> None:
        x = minicnn.Tensor(x_np, requires_grad=True)
        wt = minicnn.Tensor(w_np, requires_grad=True)
        bt = minicnn.Tensor(b_np, requires_grad=True)
        y = F.conv2d(x, wt, bt, stride=s, padding=p)
        y.backward(np.ones(y.shape, np.float32))

    for label, choice in (("fast", None), ("reference", "reference")):
        if label == "reference" and not reference:
            continue
        with _Kernels(choice):
            row[f"{label}_fwd_ms"] = _median_ms(minicnn_fwd, repeat)
            row[f"{label}_fwd_bwd_ms"] = _median_ms(minicnn_fwd_bwd, repeat)

    torch = _torch()
    if torch is not None:
        xt = torch.from_numpy(x_np)
        wt_ = torch.from_numpy(w_np)
        bt_ = torch.from_numpy(b_np)

        def torch_fwd() -> None:
            with torch.no_grad():
                torch.nn.functional.conv2d(xt, wt_, bt_, stride=s, padding=p)

        def torch_fwd_bwd() -> None:
            x = xt.clone().requires_grad_(True)
            wv = wt_.clone().requires_grad_(True)
            bv = bt_.clone().requires_grad_(True)
            torch.nn.functional.conv2d(x, wv, bv, stride=s, padding=p).sum().backward()

        row["torch_fwd_ms"] = _median_ms(torch_fwd, repeat)
        row["torch_fwd_bwd_ms"] = _median_ms(torch_fwd_bwd, repeat)

    # NumPy's GEMM on the same matrices: forward cols @ W^T, backward dW and dcols
    kk = c * k * k
    cols = rng.standard_normal((n * oh * ow, kk), dtype=np.float32)
    wm = w_np.reshape(cout, kk)
    gy = rng.standard_normal((n * oh * ow, cout), dtype=np.float32)
    out_fwd = np.empty((n * oh * ow, cout), np.float32)
    out_dw = np.empty((cout, kk), np.float32)
    out_dcols = np.empty((n * oh * ow, kk), np.float32)
    row["gemm_fwd_ms"] = _median_ms(lambda: np.matmul(cols, wm.T, out=out_fwd), repeat)
    row["gemm_fwd_bwd_ms"] = row["gemm_fwd_ms"] + _median_ms(
        lambda: (np.matmul(gy.T, cols, out=out_dw), np.matmul(gy, wm, out=out_dcols)), repeat)
    return row


# ---------------------------------------------------------------- pooling
def bench_maxpool(shape, repeat: int, reference: bool) -> dict[str, Any]:
    import minicnn
    from minicnn.nn import functional as F

    x_np = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    row: dict[str, Any] = {"name": f"max_pool2d 2x2 {shape}"}

    def run() -> None:
        x = minicnn.Tensor(x_np, requires_grad=True)
        y = F.max_pool2d(x, 2)
        y.backward(np.ones(y.shape, np.float32))

    for label, choice in (("fast", None), ("reference", "reference")):
        if label == "reference" and not reference:
            continue
        with _Kernels(choice):
            row[f"{label}_fwd_bwd_ms"] = _median_ms(run, repeat)
    torch = _torch()
    if torch is not None:
        def run_torch() -> None:
            x = torch.from_numpy(x_np).requires_grad_(True)
            torch.nn.functional.max_pool2d(x, 2).sum().backward()

        row["torch_fwd_bwd_ms"] = _median_ms(run_torch, repeat)
    return row


# ---------------------------------------------------------------- whole networks
def bench_demo_step(repeat: int, reference: bool) -> dict[str, Any]:
    import minicnn
    from minicnn import nn, optim
    from minicnn.demo import demo_cnn

    rng = np.random.default_rng(0)
    x_np = rng.random((64, 1, 28, 28), dtype=np.float32)
    y_np = rng.integers(0, 10, 64)
    model = demo_cnn()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    row: dict[str, Any] = {"name": "demo CNN training step (batch 64, 1x28x28)"}

    def step() -> None:
        loss = loss_fn(model(minicnn.Tensor(x_np)), minicnn.Tensor(y_np))
        opt.zero_grad()
        loss.backward()
        opt.step()

    for label, choice in (("fast", None), ("reference", "reference")):
        if label == "reference" and not reference:
            continue
        with _Kernels(choice):
            row[f"{label}_step_ms"] = _median_ms(step, repeat, warmup=2)
    torch = _torch()
    if torch is not None:
        tn = torch.nn
        tmodel = tn.Sequential(tn.Conv2d(1, 16, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                               tn.Conv2d(16, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                               tn.Flatten(), tn.Linear(32 * 7 * 7, 10))
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        xt, yt = torch.from_numpy(x_np), torch.from_numpy(y_np)

        def tstep() -> None:
            loss = tn.functional.cross_entropy(tmodel(xt), yt)
            topt.zero_grad()
            loss.backward()
            topt.step()

        row["torch_step_ms"] = _median_ms(tstep, repeat, warmup=2)
    return row


def bench_vgg16(repeat: int, batch: int = 1) -> dict[str, Any]:
    import minicnn
    from minicnn.models import vgg16

    x_np = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    model = vgg16().eval()
    row: dict[str, Any] = {"name": f"VGG16 forward, batch {batch}, 3x224x224"}

    def fwd() -> None:
        with minicnn.no_grad():
            model(minicnn.Tensor(x_np))

    row["fast_fwd_ms"] = _median_ms(fwd, repeat)
    torch = _torch()
    if torch is not None:
        tmodel = _torch_vgg16(torch).eval()
        xt = torch.from_numpy(x_np)

        def tfwd() -> None:
            with torch.no_grad():
                tmodel(xt)

        row["torch_fwd_ms"] = _median_ms(tfwd, repeat)
    return row


def _torch_vgg16(torch: Any) -> Any:
    tn = torch.nn
    layers: list[Any] = []
    c = 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(tn.MaxPool2d(2, 2))
        else:
            layers += [tn.Conv2d(c, v, 3, padding=1), tn.ReLU()]
            c = v
    return tn.Sequential(*layers, tn.AdaptiveAvgPool2d(7), tn.Flatten(),
                         tn.Linear(25088, 4096), tn.ReLU(), tn.Dropout(), tn.Linear(4096, 4096),
                         tn.ReLU(), tn.Dropout(), tn.Linear(4096, 1000))


# ---------------------------------------------------------------- memory (subprocesses)
_MEMORY_SCRIPT = r"""
import resource, sys, numpy as np
which = sys.argv[1]
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
x_np = np.random.default_rng(0).standard_normal((8, 128, 56, 56), dtype=np.float32)
w_np = np.random.default_rng(1).standard_normal((256, 128, 3, 3), dtype=np.float32) * 0.05
if which == "torch":
    import torch; torch.set_num_threads(2)
    x = torch.from_numpy(x_np).requires_grad_(True); w = torch.from_numpy(w_np).requires_grad_(True)
    torch.nn.functional.conv2d(x[:1], w, padding=1).sum().backward()   # warm up the library
    x.grad = None; w.grad = None
    base = rss_mb()
    torch.nn.functional.conv2d(x, w, padding=1).sum().backward()
elif which == "minicnn":
    import minicnn
    from minicnn.nn import functional as F
    x = minicnn.Tensor(x_np, requires_grad=True); w = minicnn.Tensor(w_np, requires_grad=True)
    F.conv2d(minicnn.Tensor(x_np[:1]), w, padding=1).sum().backward()
    w.grad = None
    base = rss_mb()
    y = F.conv2d(x, w, padding=1); y.backward(np.ones(y.shape, np.float32))
elif which == "vgg16-finetune":
    import minicnn
    from minicnn import nn, optim
    from minicnn.models import vgg16
    model = vgg16(num_classes=10)
    opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    base = 0.0
    xb = minicnn.Tensor(np.random.default_rng(0).standard_normal((8, 3, 224, 224), dtype=np.float32))
    yb = minicnn.Tensor(np.arange(8) % 10)
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
print(f"{base:.1f} {rss_mb():.1f}")
"""


def _peak_rss(which: str, env: dict[str, str]) -> tuple[float, float] | None:
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, which], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"  (memory run {which} failed: {out.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    base, peak = (float(v) for v in out.stdout.split()[-2:])
    return base, peak


# ---------------------------------------------------------------- driver
def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:8.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:5.2f}x"


def run(threads: int, repeat: int, reference: bool, quick: bool, memory: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"threads": threads, "env": {k: os.environ.get(k) for k in THREAD_VARS + tuple(MALLOC_ENV)}}
    try:
        import numba

        numba.set_num_threads(threads)
    except ImportError:
        pass
    from minicnn import kernels

    results["kernels"] = getattr(kernels, "available_kernels", lambda: {})()
    shapes = CONV_SHAPES[:2] if quick else CONV_SHAPES
    print(f"threads: {threads} for every contender; repeat: median of {repeat}")
    print(f"malloc: {', '.join(f'{k}={os.environ.get(k)}' for k in MALLOC_ENV)}")
    print("\nconv2d                                          fast ms   ref ms  torch ms  gemm ms   fast/torch  gemm share  GFLOP/s")
    conv_rows = []
    for shape, cout, k, s, p in shapes:
        row = bench_conv(shape, cout, k, s, p, repeat, reference)
        conv_rows.append(row)
        for phase, mult in (("fwd", 1), ("fwd_bwd", 3)):
            fast = row.get(f"fast_{phase}_ms")
            gflops = mult * row["gflop_fwd"] / (fast / 1000)
            print(f"  {row['name'][:38]:38s} {phase:7s} {_fmt(fast)} {_fmt(row.get(f'reference_{phase}_ms'))} "
                  f"{_fmt(row.get(f'torch_{phase}_ms'))} {_fmt(row.get(f'gemm_{phase}_ms'))}   "
                  f"{_ratio(fast, row.get(f'torch_{phase}_ms')):>9s}   {_ratio(row.get(f'gemm_{phase}_ms'), fast):>9s} "
                  f"{gflops:8.1f}")
    results["conv2d"] = conv_rows

    print("\nnetworks and pooling                             fast ms   ref ms  torch ms   fast/torch")
    others = [bench_maxpool((64, 32, 28, 28), repeat, reference), bench_maxpool((8, 128, 56, 56), repeat, reference),
              bench_demo_step(repeat, reference)]
    if not quick:
        others.append(bench_vgg16(max(3, repeat // 2)))
    for row in others:
        key = next(k for k in row if k.startswith("fast_"))
        phase = key[len("fast_"):]
        print(f"  {row['name'][:46]:46s} {_fmt(row.get(key))} {_fmt(row.get('reference_' + phase))} "
              f"{_fmt(row.get('torch_' + phase))}   {_ratio(row.get(key), row.get('torch_' + phase)):>9s}")
    results["others"] = others

    if memory:
        print("\nmemory (peak RSS growth, fresh processes)")
        env = dict(os.environ)
        mem: dict[str, Any] = {}
        for which in ("minicnn", "torch"):
            r = _peak_rss(which, env)
            if r:
                mem[which] = {"base_mb": r[0], "peak_mb": r[1], "growth_mb": r[1] - r[0]}
                print(f"  conv (8,128,56,56)->256 fwd+bwd, {which:8s}: +{r[1] - r[0]:7.1f} MB (peak {r[1]:.0f} MB)")
        if "minicnn" in mem and "torch" in mem:
            print(f"  growth ratio minicnn/torch: {mem['minicnn']['growth_mb'] / mem['torch']['growth_mb']:.2f}x")
        if not quick:
            r = _peak_rss("vgg16-finetune", env)
            if r:
                mem["vgg16_finetune_batch8_peak_mb"] = r[1]
                print(f"  VGG16 fine-tuning at 224x224, batch 8: peak RSS {r[1] / 1024:.2f} GB")
        results["memory"] = mem
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minicnn bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=2, help="threads for every contender (default 2)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (median reported)")
    parser.add_argument("--quick", action="store_true", help="two conv shapes, no VGG16 (a smoke run)")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference path")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    parser.add_argument("--no-malloc-tuning", action="store_true", help="keep glibc's default malloc thresholds")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")


def run_from_args(args: argparse.Namespace) -> int:
    wanted = {v: str(args.threads) for v in THREAD_VARS}
    if not args.no_malloc_tuning:
        wanted.update(MALLOC_ENV)
    if any(os.environ.get(k) != v for k, v in wanted.items()):
        # Thread counts and malloc settings take effect only at process start: re-run ourselves.
        env = {**os.environ, **wanted}
        cmd = [sys.executable, "-m", "minicnn.bench"] + sys.argv[2 if sys.argv[1:2] == ["bench"] else 1:]
        return subprocess.call(cmd, env=env)
    results = run(args.threads, args.repeat, not args.no_reference, args.quick, not args.no_memory)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
