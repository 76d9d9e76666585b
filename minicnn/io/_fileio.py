"""Low-level file checks shared by the weight-file readers and writers.

The rule every reader follows: *a size read from the file is a claim, not a fact*.
Before allocating or reading, compare the claim with what the file can actually hold
(its size on disk, or a zip member's stored size). This module holds the helpers that
make that rule cheap to follow:

- ``BoundedReader``: a file wrapper whose ``read(n)`` never asks the OS for more than
  what is left in the file (``pickle`` trusts length fields; a 1 KB file claiming a
  100 GB string must fail at once, not allocate 100 GB first).
- ``read_exact`` / ``readinto_exact``: read exactly the bytes a header promised, or
  raise ``WeightFileError`` saying how many were missing.
- ``open_zip`` / ``check_zip_member``: open an archive and vet a member's sizes.
- ``OutputBudget``: caps the *total* bytes of arrays a file may produce, because
  several tensors may legally view the same stored bytes (each one passes its own
  size check, yet 10,000 views of one 4 MB storage would ask for 40 GB).
- ``atomic_write``: write to a temp file in the same directory, then ``os.replace``,
  so a crash never leaves a half-written weight file under the final name.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from typing import IO

import numpy as np

from minicnn.io.errors import WeightFileError

# Deflate cannot expand data by more than ~1032x; anything claiming more is a zip bomb.
MAX_DEFLATE_RATIO = 1100
# Arrays may legitimately take more memory than the file (bfloat16 widened to float32,
# tied weights stored once), but not more than this many times the file size.
MAX_EXPANSION = 16


class OutputBudget:
    """Running total of the array bytes a reader is about to allocate.

    ``spend(nbytes)`` is called *before* each allocation and raises once the total
    would pass ``MAX_EXPANSION * input_bytes + 1 MiB``.
    """

    def __init__(self, input_bytes: int, name: str) -> None:
        self.input_bytes = input_bytes
        self.left = MAX_EXPANSION * input_bytes + (1 << 20)
        self.name = name

    def grow(self, input_bytes: int) -> None:
        """Account for more input (e.g. an external data file)."""
        self.input_bytes += input_bytes
        self.left += MAX_EXPANSION * input_bytes

    def spend(self, nbytes: int, what: str) -> None:
        if nbytes > self.left:
            raise WeightFileError(
                f"{self.name}: {what} would bring the arrays to more than {MAX_EXPANSION}x "
                f"the {self.input_bytes} bytes of input; refused (many entries viewing the "
                "same stored data?)")
        self.left -= nbytes


class BoundedReader:
    """Read-only view of a seekable binary file that never reads past its end.

    ``read(n)`` is clamped to the bytes that remain, so a parser that trusts a length
    field gets a short read (and reports truncation) instead of a huge allocation.
    """

    def __init__(self, raw: IO[bytes], size: int) -> None:
        self._raw = raw
        self._size = size

    def remaining(self) -> int:
        return max(self._size - self._raw.tell(), 0)

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def read(self, n: int = -1) -> bytes:
        limit = self.remaining()
        return self._raw.read(limit if n is None or n < 0 else min(n, limit))

    def readline(self, limit: int = -1) -> bytes:
        cap = self.remaining() if limit is None or limit < 0 else min(limit, self.remaining())
        return self._raw.readline(cap)

    def readinto(self, buffer: memoryview | bytearray) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def stream_size(f: IO[bytes]) -> int:
    """Size in bytes of a seekable stream (the current position is preserved)."""
    here = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(here)
    return end


def read_exact(f: IO[bytes] | BoundedReader, n: int, name: str, what: str) -> bytes:
    """Read exactly ``n`` bytes for ``what``, or raise a truncation error naming the file."""
    data = f.read(n)
    if len(data) != n:
        raise WeightFileError(
            f"{name}: file ends early while reading {what}: expected {n} bytes, got "
            f"{len(data)}; the file is truncated"
        )
    return data


def readinto_exact(f: IO[bytes], out: np.ndarray, name: str, what: str) -> None:
    """Fill the C-contiguous array ``out`` with exactly ``out.nbytes`` bytes from ``f``."""
    view = memoryview(out.reshape(-1).view(np.uint8))  # (nbytes,) byte view, no copy
    filled = 0
    while filled < len(view):
        got = f.readinto(view[filled:])
        if not got:
            raise WeightFileError(
                f"{name}: file ends early while reading {what}: expected {len(view)} "
                f"bytes, got {filled}; the file is truncated"
            )
        filled += got


def open_zip(source: str | IO[bytes], name: str, what: str) -> zipfile.ZipFile:
    """Open a zip archive, turning every zipfile failure into ``WeightFileError``."""
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError,
            NotImplementedError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise WeightFileError(
            f"{name}: not a readable zip archive ({exc}); expected {what}, which is a "
            "zip file -- the file may be truncated"
        ) from exc


def check_zip_member(info: zipfile.ZipInfo, archive_size: int, name: str) -> None:
    """Refuse a zip member whose declared size the archive cannot possibly hold."""
    if info.flag_bits & 0x1:
        raise WeightFileError(
            f"{name}: zip member {info.filename!r} is encrypted; expected a plain archive"
        )
    if info.compress_type == zipfile.ZIP_STORED:
        limit = archive_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        limit = MAX_DEFLATE_RATIO * max(info.compress_size, 1)
    else:
        raise WeightFileError(
            f"{name}: zip member {info.filename!r} uses compression method "
            f"{info.compress_type}; expected stored (0) or deflated (8)"
        )
    if info.compress_size > archive_size or info.file_size > limit:
        raise WeightFileError(
            f"{name}: zip member {info.filename!r} claims {info.file_size} bytes "
            f"({info.compress_size} compressed) but the archive has only {archive_size} "
            "bytes; the file is truncated or corrupted"
        )


def read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int,
                    name: str) -> bytes:
    """Vet and read one zip member (CRC-checked by zipfile) as bytes."""
    check_zip_member(info, archive_size, name)
    try:
        data = zf.read(info)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise WeightFileError(
            f"{name}: cannot read zip member {info.filename!r} ({exc}); the archive is "
            "truncated or corrupted"
        ) from exc
    if len(data) != info.file_size:
        raise WeightFileError(
            f"{name}: zip member {info.filename!r} has {len(data)} bytes, expected "
            f"{info.file_size}"
        )
    return data


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temp file next to ``path``, fsync it, then rename it over
    ``path``. Readers see either the old file or the complete new one, never a mix.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows (same filesystem)
    except BaseException:
        remove_if_exists(tmp)
        raise


def remove_if_exists(path: str) -> None:
    """Remove ``path`` if it still exists (cleanup after a failed write)."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
