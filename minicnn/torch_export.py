"""Hand a minicnn model's weights to PyTorch: a ``.pth`` file written without torch.

    >>> from minicnn.torch_export import save_torch_state_dict
    >>> save_torch_state_dict(model, "vgg16_finetuned.pth")
    # later, in PyTorch / torchvision:
    #   net = torchvision.models.vgg16(num_classes=10)
    #   net.load_state_dict(torch.load("vgg16_finetuned.pth", weights_only=True))

The keys are ``model.state_dict()``'s, which for ``minicnn.models.vgg*`` are torchvision's
(``features.0.weight`` ... ``classifier.6.bias``), and the layouts are PyTorch's
(Conv2d (C_out, C_in, KH, KW), Linear (out, in)), so nothing needs renaming or transposing.

``torch.save`` (torch >= 1.6) writes a zip archive, uncompressed:

    archive/data.pkl      the pickled object: here an OrderedDict name -> tensor
    archive/data/0, 1 ..  the raw little-endian bytes of each tensor's storage
    archive/byteorder     "little"
    archive/version       "3"

In data.pkl each tensor is the call ``torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, requires_grad, backward_hooks)``; its storage is a *persistent id*, the tuple
``("storage", torch.FloatStorage, "0", "cpu", numel)``, that ``torch.load`` resolves to
``archive/data/0``.  We emit the pickle opcode by opcode (protocol 2, torch's), so the file
contains exactly the few globals that ``torch.load(weights_only=True)`` allows.
"""
from __future__ import annotations

import os
import pickle
import struct
import tempfile
import zipfile
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from .tensor import Tensor

__all__ = ["to_torch_state_dict", "save_torch_state_dict", "TORCH_STORAGE_TYPES"]

# NumPy dtype -> the legacy storage class torch.save names in data.pkl
TORCH_STORAGE_TYPES: dict[np.dtype, str] = {
    np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage", np.dtype(np.int16): "ShortStorage",
    np.dtype(np.int8): "CharStorage", np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage",
}
_ALIGNMENT = 64   # torch aligns each storage's bytes to 64 in the file (for torch.load(mmap=True))


def to_torch_state_dict(model_or_state_dict: Any) -> OrderedDict[str, np.ndarray]:
    """A model's weights as PyTorch expects them: name -> C-contiguous little-endian array.

    Args:
        model_or_state_dict: a minicnn Module, or a mapping name -> array / Tensor.

    Returns:
        an ``OrderedDict`` of NumPy arrays with the Module's ``state_dict()`` keys
        (torchvision's for ``minicnn.models.vgg*``), including BatchNorm's int64
        ``num_batches_tracked``.  With torch: ``{k: torch.from_numpy(v) for k, v in d.items()}``.
    """
    if hasattr(model_or_state_dict, "state_dict") and callable(model_or_state_dict.state_dict):
        items = model_or_state_dict.state_dict().items()
    elif isinstance(model_or_state_dict, Mapping):
        items = model_or_state_dict.items()
    else:
        raise TypeError(f"to_torch_state_dict: expected a Module or a dict of arrays, "
                        f"got {type(model_or_state_dict).__name__}")
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, value in items:
        if not isinstance(name, str):
            raise TypeError(f"to_torch_state_dict: keys must be strings, got {name!r}")
        array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
        dtype = array.dtype.newbyteorder("=")
        if dtype not in TORCH_STORAGE_TYPES:
            raise TypeError(f"to_torch_state_dict: {name!r} has dtype {array.dtype}, which has no torch "
                            f"storage type here; supported: {', '.join(str(d) for d in TORCH_STORAGE_TYPES)}")
        out[name] = np.asarray(array, dtype=dtype.newbyteorder("<"), order="C")   # 0-d stays 0-d
    return out


def save_torch_state_dict(model_or_state_dict: Any, path: str | os.PathLike[str]) -> None:
    """Write ``to_torch_state_dict(model_or_state_dict)`` as a ``.pth`` file for ``torch.load``.

    The file is written to a temporary name and renamed, so a crash never leaves half a file.
    """
    state = to_torch_state_dict(model_or_state_dict)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pth", dir=folder)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            _write_record(zf, "archive/data.pkl", _pickle_state_dict(state))
            _write_record(zf, "archive/byteorder", b"little")
            for key, array in enumerate(state.values()):
                _write_record(zf, f"archive/data/{key}", memoryview(array.reshape(-1).view(np.uint8)))
            _write_record(zf, "archive/version", b"3\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---------------------------------------------------------------------- the pickle, opcode by opcode
class _PickleWriter:
    """Emits pickle protocol-2 opcodes; ``pickle.loads`` (with a persistent_load) or
    ``torch.load`` reads them back."""

    def __init__(self) -> None:
        self.out = bytearray(pickle.PROTO + bytes([2]))

    def op(self, opcode: bytes) -> None:
        self.out += opcode

    def global_(self, module: str, name: str) -> None:
        self.out += pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii")

    def int_(self, n: int) -> None:
        if 0 <= n < 256:
            self.out += pickle.BININT1 + bytes([n])
        elif -(2**31) <= n < 2**31:
            self.out += pickle.BININT + struct.pack("<i", n)
        else:                                   # two's complement, little-endian, as many bytes as needed
            data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
            self.out += pickle.LONG1 + bytes([len(data)]) + data

    def str_(self, s: str) -> None:
        data = s.encode("utf-8")
        self.out += pickle.BINUNICODE + struct.pack("<I", len(data)) + data

    def int_tuple(self, values: tuple[int, ...]) -> None:
        self.op(pickle.MARK)
        for v in values:
            self.int_(int(v))
        self.op(pickle.TUPLE)

    def empty_ordered_dict(self) -> None:
        self.global_("collections", "OrderedDict")   # OrderedDict()
        self.op(pickle.EMPTY_TUPLE)
        self.op(pickle.REDUCE)


def _pickle_state_dict(state: OrderedDict[str, np.ndarray]) -> bytes:
    """data.pkl: OrderedDict([(name, _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())), ...])"""
    p = _PickleWriter()
    p.empty_ordered_dict()
    p.op(pickle.MARK)
    for key, (name, array) in enumerate(state.items()):
        p.str_(name)
        p.global_("torch._utils", "_rebuild_tensor_v2")
        p.op(pickle.MARK)                       # the arguments of _rebuild_tensor_v2:
        p.op(pickle.MARK)                       # 1. the storage, as a persistent id
        p.str_("storage")
        p.global_("torch", TORCH_STORAGE_TYPES[array.dtype.newbyteorder("=")])
        p.str_(str(key))                        #    -> archive/data/<key>
        p.str_("cpu")
        p.int_(array.size)
        p.op(pickle.TUPLE)
        p.op(pickle.BINPERSID)
        p.int_(0)                               # 2. storage offset
        p.int_tuple(array.shape)                # 3. size
        p.int_tuple(_strides(array.shape))      # 4. stride, in elements
        p.op(pickle.NEWFALSE)                   # 5. requires_grad
        p.empty_ordered_dict()                  # 6. backward hooks (none)
        p.op(pickle.TUPLE)
        p.op(pickle.REDUCE)
    p.op(pickle.SETITEMS)                       # the OrderedDict gets every (name, tensor) pair
    p.op(pickle.STOP)
    return bytes(p.out)


def _strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """C-order strides in elements: (C*H*W, H*W, W, 1) for (N, C, H, W)."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


# ---------------------------------------------------------------------- the zip container
def _write_record(zf: zipfile.ZipFile, name: str, data: bytes | memoryview) -> None:
    """Store ``data`` uncompressed with its first byte at a multiple of 64 in the file.

    A zip entry is a 30-byte local header, the file name, an "extra field", then the
    data; a padding extra field (id 0x4246, "FB", as torch's own writer uses) fills the gap.
    """
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    data_start = zf.fp.tell() + 30 + len(name.encode("utf-8")) + 4
    if len(data) * 1.05 > zipfile.ZIP64_LIMIT:
        data_start += 20                        # zipfile appends a zip64 extra field for big entries
    pad = -data_start % _ALIGNMENT
    info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
    zf.writestr(info, data)
