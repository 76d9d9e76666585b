"""Datasets: an indexable collection of (image, label) pairs.

Notation:
    N        number of examples
    C, H, W  channels, height, width of one image

A :class:`Dataset` only has to answer two questions: how many examples (``len``) and what is
example ``i`` (``dataset[i] -> (image (C, H, W) float32, label int)``). The
:class:`~minicnn.data.loader.DataLoader` turns that into shuffled mini-batches.

Most datasets here keep all images in one NumPy array (:class:`TensorDataset` and its
subclasses: the embedded digits, MNIST, CIFAR). For those the loader takes a whole batch with
one fancy-indexing operation, ``images[batch_indices]``, instead of N calls to
``__getitem__``: the same result, far faster.

Pixels stored as ``uint8`` (0..255, a quarter of the memory of float32) are scaled to
``[0, 1]`` float32 when a batch is taken: ``x = pixels / 255``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "to_float_images"]


class Dataset(ABC):
    """Abstract dataset: subclasses define ``__len__`` and ``__getitem__``.

    ``dataset[i]`` returns ``(image, label)``: image a float32 array (C, H, W), label an int.
    """

    @abstractmethod
    def __len__(self) -> int:
        """Number of examples N."""

    @abstractmethod
    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        """Example ``index`` (0 <= index < N) as (image (C, H, W) float32, label)."""


def to_float_images(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels 0..255 -> float32 in [0, 1]; float arrays -> float32 unchanged in value.

    Shape is kept: (N, C, H, W) -> (N, C, H, W), (C, H, W) -> (C, H, W).
    """
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / np.float32(255.0)   # 255 -> exactly 1.0
    if np.issubdtype(pixels.dtype, np.floating):
        return pixels.astype(np.float32, copy=False)
    raise TypeError(f"images must be uint8 pixels (0..255) or floats, got dtype {pixels.dtype}")


class TensorDataset(Dataset):
    """A dataset held in two arrays: ``images[i]`` and ``labels[i]`` are example i.

    Args:
        images: (N, C, H, W), or (N, H, W) for one channel (a channel axis is added, giving
            (N, 1, H, W)), or (N, D) feature vectors. uint8 pixels are scaled to [0, 1] when
            read; float images are read as float32.
        labels: (N,) integer class indices; stored as int64.

    Attributes:
        images: the image array (a view of the one passed in; not copied).
        labels: (N,) int64.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim == 3:
            images = images[:, None, :, :]                  # (N, H, W) -> (N, 1, H, W)
        if images.ndim not in (2, 4):
            raise ValueError(f"TensorDataset: images must be (N, C, H, W), (N, H, W) or (N, D), "
                             f"got shape {images.shape}")
        if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
            raise TypeError(f"TensorDataset: images must be uint8 pixels or floats, "
                            f"got dtype {images.dtype}")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"TensorDataset: labels must be a 1-D integer array, got shape "
                             f"{labels.shape} dtype {labels.dtype}")
        if len(images) != len(labels):
            raise ValueError(f"TensorDataset: {len(images)} images but {len(labels)} labels; "
                             f"both need one entry per example")
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return to_float_images(self.images[index]), int(self.labels[index])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(N={len(self)}, image shape={self.images.shape[1:]}, "
                f"dtype={self.images.dtype})")


class Subset(Dataset):
    """The examples ``dataset[indices[0]], dataset[indices[1]], ...`` of another dataset.

    Args:
        dataset: the dataset to take examples from.
        indices: 1-D integer positions into ``dataset`` (each in 0..len(dataset)-1).
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        indices = np.asarray(indices)
        if indices.size == 0:
            indices = indices.astype(np.int64)
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"Subset: indices must be a 1-D integer array, got shape "
                             f"{indices.shape} dtype {indices.dtype}")
        n = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in 0..{n - 1} for a dataset of {n} "
                             f"examples, got min {indices.min()} max {indices.max()}")
        self.dataset = dataset
        self.indices = indices.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.dataset[int(self.indices[index])]

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"


def random_split(dataset: Dataset, lengths: Sequence[int] | Sequence[float],
                 seed: int | np.random.Generator) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given sizes.

    Args:
        dataset: the dataset to split.
        lengths: sizes summing to ``len(dataset)``, e.g. ``[4500, 500]``; or fractions
            summing to 1, e.g. ``[0.9, 0.1]`` (sizes are floored, and the examples left over
            are given one each to the first subsets).
        seed: an int or a ``np.random.Generator``; the same seed gives the same split.

    Example:
        >>> train, val = random_split(dataset, [0.9, 0.1], seed=0)
    """
    n = len(dataset)
    sizes = _split_sizes(n, lengths)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = rng.permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, order[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]


def _split_sizes(n: int, lengths: Sequence[int] | Sequence[float]) -> list[int]:
    if len(lengths) == 0:
        raise ValueError("random_split: lengths is empty; give sizes like [4500, 500]")
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        sizes = [int(x) for x in lengths]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"random_split: sizes {sizes} sum to {sum(sizes)} but the dataset "
                             f"has {n} examples; they must be >= 0 and sum to {n}")
        return sizes
    fractions = [float(x) for x in lengths]
    if any(f < 0 or f > 1 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"random_split: fractions {fractions} must lie in [0, 1] and sum to 1 "
                         f"(they sum to {sum(fractions):g}); or give integer sizes summing to {n}")
    sizes = [int(np.floor(n * f)) for f in fractions]
    for i in range(n - sum(sizes)):                     # hand out the remainder round-robin
        sizes[i % len(sizes)] += 1
    return sizes
