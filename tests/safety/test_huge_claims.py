"""A header that claims a 100 GB tensor in a 1 KB file is refused at once, not allocated.

One hand-made liar per reader. Each read must raise the reader's error within a second while
Python and NumPy allocate less than 4 MB (``tracemalloc`` sees every NumPy array, so a
100 GB ``np.empty`` -- even one the OS would grant lazily -- would show up).
"""
from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
import time
import tracemalloc
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn.data.mnist import read_idx
from minicnn.io import (
    WeightFileError, load_cifar_batch, load_npz, read_keras_h5, read_onnx, read_safetensors,
    read_torch,
)

CLAIM = 100 * 10**9              # bytes: 100 GB
NUMEL = CLAIM // 4               # float32 elements


def assert_refused_at_once(read, path: Path, match: str, error: type = WeightFileError) -> None:
    assert path.stat().st_size < 8192, "the liar should be a small file"
    with pytest.raises(error):
        read(path)               # warm-up: lazy imports (h5py, onnx) are not the reader's memory
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(error, match=match):
            read(path)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1.0, f"took {seconds:.2f} s"
    assert peak < 4 * 2**20, f"allocated {peak / 2**20:.1f} MB"


# ------------------------------------------------------------------------ PyTorch
class _Storage:
    def __init__(self, pid: tuple) -> None:
        self.pid = pid


class _Tensor:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage: _Storage, size: tuple[int, ...]) -> None:
        self.storage, self.size = storage, size

    def __reduce__(self):
        import torch
        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, self.size, (1,), False, OrderedDict()))


def _torch_pickle(obj) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            return o.pid if isinstance(o, _Storage) else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def test_torch_zip(tmp_path):
    torch = pytest.importorskip("torch")
    storage = _Storage(("storage", torch.FloatStorage, "0", "cpu", NUMEL))
    path = tmp_path / "liar.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", _torch_pickle({"w": _Tensor(storage, (NUMEL,))}))
        zf.writestr("archive/byteorder", b"little")
        zf.writestr("archive/data/0", bytes(16))
        zf.writestr("archive/version", b"3\n")
    assert_refused_at_once(read_torch, path, f"claims {NUMEL} x 4-byte elements = {CLAIM} bytes")


def test_torch_legacy(tmp_path):
    torch = pytest.importorskip("torch")
    storage = _Storage(("storage", torch.FloatStorage, "0", "cpu", NUMEL, None))
    path = tmp_path / "liar.pth"
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    with open(path, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, sys_info):
            f.write(pickle.dumps(obj, protocol=2))
        f.write(_torch_pickle({"w": _Tensor(storage, (NUMEL,))}))
        f.write(pickle.dumps(["0"], protocol=2))
        f.write(NUMEL.to_bytes(8, "little") + bytes(16))   # the element count, then 16 bytes
    assert_refused_at_once(read_torch, path, f"= {CLAIM} bytes, but the whole file has only")


# ------------------------------------------------------------------------ Keras HDF5
def test_keras_h5(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "liar.h5"
    with h5py.File(path, "w") as f:           # HDF5 allocates dataset space lazily: ~2 KB file
        f.attrs["layer_names"] = [b"fc"]
        f.create_group("fc").attrs["weight_names"] = [b"fc/kernel:0"]
        f.create_dataset("fc/fc/kernel:0", shape=(250_000, 100_000), dtype="f4")
    assert_refused_at_once(read_keras_h5, path, rf"claims shape \(250000, 100000\) \({CLAIM} bytes\)")


# ------------------------------------------------------------------------ safetensors
def test_safetensors(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [NUMEL], "data_offsets": [0, CLAIM]}})
    path = tmp_path / "liar.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + bytes(16))
    assert_refused_at_once(read_safetensors, path, f"data_offsets end at {CLAIM}, past the end")


# ------------------------------------------------------------------------ ONNX
def _onnx_model(tensor) -> bytes:
    from onnx import helper
    graph = helper.make_graph([], "liar", [], [], initializer=[tensor])
    return helper.make_model(graph).SerializeToString()


def test_onnx_raw_data(tmp_path):
    onnx = pytest.importorskip("onnx")
    tensor = onnx.TensorProto(name="w", data_type=onnx.TensorProto.FLOAT, dims=[NUMEL],
                              raw_data=bytes(16))
    path = tmp_path / "liar.onnx"
    path.write_bytes(_onnx_model(tensor))
    assert_refused_at_once(read_onnx, path, rf"has 16 bytes of data; dims \[{NUMEL}\] need {CLAIM}")


def test_onnx_external_data(tmp_path):
    onnx = pytest.importorskip("onnx")
    tensor = onnx.TensorProto(name="w", data_type=onnx.TensorProto.FLOAT, dims=[NUMEL],
                              data_location=onnx.TensorProto.EXTERNAL)
    for key, value in (("location", "w.bin"), ("offset", "0"), ("length", str(CLAIM))):
        tensor.external_data.add(key=key, value=value)
    (tmp_path / "w.bin").write_bytes(bytes(16))
    path = tmp_path / "liar.onnx"
    path.write_bytes(_onnx_model(tensor))
    assert_refused_at_once(read_onnx, path, rf"external data \[0, {CLAIM}\) of 'w.bin' \(a 16-byte file\)")


# ------------------------------------------------------------------------ npz and checkpoints
def _npy_liar() -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": (NUMEL,)})
    return buf.getvalue() + bytes(16)


def test_npz(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", _npy_liar())
    assert_refused_at_once(load_npz, path, rf"header says float32 \[{NUMEL}\] = {CLAIM} bytes of "
                                           "data but the member holds 16")


def test_checkpoint(tmp_path):
    good = tmp_path / "good.npz"
    minicnn.save({"model": {"w": np.zeros(4, np.float32)}, "epoch": 3}, good)
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, _npy_liar() if info.filename == "model/w.npy"
                         else src.read(info))
    assert_refused_at_once(minicnn.load, path, rf"member 'model/w.npy': header says float32 "
                                               rf"\[{NUMEL}\] = {CLAIM} bytes")


# ------------------------------------------------------------------------ MNIST IDX
def _idx_liar() -> bytes:  # uint8 (100000, 1000, 1000) = 100 GB of pixels, then 1000 bytes
    return bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 100_000, 1000, 1000) + bytes(1000)


def test_mnist_idx(tmp_path):
    path = tmp_path / "liar-idx3-ubyte"
    path.write_bytes(_idx_liar())
    assert_refused_at_once(read_idx, path, rf"16 \+ {CLAIM} = {CLAIM + 16} bytes, but the file "
                                           "has 1016 bytes", error=ValueError)


def test_mnist_idx_gz(tmp_path):
    path = tmp_path / "liar-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_liar(), mtime=0))
    assert_refused_at_once(read_idx, path, "but the gzip trailer records 1016 bytes", error=ValueError)


# ------------------------------------------------------------------------ CIFAR pickles
class _HugeArray:
    """Pickles like NumPy's uint8 (N, 3072) array, with a shape claiming 100 GB."""

    def __reduce__(self):
        fn, args, state = np.zeros((1, 3072), np.uint8).__reduce__()
        return fn, args, (state[0], (CLAIM // 3072, 3072)) + state[2:]


def test_cifar_array_shape(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _HugeArray(), b"labels": [0]}, protocol=2))
    assert_refused_at_once(load_cifar_batch, path, rf"needs {CLAIM // 3072 * 3072} bytes, the "
                                                   "pickle holds 3072")


def test_cifar_bytes_length(tmp_path):
    # BINBYTES8 (protocol 4): an 8-byte length, then that many bytes -- here 100 GB claimed.
    path = tmp_path / "data_batch_2"
    path.write_bytes(b"\x80\x04\x8e" + CLAIM.to_bytes(8, "little") + bytes(16) + b".")
    assert_refused_at_once(load_cifar_batch, path, f"expected {CLAIM} bytes in a bytes8, but only "
                                                   "17 remain")
