"""Given code for assignment 4 (do not change it: the grader uses its own copy).

The "pretrained body" here is a frozen convolutional layer: 16 fixed 3x3 filters (random, from a
fixed seed), ReLU, and average pooling over a 4x4 grid of cells. Nothing in it is trained. A
linear model on top of frozen features is the first thing to try in transfer learning; with
a body pretrained on a large dataset (VGG on ImageNet, see minicnn.transfer) it works the same
way, only better. Because the pooling grid keeps coarse positions, the same features also
tell roughly *where* the digit is, which the box-regression head uses.

Notation:
    N   images      D = 16 * 4 * 4 = 256 features per image
"""
from __future__ import annotations

import numpy as np

from minicnn.data.digits import load_digits

N_FILTERS, KERNEL, GRID = 16, 3, 4
CANVAS = 40          # localization images: a 28x28 digit somewhere on a 40x40 canvas


def frozen_features(images: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) images in [0, 1] -> (N, 256) float32 features (H, W even)."""
    N, _, H, W = images.shape
    filters = np.random.default_rng(0).standard_normal((N_FILTERS, KERNEL, KERNEL)).astype(np.float32)
    x = images[:, 0].reshape(N, H // 2, 2, W // 2, 2).mean(axis=(2, 4))   # 2x2 average pool: (N, H/2, W/2)
    OH, OW = x.shape[1] - KERNEL + 1, x.shape[2] - KERNEL + 1
    maps = np.zeros((N, N_FILTERS, OH, OW), dtype=np.float32)
    for u in range(KERNEL):                                                # convolution, one tap at a time
        for v in range(KERNEL):
            maps += filters[None, :, u, v, None, None] * x[:, None, u:u + OH, v:v + OW]
    maps = np.maximum(maps, 0)                                             # ReLU
    ch, cw = OH // GRID, OW // GRID
    cells = maps[:, :, :ch * GRID, :cw * GRID].reshape(N, N_FILTERS, GRID, ch, GRID, cw)
    return cells.mean(axis=(3, 5)).reshape(N, -1)                          # (N, 16 * 4 * 4)


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Subtract the training features' mean and divide by their standard deviation (per feature)."""
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    return [((f - mean) / std).astype(np.float32) for f in (train, *others)]


def digit_canvases(images: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Place each 28x28 digit at a random position on a 40x40 canvas.

    Returns:
        canvases: (N, 1, 40, 40) float32.
        boxes: (N, 4) float32 boxes (x1, y1, x2, y2) of the digit's ink (pixels > 0.3), in
            units of the canvas side: 0 is the left/top edge, 1 the right/bottom edge.
    """
    rng = np.random.default_rng(seed)
    N = len(images)
    canvases = np.zeros((N, 1, CANVAS, CANVAS), dtype=np.float32)
    boxes = np.zeros((N, 4), dtype=np.float32)
    for i in range(N):
        top, left = rng.integers(0, CANVAS - 28 + 1, size=2)
        canvases[i, 0, top:top + 28, left:left + 28] = images[i, 0]
        ink = images[i, 0] > 0.3
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        boxes[i] = [left + cols[0], top + rows[0], left + cols[-1] + 1, top + rows[-1] + 1]
    return canvases, boxes / CANVAS


def classification_data(n_train: int = 1500, n_test: int = 1000):
    """Standardized frozen features of digits: (F_train, y_train, F_test, y_test)."""
    x, y = load_digits("train")
    xt, yt = load_digits("test")
    f_train, f_test = standardize(frozen_features(x[:n_train]), frozen_features(xt[:n_test]))
    return f_train, y[:n_train], f_test, yt[:n_test]


def localization_data(n_train: int = 1500, n_test: int = 500):
    """Standardized frozen features of digit canvases and their boxes: (F_train, B_train, F_test, B_test)."""
    x, _ = load_digits("train")
    xt, _ = load_digits("test")
    c_train, b_train = digit_canvases(x[:n_train], seed=0)
    c_test, b_test = digit_canvases(xt[:n_test], seed=1)
    f_train, f_test = standardize(frozen_features(c_train), frozen_features(c_test))
    return f_train, b_train, f_test, b_test
