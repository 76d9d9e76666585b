"""``minicnn bench``: minicnn's speed and memory, measured side by side with PyTorch and NumPy's GEMM.

Every number comes from this machine in this run, with the same thread count for all:

- conv2d forward and forward+backward on the lecture's shapes,
- 2x2 max pooling forward+backward,
- one training step of the demo CNN (batch 64, 1x28x28),
- VGG16 forward at 224x224,
- memory: peak growth of a conv2d forward+backward, and VGG16 fine-tuning (batch 8, 224x224),

for minicnn's fast path (the default dispatch: Numba when installed), its reference path
(``MINICNN_KERNELS=reference``, the readable NumPy kernels), PyTorch on the CPU (when
installed) and NumPy's own GEMM on the matrices an im2col convolution multiplies.  The
GEMM time is a floor for im2col: unfold + GEMM cannot beat the GEMM alone, so ``GEMM
share`` = GEMM time / minicnn time says how much of minicnn's time is the unavoidable
multiply.  Where conv2d chose Winograd (``algo`` column; 2.25x fewer multiplications, see
minicnn/nn/functional/conv_winograd.py) the share can exceed 1, and im2col is timed too
in the same interleaved run.  GFLOP/s counts a direct convolution's 2*N*OH*OW*C_out*C*KH*KW
flops per forward (3x that forward+backward), whatever the algorithm.

How it measures: minicnn and PyTorch run alternately, call after call, in one process,
and each side reports the median of ``--repeat`` calls.  Other programs on the machine
then slow both sides alike, so the ratios stay meaningful even when the absolute times
wander (check ``uptime``; rerun on an idle machine for absolute numbers).

Settings, the same for every contender and printed with the results (the bench re-runs
itself with them, because they take effect only when a process starts):

- threads: ``OMP_NUM_THREADS`` = ``OPENBLAS_NUM_THREADS`` = ``MKL_NUM_THREADS`` =
  ``NUMBA_NUM_THREADS`` = ``--threads`` (and ``torch.set_num_threads``);
- waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE`` for the OpenMP pools of PyTorch and
  Numba, ``OPENBLAS_THREAD_TIMEOUT=4`` for NumPy's OpenBLAS): otherwise each pool's threads
  spin after their work and take the cores the other side needs next.  In one process on
  2 cores that made both sides 2-4x slower and erratic, and OpenBLAS's spinning alone
  slowed PyTorch's convolutions by up to 2x right after a minicnn call (minicnn's Numba
  kernels set OMP_WAIT_POLICY=PASSIVE themselves, see kernels/numba_threads.py);
- glibc malloc: large fresh allocations page-fault at about 1.5 us per 4 KiB page on the
  machines this was written on, which penalises any code that allocates a new buffer per
  call (PyTorch too).  ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` make freed
  memory be reused instead of returned to the OS (``minicnn.backend.reuse_freed_memory()``
  does the same from Python); ``--no-malloc-tuning`` keeps glibc's defaults.

Memory runs in fresh processes with glibc's default malloc (the speed tuning keeps freed
memory around, which is not what a memory budget should be judged by).

``targets`` are the goals of the issue that asked for this benchmark; the table says for
each whether this run met it.  The timed cases are in bench_cases.py.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from typing import Any

import numpy as np

from .bench_cases import (CONV_SHAPES, TARGETS, bench_conv, bench_demo_step, bench_maxpool,
                          bench_vgg16, torch_available)

__all__ = ["main", "run", "machine", "CONV_SHAPES", "TARGETS"]

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


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


def bench_memory(threads: int, vgg: bool, with_torch: bool) -> dict[str, Any]:
    mem: dict[str, Any] = {"target_ratio": TARGETS["conv memory"]}
    for which in ("minicnn", "torch") if with_torch else ("minicnn",):
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
    print(f"threads: {threads} for every contender, "
          + ", ".join(f"{k}={os.environ.get(k)}" for k in WAIT_ENV) + "; malloc: "
          + ", ".join(f"{k}={os.environ.get(k)}" for k in MALLOC_ENV))
    print(f"timing: median of {repeat} calls, minicnn and torch alternating; load average "
          f"{', '.join(f'{v:.1f}' for v in m.get('load_average', ()))}")
    with_torch = torch_available()

    print(f"\n{'conv2d (ms)':44s} {'':7s} {'minicnn':>9s} {'torch':>9s} {'ratio':>6s}  {'target':14s}"
          f" {'ref':>9s} {'GEMM':>9s} {'GEMM share':>10s} {'GFLOP/s':>8s} {'algo':>8s}")
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
                  f"{row[f'gemm_{phase}_ms'] / fast:10.2f} {flops / fast * 1000:8.1f} {row['algorithm']:>8s}")
    results["conv2d"] = conv_rows
    others_algo = [row for row in conv_rows if "im2col_fwd_bwd_ms" in row]
    if others_algo:
        print("\n  the same layers with conv2d forced to im2col (MINICNN_CONV=im2col), same run:")
    for row in others_algo:
        for phase in ("fwd", "fwd_bwd"):
            ms, theirs = row[f"im2col_{phase}_ms"], row.get(f"torch_{phase}_ms")
            row[f"im2col_ratio_{phase}"] = None if theirs is None else ms / theirs
            print(f"  {row['name'][:42]:42s} {phase:7s} {_fmt(ms)} {_fmt(theirs)} "
                  f"{_fmt(row[f'im2col_ratio_{phase}'], 6)}  {'':14s} {'':9s} {'':9s} "
                  f"{row[f'gemm_{phase}_ms'] / ms:10.2f} {'':8s} {'im2col':>8s}")

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
        mem = bench_memory(threads, not quick, with_torch)
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
