"""The timed cases of ``minicnn bench`` (see bench.py for how they are run and reported).

Each ``bench_*`` function times minicnn's fast path and PyTorch alternately, call after
call (``interleaved_ms``), so that other load on the machine slows both sides alike, and
returns one row of results (milliseconds, medians).
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

import numpy as np

__all__ = ["CONV_SHAPES", "TARGETS", "interleaved_ms", "bench_conv", "bench_maxpool", "bench_demo_step",
           "bench_vgg16", "torch_vgg16"]

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

# ------------------------------------------------------------------ timing
def interleaved_ms(fns: dict[str, Callable[[], Any]], repeat: int, warmup: int = 1,
                   seconds: float = 0.0) -> dict[str, float]:
    """Median milliseconds per call of each function, calling them in turn (a, b, a, b, ...).

    At least ``repeat`` rounds, more (up to 20x) while the rounds take less than ``seconds``
    in all: fast cases get more samples, so their medians hold up under passing load.
    """
    start = time.perf_counter()
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    round_time = (time.perf_counter() - start) / max(warmup, 1)
    rounds = min(20 * repeat, max(repeat, int(seconds / max(round_time, 1e-9))))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


class _Env:
    """Temporarily set (or, with None, unset) an environment variable minicnn reads at every call."""

    def __init__(self, name: str, choice: str | None) -> None:
        self.name, self.choice = name, choice

    def __enter__(self) -> None:
        self.old = os.environ.get(self.name)
        if self.choice is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.choice

    def __exit__(self, *exc: object) -> None:
        if self.old is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.old


def _Kernels(choice: str | None) -> _Env:
    """Temporarily set MINICNN_KERNELS (read by the dispatcher at every call)."""
    return _Env("MINICNN_KERNELS", choice)


def _im2col(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with conv2d forced to im2col (MINICNN_CONV=im2col)."""
    def run() -> Any:
        with _Env("MINICNN_CONV", "im2col"):
            return fn()
    return run


def _reference_ms(fn: Callable[[], Any], repeat: int) -> float:
    with _Kernels("reference"):
        return interleaved_ms({"reference": fn}, max(3, repeat // 3))["reference"]


# each timed comparison runs for at least this long (more rounds for fast cases)
SECONDS = 3.0


def torch_available() -> bool:
    return _torch() is not None


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
    from minicnn.nn.functional.conv import choose_algorithm

    n, c, h, w = shape
    oh, ow = _conv_out(h, k, s, p), _conv_out(w, k, s, p)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape, dtype=np.float32)
    w_np = rng.standard_normal((cout, c, k, k), dtype=np.float32) * 0.05
    b_np = np.zeros(cout, np.float32)
    gy_np = np.ones((n, cout, oh, ow), np.float32)
    name = f"conv2d {shape}->{cout} {k}x{k} s{s} p{p}"
    geometry = minicnn.shapes.conv2d_geometry(shape, (cout, c, k, k), (cout,), s, p, 1, 1)
    with _Env("MINICNN_CONV", None):
        algorithm = choose_algorithm(geometry, x_np)
    row: dict[str, Any] = {"name": name, "gflop_fwd": 2.0 * n * oh * ow * cout * c * k * k / 1e9,
                           "target": TARGETS.get(name), "algorithm": algorithm}

    def fwd() -> None:
        with minicnn.no_grad():
            F.conv2d(minicnn.Tensor(x_np), minicnn.Tensor(w_np), minicnn.Tensor(b_np), stride=s, padding=p)

    def fwd_bwd() -> None:
        x = minicnn.Tensor(x_np, requires_grad=True)
        y = F.conv2d(x, minicnn.Tensor(w_np, requires_grad=True), minicnn.Tensor(b_np, requires_grad=True),
                     stride=s, padding=p)
        y.backward(gy_np)

    fns = {"fast_fwd": fwd, "fast_fwd_bwd": fwd_bwd}
    if algorithm != "im2col":                # also time im2col, for comparison
        fns.update(im2col_fwd=_im2col(fwd), im2col_fwd_bwd=_im2col(fwd_bwd))
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
    with _Kernels(None), _Env("MINICNN_CONV", None):
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat, seconds=SECONDS).items()})
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
    }, repeat, seconds=SECONDS / 2)
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
    with _Kernels(None), _Env("MINICNN_CONV", None):
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat, seconds=SECONDS).items()})
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
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat, warmup=3, seconds=SECONDS).items()})
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
        tmodel = torch_vgg16(torch).eval()
        xt = torch.from_numpy(x_np)

        def torch_fwd() -> None:
            with torch.no_grad():
                tmodel(xt)

        fns["torch"] = torch_fwd
    with _Kernels(None):
        row.update({f"{key}_ms": v for key, v in interleaved_ms(fns, repeat).items()})
    return row


def torch_vgg16(torch: Any) -> Any:
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
