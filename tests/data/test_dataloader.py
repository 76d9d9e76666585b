"""Dataset, Subset, random_split and DataLoader: batching, shuffling, dtypes, errors."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn.data import DataLoader, Dataset, Subset, TensorDataset, random_split
from minicnn.tensor import Tensor


def numbered(n: int = 10, dtype=np.float32) -> TensorDataset:
    """Image i is filled with the value i, label i % 10: batches are easy to read back."""
    images = np.broadcast_to(np.arange(n, dtype=dtype)[:, None, None, None], (n, 2, 3, 3))
    return TensorDataset(images.copy(), np.arange(n) % 10)


class ListDataset(Dataset):
    """Not array-backed: forces the item-by-item path."""

    def __init__(self, base: TensorDataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        return self.base[i]


def ids(images: Tensor) -> list[int]:
    return [int(v) for v in images.data[:, 0, 0, 0]]


def test_batches_are_tensors_with_nchw_float32_and_int64():
    images, labels = next(iter(DataLoader(numbered(), batch_size=4)))
    assert isinstance(images, Tensor) and isinstance(labels, Tensor)
    assert images.shape == (4, 2, 3, 3) and images.dtype == np.float32
    assert labels.shape == (4,) and labels.dtype == np.int64
    assert ids(images) == [0, 1, 2, 3] and labels.data.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batch_sizes_and_len(drop_last, sizes):
    loader = DataLoader(numbered(10), batch_size=4, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(x) for x, _ in loader] == sizes


def test_uint8_pixels_are_scaled_to_unit_range():
    ds = TensorDataset(np.array([[[0, 255], [51, 102]]], np.uint8), np.array([3]))
    images, _ = next(iter(DataLoader(ds)))
    assert images.shape == (1, 1, 2, 2)                      # (N, H, W) got a channel axis
    np.testing.assert_array_equal(images.data[0, 0], np.array([[0, 1], [0.2, 0.4]], np.float32))


def test_shuffle_is_a_permutation_reproducible_and_new_each_epoch():
    a = DataLoader(numbered(50), batch_size=8, shuffle=True, seed=123)
    b = DataLoader(numbered(50), batch_size=8, shuffle=True, seed=123)
    epochs_a = [[i for x, _ in a for i in ids(x)] for _ in range(2)]
    epochs_b = [[i for x, _ in b for i in ids(x)] for _ in range(2)]
    assert epochs_a == epochs_b                                     # same seed, same run
    assert epochs_a[0] != epochs_a[1]                               # new order per epoch
    assert sorted(epochs_a[0]) == list(range(50)) and epochs_a[0] != list(range(50))


def test_without_seed_shuffle_follows_manual_seed():
    loader = DataLoader(numbered(30), batch_size=30, shuffle=True)
    minicnn.manual_seed(7)
    first = ids(next(iter(loader))[0])
    minicnn.manual_seed(7)
    assert ids(next(iter(loader))[0]) == first


def test_rng_argument_is_used():
    order = ids(next(iter(DataLoader(numbered(20), 20, True, rng=np.random.default_rng(5))))[0])
    assert order == np.random.default_rng(5).permutation(20).tolist()


def test_item_path_gives_the_same_batches_as_the_array_path():
    base = numbered(9)
    fast = [(x.data, y.data) for x, y in DataLoader(base, batch_size=4, shuffle=True, seed=1)]
    slow = [(x.data, y.data) for x, y in DataLoader(ListDataset(base), 4, True, seed=1)]
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xf, xs)
        np.testing.assert_array_equal(yf, ys)


def test_subsets_of_array_datasets_are_indexed_through():
    inner = Subset(numbered(10), [9, 7, 5, 3, 1])
    outer = Subset(inner, [4, 0, 2])
    images, labels = next(iter(DataLoader(outer, batch_size=3)))
    assert ids(images) == [1, 9, 5] and labels.data.tolist() == [1, 9, 5]
    assert outer[1][1] == 9


def test_collate_fn_and_transform_are_applied():
    def collate(items):
        return np.stack([im for im, _ in items]) * np.float32(2), np.array([0] * len(items))

    loader = DataLoader(numbered(4), batch_size=4, collate_fn=collate,
                        transform=lambda x: x + np.float32(1))
    images, labels = next(iter(loader))
    assert ids(images) == [1, 3, 5, 7] and labels.data.tolist() == [0, 0, 0, 0]


def test_transform_that_promotes_to_float64_is_an_error():
    loader = DataLoader(numbered(4), batch_size=2, transform=lambda x: x * 0.5 + np.zeros(1))
    with pytest.raises(TypeError, match="float64"):
        next(iter(loader))


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "positive int"),
    (dict(batch_size=2, seed=1, rng=np.random.default_rng()), "not both"),
    (dict(batch_size=20, drop_last=True), "0 batches"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(numbered(10), **kwargs)


def test_empty_dataset_is_a_clear_error():
    empty = TensorDataset(np.zeros((0, 1, 2, 2), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="dataset is empty"):
        DataLoader(empty)


def test_tensor_dataset_validates_inputs():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        TensorDataset(np.zeros((3, 4, 4), np.float32), np.zeros(2, np.int64))
    with pytest.raises(TypeError, match="uint8 pixels or floats"):
        TensorDataset(np.zeros((3, 4, 4), np.int32), np.zeros(3, np.int64))
    with pytest.raises(IndexError, match="0..9"):
        Subset(numbered(10), [0, 10])


def test_random_split_sizes_disjoint_and_reproducible():
    ds = numbered(10)
    parts = random_split(ds, [6, 3, 1], seed=0)
    assert [len(p) for p in parts] == [6, 3, 1]
    all_idx = np.concatenate([p.indices for p in parts])
    assert sorted(all_idx.tolist()) == list(range(10))
    again = random_split(ds, [6, 3, 1], seed=0)
    assert all(np.array_equal(p.indices, q.indices) for p, q in zip(parts, again))
    assert not np.array_equal(random_split(ds, [6, 3, 1], seed=1)[0].indices, parts[0].indices)


def test_random_split_fractions_hand_out_the_remainder():
    assert [len(p) for p in random_split(numbered(10), [0.34, 0.33, 0.33], seed=0)] == [4, 3, 3]
    with pytest.raises(ValueError, match="sum to 11 but the dataset has 10"):
        random_split(numbered(10), [6, 5], seed=0)
