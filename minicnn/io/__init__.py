"""Weight-file readers: PyTorch, Keras HDF5, safetensors, ONNX and minicnn's ``.npz``.

Every reader returns plain NumPy arrays keyed by the names in the file and knows
nothing about minicnn modules; mapping names and layouts onto a model is a separate
step. None of them imports torch or TensorFlow, and none runs code from the file:
pickles go through an allow-list unpickler (``safe_pickle.py``).

    >>> from minicnn.io import load_weights, read_weights
    >>> arrays = load_weights("vgg16-397923af.pth")       # {"features.0.weight": ...}
    >>> wf = read_weights("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    >>> wf.format, wf.meta["layouts"]["block1_conv1/kernel"]
    ('keras_h5', 'HWIO')

For a file from a stranger, add ``timeout=60``: it is then read in a child process that
is killed if the C libraries behind .h5 / .onnx hang on it (``isolated.py``,
docs/safety.md).

The format is detected from the file's first bytes, not its extension:

    ============  =============================================  ====================
    format        signature                                      reader
    ============  =============================================  ====================
    torch         zip with ``<prefix>/data.pkl``, or a pickle    ``read_torch``
                  starting with torch's magic number (legacy)
    keras_h5      ``\\x89HDF\\r\\n\\x1a\\n`` (Keras 2 or 3 layout)   ``read_keras_h5``
    keras         zip with ``model.weights.h5`` (``.keras``)     ``read_keras_archive``
    safetensors   u64 header length, then ``{``                  ``read_safetensors``
    onnx          protobuf: ``0x08`` ir_version, then a field    ``read_onnx``
    npz           zip of ``*.npy`` members                       ``read_npz``
    ============  =============================================  ====================
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO

import numpy as np

from minicnn.io._fileio import open_zip
from minicnn.io.errors import UnsafePickleError, WeightFileError
from minicnn.io.keras_h5 import HDF5_SIGNATURE, read_keras_archive, read_keras_h5
from minicnn.io.keras_layouts import (
    conv_kernel_hwio_to_oihw, dense_in_out_to_out_in, permute_dense_rows_nhwc_to_nchw,
)
from minicnn.io.npz import load_npz, read_npz, save_npz
from minicnn.io.onnx_weights import looks_like_onnx, read_onnx
from minicnn.io.safe_pickle import load_cifar_batch, load_cifar_meta
from minicnn.io.safetensors_io import load_safetensors, read_safetensors, save_safetensors
from minicnn.io.torch_pth import LEGACY_MAGIC_BYTES, data_pkl_members, read_torch
from minicnn.io.weight_file import WeightFile

__all__ = [
    "WeightFile", "WeightFileError", "UnsafePickleError", "SUPPORTED_FORMATS",
    "detect_format", "load_weights", "read_weights",
    "read_torch", "read_keras_h5", "read_keras_archive", "read_safetensors",
    "load_safetensors", "save_safetensors", "read_onnx", "save_npz", "load_npz", "read_npz",
    "load_cifar_batch", "load_cifar_meta",
    "conv_kernel_hwio_to_oihw", "dense_in_out_to_out_in", "permute_dense_rows_nhwc_to_nchw",
]

_READERS: dict[str, Callable[[str], WeightFile]] = {
    "torch": read_torch,
    "keras_h5": read_keras_h5,
    "keras": read_keras_archive,
    "safetensors": read_safetensors,
    "onnx": read_onnx,
    "npz": read_npz,
}
SUPPORTED_FORMATS = (
    "PyTorch .pt/.pth (zip or legacy), Keras .h5 / .weights.h5 / .keras, "
    ".safetensors, .onnx, minicnn .npz"
)


def _has_hdf5_signature(f: IO[bytes], size: int) -> bool:
    """HDF5's signature is at byte 0, or after a user block at 512, 1024, 2048, ..."""
    offset = 0
    while offset + 8 <= size and offset <= 1 << 20:
        f.seek(offset)
        if f.read(8) == HDF5_SIGNATURE:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the weight format of ``path`` from its content (see the module table).

    Raises:
        WeightFileError: empty file, or content that matches no supported format.
    """
    name = os.fspath(path)
    size = os.path.getsize(name)
    if size == 0:
        raise WeightFileError(f"{name}: empty file; expected a weight file "
                              f"({SUPPORTED_FORMATS})")
    with open(name, "rb") as f:
        head = f.read(64)
        if _has_hdf5_signature(f, size):
            return "keras_h5"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        with open_zip(name, name, "a zip-based weight file") as zf:
            members = zf.namelist()
        if data_pkl_members(members):
            return "torch"
        if "model.weights.h5" in members:
            return "keras"
        if members and all(m.endswith(".npy") for m in members):
            return "npz"
        raise WeightFileError(
            f"{name}: a zip archive with members {members[:8]}; expected a PyTorch "
            "checkpoint (<prefix>/data.pkl), a .keras archive (model.weights.h5) or an "
            ".npz (*.npy members)")
    if LEGACY_MAGIC_BYTES in head[:32]:
        return "torch"
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    if looks_like_onnx(head):
        return "onnx"
    if head[:1] == b"\x80":
        raise WeightFileError(
            f"{name}: a Python pickle that is not a torch.save file; arbitrary pickles can "
            "run code, so they are not read. Expected one of: " + SUPPORTED_FORMATS)
    raise WeightFileError(
        f"{name}: unrecognized content (first bytes {head[:16].hex(' ')}); expected one "
        f"of the supported formats: {SUPPORTED_FORMATS}")


def read_weights(path: str | os.PathLike[str], format: str | None = None, *,
                 timeout: float | None = None) -> WeightFile:
    """Read a weight file of any supported format into a ``WeightFile``.

    Args:
        path: the file; its format is detected from its bytes unless ``format`` is given
            (one of ``"torch"``, ``"keras_h5"``, ``"keras"``, ``"safetensors"``,
            ``"onnx"``, ``"npz"``).
        timeout: for a file you did not make: read it in a child process, killed after
            this many seconds, with its memory capped (see ``minicnn.io.isolated``; the
            C libraries behind .h5 and .onnx can hang on a corrupted file). ``None``
            reads in this process.
    """
    fmt = format or detect_format(path)
    if fmt not in _READERS:
        raise ValueError(f"read_weights: unknown format {fmt!r}; expected one of "
                         f"{sorted(_READERS)}")
    if timeout is not None:
        from minicnn.io.isolated import read_isolated

        return read_isolated(fmt, path, timeout)
    return _READERS[fmt](os.fspath(path))


def load_weights(path: str | os.PathLike[str], *, timeout: float | None = None
                 ) -> dict[str, np.ndarray]:
    """``{name: array}`` from a weight file of any supported format (see module doc)."""
    return read_weights(path, timeout=timeout).arrays
