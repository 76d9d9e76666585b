"""Assignment 4: heads on frozen features -- a digit classifier and a bounding-box regressor.

Notation:
    N   examples        D   features per example (256, from features.py)
    K   classes (10)    boxes are (x1, y1, x2, y2) with x1 < x2 and y1 < y2

The features come from a frozen body (``features.frozen_features``) and are already
standardized; you train only the linear heads on top, in NumPy, with gradient descent.
"""
from __future__ import annotations

import numpy as np


# ---- the classifier: softmax regression on frozen features ---------------------------------

def softmax_regression_loss(W: np.ndarray, b: np.ndarray, features: np.ndarray, labels: np.ndarray,
                            reg: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Softmax cross-entropy of the linear scores s = features @ W + b, plus L2 regularization.

        loss = -(1/N) sum_n log softmax(s)[n, labels[n]]  +  (reg / 2) * sum(W ** 2)
        dW   = features.T @ (p - onehot) / N  +  reg * W
        db   = sum over n of (p - onehot) / N

    Args:
        W: (D, K) weights.  b: (K,) biases.
        features: (N, D).   labels: (N,) integers in [0, K).
        reg: L2 regularization strength (not applied to b).

    Returns:
        (loss as a Python float, dW (D, K), db (K,)).
    """
    # BEGIN SOLUTION
    n = features.shape[0]
    scores = features @ W + b                                    # (N, K)
    scores = scores - scores.max(axis=1, keepdims=True)          # stable: exp() <= 1
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -log_p[rows, labels].mean() + 0.5 * reg * np.sum(W * W)
    dscores = np.exp(log_p)
    dscores[rows, labels] -= 1                                   # p - onehot
    dscores /= n
    return float(loss), features.T @ dscores + reg * W, dscores.sum(axis=0)
    # END SOLUTION


def train_softmax_regression(features: np.ndarray, labels: np.ndarray, num_classes: int,
                             reg: float = 1e-4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fit W (D, K) and b (K,) with gradient descent on softmax_regression_loss.

    The grader trains on 1,500 digits' features and requires at least 90% accuracy on 1,000
    test digits (with :func:`predict_classes`).
    """
    # BEGIN SOLUTION
    W = np.zeros((features.shape[1], num_classes))
    b = np.zeros(num_classes)
    lr = 0.5
    for step in range(100):                       # full-batch gradient descent: N is small
        _, dW, db = softmax_regression_loss(W, b, features, labels, reg)
        W -= lr * dW
        b -= lr * db
    return W, b
    # END SOLUTION


def predict_classes(W: np.ndarray, b: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(N, D) features -> (N,) predicted classes."""
    return np.argmax(features @ W + b, axis=1)


# ---- localization: IoU, an L2 box loss and a box-regression head ---------------------------

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of matching boxes: a[n] with b[n].

        IoU = area(a & b) / (area(a) + area(b) - area(a & b))

    The intersection of two boxes is the box (max x1, max y1, min x2, min y2), empty (area 0)
    when min x2 <= max x1 or min y2 <= max y1: boxes that only touch do not overlap.

    Args:
        a, b: (N, 4) boxes (x1, y1, x2, y2).

    Returns:
        (N,) IoUs in [0, 1].
    """
    # BEGIN SOLUTION
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 2], b[:, 2])
    y2 = np.minimum(a[:, 3], b[:, 3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return intersection / (area_a + area_b - intersection)
    # END SOLUTION


def l2_box_loss(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared distance between predicted and true boxes, and its gradient.

        loss  = (1/N) sum_n sum_k (pred[n, k] - target[n, k]) ** 2
        dpred = 2 (pred - target) / N

    Args:
        pred, target: (N, 4) boxes.

    Returns:
        (loss as a Python float, dpred (N, 4)).
    """
    # BEGIN SOLUTION
    diff = pred - target
    n = pred.shape[0]
    return float(np.sum(diff * diff) / n), 2 * diff / n
    # END SOLUTION


def train_box_head(features: np.ndarray, boxes: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fit a linear head, boxes ~ features @ W + b (W (D, 4), b (4,)), by gradient descent
    on l2_box_loss (the chain rule through the linear layer: dW = features.T @ dpred).

    The grader trains on 1,500 digit canvases and requires a mean IoU of at least 0.7 on 500
    held-out canvases.
    """
    # BEGIN SOLUTION
    W = np.zeros((features.shape[1], 4))
    b = np.zeros(4)
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    lr, momentum = 0.01, 0.9
    for step in range(400):                       # full-batch gradient descent with momentum
        _, dpred = l2_box_loss(features @ W + b, boxes)
        vW = momentum * vW + features.T @ dpred   # dL/dW = features.T @ dL/dpred
        vb = momentum * vb + dpred.sum(axis=0)
        W -= lr * vW
        b -= lr * vb
    return W, b
    # END SOLUTION


def predict_boxes(W: np.ndarray, b: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(N, D) features -> (N, 4) boxes."""
    return features @ W + b
