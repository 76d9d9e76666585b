"""Check an HDF5 file's global heaps before libhdf5 walks them (a damaged one can hang it).

Variable-length strings -- in Keras files the ``keras_version``, ``backend``, ``layer_names``
and ``weight_names`` attributes -- are stored in *global heap collections*::

    offset   bytes  field
    0        4      "GCOL"
    4        1      version (1)
    5        3      reserved
    8        L      size of the whole collection in bytes       (L = "size of lengths", 8)
    8 + L    ...    objects, back to back, each:
                        2   heap object index (0 = the free space at the end)
                        2   reference count
                        4   reserved
                        L   object size S
                        S   the object's bytes, zero-padded to a multiple of 8

libhdf5 (``H5HG__cache_heap_deserialize``) walks the objects with ``p = begin + need``,

    need = (8 + L) + align8(S)     for an object         need = S     for the free space,

trusting every S. A damaged free-space size of 0 gives ``need = 0``: the walk never advances
and libhdf5 (2.0 included) loops forever inside ``H5Aread``; a size running past the end of
the collection sends ``p`` outside the buffer. Fuzzing found that every hang of minicnn's
Keras reader came from such a heap (e.g. one string attribute made longer by a few bytes,
shifting the objects after it), so we walk each collection the same way, in Python, first.

Where the collections are: only object headers know, so we look for the signature
"GCOL" + version 1 anywhere in the file and check those whose declared size fits in the
file. Random float data passes a real collection's size check with probability ~2^-40 *
file_size / 2^64, i.e. never, so a healthy file is not refused by accident. This closes the
hang we know; it cannot prove libhdf5 has no other one -- for a file from a stranger, read
with ``timeout=`` (``isolated.py``).
"""
from __future__ import annotations

import mmap
import os
from typing import IO

from minicnn.io.errors import WeightFileError

__all__ = ["check_global_heaps", "check_hdf5_file", "HDF5_SIGNATURE"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_GCOL = b"GCOL\x01"


def _size_of_lengths(data: bytes | mmap.mmap) -> int:
    """The superblock's "size of lengths" (bytes per length field), 8 if it cannot be read."""
    offset = 0
    while offset + 16 <= len(data) and offset <= 1 << 20:  # at 0, 512, 1024, 2048, ...
        if data[offset:offset + 8] == HDF5_SIGNATURE:
            version = data[offset + 8]
            size = data[offset + (14 if version <= 1 else 10)]
            return size if size in (2, 4, 8, 16, 32) else 8
        offset = 512 if offset == 0 else offset * 2
    return 8


def _damaged_object(data: bytes | mmap.mmap, start: int, size: int, L: int) -> str | None:
    """Walk one collection as libhdf5 does; describe the first object that breaks the walk."""
    header = 8 + L                                    # object header: index, refs, reserved, S
    p = 8 + L                                         # after the collection header
    while p < size:
        if p + header > size:                         # too small for a header: free space
            return None
        index = int.from_bytes(data[start + p:start + p + 2], "little")
        S = int.from_bytes(data[start + p + 8:start + p + 8 + L], "little")
        need = header + (S + 7) // 8 * 8 if index > 0 else S
        if need == 0 or need > size - p:
            return (f"object {index} at byte {p} has size {S}, which "
                    f"{'does not advance' if need == 0 else 'runs past the end of'} the "
                    f"{size}-byte collection")
        p += need
    return None


def check_global_heaps(data: bytes | mmap.mmap, name: str) -> None:
    """Raise ``WeightFileError`` if a global heap collection in ``data`` would hang libhdf5."""
    L = _size_of_lengths(data)
    at = data.find(_GCOL)
    while at >= 0:
        if at + 8 + L <= len(data):
            size = int.from_bytes(data[at + 8:at + 8 + L], "little")
            if 8 + L <= size <= len(data) - at:       # a collection that fits in the file
                problem = _damaged_object(data, at, size, L)
                if problem:
                    raise WeightFileError(
                        f"{name}: damaged HDF5 global heap (the strings of the attributes) at "
                        f"byte {at}: {problem}; libhdf5 would loop forever reading it. The file "
                        "is corrupted -- download it again")
        at = data.find(_GCOL, at + 1)


def check_hdf5_file(source: str | os.PathLike[str] | IO[bytes], name: str) -> None:
    """``check_global_heaps`` on a path (memory-mapped: no copy) or a seekable file object."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            check_global_heaps(data, name)
    else:
        here = source.tell()
        source.seek(0)
        data = source.read()
        source.seek(here)
        check_global_heaps(data, name)
