"""Localization as regression: predict a box (x, y, w, h) with an L2 loss, measure IoU.

A classifier answers "what"; adding a **regression head** that outputs 4 numbers answers
"where".  The lecture's recipe: keep the trained body, attach a head ``Linear(D -> 4)``,
train it with the L2 loss between predicted and true boxes (``train_box_head`` on frozen
features), then (optionally) fine-tune everything.  One body with two heads -- class scores
and a box -- trained with a weighted sum of the two losses (``multitask_loss``) does
classification + localization at once (``ClassifierLocalizer``).

Box convention: ``(x, y, w, h)`` with (x, y) the top-left corner, in pixels; the
*normalised* form divides x and w by the image width and y and h by its height, so every
number is in [0, 1] whatever the image size (this is what the head predicts).

Notation: N boxes or images, S canvas side, D feature dimensions, K classes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import nn
from .nn import functional as F
from .random import get_rng
from .tensor import Tensor

__all__ = ["encode_boxes", "decode_boxes", "iou", "mean_iou", "accuracy_at_iou",
           "BoxRegressor", "ClassifierLocalizer", "multitask_loss", "train_box_head",
           "make_localization_dataset", "make_circles"]


# ---------------------------------------------------------------- boxes
def _check_boxes(boxes: Any, op: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float32)
    if b.shape[-1:] != (4,):
        raise ValueError(f"{op}: boxes must have a last axis of 4 numbers (x, y, w, h), got shape {b.shape}")
    return b


def encode_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Pixel boxes (..., 4) -> normalised boxes: (x/W, y/H, w/W, h/H) for an image of size (H, W)."""
    h, w = image_size
    return _check_boxes(boxes, "encode_boxes") / np.array([w, h, w, h], dtype=np.float32)


def decode_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Normalised boxes (..., 4) -> pixel boxes: the inverse of ``encode_boxes``."""
    h, w = image_size
    return _check_boxes(boxes, "decode_boxes") * np.array([w, h, w, h], dtype=np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Intersection over union of boxes ``a`` and ``b`` (each (4,) or (N, 4), as (x, y, w, h)).

        IoU = area(a & b) / (area(a) + area(b) - area(a & b))

    The intersection is the box from (max of the left edges, max of the top edges) to (min of
    the right edges, min of the bottom edges), or empty when those cross.  1 for identical
    boxes, 0 for disjoint or merely touching ones; a box with no area (w or h <= 0, as a
    regressor may predict) gives 0.

    Returns a float for two single boxes, else an (N,) float64 array (box i of ``a`` with box
    i of ``b``; a single box is compared with every box of the other).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    single = a.ndim == 1 and b.ndim == 1
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape[-1] != 4 or b.shape[-1] != 4 or a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"iou: boxes must be (4,) or (N, 4) as (x, y, w, h), got shapes {a.shape} and {b.shape}")
    if len(a) != len(b) and 1 not in (len(a), len(b)):
        raise ValueError(f"iou: {len(a)} boxes against {len(b)} boxes; give the same number (or one box)")
    aw, ah = np.clip(a[:, 2], 0, None), np.clip(a[:, 3], 0, None)     # negative sizes count as empty
    bw, bh = np.clip(b[:, 2], 0, None), np.clip(b[:, 3], 0, None)
    left = np.maximum(a[:, 0], b[:, 0])
    top = np.maximum(a[:, 1], b[:, 1])
    right = np.minimum(a[:, 0] + aw, b[:, 0] + bw)
    bottom = np.minimum(a[:, 1] + ah, b[:, 1] + bh)
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = aw * ah + bw * bh - inter
    out = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return float(out[0]) if single else out


def mean_iou(pred: np.ndarray, true: np.ndarray) -> float:
    """The mean IoU of predicted box i with true box i over the N boxes."""
    return float(np.mean(iou(pred, true)))


def accuracy_at_iou(pred: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of boxes localised correctly, i.e. with IoU >= ``threshold`` (0.5 by convention)."""
    return float(np.mean(iou(pred, true) >= threshold))


# ---------------------------------------------------------------- models and losses
class BoxRegressor(nn.Module):
    """A body plus a regression head: image (N, C, H, W) -> normalised box (N, 4).

    The head is ``Linear(D -> 4)``: four real numbers, no softmax, trained with the L2 loss.

    Args:
        body: maps images to feature vectors (N, D) (e.g. a classifier without its last layer).
        feature_dim: D.
    """

    def __init__(self, body: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.body = body
        self.box_head = nn.Linear(feature_dim, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.box_head(self.body(x))             # (N, 4)


class ClassifierLocalizer(nn.Module):
    """One body, two heads: class scores (N, K) and a normalised box (N, 4).

    Args:
        body: maps images (N, C, H, W) to feature vectors (N, D).
        feature_dim: D.
        num_classes: K.
    """

    def __init__(self, body: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.body = body
        self.class_head = nn.Linear(feature_dim, num_classes)
        self.box_head = nn.Linear(feature_dim, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x)                         # (N, D), computed once for both heads
        return self.class_head(features), self.box_head(features)


def multitask_loss(scores: Tensor, boxes: Tensor, labels: Tensor, true_boxes: Tensor,
                   box_weight: float = 1.0, box_loss: str = "l2") -> Tensor:
    """The classification + localization loss of one body with two heads:

        L = cross_entropy(scores, labels) + box_weight * L_box(boxes, true_boxes)

    with L_box the mean squared error (``"l2"``) or the smooth L1 loss (``"smooth_l1"``)
    over the N x 4 box numbers.  ``box_weight`` balances the two: normalised boxes have
    errors of ~0.01, so the box term needs a weight well above 1 to matter.

    Shape: scores (N, K), boxes (N, 4), labels (N,), true_boxes (N, 4) -> scalar.
    """
    if box_loss == "l2":
        regression = F.mse_loss(boxes, true_boxes)
    elif box_loss == "smooth_l1":
        regression = F.smooth_l1_loss(boxes, true_boxes, beta=0.1)
    else:
        raise ValueError(f"multitask_loss: box_loss must be 'l2' or 'smooth_l1', got {box_loss!r}")
    return F.cross_entropy(scores, labels) + float(box_weight) * regression


def train_box_head(features: np.ndarray, boxes: np.ndarray, epochs: int = 30, lr: float = 0.01,
                   batch_size: int = 64, momentum: float = 0.9, seed: int = 0) -> nn.Linear:
    """Train a regression head ``Linear(D -> 4)`` with SGD and the L2 loss on frozen features.

    This is step 2 of the lecture's recipe: the body is fixed, so its features (N, D) are
    computed once and only the head learns.  The head starts at the mean box (bias) with
    small weights, so the first predictions are sensible.  Training runs on the features
    divided by their standard deviation, so ``lr`` does not depend on their scale; the
    returned head takes the features as given.

    Args:
        features: (N, D) float32 features of the training images.
        boxes: (N, 4) normalised true boxes.

    Returns:
        The trained ``Linear(D -> 4)``.
    """
    from .optim import SGD

    features = np.asarray(features, dtype=np.float32)
    boxes = _check_boxes(boxes, "train_box_head")
    if features.ndim != 2 or boxes.shape != (len(features), 4):
        raise ValueError(f"train_box_head: need features (N, D) and boxes (N, 4), got {features.shape} "
                         f"and {boxes.shape}")
    rng = np.random.default_rng(seed)
    head = nn.Linear(features.shape[1], 4)
    head.weight.data[...] = rng.standard_normal(head.weight.shape).astype(np.float32) * np.float32(0.01)
    head.bias.data[...] = boxes.mean(axis=0)
    # SGD's step size suits inputs of size ~1: train on x / s (s the features' standard
    # deviation), then fold s into the weights, W (x / s) = (W / s) x, so the head takes raw x.
    scale = np.float32(features.std() or 1.0)
    x = features / scale
    opt = SGD(head.parameters(), lr=lr, momentum=momentum)
    n = len(features)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]                               # (B,)
            loss = F.mse_loss(head(Tensor(x[idx])), Tensor(boxes[idx]))          # (1/4B) sum (b - b*)^2
            opt.zero_grad()
            loss.backward()
            opt.step()
    head.weight.data[...] = head.weight.data / scale
    return head


# ---------------------------------------------------------------- data
def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    """Square (h, w) image -> (size, size) by nearest-neighbour sampling (index arithmetic)."""
    rows = (np.arange(size) * img.shape[0] / size).astype(int)
    cols = (np.arange(size) * img.shape[1] / size).astype(int)
    return img[rows[:, None], cols[None, :]]


def make_localization_dataset(n: int, canvas: int = 64, scale: tuple[float, float] = (0.7, 1.4),
                              clutter: int = 0, split: str = "train", seed: int = 0) -> dict[str, np.ndarray]:
    """Real digits placed at random positions and sizes on a larger blank canvas.

    Each example takes an embedded MNIST digit from the ``split`` (``"train"`` or ``"test"``
    of ``minicnn.data.digits``), resizes its 28x28 image by a random factor in ``scale``
    (nearest neighbour: 28 px -> round(28 * factor) px), and pastes it at a random position
    on an S x S canvas.  ``clutter`` adds that many 10x10 fragments of other digits (at 60%
    intensity) as distractors, drawn first so the digit is on top.  The true box is the
    tight box around every ink pixel (> 0) of the pasted digit.

    Returns:
        a dict with ``images`` (N, 1, S, S) float32 in [0, 1], ``labels`` (N,) int64,
        ``boxes`` (N, 4) float32 pixel boxes (x, y, w, h), and ``indices`` (N,) int64: which
        digit of the split each canvas shows.
    """
    from .data.digits import load_digits

    lo, hi = scale
    if not 0 < lo <= hi or round(28 * lo) > canvas:
        raise ValueError(f"make_localization_dataset: scale must be 0 < low <= high with 28*low <= "
                         f"canvas={canvas}, got scale={scale}")
    digits, digit_labels = load_digits(split)
    rng = get_rng(seed)
    images = np.zeros((n, 1, canvas, canvas), dtype=np.float32)
    boxes = np.zeros((n, 4), dtype=np.float32)
    picks = rng.integers(0, len(digits), n)
    for i, k in enumerate(picks):   # one loop per example; the pixel work is array indexing
        size = min(int(round(28 * rng.uniform(lo, hi))), canvas)
        glyph = _resize_nearest(digits[k, 0], size)                     # (size, size)
        for _ in range(clutter):
            other = digits[rng.integers(len(digits)), 0]
            py, px = rng.integers(4, 14, 2)                             # a patch of the central 20x20
            frag = other[py:py + 10, px:px + 10] * np.float32(0.6)
            fy, fx = rng.integers(0, canvas - 10 + 1, 2)
            images[i, 0, fy:fy + 10, fx:fx + 10] = np.maximum(images[i, 0, fy:fy + 10, fx:fx + 10], frag)
        y0, x0 = rng.integers(0, canvas - size + 1, 2)
        region = images[i, 0, y0:y0 + size, x0:x0 + size]
        images[i, 0, y0:y0 + size, x0:x0 + size] = np.maximum(region, glyph)
        ink_rows = np.flatnonzero(glyph.max(axis=1) > 0)
        ink_cols = np.flatnonzero(glyph.max(axis=0) > 0)
        boxes[i] = (x0 + ink_cols[0], y0 + ink_rows[0],
                    ink_cols[-1] - ink_cols[0] + 1, ink_rows[-1] - ink_rows[0] + 1)
    return {"images": images, "labels": digit_labels[picks].astype(np.int64), "boxes": boxes,
            "indices": picks.astype(np.int64)}


def make_circles(n: int, size: int = 32, seed: int = 0) -> dict[str, Any]:
    """The lecture's "centre and radius" toy: images of one filled disc each.

    The network must output three real numbers, so there is no softmax: a Linear head
    trained with the quadratic loss ||(cx, cy, r) - (cx*, cy*, r*)||^2.

    Returns:
        ``images`` (N, 1, size, size) float32 (1 inside the disc, 0 outside) and ``targets``
        (N, 3) float32 = (cx, cy, r) / size, with the centre in pixel coordinates (pixel
        (row i, column j) covers [j, j+1) x [i, i+1)) and r between 0.1 and 0.25 of the side;
        the disc lies inside the image.
    """
    rng = get_rng(seed)
    r = rng.uniform(0.1, 0.25, n) * size
    cx = rng.uniform(r, size - r)
    cy = rng.uniform(r, size - r)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5                          # pixel centres, (size, size) each
    inside = (xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2 <= r[:, None, None] ** 2
    images = inside[:, None].astype(np.float32)                       # (N, 1, size, size)
    targets = (np.stack([cx, cy, r], axis=1) / size).astype(np.float32)
    return {"images": images, "targets": targets}
