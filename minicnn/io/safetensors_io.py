"""A small, strict reader and writer for the safetensors format (pure Python + NumPy).

Layout of a ``.safetensors`` file::

    bytes [0, 8)            N = header length, unsigned 64-bit little-endian
    bytes [8, 8 + N)        UTF-8 JSON header, starting with '{' (may end in spaces):
                            {"__metadata__": {"key": "str value", ...},     (optional)
                             "conv.weight": {"dtype": "F32", "shape": [8, 3, 3, 3],
                                             "data_offsets": [begin, end]}, ...}
    bytes [8 + N, EOF)      the data buffer; tensor bytes are buffer[begin:end],
                            little-endian, C order

The reader trusts nothing in the header. It checks that N fits in the file, that each
tensor's byte length equals prod(shape) * itemsize, and that the tensors tile the
buffer exactly -- sorted by offset, each begins where the previous ended, the last
ends at EOF (no overlaps, no holes, nothing past the end) -- before reading any data.
"""
from __future__ import annotations

import json
import math
import os
from typing import IO, Any

import numpy as np

from minicnn.io._fileio import atomic_write, read_exact, readinto_exact
from minicnn.io.errors import WeightFileError, reading
from minicnn.io.weight_file import WeightFile

__all__ = ["read_safetensors", "load_safetensors", "save_safetensors", "SAFETENSORS_DTYPES"]

# safetensors dtype code -> little-endian NumPy dtype of the stored bytes.
SAFETENSORS_DTYPES = {
    "BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "I32": "<i4",
    "U32": "<u4", "I64": "<i8", "U64": "<u8", "F16": "<f2", "F32": "<f4", "F64": "<f8",
    "C64": "<c8",
    "BF16": "<u2",  # no NumPy bfloat16: read the bits, widen exactly to float32
}
_CODES = {np.dtype(v).newbyteorder("<"): k for k, v in SAFETENSORS_DTYPES.items()
          if k != "BF16"}
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit


def read_safetensors(path: str | os.PathLike[str]) -> WeightFile:
    """Read every tensor of a ``.safetensors`` file, in data-offset (file) order.

    Returns ``WeightFile(format="safetensors")`` whose ``meta`` has ``metadata`` (the
    ``__metadata__`` dict of str) and ``dtypes`` (each tensor's safetensors code,
    useful because BF16 tensors come back as float32).
    """
    name = os.fspath(path)
    size = os.path.getsize(name)
    with open(name, "rb") as f, reading(name, "safetensors file"):
        if size < 8:
            raise WeightFileError(f"{name}: {size} bytes; a safetensors file starts with "
                                  "an 8-byte header length")
        header_len = int.from_bytes(read_exact(f, 8, name, "the header length"), "little")
        if header_len > min(MAX_HEADER_BYTES, size - 8):
            raise WeightFileError(
                f"{name}: header length {header_len} does not fit: the file has "
                f"{size - 8} bytes after the length field (limit {MAX_HEADER_BYTES})")
        header = _parse_header(read_exact(f, header_len, name, "the JSON header"), name)
        buffer_start = 8 + header_len
        metadata = _metadata(header.pop("__metadata__", None), name)
        entries = _check_entries(header, size - buffer_start, name)

        arrays: dict[str, np.ndarray] = {}
        dtypes: dict[str, str] = {}
        for tensor_name, code, shape, begin, _end in entries:
            stored = np.dtype(SAFETENSORS_DTYPES[code])
            out = np.empty(shape, dtype=stored)
            f.seek(buffer_start + begin)
            readinto_exact(f, out, name, f"tensor {tensor_name!r}")
            out = out.astype(stored.newbyteorder("="), copy=False)  # to native order
            if code == "BF16":
                out = (out.astype(np.uint32) << 16).view(np.float32)  # bf16 = fp32 top half
            arrays[tensor_name], dtypes[tensor_name] = out, code
    return WeightFile(arrays, "safetensors", {"metadata": metadata, "dtypes": dtypes}, name)


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``read_safetensors(path).arrays``."""
    return read_safetensors(path).arrays


def _parse_header(raw: bytes, name: str) -> dict[str, Any]:
    if not raw.startswith(b"{"):
        raise WeightFileError(f"{name}: header starts with {raw[:8]!r}; expected a JSON "
                              "object starting with '{'")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise WeightFileError(f"{name}: header repeats a key; expected unique names")
        return dict(pairs)

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, WeightFileError):
            raise
        raise WeightFileError(f"{name}: header is not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise WeightFileError(f"{name}: header is a JSON {type(header).__name__}; "
                              "expected an object")
    return header


def _metadata(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise WeightFileError(f"{name}: __metadata__ is {value!r:.80}; expected an object "
                              "of string -> string")
    return value


def _check_entries(header: dict[str, Any], buffer_len: int, name: str
                   ) -> list[tuple[str, str, tuple[int, ...], int, int]]:
    """Validate every tensor entry and that the entries tile the data buffer exactly."""
    entries = []
    for tensor_name, entry in header.items():
        where = f"{name}: tensor {tensor_name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise WeightFileError(f"{where}: entry {entry!r:.80}; expected keys dtype, "
                                  "shape, data_offsets")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in SAFETENSORS_DTYPES:
            raise WeightFileError(f"{where}: dtype {code!r:.20}; expected one of "
                                  f"{sorted(SAFETENSORS_DTYPES)}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise WeightFileError(f"{where}: shape {shape!r:.80}; expected a list of "
                                  "non-negative ints")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))
                and offsets[0] <= offsets[1]):
            raise WeightFileError(f"{where}: data_offsets {offsets!r:.80}; expected "
                                  "[begin, end] with 0 <= begin <= end")
        begin, end = offsets
        nbytes = math.prod(shape) * np.dtype(SAFETENSORS_DTYPES[code]).itemsize
        if end - begin != nbytes:
            raise WeightFileError(
                f"{where}: {code} {shape} needs {nbytes} bytes but data_offsets "
                f"[{begin}, {end}] span {end - begin}")
        if end > buffer_len:
            raise WeightFileError(
                f"{where}: data_offsets end at {end}, past the end of the {buffer_len}-byte "
                "data buffer; the file is truncated or the header is wrong")
        entries.append((tensor_name, code, tuple(shape), begin, end))

    entries.sort(key=lambda e: (e[3], e[4]))
    expected = 0
    for tensor_name, _code, _shape, begin, end in entries:
        if begin != expected:
            problem = "overlaps the previous tensor" if begin < expected else "leaves a hole"
            raise WeightFileError(
                f"{name}: tensor {tensor_name!r} starts at {begin} but the previous tensor "
                f"ends at {expected}: it {problem}; expected tensors to tile the buffer")
        expected = end
    if expected != buffer_len:
        raise WeightFileError(f"{name}: tensors cover {expected} bytes but the data buffer "
                              f"has {buffer_len}; expected no trailing bytes")
    return entries


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def save_safetensors(path: str | os.PathLike[str], arrays: dict[str, np.ndarray],
                     metadata: dict[str, str] | None = None) -> None:
    """Write ``arrays`` (in the given order) as a ``.safetensors`` file, atomically.

    Raises:
        TypeError / ValueError: a name is not a str or is ``"__metadata__"``, an array
            has a dtype safetensors cannot store, or metadata is not str -> str.
    """
    header: dict[str, Any] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_safetensors: metadata must map str -> str")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for tensor_name, value in arrays.items():
        if not isinstance(tensor_name, str) or tensor_name == "__metadata__":
            raise ValueError(f"save_safetensors: bad tensor name {tensor_name!r}")
        value = np.asarray(value)
        little = value.dtype.newbyteorder("<")  # safetensors is always little-endian
        code = _CODES.get(little)
        if code is None:
            raise TypeError(f"save_safetensors: {tensor_name!r} has dtype {value.dtype}; "
                            f"storable dtypes are {sorted(str(d) for d in _CODES)}")
        data = np.asarray(value, dtype=little, order="C")
        header[tensor_name] = {"dtype": code, "shape": list(data.shape),
                               "data_offsets": [offset, offset + data.nbytes]}
        blobs.append(data)
        offset += data.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)  # pad so the data buffer starts 8-byte aligned

    def write(f: IO[bytes]) -> None:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for data in blobs:
            f.write(data.reshape(-1).view(np.uint8))  # raw bytes, C order

    atomic_write(path, write)
