"""Localization as regression: predict a box (x, y, w, h) with an L2 loss, measure IoU.

A classifier answers "what"; adding a **regression head** that outputs 4 numbers answers
"where".  The lecture's recipe: keep the trained body, attach a head ``Linear(D -> 4)``,
train it with the L2 loss between predicted and true boxes, then (optionally) fine-tune
everything.  One body with two heads -- class scores and a box -- trained with a weighted
sum of the two losses does classification + localization at once.

Box convention: ``(x, y, w, h)`` with (x, y) the top-left corner, in pixels; the
*normalised* form divides x and w by the image width and y and h by its height, so every
number is in [0, 1] whatever the image size (this is what the head predicts).

Notation: N boxes or images, S canvas side, D feature dimensions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import nn
from .nn import functional as F
from .random import get_rng
from .tensor import Tensor

__all__ = ["encode_boxes", "decode_boxes", "iou", "mean_iou", "accuracy_at_iou",
           "BoxRegressor", "ClassifierLocalizer", "multitask_loss",
           "make_localization_dataset", "make_circles"]


# ---------------------------------------------------------------- boxes
def encode_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Pixel boxes (N, 4) -> normalised boxes in [0, 1]: x/W, y/H, w/W, h/H."""
    h, w = image_size
    return (np.asarray(boxes, dtype=np.float32) / np.array([w, h, w, h], dtype=np.float32)).astype(np.float32)


def decode_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Normalised boxes (N, 4) -> pixel boxes: the inverse of ``encode_boxes``."""
    h, w = image_size
    return (np.asarray(boxes, dtype=np.float32) * np.array([w, h, w, h], dtype=np.float32)).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` and ``b`` (each (4,) or (N, 4), as (x, y, w, h)).

        IoU = area(a & b) / (area(a) + area(b) - area(a & b))

    Returns a float for single boxes, an (N,) array for batches (box i of a with box i of b).
    Boxes with no area give IoU 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    single = a.ndim == 1 and b.ndim == 1
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape[-1] != 4 or b.shape[-1] != 4:
        raise ValueError(f"iou: boxes must be (x, y, w, h), got shapes {a.shape} and {b.shape}")
    left = np.maximum(a[:, 0], b[:, 0])
    top = np.maximum(a[:, 1], b[:, 1])
    right = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    bottom = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = np.clip(a[:, 2], 0, None) * np.clip(a[:, 3], 0, None) + np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None) - inter
    out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return float(out[0]) if single else out


def mean_iou(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(iou(pred, true)))


def accuracy_at_iou(pred: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of boxes localised correctly, i.e. with IoU >= ``threshold`` (0.5 by convention)."""
    return float(np.mean(iou(pred, true) >= threshold))


# ---------------------------------------------------------------- models
class BoxRegressor(nn.Module):
    """A body plus a regression head: image (N, C, H, W) -> normalised box (N, 4).

    The head is ``Linear(D -> 4)``: no softmax, trained with the L2 loss.
    """

    def __init__(self, body: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.body = body
        self.box_head = nn.Linear(feature_dim, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.box_head(self.body(x))


class ClassifierLocalizer(nn.Module):
    """One body, two heads: class scores (N, K) and a normalised box (N, 4)."""

    def __init__(self, body: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.body = body
        self.class_head = nn.Linear(feature_dim, num_classes)
        self.box_head = nn.Linear(feature_dim, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x)
        return self.class_head(features), self.box_head(features)


def multitask_loss(scores: Tensor, boxes: Tensor, labels: Tensor, true_boxes: Tensor,
                   box_weight: float = 1.0) -> Tensor:
    """softmax/NLL on the class scores  +  box_weight * L2 loss on the box."""
    return F.cross_entropy(scores, labels) + box_weight * F.mse_loss(boxes, true_boxes)


# ---------------------------------------------------------------- data
def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    """Square (h, w) image -> (size, size) by nearest-neighbour sampling (index arithmetic)."""
    rows = (np.arange(size) * img.shape[0] / size).astype(int)
    cols = (np.arange(size) * img.shape[1] / size).astype(int)
    return img[rows[:, None], cols[None, :]]


def make_localization_dataset(n: int, canvas: int = 64, scale: tuple[float, float] = (0.7, 1.4),
                              clutter: int = 0, split: str = "train", seed: int = 0) -> dict[str, np.ndarray]:
    """Real digits placed at random positions and sizes on a larger blank canvas.

    Each example takes an embedded MNIST digit (from the ``split`` of the embedded
    digits), resizes it by a random factor in ``scale`` (28 px -> 28 * factor px), and
    pastes it at a random position on an S x S canvas.  ``clutter`` adds that many random
    small fragments of other digits as distractors.  The true box is the tight box around
    the digit's ink, in pixels.

    Returns a dict with ``images`` (N, 1, S, S) float32 in [0, 1], ``labels`` (N,) int64,
    ``boxes`` (N, 4) float32 pixel boxes (x, y, w, h).
    """
    from .data.digits import load_digits

    digits, digit_labels = load_digits(split)
    rng = get_rng(seed)
    images = np.zeros((n, 1, canvas, canvas), dtype=np.float32)
    boxes = np.zeros((n, 4), dtype=np.float32)
    picks = rng.integers(0, len(digits), n)
    for i, k in enumerate(picks):   # one loop per example; the pixel work is array indexing
        size = int(round(28 * rng.uniform(*scale)))
        size = min(size, canvas)
        glyph = _resize_nearest(digits[k, 0], size)
        for _ in range(clutter):
            frag = _resize_nearest(digits[rng.integers(len(digits)), 0], 28)[:10, :10] * 0.6
            fy, fx = rng.integers(0, canvas - 10, 2)
            images[i, 0, fy:fy + 10, fx:fx + 10] = np.maximum(images[i, 0, fy:fy + 10, fx:fx + 10], frag)
        y0, x0 = rng.integers(0, canvas - size + 1, 2)
        region = images[i, 0, y0:y0 + size, x0:x0 + size]
        images[i, 0, y0:y0 + size, x0:x0 + size] = np.maximum(region, glyph)
        ink_rows = np.flatnonzero(glyph.max(axis=1) > 0.1)
        ink_cols = np.flatnonzero(glyph.max(axis=0) > 0.1)
        boxes[i] = (x0 + ink_cols[0], y0 + ink_rows[0], ink_cols[-1] - ink_cols[0] + 1, ink_rows[-1] - ink_rows[0] + 1)
    return {"images": images, "labels": digit_labels[picks].astype(np.int64), "boxes": boxes}


def make_circles(n: int, size: int = 32, seed: int = 0) -> dict[str, Any]:
    """The lecture's "centre and radius" toy: images of one filled disc each.

    Returns ``images`` (N, 1, size, size) float32 and ``targets`` (N, 3) float32 =
    (cx, cy, r) / size -- three real numbers to regress with a quadratic loss, no softmax.
    """
    rng = get_rng(seed)
    r = rng.uniform(0.1, 0.25, n) * size
    cx = rng.uniform(r, size - r)
    cy = rng.uniform(r, size - r)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5                          # pixel centres
    inside = (xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2 <= r[:, None, None] ** 2
    images = inside[:, None].astype(np.float32)
    targets = (np.stack([cx, cy, r], axis=1) / size).astype(np.float32)
    return {"images": images, "targets": targets}
