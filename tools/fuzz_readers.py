"""Fuzz every minicnn file reader: thousands of damaged files, each must fail cleanly.

    make fuzz                                              # 20,000 cases per reader (~1 hour on 2 cores)
    .venv/bin/python tools/fuzz_readers.py --cases 20000   # the same
    .venv/bin/python tools/fuzz_readers.py --cases 500 --targets npz,onnx --seed 7
    .venv/bin/python tools/fuzz_readers.py --show keras_h5 1234     # rebuild one case, read it

For each target in ``fuzz_targets.TARGETS`` (PyTorch zip and legacy, Keras 2 and 3 HDF5,
safetensors, ONNX, npz, MNIST IDX raw and gzipped, CIFAR batches, checkpoints) the seed file is
written with the real writer, then case i = ``fuzz_mutations.make_case(seed, run_seed, target,
i)`` is read by the reader. Each case must end in one of

    ok        the reader returned (a mutation inside float data still gives a valid file)
    refused   the reader raised its own documented error type (``WeightFileError`` ...)

and never in a failure:

    leak      any other exception escaped (``KeyError``, ``struct.error``, ``zlib.error`` ...)
    memory    ``MemoryError`` under the address-space limit, or more than ``--peak-mb`` MB
              allocated by Python/NumPy for one case (``tracemalloc`` peak)
    hang      no answer within ``--timeout`` seconds: the watchdog kills the worker
    crash     the worker process died (a segfault in a C library, ...)

How the bounds are enforced: the cases run in a *worker* subprocess (this file with
``--worker``) that first reads the valid seed once (loading h5py, onnx ...), then caps its own
address space with ``setrlimit(RLIMIT_AS)`` at what it uses then plus ``--memory-mb``, so any
attempt to allocate a claimed 100 GB fails at once. The worker prints one line per case; the
parent waits at most ``--timeout`` seconds for each line, kills a silent worker (a hang in C
code cannot be interrupted from inside), records the case and starts a new worker after it.
Failing cases are saved under ``--out`` for reproduction.

The exit status is 1 if any case failed. (libhdf5 used to hang on ~1% of the damaged Keras
files here -- a string heap whose walk never advances; minicnn now refuses those first, see
docs/safety.md and ``minicnn/io/hdf5_check.py``.)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_mutations import make_case  # noqa: E402
from fuzz_targets import TARGETS  # noqa: E402

from minicnn.io.isolated import limit_address_space  # noqa: E402

FAILURE_KINDS = ("leak", "memory", "hang", "crash")
STARTUP_SECONDS = 120.0  # the worker imports minicnn, h5py, onnx ... before its first case


@dataclass
class Failure:
    index: int
    kind: str                 # one of FAILURE_KINDS
    detail: str
    mutation: str
    saved: str = ""           # the case file written under --out, if any


@dataclass
class Report:
    """What one target's run produced."""

    target: str
    cases: int
    seed: int
    seed_sha256: str = ""
    ok: int = 0
    refused: int = 0
    failures: list[Failure] = field(default_factory=list)
    max_seconds: float = 0.0          # slowest case that finished
    max_peak_bytes: int = 0           # largest tracemalloc peak of one case
    memory_limit_mb: int = 0
    workers: int = 0                  # worker processes started (1 + one per hang/crash)

    def kinds(self) -> dict[str, int]:
        return {k: sum(f.kind == k for f in self.failures) for k in FAILURE_KINDS}

    def line(self) -> str:
        k = self.kinds()
        return (f"{self.target:13s} {self.cases:7d} cases: {self.ok:6d} ok, {self.refused:6d} refused | "
                f"leak {k['leak']}, memory {k['memory']}, hang {k['hang']}, crash {k['crash']} | "
                f"slowest {self.max_seconds * 1e3:7.1f} ms, peak {self.max_peak_bytes / 2**20:5.2f} MB "
                f"(limit: +{self.memory_limit_mb} MB address space)")


# ------------------------------------------------------------------------ the worker
def _emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def worker(target_name: str, seed_file: Path, run_seed: int, start: int, stop: int,
           memory_mb: int, peak_mb: float, folder: Path) -> None:
    """Run cases [start, stop) of one target in this process, one JSON line per case."""
    target = TARGETS[target_name]
    allowed = target.errors()
    seed = seed_file.read_bytes()
    target.read(seed_file)                      # warm up: imports h5py / onnx; must succeed
    limit = limit_address_space(memory_mb)      # from now on no 100 GB allocation can succeed
    tracemalloc.start()
    _emit({"ready": True, "limit": limit})
    case = folder / f"case-{os.getpid()}{target.suffix}"
    for i in range(start, stop):
        data, _ = make_case(seed, run_seed, target_name, i)
        case.write_bytes(data)
        outcome, detail = "ok", ""
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        try:
            result = target.read(case)
            del result
        except MemoryError as exc:
            outcome, detail = "memory", f"MemoryError: {exc}"
        except allowed as exc:
            outcome = "refused"
            if case.name not in str(exc):       # a clear error names the file it refers to
                outcome, detail = "leak", f"message does not name the file: {exc}"
        except Exception as exc:
            tb = exc.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
            outcome, detail = "leak", f"{type(exc).__module__}.{type(exc).__qualname__}: {exc!s:.300} at {where}"
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
        if outcome != "memory" and peak > peak_mb * 2**20:
            outcome, detail = "memory", f"tracemalloc peak {peak / 2**20:.1f} MB > {peak_mb} MB"
        _emit({"i": i, "o": outcome, "s": seconds, "p": peak, "d": detail})
    case.unlink(missing_ok=True)


# ------------------------------------------------------------------------ the parent
def _worker_command(target: str, seed_file: Path, run_seed: int, start: int, stop: int,
                    memory_mb: int, peak_mb: float, folder: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", target, "--seed-file",
            str(seed_file), "--seed", str(run_seed), "--start", str(start), "--stop", str(stop),
            "--memory-mb", str(memory_mb), "--peak-mb", str(peak_mb), "--folder", str(folder)]


def _lines(proc: subprocess.Popen, timeout: float):
    """Yield the worker's stdout lines; yield None if one takes longer than ``timeout``."""
    buffer, first = b"", True
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                first = False
                yield line
            if not selector.select(STARTUP_SECONDS if first else timeout):
                yield None
                return
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return
            buffer += chunk


def fuzz(target_name: str, cases: int, seed: int = 0, *, folder: Path, timeout: float = 10.0,
         memory_mb: int = 256, peak_mb: float = 32.0, out: Path | None = None) -> Report:
    """Run ``cases`` cases of one target; see the module docstring for the outcomes."""
    target = TARGETS[target_name]
    folder.mkdir(parents=True, exist_ok=True)
    seed_file = folder / f"seed-{target_name}{target.suffix}"
    if not seed_file.exists():
        target.write_seed(seed_file)
    seed_bytes = seed_file.read_bytes()
    report = Report(target_name, cases, seed, hashlib.sha256(seed_bytes).hexdigest(),
                    memory_limit_mb=memory_mb)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = 0
    while start < cases:
        last = start - 1
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(_worker_command(target_name, seed_file, seed, start, cases,
                                                    memory_mb, peak_mb, folder),
                                    stdout=subprocess.PIPE, stderr=stderr, env=env)
            report.workers += 1
            ready, hung = False, False
            for line in _lines(proc, timeout):
                if line is None:
                    hung = True
                    break
                record = json.loads(line)
                if record.get("ready"):
                    ready = True
                    continue
                last = record["i"]
                report.max_seconds = max(report.max_seconds, record["s"])
                report.max_peak_bytes = max(report.max_peak_bytes, record["p"])
                if record["o"] in ("ok", "refused"):
                    setattr(report, record["o"], getattr(report, record["o"]) + 1)
                else:
                    _fail(report, seed_bytes, last, record["o"], record["d"], out, target.suffix)
                if last + 1 >= cases:
                    break                       # all done: do not time the worker's exit
            try:
                code = proc.wait(timeout=0 if hung else STARTUP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            proc.stdout.close()
            stderr.seek(0)
            err = stderr.read().decode(errors="replace")[-2000:]
        if not ready and not hung:
            raise RuntimeError(f"{target_name}: the fuzz worker failed before its first case "
                               f"(exit {code}); is the seed file readable?\n{err}")
        if last + 1 >= cases and not hung:
            break
        kind = "hang" if hung else "crash"
        detail = (f"no answer within {timeout if ready else STARTUP_SECONDS} s" if hung
                  else f"worker exit status {code}; stderr: {err.strip()[-500:]}")
        _fail(report, seed_bytes, last + 1, kind, detail, out, target.suffix)
        start = last + 2
    return report


def _fail(report: Report, seed: bytes, index: int, kind: str, detail: str, out: Path | None,
          suffix: str) -> None:
    data, mutation = make_case(seed, report.seed, report.target, index)
    saved = ""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{report.target}-seed{report.seed}-case{index}-{kind}{suffix}"
        path.write_bytes(data)
        saved = str(path)
    report.failures.append(Failure(index, kind, detail, mutation, saved))


def fuzz_all(targets: list[str], cases: int, seed: int = 0, *, folder: Path, jobs: int = 2,
             **options) -> list[Report]:
    """``fuzz`` several targets, ``jobs`` at a time (each in its own worker process)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(fuzz, t, cases, seed, folder=folder, **options) for t in targets]
        return [f.result() for f in futures]


def available(names: list[str]) -> list[str]:
    """The targets whose seed writers' packages (torch, h5py, ...) are installed."""
    import importlib.util

    return [n for n in names if all(importlib.util.find_spec(m) for m in TARGETS[n].needs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000, help="cases per target")
    parser.add_argument("--seed", type=int, default=0, help="run seed: the same seed gives the same cases")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated targets")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per case")
    parser.add_argument("--memory-mb", type=int, default=256, help="address space allowed above the "
                        "worker's baseline")
    parser.add_argument("--peak-mb", type=float, default=32.0, help="tracemalloc peak allowed per case")
    parser.add_argument("--jobs", type=int, default=2, help="targets fuzzed in parallel")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="where failing cases go")
    parser.add_argument("--show", nargs=2, metavar=("TARGET", "CASE"), help="rebuild one case and read it")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    for hidden in ("--seed-file", "--folder"):
        parser.add_argument(hidden, type=Path, help=argparse.SUPPRESS)
    for hidden in ("--start", "--stop"):
        parser.add_argument(hidden, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.worker, args.seed_file, args.seed, args.start, args.stop, args.memory_mb,
               args.peak_mb, args.folder)
        return 0
    with tempfile.TemporaryDirectory(prefix="minicnn-fuzz-") as tmp:
        if args.show:
            return _show(args.show[0], int(args.show[1]), args.seed, Path(tmp))
        names = [n.strip() for n in args.targets.split(",") if n.strip()]
        unknown = sorted(set(names) - set(TARGETS))
        if unknown:
            parser.error(f"unknown targets {unknown}; choose from {', '.join(TARGETS)}")
        runnable = available(names)
        for n in sorted(set(names) - set(runnable)):
            print(f"{n:13s} skipped: needs {', '.join(TARGETS[n].needs)}")
        t0 = time.perf_counter()
        reports = fuzz_all(runnable, args.cases, args.seed, folder=Path(tmp), jobs=args.jobs,
                           timeout=args.timeout, memory_mb=args.memory_mb, peak_mb=args.peak_mb,
                           out=args.out)
    bad = 0
    for r in reports:
        print(r.line())
        for f in r.failures:
            print(f"    case {f.index} {f.kind}: {f.detail}\n      mutation: {f.mutation}"
                  + (f"\n      saved: {f.saved}" if f.saved else ""))
        bad += len(r.failures)
    total = sum(r.cases for r in reports)
    print(f"{total} cases over {len(reports)} targets (seed {args.seed}) in "
          f"{time.perf_counter() - t0:.0f} s: {bad} failures")
    return 1 if bad else 0


def _show(target_name: str, index: int, seed: int, folder: Path) -> int:
    """Print how case ``index`` was made, then read it here (tracebacks and all)."""
    target = TARGETS[target_name]
    seed_file = folder / f"seed{target.suffix}"
    target.write_seed(seed_file)
    data, mutation = make_case(seed_file.read_bytes(), seed, target_name, index)
    case = folder / f"case{index}{target.suffix}"
    case.write_bytes(data)
    print(f"{target_name} case {index} (seed {seed}): {mutation}; {len(data)} bytes")
    print("read:", type(target.read(case)).__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
