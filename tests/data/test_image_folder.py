"""ImageFolder: classes from sub-folders, Pillow decoding, resizing, batching."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from minicnn.data import DataLoader, ImageFolder

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def folder(tmp_path):
    """root/cat/{0,1}.png (4x6 RGB), root/dog/0.png (4x6), root/dog/notes.txt."""
    rng = np.random.default_rng(0)
    pixels = {}
    for name, count in (("dog", 1), ("cat", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            array = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)       # (H, W, C)
            Image.fromarray(array).save(tmp_path / name / f"{i}.png")
            pixels[(name, i)] = array
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    return tmp_path, pixels


def test_classes_samples_and_pixels(folder):
    root, pixels = folder
    ds = ImageFolder(root)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 3 and [label for _, label in ds.samples] == [0, 0, 1]
    image, label = ds[1]
    assert image.shape == (3, 4, 6) and image.dtype == np.float32 and label == 0
    np.testing.assert_array_equal(image, pixels[("cat", 1)].transpose(2, 0, 1) / np.float32(255))


def test_grey_mode_resize_and_loader(folder):
    root, _ = folder
    ds = ImageFolder(root, size=(8, 5), mode="L")
    images, labels = next(iter(DataLoader(ds, batch_size=3)))
    assert images.shape == (3, 1, 8, 5) and images.dtype == np.float32
    assert labels.data.tolist() == [0, 0, 1]
    assert 0.0 <= images.data.min() and images.data.max() <= 1.0


def test_transform_is_applied_per_image(folder):
    ds = ImageFolder(folder[0], transform=lambda im: im[:, :2, :2])
    assert ds[0][0].shape == (3, 2, 2)


def test_different_sizes_need_resizing_to_batch(folder):
    root, _ = folder
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(root / "dog" / "1.png")
    with pytest.raises(ValueError, match="different shapes"):
        next(iter(DataLoader(ImageFolder(root), batch_size=4)))


def test_empty_or_flat_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no sub-folders"):
        ImageFolder(tmp_path)
    (tmp_path / "cat").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        ImageFolder(tmp_path)


def test_missing_pillow_names_the_extra(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"minicnn\[images\]"):
        ImageFolder(folder[0])[0]
