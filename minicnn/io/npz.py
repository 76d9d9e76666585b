"""minicnn's own weight format: a ``.npz`` archive plus a JSON manifest.

An ``.npz`` file is a zip archive with one ``<name>.npy`` member per array (the
``.npy`` member = magic ``\\x93NUMPY``, version, a small header dict giving dtype,
shape and order, then the raw bytes). We add one member, ``__manifest__.npy``, a
uint8 array holding UTF-8 JSON::

    {"npz_format": "minicnn-npz", "npz_version": 1,
     "source": "...", "layout": "...", "preprocessing": {...},    (anything you pass)
     "arrays": {"conv1.weight": {"dtype": "<f4", "shape": [8, 3, 3, 3],
                                 "sha256": "9f2c..."}, ...}}

``sha256`` is the SHA-256 of the array's bytes in C order, little-endian, so loading
can prove the numbers are the ones that were saved. Arrays are written and read with
pickling disabled (no object arrays, ever), and writing is atomic: the archive is
built in a temp file in the same folder and renamed over the target only when
complete.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from typing import IO, Any

import numpy as np

from minicnn.io._fileio import atomic_write, check_zip_member, open_zip, readinto_exact
from minicnn.io.errors import WeightFileError, reading
from minicnn.io.weight_file import WeightFile

__all__ = ["save_npz", "load_npz", "read_npz", "array_sha256", "MANIFEST_KEY"]

MANIFEST_KEY = "__manifest__"
FORMAT_NAME = "minicnn-npz"
FORMAT_VERSION = 1
_NUMERIC_KINDS = "biufc"


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 (hex) of ``array``'s values: C order, little-endian bytes."""
    array = np.asarray(array)
    little = np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")
    return hashlib.sha256(little.reshape(-1).view(np.uint8)).hexdigest()


def _check_numeric(dtype: np.dtype, what: str) -> None:
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None \
            or dtype.subdtype is not None:
        raise WeightFileError(f"{what} has dtype {dtype}; expected a plain numeric dtype "
                              "(bool, int, uint, float, complex) -- object arrays are refused")


def save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray],
             manifest: dict[str, Any] | None = None, *, compress: bool = False) -> dict[str, Any]:
    """Write ``arrays`` and a manifest to ``path`` (exactly that name) atomically.

    Args:
        path: destination file; ``.npz`` is *not* appended.
        arrays: ``{name: array}``; names are str (``"/"`` allowed), not ``"__manifest__"``.
        manifest: JSON-serializable facts to store (source, layout, preprocessing...).
            Its keys are kept as given, except the reserved ``npz_format``,
            ``npz_version`` and ``arrays``, which are (re)computed here.
        compress: deflate the members (smaller, slower) instead of storing them.

    Returns:
        The manifest as written (including the per-array dtype, shape and sha256).

    Raises:
        ValueError / TypeError: a bad name, a non-numeric dtype, or a manifest that is
            not JSON-serializable. Nothing is written in that case.
    """
    prepared: dict[str, np.ndarray] = {}
    entries: dict[str, dict[str, Any]] = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or key == MANIFEST_KEY or "\0" in key:
            raise ValueError(f"save_npz: bad array name {key!r}; expected a non-empty str "
                             f"other than {MANIFEST_KEY!r}")
        value = np.asarray(value)
        _check_numeric(value.dtype, f"save_npz: array {key!r}")
        value = np.asarray(value, dtype=value.dtype.newbyteorder("<"), order="C")
        prepared[key] = value
        entries[key] = {"dtype": value.dtype.str, "shape": list(value.shape),
                        "sha256": array_sha256(value)}
    full = dict(manifest or {})
    full.update(npz_format=FORMAT_NAME, npz_version=FORMAT_VERSION, arrays=entries)
    text = json.dumps(full, allow_nan=False).encode("utf-8")  # TypeError if not JSON-able
    manifest_array = np.frombuffer(text, dtype=np.uint8)
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=mode, allowZip64=True) as zf:
            for key, value in [(MANIFEST_KEY, manifest_array), *prepared.items()]:
                with zf.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)

    atomic_write(path, write)
    return full


def load_npz(path: str | os.PathLike[str], *, require_manifest: bool = False
             ) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """Load an ``.npz`` written by ``save_npz`` (or plain ``np.savez``) without pickle.

    Returns:
        ``(arrays, manifest)``: arrays in archive order; ``manifest`` is the stored dict,
        or ``None`` for an archive without one (refused if ``require_manifest``).

    Raises:
        WeightFileError: not a valid archive, a member that is not a plain numeric
            ``.npy``, sizes that do not match, or arrays that do not match the
            manifest's names, dtypes, shapes or SHA-256 checksums.
    """
    name = os.fspath(path)
    size = os.path.getsize(name)
    if size == 0:
        raise WeightFileError(f"{name}: empty file; expected an .npz archive")
    arrays: dict[str, np.ndarray] = {}
    with open_zip(name, name, "an .npz archive") as zf, reading(name, ".npz archive"):
        for info in zf.infolist():
            if not info.filename.endswith(".npy") or info.is_dir():
                raise WeightFileError(f"{name}: member {info.filename!r}; expected only "
                                      "'<name>.npy' members in an .npz archive")
            key = info.filename[: -len(".npy")]
            if key in arrays:
                raise WeightFileError(f"{name}: member {info.filename!r} appears twice")
            arrays[key] = _read_npy_member(zf, info, size, name)
    manifest = None
    if MANIFEST_KEY in arrays:
        manifest = _decode_manifest(arrays.pop(MANIFEST_KEY), name)
        _verify(arrays, manifest, name)
    elif require_manifest:
        raise WeightFileError(f"{name}: no {MANIFEST_KEY!r} member; expected a file "
                              "written by minicnn.io.save_npz")
    return arrays, manifest


def read_npz(path: str | os.PathLike[str]) -> WeightFile:
    """``load_npz`` as a ``WeightFile`` (``meta["manifest"]`` holds the manifest)."""
    arrays, manifest = load_npz(path)
    return WeightFile(arrays, "npz", {"manifest": manifest}, os.fspath(path))


def _read_npy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int,
                     name: str) -> np.ndarray:
    """Parse one ``.npy`` member's header, check its size claim, then read the data."""
    check_zip_member(info, archive_size, name)
    where = f"{name}: member {info.filename!r}"
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise WeightFileError(f"{where}: .npy format version {version}; expected 1.0 "
                                  "or 2.0")
        _check_numeric(dtype, where)
        nbytes = math.prod(shape) * dtype.itemsize
        if fp.tell() + nbytes != info.file_size:
            raise WeightFileError(
                f"{where}: header says {dtype} {list(shape)} = {nbytes} bytes of data but "
                f"the member holds {info.file_size - fp.tell()}")
        # Fortran-order bytes of shape s are C-order bytes of reversed(s), transposed.
        out = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
        readinto_exact(fp, out, name, f"member {info.filename!r}")
    out = out.T if fortran else out
    return np.asarray(out, dtype=dtype.newbyteorder("="), order="C")


def _decode_manifest(raw: np.ndarray, name: str) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise WeightFileError(f"{name}: {MANIFEST_KEY} is {raw.dtype} {raw.shape}; expected "
                              "a 1-d uint8 array of UTF-8 JSON")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # [[[[... nests too deep
        raise WeightFileError(f"{name}: {MANIFEST_KEY} is not UTF-8 JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("npz_format") != FORMAT_NAME \
            or not isinstance(manifest.get("arrays"), dict):
        raise WeightFileError(f"{name}: manifest is not a {FORMAT_NAME!r} object with an "
                              "'arrays' table")
    version = manifest.get("npz_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise WeightFileError(f"{name}: manifest npz_version {version!r}; this minicnn "
                              f"reads versions up to {FORMAT_VERSION}")
    return manifest


def _verify(arrays: dict[str, np.ndarray], manifest: dict[str, Any], name: str) -> None:
    """Check names, dtypes, shapes and SHA-256 of every array against the manifest."""
    table = manifest["arrays"]
    if set(table) != set(arrays):
        missing, extra = sorted(set(table) - set(arrays)), sorted(set(arrays) - set(table))
        raise WeightFileError(f"{name}: arrays do not match the manifest: missing "
                              f"{missing[:10]}, not listed {extra[:10]}")
    for key, array in arrays.items():
        entry = table[key]
        if not isinstance(entry, dict):
            raise WeightFileError(f"{name}: manifest entry for {key!r} is not an object")
        little = array.dtype.newbyteorder("<")
        if entry.get("dtype") != little.str or entry.get("shape") != list(array.shape):
            raise WeightFileError(
                f"{name}: array {key!r} is {little.str} {list(array.shape)} but the manifest "
                f"says {entry.get('dtype')} {entry.get('shape')}")
        if entry.get("sha256") != array_sha256(array):
            raise WeightFileError(
                f"{name}: array {key!r} fails its SHA-256 check (manifest "
                f"{str(entry.get('sha256'))[:12]}..., data {array_sha256(array)[:12]}...); "
                "the file was modified or corrupted")
