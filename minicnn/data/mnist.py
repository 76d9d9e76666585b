"""MNIST and Fashion-MNIST from their IDX files (gzipped or not), local or downloaded.

Notation:
    N   number of images: 60,000 (train) or 10,000 (test)

The IDX format (http://yann.lecun.com/exdb/mnist/) is a tiny header followed by raw
big-endian numbers in row-major (C) order:

    offset  bytes      meaning
    0       2          0x00 0x00
    2       1          element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                       0x0D float32, 0x0E float64
    3       1          number of dimensions D (images: 3, labels: 1)
    4       4*D        the dimensions, each a big-endian uint32: (N, 28, 28) or (N,)
    4+4*D   ...        prod(dims) elements

:func:`read_idx` checks all of that *before* it allocates the array: the magic bytes, the
type code, and that the file holds exactly ``header + prod(dims) * itemsize`` bytes (for a
``.gz`` file, the uncompressed size recorded in the gzip trailer). A truncated download or an
HTML error page saved under the wrong name is reported, not half-read.

Files are looked for in ``root`` (default ``cache_dir("mnist")`` or
``cache_dir("fashion-mnist")``), as ``train-images-idx3-ubyte.gz`` or uncompressed
``train-images-idx3-ubyte``. With ``download=True`` a missing file is fetched from the URLs
below and checked against its published SHA-256 (see :mod:`minicnn.download`).
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minicnn.data.dataset import TensorDataset
from minicnn.download import cache_dir, download_url

__all__ = ["read_idx", "IdxSource", "MNIST_SOURCE", "FASHION_MNIST_SOURCE", "load_mnist",
           "MNIST", "FashionMNIST"]

# IDX type code -> NumPy dtype (big-endian, '>', as stored in the file).
IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass(frozen=True)
class IdxSource:
    """Where one IDX dataset is published: base URLs (tried in order) and file hashes."""

    name: str
    folder: str                    # sub-folder of cache_dir() used when root is None
    base_urls: tuple[str, ...]
    sha256: dict[str, str]         # file name -> published SHA-256 of the .gz
    classes: tuple[str, ...]


MNIST_SOURCE = IdxSource(
    name="MNIST",
    folder="mnist",
    # The S3 mirror first, as torchvision does: yann.lecun.com has often refused downloads.
    base_urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"),
    # SHA-256 as listed by torchvision's prototype datasets and tensorflow_datasets.
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    classes=tuple(str(d) for d in range(10)),
)

FASHION_MNIST_SOURCE = IdxSource(
    name="Fashion-MNIST",
    folder="fashion-mnist",
    # Zalando's S3 bucket (the URLs in the Fashion-MNIST README), then the copy in its repo.
    base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"),
)

_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a native-endian array of shape ``dims``.

    Raises:
        ValueError: bad magic bytes, unknown type code, or a file size that does not match
            the header (truncated, padded, or not an IDX file at all).
    """
    path = Path(path)
    compressed = _is_gzip(path)
    try:
        return _read_idx(path, compressed)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: damaged gzip data ({err}); delete it and download it "
                         f"again") from err


def _read_idx(path: Path, compressed: bool) -> np.ndarray:
    with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
        magic = f.read(4)
        if len(magic) < 4 or magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES \
                or magic[3] == 0:
            raise ValueError(
                f"{path} is not an IDX file: it starts with bytes {magic.hex(' ') or '(none)'}, "
                f"expected 00 00 <type 08/09/0b/0c/0d/0e> <number of dims >= 1>, e.g. "
                f"00 00 08 03 for uint8 images. Is it an HTML error page or another format?")
        dtype, ndim = IDX_DTYPES[magic[2]], magic[3]
        dims_bytes = f.read(4 * ndim)
        if len(dims_bytes) != 4 * ndim:
            raise ValueError(f"{path}: truncated header: {ndim} dimensions need {4 * ndim} "
                             f"bytes, only {len(dims_bytes)} present")
        dims = struct.unpack(f">{ndim}I", dims_bytes)          # big-endian uint32s
        header = 4 + 4 * ndim
        payload = math.prod(dims) * dtype.itemsize             # Python ints: no overflow
        _check_size(path, compressed, header, payload, dims, dtype)
        data, got = _read_exactly(f, payload)
        if got != payload or f.read(1):
            how = "shorter" if got != payload else "longer"
            raise ValueError(f"{path}: the header announces {dims} {dtype.name} = {payload} "
                             f"bytes of data, but the data is {how}; the file is damaged")
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)   # big-endian -> native


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"                        # gzip magic, whatever the name


def _check_size(path: Path, compressed: bool, header: int, payload: int,
                dims: tuple[int, ...], dtype: np.dtype) -> None:
    """Compare the size the header implies with the size the file actually has."""
    expected = header + payload
    if compressed:
        # The last 4 bytes of a gzip file store the uncompressed size mod 2**32 (little-endian).
        # Deflate expands at most ~1032x, which bounds the true size even past 4 GiB.
        stored = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            actual = struct.unpack("<I", f.read(4))[0]
        matches = actual == expected % 2**32 and expected <= 1032 * stored
        what = "the gzip trailer records"
    else:
        actual = path.stat().st_size
        matches = actual == expected
        what = "the file has"
    if not matches:
        raise ValueError(
            f"{path}: the IDX header announces shape {dims} of {dtype.name}, i.e. {header} + "
            f"{payload} = {expected} bytes, but {what} {actual} bytes. The file is truncated or "
            f"corrupted; delete it and download it again.")


def _read_exactly(f, n: int) -> tuple[bytearray, int]:
    """Read up to ``n`` bytes into one preallocated (writable) buffer."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            break
        got += k
    return buf, got


def _locate(source: IdxSource, root: Path, filename: str, download: bool) -> Path:
    """Path of ``filename`` (.gz or uncompressed) in ``root``, downloading it if allowed."""
    gz_path, raw_path = root / filename, root / filename.removesuffix(".gz")
    urls = [base + filename for base in source.base_urls]
    if gz_path.exists():
        # download_url checks the hash of a file that is already there (no network).
        return download_url(urls, gz_path, source.sha256[filename]) if download else gz_path
    if raw_path.exists():
        return raw_path
    if download:
        return download_url(urls, gz_path, source.sha256[filename])
    raise FileNotFoundError(
        f"{source.name}: {filename} not found in {root}.\n"
        f"Pass download=True to fetch it, or download it by hand from one of\n"
        + "".join(f"  {url}\n" for url in urls)
        + f"and place it in the folder {root} (the uncompressed "
          f"{raw_path.name} works too).")


def load_mnist(root: str | os.PathLike[str] | None = None, split: str = "train", *,
               download: bool = False,
               source: IdxSource = MNIST_SOURCE) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST (or Fashion-MNIST with ``source=FASHION_MNIST_SOURCE``).

    Args:
        root: folder holding the IDX files (default ``cache_dir(source.folder)``).
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        download: fetch missing files (checked against their SHA-256) instead of raising.

    Returns:
        images: (N, 28, 28) uint8 pixels, 0 = background.
        labels: (N,) uint8 class indices 0..9.
    """
    if split not in _PREFIX:
        raise ValueError(f"{source.name}: split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else cache_dir(source.folder)
    prefix = _PREFIX[split]
    images_path = _locate(source, root, f"{prefix}-images-idx3-ubyte.gz", download)
    labels_path = _locate(source, root, f"{prefix}-labels-idx1-ubyte.gz", download)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, 28, 28), got "
                         f"{images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8 or len(labels) != len(images):
        raise ValueError(f"{labels_path}: expected {len(images)} uint8 labels (one per image "
                         f"in {images_path.name}), got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() >= len(source.classes):
        raise ValueError(f"{labels_path}: label {labels.max()} found, but {source.name} has "
                         f"classes 0..{len(source.classes) - 1}")
    return images, labels


class MNIST(TensorDataset):
    """MNIST as a dataset: ``dataset[i] -> (image (1, 28, 28) float32 in [0, 1], label)``.

    Pixels stay uint8 in memory (47 MB for the 60,000 training images instead of 188 MB as
    float32) and are scaled when a batch is taken.

    Args:
        root: folder with the IDX files (default ``cache_dir("mnist")``).
        split: ``"train"`` or ``"test"``.
        download: download missing files.

    Attributes:
        images: (N, 1, 28, 28) uint8.  labels: (N,) int64.  classes: class names.
    """

    source: IdxSource = MNIST_SOURCE

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "train",
                 download: bool = False) -> None:
        images, labels = load_mnist(root, split, download=download, source=self.source)
        super().__init__(images[:, None, :, :], labels)       # (N, 28, 28) -> (N, 1, 28, 28)
        self.split = split
        self.classes = list(self.source.classes)


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): 28x28 grey images of 10 kinds of clothing, same format.

    Default root ``cache_dir("fashion-mnist")``; classes "T-shirt/top", ..., "Ankle boot".
    """

    source = FASHION_MNIST_SOURCE
