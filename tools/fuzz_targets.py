"""The readers ``tools/fuzz_readers.py`` attacks, and the small valid file each one starts from.

A *target* is one reader plus the writer of its seed file:

    name            seed file written by                          reader under test        may raise
    --------------  --------------------------------------------  -----------------------  --------------
    torch_zip       torch.save(state_dict, f)                      minicnn.io.read_torch    WeightFileError
    torch_legacy    torch.save(..., _use_new_zipfile_serialization=False)   read_torch     WeightFileError
    keras_h5        h5py, laid out as Keras 2 save_weights does    read_keras_h5            WeightFileError
    keras3_h5       h5py, laid out as Keras 3 save_weights does    read_keras_h5            WeightFileError
    safetensors     safetensors.numpy.save_file                    read_safetensors         WeightFileError
    onnx            onnx.helper + onnx.save_model                  read_onnx                WeightFileError
    npz             minicnn.io.save_npz (manifest + SHA-256)       load_npz                 WeightFileError
    mnist_idx       the IDX bytes, as in the MNIST distribution    minicnn.data.read_idx    ValueError
    mnist_idx_gz    the same, gzipped (like the download)          read_idx                 ValueError
    cifar_batch     pickle.dump(batch, f, protocol=2)              load_cifar_batch         WeightFileError
    cifar_tarball   tarfile + gzip, as cifar-10-python.tar.gz      minicnn.data.load_cifar  ValueError
    checkpoint      minicnn.train.save_checkpoint                  minicnn.load             WeightFileError

"may raise" is each reader's documented error type (``WeightFileError`` is a ``ValueError``);
anything else escaping from a reader is a bug. Seed files are tiny (0.4-14 KB) so that most
mutations land in headers, and every writer is deterministic, so the seed file -- and thus every
fuzz case -- is the same byte for byte on every run with the same library versions.

torch, h5py, onnx and safetensors are imported only to *write* seeds (in the parent process);
the worker that runs the readers never imports torch.
"""
from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Target:
    """One reader under fuzz: how to write its seed file, read a file, and what it may raise."""

    name: str
    suffix: str                                   # file name suffix of the cases
    write_seed: Callable[[Path], None]
    read: Callable[[Path], Any]
    errors: Callable[[], tuple[type[BaseException], ...]]
    needs: tuple[str, ...] = ()                   # modules the seed writer needs (skip if absent)


def _arrays() -> dict[str, np.ndarray]:
    """A small conv + batch-norm + dense state dict (float32, plus an int64 counter)."""
    rng = np.random.default_rng(0)
    return {"conv.weight": rng.standard_normal((2, 1, 3, 3)).astype(np.float32),
            "conv.bias": rng.standard_normal(2).astype(np.float32),
            "bn.running_var": rng.random(2).astype(np.float32),
            "bn.num_batches_tracked": np.array(7, dtype=np.int64),
            "fc.weight": rng.standard_normal((3, 4)).astype(np.float32)}


# ------------------------------------------------------------------------ seed writers
def _torch_state_dict() -> Any:
    import torch

    sd = {k: torch.from_numpy(v.copy()) for k, v in _arrays().items()}
    sd["fc.weight"] = sd["fc.weight"].t()          # a strided view: stride (1, 4)
    sd["half"] = torch.arange(3, dtype=torch.float16)
    return sd


def _write_torch_zip(path: Path) -> None:
    import torch

    torch.save(_torch_state_dict(), path)


def _write_torch_legacy(path: Path) -> None:
    import torch

    torch.save(_torch_state_dict(), path, _use_new_zipfile_serialization=False)


def _write_keras_h5(path: Path) -> None:
    import h5py

    a = _arrays()
    layers = [("conv", [("conv/kernel:0", a["conv.weight"].transpose(2, 3, 1, 0)),  # HWIO
                        ("conv/bias:0", a["conv.bias"])]),
              ("pool", []),
              ("dense", [("dense/kernel:0", a["fc.weight"]), ("dense/bias:0", a["bn.running_var"])])]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["layer_names"] = [name.encode() for name, _ in layers]
        for name, weights in layers:
            group = f.create_group(name)
            group.attrs["weight_names"] = [w.encode() for w, _ in weights]
            for weight_name, value in weights:
                group.create_dataset(weight_name, data=value)


def _write_keras3_h5(path: Path) -> None:
    import h5py

    a = _arrays()
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for layer, values in (("layers/conv", [a["conv.weight"].transpose(2, 3, 1, 0), a["conv.bias"]]),
                              ("layers/bn", [a["bn.running_var"]] * 4),
                              ("layers/dense", [a["fc.weight"]])):
            group = f.create_group(f"{layer}/vars")
            for i, value in enumerate(values):
                group[str(i)] = value


def _write_safetensors(path: Path) -> None:
    from safetensors.numpy import save_file

    save_file(_arrays(), str(path), metadata={"format": "np", "source": "fuzz seed"})


def _write_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    a = _arrays()
    inits = [numpy_helper.from_array(a[k], k) for k in ("conv.weight", "conv.bias", "fc.weight")]
    inits.append(numpy_helper.from_array(np.arange(3, dtype=np.int64), "shape"))
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "seed", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                           [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
                              initializer=inits)
    model = helper.make_model(graph, producer_name="fuzz", opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path))


def _write_npz(path: Path) -> None:
    from minicnn.io import save_npz

    save_npz(path, _arrays(), {"source": "fuzz seed", "layout": "OIHW"})


def _idx_images() -> bytes:
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    return bytes([0, 0, 0x08, 3]) + struct.pack(">3I", *images.shape) + images.tobytes()


def _write_idx(path: Path) -> None:
    path.write_bytes(_idx_images())


def _write_idx_gz(path: Path) -> None:
    path.write_bytes(gzip.compress(_idx_images(), mtime=0))   # mtime=0: the same bytes every run


def _write_cifar(path: Path) -> None:
    rng = np.random.default_rng(0)
    batch = {b"batch_label": b"training batch 1 of 5",
             b"labels": [3, 8],
             b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
             b"filenames": [b"cat_1.png", b"ship_2.png"]}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def _write_cifar_tarball(path: Path) -> None:
    """cifar-10-python.tar.gz in miniature: five training batches, a test batch, the class names."""
    import io
    import tarfile

    from minicnn.data.cifar import CIFAR10_SOURCE

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for member in CIFAR10_SOURCE.members():
            if member.endswith("batches.meta"):
                content = {b"label_names": [f"class{i}".encode() for i in range(10)]}
            else:
                content = {b"data": rng.integers(0, 4, (1, 3072), dtype=np.uint8), b"labels": [3]}
            data = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(member)           # mtime 0: the same bytes every run
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def _write_checkpoint(path: Path) -> None:
    import minicnn
    from minicnn import nn, optim
    from minicnn.train import History, save_checkpoint

    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 2 * 2, 3))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = minicnn.Tensor(np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32))
    loss = nn.CrossEntropyLoss()(model(x), minicnn.Tensor(np.array([0, 2])))
    loss.backward()
    opt.step()                                     # the optimizer now has state arrays
    history = History(train_loss=[1.5], train_acc=[0.5], lr=[1e-3], seconds=[0.1],
                      images_per_second=[20.0])
    save_checkpoint(path, model, opt, None, epoch=0, history=history)


# ------------------------------------------------------------------------ readers and errors
def _read_torch(path: Path) -> Any:
    from minicnn.io import read_torch
    return read_torch(path).arrays


def _read_keras(path: Path) -> Any:
    from minicnn.io import read_keras_h5
    return read_keras_h5(path).arrays


def _read_safetensors(path: Path) -> Any:
    from minicnn.io import read_safetensors
    return read_safetensors(path).arrays


def _read_onnx(path: Path) -> Any:
    from minicnn.io import read_onnx
    return read_onnx(path, allow_external_data=True).arrays


def _read_npz(path: Path) -> Any:
    from minicnn.io import load_npz
    return load_npz(path)[0]


def _read_idx(path: Path) -> Any:
    from minicnn.data.mnist import read_idx
    return read_idx(path)


def _read_cifar(path: Path) -> Any:
    from minicnn.io import load_cifar_batch
    return load_cifar_batch(path)


def _read_cifar_tarball(path: Path) -> Any:
    import shutil

    from minicnn.data.cifar import load_cifar

    root = path.with_name(path.name + ".root")       # a fresh folder: nothing extracted yet
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    shutil.copyfile(path, root / "cifar-10-python.tar.gz")
    return load_cifar(root, "test")


def _read_checkpoint(path: Path) -> Any:
    import minicnn
    return minicnn.load(path)


def _weight_file_error() -> tuple[type[BaseException], ...]:
    from minicnn.io import WeightFileError
    return (WeightFileError,)


def _value_error() -> tuple[type[BaseException], ...]:
    return (ValueError,)


_IO = dict(errors=_weight_file_error)
TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("torch_zip", ".pth", _write_torch_zip, _read_torch, needs=("torch",), **_IO),
    Target("torch_legacy", ".pth", _write_torch_legacy, _read_torch, needs=("torch",), **_IO),
    Target("keras_h5", ".h5", _write_keras_h5, _read_keras, needs=("h5py",), **_IO),
    Target("keras3_h5", ".weights.h5", _write_keras3_h5, _read_keras, needs=("h5py",), **_IO),
    Target("safetensors", ".safetensors", _write_safetensors, _read_safetensors,
           needs=("safetensors",), **_IO),
    Target("onnx", ".onnx", _write_onnx, _read_onnx, needs=("onnx",), **_IO),
    Target("npz", ".npz", _write_npz, _read_npz, **_IO),
    Target("mnist_idx", "-idx3-ubyte", _write_idx, _read_idx, errors=_value_error),
    Target("mnist_idx_gz", "-idx3-ubyte.gz", _write_idx_gz, _read_idx, errors=_value_error),
    Target("cifar_batch", "_batch", _write_cifar, _read_cifar, **_IO),
    Target("cifar_tarball", "", _write_cifar_tarball, _read_cifar_tarball, errors=_value_error),
    Target("checkpoint", ".npz", _write_checkpoint, _read_checkpoint, **_IO),
)}
