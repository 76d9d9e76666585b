"""The ``minicnn`` command: ``minicnn demo``, ``minicnn train``, ``minicnn info``, ``minicnn assignment`` ...

Each subcommand is a small function that parses nothing itself: ``main`` builds the
argparse tree, and the handlers call the library exactly as a user's script would.
"""
from __future__ import annotations

import argparse
import os
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    m = run_demo(args.out, epochs=args.epochs, seed=args.seed, plots=not args.no_plots)
    print(f"held-out accuracy: {100 * m['test_accuracy']:.2f}% on 1000 digits "
          f"after {m['epochs']} epochs in {m['train_seconds']:.1f} s of training")
    print(f"plots and metrics written to {Path(args.out).resolve()}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from . import nn, optim
    from .random import manual_seed
    from .train import evaluate, fit

    manual_seed(args.seed)
    train_loader, test_loader, in_channels, size, classes = _dataset(args)
    model = _model(args.model, in_channels, size, classes)
    optimizers: dict[str, Callable] = {
        "sgd": lambda p: optim.SGD(p, lr=args.lr, momentum=0.9, weight_decay=args.weight_decay),
        "adam": lambda p: optim.Adam(p, lr=args.lr, weight_decay=args.weight_decay),
        "adamw": lambda p: optim.AdamW(p, lr=args.lr, weight_decay=args.weight_decay or 1e-2),
        "rmsprop": lambda p: optim.RMSprop(p, lr=args.lr, weight_decay=args.weight_decay),
    }
    optimizer = optimizers[args.optimizer](model.parameters())
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader, epochs=args.epochs,
                  scheduler=scheduler, checkpoint=out / "checkpoint.npz", resume=args.resume)
    result = evaluate(model, test_loader, nn.CrossEntropyLoss(), num_classes=classes)
    print(f"test {result}")
    (out / "history.json").write_text(json.dumps(history.as_dict(), indent=2))
    try:
        from . import viz

        viz.plot_history(history, save=out / "history.png", title=f"{args.model} on {args.dataset}")
        viz.plot_confusion_matrix(result.confusion, save=out / "confusion.png")
    except ImportError as e:
        print(f"(no plots: {e})")
    return 0


def _dataset(args: argparse.Namespace):
    from .data import DataLoader

    if args.dataset == "digits":
        from .data.digits import digits_loaders

        tr, te = digits_loaders(args.batch_size, seed=args.seed)
        return tr, te, 1, 28, 10
    if args.dataset in ("mnist", "fashion-mnist"):
        from .data import mnist

        cls = mnist.MNIST if args.dataset == "mnist" else mnist.FashionMNIST
        train, test = (cls(args.data_dir, split=s, download=args.download) for s in ("train", "test"))
        shape, classes = (1, 28), 10
    elif args.dataset in ("cifar10", "cifar100"):
        from .data import cifar

        cls = cifar.CIFAR10 if args.dataset == "cifar10" else cifar.CIFAR100
        train, test = (cls(args.data_dir, split=s, download=args.download) for s in ("train", "test"))
        shape, classes = (3, 32), 10 if args.dataset == "cifar10" else 100
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(args.dataset)
    return (DataLoader(train, args.batch_size, shuffle=True, seed=args.seed),
            DataLoader(test, 250), shape[0], shape[1], classes)


def _model(name: str, in_channels: int, size: int, classes: int):
    from . import nn

    if name == "demo":
        side = size // 4
        return nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * side * side, classes),
        )
    from . import models

    return getattr(models, name)(num_classes=classes)


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert

    manifest = convert(args.src, args.dst, model=args.model, include_top=not args.no_top)
    print(f"wrote {args.dst}: {manifest['source_format']} file {manifest['source']} "
          f"(sha256 {manifest['source_sha256'][:12]}...), layout: {manifest['layout']}")
    if "preprocessing" in manifest:
        print(f"preprocessing: {manifest['preprocessing']['name']}")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    from .experiments.transfer_table import FAST, run_transfer

    run_transfer(args.out, config=FAST if args.fast else None, cache=args.cache, plots=not args.no_plots)
    print(f"table, plots and numbers written to {Path(args.out).resolve()}")
    return 0


def _localize(args: argparse.Namespace) -> int:
    from .experiments.localize import FAST, run_localize

    run_localize(args.out, config=FAST if args.fast else None, cache=args.cache, plots=not args.no_plots,
                 circles=not args.no_circles)
    print(f"plots and metrics written to {Path(args.out).resolve()}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import os
    import platform

    import numpy as np

    import minicnn

    print(f"minicnn {minicnn.__version__}  (python {platform.python_version()}, {platform.machine()})")
    print(f"numpy {np.__version__}")
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        print(f"BLAS: {blas.get('name', '?')} {blas.get('version', '')}".rstrip())
    except TypeError:  # NumPy < 1.26 has no mode= argument
        print("BLAS: see numpy.show_config()")
    print(f"CPU threads: {os.cpu_count()} cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for pkg in ("numba", "cupy", "matplotlib", "h5py", "onnx", "onnxruntime", "safetensors", "tqdm", "PIL"):
        try:
            mod = __import__(pkg)
            print(f"{pkg}: {getattr(mod, '__version__', 'installed')}")
        except ImportError:
            print(f"{pkg}: not installed")
    try:
        from . import kernels

        info = kernels.available_kernels()
        for name, status in info["implementations"].items():
            print(f"kernels[{name}]: {'available' if status['available'] else 'unavailable'}: "
                  f"{status['detail']}")
        print(f"kernels for NumPy arrays: {info['numpy_arrays']}; for CuPy arrays: {info['cupy_arrays']}"
              f" (MINICNN_KERNELS={info['override'] or 'unset'})")
        conv = os.environ.get("MINICNN_CONV", "").strip()
        print(f"conv2d algorithm: {conv} (MINICNN_CONV)" if conv not in ("", "auto") else
              "conv2d algorithm: automatic: Winograd for 3x3 stride-1 layers with >= 32 channels "
              "(with the Numba kernels), im2col otherwise (MINICNN_CONV=im2col|winograd forces one)")
    except (ImportError, AttributeError, KeyError) as e:
        print(f"kernels: {e}")
    print(f"cuda available: {minicnn.cuda_is_available()}")
    return 0


def _assignment_list(args: argparse.Namespace) -> int:
    from .assignments import list_assignments

    for a in list_assignments(args.source):
        print(f"{a.name}  {a.title}  ({a.max_points:g} points)")
        width = max(len(t.name) for t in a.tasks)
        for t in a.tasks:
            print(f"    {t.name:<{width}}  {t.points:>4g} points  {t.time_limit:>4g} s  {t.title}")
    return 0


def _assignment_build(args: argparse.Namespace) -> int:
    from .assignments import build_assignment

    out = build_assignment(args.name, args.out, with_solutions=args.with_solutions, force=args.force,
                           source=args.source)
    kind = "instructor package (WITH the solutions)" if args.with_solutions else "student package"
    print(f"{args.name}: {kind} written to {out.resolve()}")
    return 0


def _time_limits(values: list[str]) -> float | dict[str, float] | None:
    """['30', 'conv_backward=5'] -> {'*': 30.0, 'conv_backward': 5.0}; ['30'] -> 30.0."""
    limits: dict[str, float] = {}
    for value in values:
        task, _, seconds = value.rpartition("=")
        try:
            limits[task or "*"] = float(seconds)
        except ValueError:
            raise ValueError(f"--time-limit expects SECONDS or TASK=SECONDS, got {value!r}") from None
    if not limits:
        return None
    return limits["*"] if list(limits) == ["*"] else limits


def _assignment_grade(args: argparse.Namespace) -> int:
    from .assignments import grade_submission

    report = grade_submission(args.dir, args.assignment, source=args.source, tasks=args.task or None,
                              time_limits=_time_limits(args.time_limit), output_limit=args.output_limit,
                              memory_limit_mb=args.memory_limit)
    print(report.format())
    if args.json:
        report.write_json(args.json)
    if args.gradescope:
        report.write_gradescope(args.gradescope)
    return 1 if args.strict and report.total < report.max else 0


def _add_assignment_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assignment", help="student assignments: list them, build starter code, grade submissions")
    actions = p.add_subparsers(dest="action", required=True)
    source_help = "an extra folder of assignments (also: $MINICNN_ASSIGNMENTS)"

    q = actions.add_parser("list", help="the assignments with their tasks, points and time limits")
    q.add_argument("--source", default=None, help=source_help)
    q.set_defaults(handler=_assignment_list)

    q = actions.add_parser("build", help="write the student package (starter code, visible tests, README)")
    q.add_argument("name", help="assignment name (see `minicnn assignment list`) or folder")
    q.add_argument("--out", required=True, help="output folder (must be new or empty)")
    q.add_argument("--with-solutions", action="store_true", help="instructor build: keep the reference solutions")
    q.add_argument("--force", action="store_true", help="replace an earlier build in --out")
    q.add_argument("--source", default=None, help=source_help)
    q.set_defaults(handler=_assignment_build)

    q = actions.add_parser("grade", help="run the hidden tests against a submission folder, one process per task")
    q.add_argument("dir", help="the submission folder")
    q.add_argument("--assignment", default=None, help="assignment name (default: read from DIR/assignment.json)")
    q.add_argument("--json", default=None, metavar="REPORT", help="also write the report as JSON")
    q.add_argument("--gradescope", default=None, metavar="RESULTS",
                   help="also write Gradescope's results.json")
    q.add_argument("--task", action="append", default=[], help="grade only this task (repeatable)")
    q.add_argument("--time-limit", action="append", default=[], metavar="[TASK=]SECONDS",
                   help="override the time limit of every task, or of one task (repeatable)")
    q.add_argument("--output-limit", type=int, default=100_000, help="bytes of output kept per task")
    q.add_argument("--memory-limit", type=float, default=4096, help="MB of memory per task (0: no limit)")
    q.add_argument("--strict", action="store_true", help="exit with status 1 unless every task passed")
    q.add_argument("--source", default=None, help=source_help)
    q.set_defaults(handler=_assignment_grade)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minicnn", description="minicnn: a teaching engine for CNNs")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train the demo CNN on the embedded digits and save plots")
    p.add_argument("--out", default="out/demo", help="output folder for plots and metrics (default: out/demo)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true", help="skip the plots (no matplotlib needed)")
    p.set_defaults(handler=_demo)

    p = sub.add_parser("train", help="train a model on a dataset")
    p.add_argument("--model", default="demo", help="demo, vgg11, vgg16, ... (default: demo)")
    p.add_argument("--dataset", default="digits", choices=["digits", "mnist", "fashion-mnist", "cifar10", "cifar100"])
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (default: the cache folder)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw", "rmsprop"])
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/train")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.set_defaults(handler=_train)

    p = sub.add_parser("transfer", help="transfer learning: the 2x2 table (digits 0-4 -> 5-9) and forgetting")
    p.add_argument("--out", default="out/transfer", help="output folder (default: out/transfer)")
    p.add_argument("--cache", default=None, help="folder for the pretrained network (default: $MINICNN_HOME/experiments)")
    p.add_argument("--fast", action="store_true", help="a tiny run in seconds (checks the pipeline, not the numbers)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots (no matplotlib needed)")
    p.set_defaults(handler=_transfer)

    p = sub.add_parser("localize", help="localization as regression on digit canvases, and centre-and-radius")
    p.add_argument("--out", default="out/localize", help="output folder (default: out/localize)")
    p.add_argument("--cache", default=None, help="folder for the trained classifier (default: $MINICNN_HOME/experiments)")
    p.add_argument("--fast", action="store_true", help="a tiny run in seconds (checks the pipeline, not the numbers)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots (no matplotlib needed)")
    p.add_argument("--no-circles", action="store_true", help="skip the centre-and-radius example")
    p.set_defaults(handler=_localize)

    p = sub.add_parser("info", help="versions, BLAS, threads and available kernels/backends")
    p.set_defaults(handler=_info)

    p = sub.add_parser("convert", help="convert a weight file (.pth, .h5, .safetensors, .onnx) to minicnn's .npz")
    p.add_argument("src", help="the weight file to read")
    p.add_argument("dst", help="the .npz file to write")
    p.add_argument("--model", default=None, help="map the weights onto this architecture first (e.g. vgg16)")
    p.add_argument("--no-top", action="store_true", help="with --model: the convolutional base only")
    p.set_defaults(handler=_convert)

    from . import bench

    p = sub.add_parser("bench", help="time minicnn against PyTorch and NumPy's GEMM on this machine")
    bench.add_arguments(p)
    p.set_defaults(handler=bench.run_from_args)

    _add_assignment_parsers(sub)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:
        print(f"minicnn {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
