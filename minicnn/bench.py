"""``minicnn bench``: minicnn's speed and memory, measured side by side with PyTorch and NumPy's GEMM.

Every number comes from this machine in this run, with the same thread count for all:

- conv2d forward and forward+backward on the lecture's shapes,
- 2x2 max pooling forward+backward,
- one training step of the demo CNN (batch 64, 1x28x28),
- VGG16 forward at 224x224,
- memory: peak growth of a conv2d forward+backward, and VGG16 fine-tuning (batch 8, 224x224),

for minicnn's fast path (the default dispatch: Numba when installed), its reference path
(``MINICNN_KERNELS=reference``, the readable NumPy kernels), PyTorch on the CPU (when
installed) and NumPy's own GEMM on the matrices conv2d multiplies.  The GEMM time is a
floor: unfold + GEMM cannot beat the GEMM alone, so ``gemm share`` = GEMM time / minicnn
time says how much of minicnn's time is the unavoidable multiply.

How it measures: minicnn and PyTorch run alternately, call after call, in one process,
and each side reports the median of ``--repeat`` calls.  Other programs on the machine
then slow both sides alike, so the ratios stay meaningful even when the absolute times
wander (check ``uptime``; rerun on an idle machine for absolute numbers).

Settings, the same for every contender and printed with the results (the bench re-runs
itself with them, because they take effect only when a process starts):

- threads: ``OMP_NUM_THREADS`` = ``OPENBLAS_NUM_THREADS`` = ``MKL_NUM_THREADS`` =
  ``NUMBA_NUM_THREADS`` = ``--threads`` (and ``torch.set_num_threads``);
- waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``): PyTorch's and Numba's OpenMP threads
  otherwise spin after each parallel loop and take the cores the other library (and
  OpenBLAS) needs next; in one process on 2 cores that made both sides 2-4x slower and
  erratic (minicnn's Numba kernels set this default themselves, see kernels/numba_threads.py);
- glibc malloc: large fresh allocations page-fault at about 1.5 us per 4 KiB page on the
  machines this was written on, which penalises any code that allocates a new buffer per
  call (PyTorch too).  ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` make freed
  memory be reused instead of returned to the OS (``minicnn.backend.reuse_freed_memory()``
  does the same from Python); ``--no-malloc-tuning`` keeps glibc's defaults.

``targets`` are the goals of the issue that asked for this benchmark; the table says for
each whether this run met it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

__all__ = ["main", "CONV_SHAPES", "TARGETS"]

# (N, C, H, W) -> C_out, kernel, stride, padding: the shapes named in the issue
CONV_SHAPES = [
    ((64, 1, 28, 28), 32, 3, 1, 1),
    ((64, 32, 32, 32), 64, 3, 1, 1),
    ((8, 128, 56, 56), 256, 3, 1, 1),
    ((4, 3, 224, 224), 64, 3, 1, 1),
    ((32, 64, 32, 32), 128, 3, 2, 1),
]
# the largest ratio minicnn / PyTorch the issue asks for
TARGETS = {
    "conv2d (64, 1, 28, 28)->32 3x3 s1 p1": 1.2,
    "conv2d (64, 32, 32, 32)->64 3x3 s1 p1": 1.5,
    "conv2d (8, 128, 56, 56)->256 3x3 s1 p1": 1.15,
    "conv2d (4, 3, 224, 224)->64 3x3 s1 p1": 1.2,
    "conv2d (32, 64, 32, 32)->128 3x3 s2 p1": 1.2,
    "max_pool2d": 1.0,
    "demo step": 1.3,
    "conv memory": 1.5,
    "vgg16 fine-tuning GB": 4.0,
}
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


# ------------------------------------------------------------------ timing
def interleaved_ms(fns: dict[str, Callable[[], Any]], repeat: int, warmup: int = 1) -> dict[str, float]:
    """Median milliseconds per call of each function, calling them in turn (a, b, a, b, ...)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


class _Kernels:
    """Temporarily set MINICNN_KERNELS (read by the dispatcher at every call)."""

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


def _reference_ms(fn: Callable[[], Any], repeat: int) -> float:
    with _Kernels("reference"):
        return interleaved_ms({"reference": fn}, max(3, repeat // 3))["reference"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return torch


# ------------------------------------------------------------------ conv2d
def _conv_out(h: int, k: int, s: int, p: int) -> int:
    return (h + 2 * p - k) // s + 1


def bench_conv(shape, cout: int, k: int, s: int, p: int, repeat: int, reference: bool) -> dict[str, Any]:
    import minicnn
    from minicnn.nn import functional as F

    n, c, h, w = shape
    oh, ow = _conv_out(h, k, s, p), _conv_out(w, k, s, p)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape, dtype=np.float32)
    w_np = rng.standard_normal((cout, c, k, k), dtype=np.float32) * 0.05
    b_np = np.zeros(cout, np.float32)
    gy_np = np.ones((n, cout, oh, ow), np.float32)
    name = f"conv2d {shape}->{cout} {k}x{k} s{s} p{p}"
    row: dict[str, Any] = {"name": name, "gflop_fwd": 2.0 * n * oh * ow * cout * c * k * k / 1e9,
                           "target": TARGETS.get(name)}

    def fwd() -> None:
        with minicnn.no_grad():
            F.conv2d(minicnn.Tensor(x_np), minicnn.Tensor(w_np), minicnn.Tensor(b_np), stride=s, padding=p)

    def fwd_bwd() -> None:
        x = minicnn.Tensor(x_np, requires_grad=True)
        y = F.conv2d(x, minicnn.Tensor(w_np, requires_grad=True), minicnn.Tensor(b_np, requires_grad=True),
                     stride=s, padding=p)
        y.backward(gy_np)

    fns = {"fast_fwd": fwd, "fast_fwd_bwd": fwd_bwd}
    torch = _torch()
    if torch is not None:
        xt, wt, bt, gyt = (torch.from_numpy(a) for a in (x_np, w_np, b_np, gy_np))

        def torch_fwd() -> None:
            with torch.no_grad():
                torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)

        def torch_fwd_bwd() -> None:
            x, wv, bv = (a.clone().requires_grad_(True) for a in (xt, wt, bt))
            torch.nn.functional.conv2d(x, wv, bv, stride=s, padding=p).backward(gyt)

        fns.update(torch_fwd=torch_fwd, torch_fwd_bwd=torch_fwd_bwd)
    with _Kernels(None):
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat).items()})
    if reference:
        row["reference_fwd_bwd_ms"] = _reference_ms(fwd_bwd, repeat)

    # NumPy's GEMM on the matrices conv2d multiplies (K = C*KH*KW, M = N*OH*OW):
    #   forward  W (C_out, K) @ cols (K, M);  backward  cols @ GY.T (K, C_out) and W.T @ GY (K, M)
    kk, m = c * k * k, n * oh * ow
    cols = rng.standard_normal((kk, m), dtype=np.float32)
    wm = w_np.reshape(cout, kk)
    gy = rng.standard_normal((cout, m), dtype=np.float32)
    out_y, out_dw, out_dcols = (np.empty(sh, np.float32) for sh in ((cout, m), (kk, cout), (kk, m)))
    gemm = interleaved_ms({
        "F": lambda: np.matmul(wm, cols, out=out_y),
        "D": lambda: np.matmul(cols, gy.T, out=out_dw),
        "X": lambda: np.matmul(wm.T, gy, out=out_dcols),
    }, repeat)
    row["gemm_fwd_ms"] = gemm["F"]
    row["gemm_fwd_bwd_ms"] = gemm["F"] + gemm["D"] + gemm["X"]
    return row


# ------------------------------------------------------------------ pooling and networks
def bench_maxpool(shape, repeat: int, reference: bool) -> dict[str, Any]:
    import minicnn
    from minicnn.nn import functional as F

    x_np = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    gy_np = np.ones((shape[0], shape[1], shape[2] // 2, shape[3] // 2), np.float32)
    row: dict[str, Any] = {"name": f"max_pool2d 2x2 {shape} fwd+bwd", "target": TARGETS["max_pool2d"]}

    def run() -> None:
        x = minicnn.Tensor(x_np, requires_grad=True)
        F.max_pool2d(x, 2).backward(gy_np)

    fns = {"fast": run}
    torch = _torch()
    if torch is not None:
        xt, gyt = torch.from_numpy(x_np), torch.from_numpy(gy_np)

        def run_torch() -> None:
            torch.nn.functional.max_pool2d(xt.clone().requires_grad_(True), 2).backward(gyt)

        fns["torch"] = run_torch
    with _Kernels(None):
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat).items()})
    if reference:
        row["reference_ms"] = _reference_ms(run, repeat)
    return row


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
    row: dict[str, Any] = {"name": "demo CNN training step (batch 64, 1x28x28)", "target": TARGETS["demo step"]}

    def step() -> None:
        loss = loss_fn(model(minicnn.Tensor(x_np)), minicnn.Tensor(y_np))
        opt.zero_grad()
        loss.backward()
        opt.step()

    fns = {"fast": step}
    torch = _torch()
    if torch is not None:
        tn = torch.nn
        tmodel = tn.Sequential(tn.Conv2d(1, 16, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                               tn.Conv2d(16, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                               tn.Flatten(), tn.Linear(32 * 7 * 7, 10))
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        xt, yt = torch.from_numpy(x_np), torch.from_numpy(y_np)

        def torch_step() -> None:
            loss = tn.functional.cross_entropy(tmodel(xt), yt)
            topt.zero_grad()
            loss.backward()
            topt.step()

        fns["torch"] = torch_step
    with _Kernels(None):
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat, warmup=3).items()})
    if reference:
        row["reference_ms"] = _reference_ms(step, repeat)
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

    fns = {"fast": fwd}
    torch = _torch()
    if torch is not None:
        tmodel = _torch_vgg16(torch).eval()
        xt = torch.from_numpy(x_np)

        def torch_fwd() -> None:
            with torch.no_grad():
                tmodel(xt)

        fns["torch"] = torch_fwd
    with _Kernels(None):
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat).items()})
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


# ------------------------------------------------------------------ memory (fresh processes)
# Peak resident memory: VmHWM from /proc/self/status, reset by writing 5 to
# /proc/self/clear_refs just before the measured work, so the growth counts only that
# work (ru_maxrss cannot be reset, and a child started by a large parent inherits its peak).
_MEMORY_SCRIPT = r"""
import sys, numpy as np
which = sys.argv[1]

def status_mb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key + ":"))

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

x_np = np.random.default_rng(0).standard_normal((8, 128, 56, 56), dtype=np.float32)
w_np = np.random.default_rng(1).standard_normal((256, 128, 3, 3), dtype=np.float32) * 0.05
gy_np = np.ones((8, 256, 56, 56), np.float32)
if which == "torch":
    import torch
    torch.set_num_threads(int(sys.argv[2]))
    x = torch.from_numpy(x_np).requires_grad_(True); w = torch.from_numpy(w_np).requires_grad_(True)
    torch.nn.functional.conv2d(x[:1], w, padding=1).backward(torch.from_numpy(gy_np[:1]))  # warm up
    x.grad = None; w.grad = None
    base = status_mb("VmRSS"); reset_peak()
    torch.nn.functional.conv2d(x, w, padding=1).backward(torch.from_numpy(gy_np))
elif which == "minicnn":
    import minicnn
    from minicnn.nn import functional as F
    x = minicnn.Tensor(x_np, requires_grad=True); w = minicnn.Tensor(w_np, requires_grad=True)
    F.conv2d(minicnn.Tensor(x_np[:1]), w, padding=1).backward(gy_np[:1])                   # warm up
    w.grad = None
    base = status_mb("VmRSS"); reset_peak()
    F.conv2d(x, w, padding=1).backward(gy_np)
elif which == "vgg16-finetune":
    import minicnn
    from minicnn import nn, optim
    from minicnn.models import vgg16
    model = vgg16(num_classes=10)                        # every layer trained: the worst case
    opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    xb = minicnn.Tensor(np.random.default_rng(0).standard_normal((8, 3, 224, 224), dtype=np.float32))
    yb = minicnn.Tensor(np.arange(8) % 10)
    base = 0.0
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
print(f"{base:.1f} {status_mb('VmHWM'):.1f}")
"""


def _peak_rss(which: str, threads: int) -> tuple[float, float] | None:
    """(resident MB before the work, peak resident MB during it) in a fresh process, or None."""
    if not os.path.exists("/proc/self/clear_refs"):
        print(f"  (memory run {which} skipped: needs Linux's /proc/self/clear_refs)", file=sys.stderr)
        return None
    # glibc's default malloc: the speed tuning keeps freed memory, which is not what a
    # memory budget should be judged by
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, which, str(threads)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"  (memory run {which} failed: {out.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    base, peak = (float(v) for v in out.stdout.split()[-2:])
    return base, peak


def bench_memory(threads: int, vgg: bool, torch_available: bool) -> dict[str, Any]:
    mem: dict[str, Any] = {"target_ratio": TARGETS["conv memory"]}
    for which in ("minicnn", "torch") if torch_available else ("minicnn",):
        r = _peak_rss(which, threads)
        if r:
            mem[which] = {"base_mb": r[0], "peak_mb": r[1], "growth_mb": r[1] - r[0]}
    if "minicnn" in mem and "torch" in mem and mem["torch"]["growth_mb"] > 0:
        mem["growth_ratio"] = mem["minicnn"]["growth_mb"] / mem["torch"]["growth_mb"]
    if vgg:
        r = _peak_rss("vgg16-finetune", threads)
        if r:
            mem["vgg16_finetune_peak_gb"] = r[1] / 1024
            mem["vgg16_target_gb"] = TARGETS["vgg16 fine-tuning GB"]
    return mem


# ------------------------------------------------------------------ the machine
def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, BLAS, library versions, settings."""
    info: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__,
                            "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:                                   # older NumPy: no mode="dicts"
        info["numpy_blas"] = "unknown"
    for module in ("numba", "torch"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    info["env"] = {k: os.environ.get(k) for k in THREAD_VARS + tuple(WAIT_ENV) + tuple(MALLOC_ENV)}
    return info


# ------------------------------------------------------------------ report
def _fmt(v: float | None, width: int = 9) -> str:
    return f"{'-':>{width}s}" if v is None else f"{v:{width}.2f}"


def _verdict(ratio: float | None, target: float | None) -> str:
    if ratio is None or target is None:
        return ""
    return f"<= {target:.2f}  {'met' if ratio <= target else 'MISSED'}"


def run(threads: int, repeat: int, reference: bool, quick: bool, memory: bool) -> dict[str, Any]:
    from minicnn import kernels

    try:
        kernels.load_kernels("numba")            # first: it sets how numba's threads wait
        import numba

        numba.set_num_threads(threads)
    except ImportError:
        pass

    results: dict[str, Any] = {"threads": threads, "repeat": repeat, "machine": machine(),
                               "kernels": kernels.available_kernels()}
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cpu_count']} CPUs; NumPy {m['numpy']} with {m['numpy_blas']}; "
          f"numba {m['numba']}; torch {m['torch']}")
    print(f"threads: {threads} for every contender, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; "
          "malloc: " + ", ".join(f"{k}={os.environ.get(k)}" for k in MALLOC_ENV))
    print(f"timing: median of {repeat} calls, minicnn and torch alternating; load average "
          f"{', '.join(f'{v:.1f}' for v in m.get('load_average', ()))}")
    torch_available = _torch() is not None

    print(f"\n{'conv2d (ms)':44s} {'':7s} {'minicnn':>9s} {'torch':>9s} {'ratio':>6s}  {'target':14s}"
          f" {'ref':>9s} {'GEMM':>9s} {'GEMM share':>10s} {'GFLOP/s':>8s}")
    conv_rows = []
    for shape, cout, k, s, p in (CONV_SHAPES[:2] if quick else CONV_SHAPES):
        row = bench_conv(shape, cout, k, s, p, repeat, reference)
        conv_rows.append(row)
        for phase, flops in (("fwd", row["gflop_fwd"]), ("fwd_bwd", 3 * row["gflop_fwd"])):
            fast, theirs = row[f"fast_{phase}_ms"], row.get(f"torch_{phase}_ms")
            ratio = None if theirs is None else fast / theirs
            row[f"ratio_{phase}"] = ratio
            print(f"  {row['name'][:42]:42s} {phase:7s} {_fmt(fast)} {_fmt(theirs)} {_fmt(ratio, 6)}  "
                  f"{_verdict(ratio, row['target']) if phase == 'fwd_bwd' else '':14s} "
                  f"{_fmt(row.get(f'reference_{phase}_ms'))} {_fmt(row[f'gemm_{phase}_ms'])} "
                  f"{row[f'gemm_{phase}_ms'] / fast:10.2f} {flops / fast * 1000:8.1f}")
    results["conv2d"] = conv_rows

    print(f"\n{'pooling and networks (ms)':52s} {'minicnn':>9s} {'torch':>9s} {'ratio':>6s}  {'target':14s}"
          f" {'ref':>9s}")
    others = [bench_maxpool((64, 32, 28, 28), repeat, reference),
              bench_maxpool((8, 128, 56, 56), repeat, reference),
              bench_demo_step(repeat, reference)]
    if not quick:
        others.append(bench_vgg16(max(3, repeat // 3)))
    for row in others:
        theirs = row.get("torch_ms")
        row["ratio"] = None if theirs is None else row["fast_ms"] / theirs
        print(f"  {row['name'][:50]:50s} {_fmt(row['fast_ms'])} {_fmt(theirs)} {_fmt(row['ratio'], 6)}  "
              f"{_verdict(row['ratio'], row.get('target')):14s} {_fmt(row.get('reference_ms'))}")
    results["others"] = others

    if memory:
        print("\nmemory (fresh processes, glibc's default malloc; peak resident growth during one forward+backward)")
        mem = bench_memory(threads, not quick, torch_available)
        for which in ("minicnn", "torch"):
            if which in mem:
                print(f"  conv (8,128,56,56)->256 3x3 p1, {which:8s} +{mem[which]['growth_mb']:7.1f} MB")
        if "growth_ratio" in mem:
            print(f"  growth minicnn / torch: {mem['growth_ratio']:.2f}x   "
                  f"{_verdict(mem['growth_ratio'], mem['target_ratio'])}")
        if "vgg16_finetune_peak_gb" in mem:
            gb = mem["vgg16_finetune_peak_gb"]
            print(f"  VGG16 fine-tuning (every layer), batch 8, 224x224: peak resident {gb:.2f} GB   "
                  f"{'met' if gb < mem['vgg16_target_gb'] else 'MISSED'} (< {mem['vgg16_target_gb']:.0f} GB)")
        results["memory"] = mem
    return results


# ------------------------------------------------------------------ command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=2, help="threads for every contender (default 2)")
    parser.add_argument("--repeat", type=int, default=11, help="timed calls per measurement (median reported)")
    parser.add_argument("--quick", action="store_true", help="two conv shapes, no VGG16 (a smoke run)")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference path")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    parser.add_argument("--no-malloc-tuning", action="store_true", help="keep glibc's default malloc thresholds")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")


def _as_argv(args: argparse.Namespace) -> list[str]:
    """The command-line arguments that give ``args`` again (for re-running the bench)."""
    argv = ["--threads", str(args.threads), "--repeat", str(args.repeat)]
    for flag in ("quick", "no_reference", "no_memory", "no_malloc_tuning"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    if args.json:
        argv += ["--json", os.path.abspath(args.json)]
    return argv


def run_from_args(args: argparse.Namespace) -> int:
    wanted = {**{v: str(args.threads) for v in THREAD_VARS}, **WAIT_ENV}
    if not args.no_malloc_tuning:
        wanted.update(MALLOC_ENV)
    stale = args.no_malloc_tuning and any(k in os.environ for k in MALLOC_ENV)
    if stale or any(os.environ.get(k) != v for k, v in wanted.items()):
        # thread counts and malloc settings take effect only when a process starts: re-run
        # the bench in a fresh one with them (it finds them set, and runs)
        env = {**os.environ, **wanted}
        if args.no_malloc_tuning:
            for key in MALLOC_ENV:
                env.pop(key, None)
        return subprocess.call([sys.executable, "-m", "minicnn.bench", *_as_argv(args)], env=env)
    results = run(args.threads, args.repeat, not args.no_reference, args.quick, not args.no_memory)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nresults written to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minicnn bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
