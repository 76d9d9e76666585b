"""DataLoader: turn a dataset into (shuffled) mini-batches of Tensors.

Notation:
    N   number of examples in the dataset
    B   batch size (the last batch may be smaller unless ``drop_last``)

One epoch is one pass over a permutation of ``0..N-1``:

    order = rng.permutation(N)                  # or arange(N) without shuffle
    for start in range(0, N, B):
        idx = order[start:start + B]            # (B,)
        yield images[idx], labels[idx]          # (B, C, H, W) float32, (B,) int64

For datasets held in arrays (:class:`~minicnn.data.dataset.TensorDataset`, the embedded
digits, MNIST, CIFAR, and :class:`~minicnn.data.dataset.Subset` s of them) that last line is
literally one fancy-indexing operation per batch. Other datasets are read item by item and
stacked by ``collate_fn``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from minicnn.data.dataset import Dataset, Subset, TensorDataset, to_float_images
from minicnn.random import get_rng
from minicnn.tensor import Tensor

__all__ = ["DataLoader", "default_collate"]

Batch = tuple[np.ndarray, np.ndarray]


def default_collate(items: Sequence[tuple[np.ndarray, int]]) -> Batch:
    """[(image (C, H, W), label), ...] -> (images (B, C, H, W) float32, labels (B,) int64)."""
    shapes = {np.shape(image) for image, _ in items}
    if len(shapes) > 1:
        raise ValueError(f"default_collate: images in one batch have different shapes "
                         f"{sorted(shapes)}; resize them to one size (e.g. ImageFolder(size=32)) "
                         f"or pass a collate_fn")
    images = np.stack([np.asarray(image, dtype=np.float32) for image, _ in items])
    labels = np.asarray([label for _, label in items], dtype=np.int64)
    return images, labels


class DataLoader:
    """Iterate over a dataset in mini-batches: ``for images, labels in loader: ...``.

    Args:
        dataset: any :class:`~minicnn.data.dataset.Dataset`.
        batch_size: examples per batch B.
        shuffle: visit the examples in a new random order every epoch.
        seed: seed of the loader's own generator: the same seed gives the same sequence of
            epochs, and each epoch (each ``iter(loader)``) gets a different order, like
            ``torch.utils.data.DataLoader(generator=torch.Generator().manual_seed(seed))``.
        rng: alternatively, a ``np.random.Generator`` to draw the orders from (shared state).
            With neither, orders come from minicnn's default generator
            (``minicnn.manual_seed``).
        drop_last: drop the last batch when it has fewer than B examples.
        collate_fn: turns a list of ``dataset[i]`` items into ``(images, labels)`` arrays;
            setting it forces item-by-item reading.
        transform: batch transform applied to the float32 (B, C, H, W) images before they
            are wrapped, e.g. ``augment.Compose([...], seed=0)``.

    Yields:
        ``(images, labels)``: minicnn Tensors holding (B, C, H, W) float32 and (B,) int64.

    Example:
        >>> loader = DataLoader(DigitsDataset("train"), batch_size=64, shuffle=True, seed=0)
        >>> len(loader)                        # ceil(4000 / 64)
        63
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        seed: int | None = None,
        *,
        rng: np.random.Generator | None = None,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Batch] | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and rng is not None:
            raise ValueError("DataLoader: pass seed=... or rng=..., not both")
        n = len(dataset)
        if n == 0:
            raise ValueError("DataLoader: the dataset is empty (0 examples); check the path, "
                             "the split or the filter that built it")
        if drop_last and n < batch_size:
            raise ValueError(f"DataLoader: drop_last=True with batch_size={batch_size} but only "
                             f"{n} examples would give 0 batches; use batch_size <= {n} "
                             f"or drop_last=False")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.transform = transform
        # With a seed, epoch e shuffles with default_rng([seed, e]): a fresh order every epoch
        # that depends only on (seed, e), so training resumed at epoch e sees the same order
        # (``set_epoch``).  With rng=None too, minicnn's default generator is used each epoch.
        self.seed = seed
        self.rng = rng
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use epoch ``epoch``'s order (seeded loaders; ``fit`` calls this)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Number of batches per epoch: floor(N / B) with drop_last, else ceil(N / B)."""
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.dataset)
        if self.seed is not None:
            rng = np.random.default_rng([self.seed, self.epoch])
        else:
            rng = get_rng(self.rng)
        self.epoch += 1
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        source = None if self.collate_fn is not None else _array_source(self.dataset)
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]                     # (B,)
            if source is not None:
                images_all, labels_all, rows = source
                picked = idx if rows is None else rows[idx]                 # positions in arrays
                images = to_float_images(images_all[picked])                # (B, C, H, W)
                labels = labels_all[picked]                                 # (B,) int64
            else:
                items = [self.dataset[int(i)] for i in idx]
                images, labels = (self.collate_fn or default_collate)(items)
            if self.transform is not None:
                images = self._apply_transform(images)
            yield Tensor(images), Tensor(np.asarray(labels, dtype=np.int64))

    def _apply_transform(self, images: np.ndarray) -> np.ndarray:
        out = self.transform(images)  # type: ignore[misc]
        if not isinstance(out, np.ndarray) or out.shape[0] != images.shape[0]:
            raise ValueError(f"DataLoader: transform must return an array with the batch's "
                             f"{images.shape[0]} images, got {type(out).__name__} "
                             f"{getattr(out, 'shape', '')}")
        if out.dtype != np.float32:
            raise TypeError(f"DataLoader: transform returned {out.dtype} images; keep them "
                            f"float32 (multiply by np.float32 scalars, or .astype(np.float32))")
        return out

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})")


def _array_source(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(images, labels, rows) when the dataset is array-backed, else None.

    ``rows[i]`` is the position in the arrays of example i (None: the identity); nested
    Subsets compose: ``Subset(Subset(d, a), b)`` -> ``rows = a[b]``.
    """
    rows: np.ndarray | None = None
    while isinstance(dataset, Subset):
        rows = dataset.indices if rows is None else dataset.indices[rows]
        dataset = dataset.dataset
    # A subclass that overrides __getitem__ may do more than index: read it item by item.
    plain_items = type(dataset).__getitem__ is TensorDataset.__getitem__
    if isinstance(dataset, TensorDataset) and plain_items:
        return dataset.images, dataset.labels, rows
    return None


