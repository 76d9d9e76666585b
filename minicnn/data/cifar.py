"""CIFAR-10 and CIFAR-100 from the "python version" tarballs, local or downloaded.

Notation:
    N   number of images: 50,000 (train) or 10,000 (test)

``cifar-10-python.tar.gz`` (https://www.cs.toronto.edu/~kriz/cifar.html) holds pickled
batches::

    cifar-10-batches-py/data_batch_1 .. data_batch_5   10,000 training images each
    cifar-10-batches-py/test_batch                     10,000 test images
    cifar-10-batches-py/batches.meta                   class names

and ``cifar-100-python.tar.gz`` holds ``cifar-100-python/train``, ``test`` and ``meta``. In
every batch ``data`` is uint8 (n, 3072): each row is the red 32x32 plane, then green, then
blue, each row-major, so ``data.reshape(n, 3, 32, 32)`` is already NCHW.

Pickles can run code when loaded, so the batches are read with
:func:`minicnn.io.safe_pickle.load_cifar_batch`, which only lets plain NumPy arrays through;
``pickle.load`` is never used. The tarball is unpacked by :func:`extract_members`, which
writes only the member names listed above (so no ``../`` path or link in the archive can
write anywhere else).

Files are looked for in ``root`` (default ``cache_dir("cifar10")`` / ``cache_dir("cifar100")``):
first the unpacked folder, then the tarball, which is unpacked next to it.
"""
from __future__ import annotations

import gzip
import lzma
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minicnn.data.dataset import TensorDataset
from minicnn.download import cache_dir, download_url

__all__ = ["CifarSource", "CIFAR10_SOURCE", "CIFAR100_SOURCE", "extract_members",
           "load_cifar", "CIFAR10", "CIFAR100"]


@dataclass(frozen=True)
class CifarSource:
    """One CIFAR tarball: where to get it, its SHA-256, and the members we use."""

    name: str
    folder: str                     # sub-folder of cache_dir() used when root is None
    archive: str                    # tarball file name
    urls: tuple[str, ...]
    sha256: str
    batch_dir: str                  # folder inside the tarball
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str

    def members(self) -> list[str]:
        """Names (inside the tarball) of every file we extract."""
        files = (*self.train_files, *self.test_files, self.meta_file)
        return [f"{self.batch_dir}/{f}" for f in files]


# SHA-256 values as listed by keras.datasets (cifar10.py, cifar100.py) and torchvision's
# prototype datasets; the MD5s on the CIFAR page (c58f3010..., eb9058c3...) match the same files.
CIFAR10_SOURCE = CifarSource(
    name="CIFAR-10", folder="cifar10", archive="cifar-10-python.tar.gz",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    batch_dir="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",), meta_file="batches.meta",
)
CIFAR100_SOURCE = CifarSource(
    name="CIFAR-100", folder="cifar100", archive="cifar-100-python.tar.gz",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
    sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    batch_dir="cifar-100-python",
    train_files=("train",), test_files=("test",), meta_file="meta",
)


# What a truncated or corrupted .tar.gz raises while it is read (gzip.BadGzipFile is an
# OSError, but a plain OSError -- a full disk while writing -- is not the archive's fault).
_DAMAGED_ARCHIVE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def extract_members(archive: str | os.PathLike[str], dest: str | os.PathLike[str],
                    members: list[str]) -> None:
    """Unpack exactly ``members`` (regular files) from a tar archive into ``dest``.

    Anything else in the archive is skipped; a listed name that is a link, a folder or a
    device is refused. Each file is written to ``<name>.part`` and renamed when complete.
    Target paths are built from our own list, never from the archive, so the archive
    cannot write outside ``dest``.

    Raises:
        ValueError: a listed member is missing or is not a regular file, or the archive is
            damaged (truncated, bad compressed data or CRC, not a tar file at all).
    """
    archive, dest = Path(archive), Path(dest)
    wanted = set(members)
    found: set[str] = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:                               # streams through the .gz once
                name = member.name.removeprefix("./")
                if name not in wanted or name in found:
                    continue
                if not member.isfile():
                    kind = "link" if member.issym() or member.islnk() else "special entry"
                    raise ValueError(f"{archive}: member {name!r} should be a regular file, but "
                                     f"is a {kind}; refusing to extract it")
                target = dest.joinpath(*name.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                part = target.with_name(target.name + ".part")
                src = tar.extractfile(member)                # a file object for a regular file
                try:
                    with src, open(part, "wb") as out:      # type: ignore[union-attr]
                        shutil.copyfileobj(src, out)
                except BaseException:
                    part.unlink(missing_ok=True)             # never leave half a member behind
                    raise
                os.replace(part, target)
                found.add(name)
    except _DAMAGED_ARCHIVE as err:
        raise ValueError(f"{archive}: damaged archive ({type(err).__name__}: {err}); delete it "
                         f"and download it again") from err
    missing = sorted(wanted - found)
    if missing:
        raise ValueError(f"{archive}: missing {missing}; is it the right archive "
                         f"(the python version of CIFAR)? Delete it and download it again.")


def _batch_folder(source: CifarSource, root: Path, download: bool) -> Path:
    """The unpacked batch folder, unpacking (and downloading) the tarball when needed."""
    folder = root / source.batch_dir
    if all((root / m).is_file() for m in source.members()):
        return folder
    archive = root / source.archive
    if download:
        download_url(list(source.urls), archive, source.sha256)   # no network if it is there
    elif not archive.exists():
        raise FileNotFoundError(
            f"{source.name}: neither the folder {folder} nor the archive {source.archive} is "
            f"in {root}.\nPass download=True to fetch it, or download it by hand from\n"
            + "".join(f"  {url}\n" for url in source.urls)
            + f"and place it in the folder {root} (SHA-256 {source.sha256}).")
    extract_members(archive, root, source.members())
    return folder


def load_cifar(root: str | os.PathLike[str] | None = None, split: str = "train", *,
               download: bool = False, source: CifarSource = CIFAR10_SOURCE,
               label_key: str = "labels") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load one split of CIFAR-10 (or CIFAR-100 with ``source=CIFAR100_SOURCE``).

    Args:
        root: folder with the tarball or its unpacked folder (default
            ``cache_dir(source.folder)``).
        split: ``"train"`` or ``"test"``.
        download: fetch the tarball (checked against its SHA-256) if it is missing.
        label_key: ``"labels"`` (CIFAR-10), ``"fine_labels"`` (100 classes) or
            ``"coarse_labels"`` (20 superclasses) for CIFAR-100.

    Returns:
        images: (N, 3, 32, 32) uint8.  labels: (N,) int64.  classes: names for the labels.
    """
    if split not in ("train", "test"):
        raise ValueError(f"{source.name}: split must be 'train' or 'test', got {split!r}")
    from minicnn.io.safe_pickle import load_cifar_batch, load_cifar_meta

    root = Path(root) if root is not None else cache_dir(source.folder)
    folder = _batch_folder(source, root, download)
    images, labels = [], []
    for name in source.train_files if split == "train" else source.test_files:
        batch = load_cifar_batch(folder / name)
        if label_key not in batch:
            raise ValueError(f"{folder / name}: no {label_key!r} in this batch (keys "
                             f"{sorted(batch)}); CIFAR-10 uses 'labels', CIFAR-100 "
                             f"'fine_labels' or 'coarse_labels'")
        images.append(batch["data"].reshape(-1, 3, 32, 32))  # (n, 3072) -> (n, 3, 32, 32)
        labels.append(batch[label_key])
    names_key = "label_names" if label_key == "labels" else label_key[:-1] + "_names"
    meta = load_cifar_meta(folder / source.meta_file)
    if names_key not in meta:
        raise ValueError(f"{folder / source.meta_file}: no {names_key!r} (keys {sorted(meta)})")
    return np.concatenate(images), np.concatenate(labels).astype(np.int64), meta[names_key]


class CIFAR10(TensorDataset):
    """CIFAR-10: ``dataset[i] -> (image (3, 32, 32) float32 in [0, 1], label 0..9)``.

    Pixels stay uint8 in memory (150 MB for the 50,000 training images) and are scaled when
    a batch is taken.

    Args:
        root: folder with ``cifar-10-python.tar.gz`` or ``cifar-10-batches-py/``.
        split: ``"train"`` or ``"test"``.
        download: download the tarball (163 MB) if it is missing.

    Attributes:
        images: (N, 3, 32, 32) uint8.  labels: (N,) int64.  classes: 10 names.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "train",
                 download: bool = False) -> None:
        images, labels, classes = load_cifar(root, split, download=download,
                                             source=CIFAR10_SOURCE, label_key="labels")
        super().__init__(images, labels)
        self.split = split
        self.classes = classes


class CIFAR100(TensorDataset):
    """CIFAR-100: 100 fine classes grouped into 20 coarse superclasses.

    Args:
        root: folder with ``cifar-100-python.tar.gz`` or ``cifar-100-python/``.
        split: ``"train"`` or ``"test"``.
        download: download the tarball (161 MB) if it is missing.
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "train",
                 download: bool = False, label_mode: str = "fine") -> None:
        if label_mode not in ("fine", "coarse"):
            raise ValueError(f"CIFAR100: label_mode must be 'fine' or 'coarse', got {label_mode!r}")
        images, labels, classes = load_cifar(root, split, download=download,
                                             source=CIFAR100_SOURCE,
                                             label_key=f"{label_mode}_labels")
        super().__init__(images, labels)
        self.split = split
        self.label_mode = label_mode
        self.classes = classes
