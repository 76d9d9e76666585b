"""Vectorised batch augmentation: shapes, dtypes, identities, and per-image references."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.data import augment as A


def batch(n=6, c=2, h=5, w=7, seed=0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


ALL_RANDOM_OPS = [
    lambda x, r: A.random_hflip(x, 0.5, r),
    lambda x, r: A.random_crop(x, padding=2, rng=r),
    lambda x, r: A.random_shift(x, 1, r),
    lambda x, r: A.random_affine(x, 20, (0.8, 1.2), rng=r),
    lambda x, r: A.random_affine(x, 20, (0.8, 1.2), mode="nearest", rng=r),
    lambda x, r: A.random_brightness_contrast(x, 0.3, 0.3, rng=r),
    lambda x, r: A.gaussian_noise(x, 0.1, r),
    lambda x, r: A.normalize(x, [0.5, 0.4], [0.2, 0.3]),
]


@pytest.mark.parametrize("op", ALL_RANDOM_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_keeps_shape_and_dtype(op, dtype):
    x = batch(dtype=dtype)
    out = op(x, rng())
    assert out.shape == x.shape and out.dtype == dtype


def test_flip_twice_is_identity_and_flip_mirrors_columns():
    x = batch()
    np.testing.assert_array_equal(A.hflip(A.hflip(x)), x)
    np.testing.assert_array_equal(A.hflip(x)[:, :, :, 0], x[:, :, :, -1])


def test_random_hflip_flips_exactly_the_drawn_images():
    x = batch(n=32)
    out = A.random_hflip(x, 0.5, rng(3))
    flipped = rng(3).random(32) < 0.5
    np.testing.assert_array_equal(out[flipped], A.hflip(x[flipped]))
    np.testing.assert_array_equal(out[~flipped], x[~flipped])
    assert 0 < flipped.sum() < 32


def test_random_crop_matches_a_per_image_loop():
    x = batch(n=8, h=6, w=6)
    out = A.random_crop(x, size=(4, 5), padding=1, rng=rng(1))
    r = rng(1)
    oy, ox = r.integers(0, 8 - 4 + 1, 8), r.integers(0, 8 - 5 + 1, 8)
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for n in range(8):                                 # the simple version: one image at a time
        np.testing.assert_array_equal(out[n], xpad[n, :, oy[n]:oy[n] + 4, ox[n]:ox[n] + 5])


def test_crop_with_padding_leaves_a_zero_border_where_it_shifted():
    ones = np.ones((64, 1, 8, 8), np.float32)
    out = A.random_crop(ones, padding=2, rng=rng(0))
    assert set(np.unique(out)) <= {0.0, 1.0}
    rows_kept = out[:, 0].max(axis=2).sum(axis=1)             # rows that contain image pixels
    cols_kept = out[:, 0].max(axis=1).sum(axis=1)
    np.testing.assert_array_equal(out[:, 0].sum(axis=(1, 2)), rows_kept * cols_kept)  # a rectangle
    assert rows_kept.min() == 6 and cols_kept.min() == 6      # shifted by the full padding
    assert (rows_kept == 8).any()                             # and sometimes not at all


def test_crop_that_does_not_fit_is_a_clear_error():
    with pytest.raises(ValueError, match="does not fit"):
        A.random_crop(batch(h=5, w=7), size=8)


def test_rotation_by_zero_is_exact_identity():
    x = batch()
    np.testing.assert_array_equal(A.rotate(x, 0.0), x)
    np.testing.assert_array_equal(A.rotate(x, 0.0, mode="nearest"), x)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_rotation_by_90_is_rot90(mode):
    x = batch(h=6, w=6)
    np.testing.assert_allclose(A.rotate(x, 90.0, mode=mode), np.rot90(x, axes=(2, 3)), atol=1e-6)


def test_zoom_out_keeps_the_centre_and_blanks_the_corners():
    ones = np.ones((1, 1, 9, 9), np.float32)
    out = A.rotate(ones, 0.0, scale=0.5)
    assert out[0, 0, 4, 4] == 1.0 and out[0, 0, 0, 0] == 0.0


def test_bilinear_warp_matches_a_per_pixel_loop():
    x = batch(n=2, c=1, h=4, w=5)
    angles, scales = np.array([17.0, -33.0]), np.array([1.1, 0.9])
    out = A.rotate(x, angles, scales)
    cy, cx = 1.5, 2.0
    for n in range(2):
        t = np.deg2rad(angles[n])
        for i in range(4):
            for j in range(5):
                # inverse map: (1/s) [[cos, sin], [-sin, cos]] applied to (i - cy, j - cx)
                sy = (np.cos(t) * (i - cy) + np.sin(t) * (j - cx)) / scales[n] + cy
                sx = (-np.sin(t) * (i - cy) + np.cos(t) * (j - cx)) / scales[n] + cx
                y0, x0 = int(np.floor(sy)), int(np.floor(sx))
                value = 0.0
                for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                    if 0 <= yy < 4 and 0 <= xx < 5:
                        value += (1 - abs(sy - yy)) * (1 - abs(sx - xx)) * x[n, 0, yy, xx]
                assert out[n, 0, i, j] == pytest.approx(value, abs=1e-5)


def test_brightness_and_contrast():
    x = batch()
    np.testing.assert_allclose(A.adjust_brightness(x, 0.1), np.clip(x + np.float32(0.1), 0, 1))
    np.testing.assert_allclose(A.adjust_contrast(x, 1.0), x, atol=1e-6)   # mean + 1*(x - mean)
    flat = A.adjust_contrast(x, 0.0)
    np.testing.assert_allclose(flat, np.broadcast_to(x.mean(axis=(1, 2, 3), keepdims=True),
                                                     x.shape), rtol=1e-6)


def test_gaussian_noise_statistics():
    zeros = np.zeros((64, 3, 32, 32), np.float32)             # 196,608 draws
    noise = A.gaussian_noise(zeros, 0.1, rng(0))
    assert abs(noise.mean()) < 0.001 and noise.std() == pytest.approx(0.1, rel=0.01)
    assert not np.array_equal(A.gaussian_noise(zeros, 0.1, rng(1)), noise)


def test_normalize_per_channel():
    x = batch(n=200, c=2, h=8, w=8)
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
    out = A.normalize(x, mean, std)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), [0, 0], atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), [1, 1], rtol=1e-4)
    with pytest.raises(ValueError, match="one mean and one std > 0 per channel"):
        A.normalize(x, [0.5], [0.2])


def test_compose_is_reproducible_with_a_seed_and_varies_between_calls():
    ops = [A.RandomCrop(padding=1), A.RandomHorizontalFlip(), A.RandomAffine(10, (0.9, 1.1)),
           A.ColorJitter(0.1, 0.1), A.GaussianNoise(0.01), A.Normalize([0.5, 0.5], [0.25, 0.25])]
    x = batch()
    first, second = A.Compose(ops, seed=0), A.Compose(ops, seed=0)
    a1, b1 = first(x), second(x)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(first(x), a1)
    assert a1.dtype == np.float32 and a1.shape == x.shape


def test_non_batch_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        A.hflip(np.zeros((5, 7), np.float32))
