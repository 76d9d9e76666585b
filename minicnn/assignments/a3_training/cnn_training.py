"""Assignment 3: train a CNN on the embedded digits with your own loss and optimizer.

Notation:
    N   batch size      K   classes (10 digits)

minicnn provides the layers (``minicnn.nn``) and backpropagation through them; you write the
two pieces around them: the softmax cross-entropy loss with its gradient, and SGD with
momentum. The training loop connects them:

    logits = model(Tensor(images))                        # forward through minicnn's layers
    loss, dlogits = softmax_cross_entropy(logits.data, labels)
    optimizer.zero_grad()
    logits.backward(Tensor(dlogits))                      # backpropagate dL/dlogits
    optimizer.step()                                      # update every parameter
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from minicnn import Tensor, nn, no_grad


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

        p[n, k] = exp(z[n, k]) / sum_j exp(z[n, j])
        loss    = -(1/N) sum_n log p[n, labels[n]]
        dlogits = (p - onehot(labels)) / N

    Subtract each row's maximum from z first: the softmax does not change, and exp() can no
    longer overflow (logits of 1000 must work).

    Args:
        logits: (N, K) float array.
        labels: (N,) integers in [0, K).

    Returns:
        (loss as a Python float, dlogits (N, K) with the dtype of logits).
    """
    # BEGIN SOLUTION
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)              # (N, K), every row's max is 0
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))    # log-softmax, (N, K)
    rows = np.arange(n)
    loss = -log_p[rows, labels].mean()
    dlogits = np.exp(log_p)                                     # p
    dlogits[rows, labels] -= 1                                  # p - onehot(labels)
    dlogits /= n
    return float(loss), dlogits.astype(logits.dtype, copy=False)
    # END SOLUTION


class SGDMomentum:
    """Stochastic gradient descent with momentum and L2 weight decay (PyTorch's convention).

    For every parameter p with gradient g = p.grad.data, at each step:

        g <- g + weight_decay * p          (the gradient of (weight_decay / 2) * ||p||^2)
        v <- momentum * v + g              (v starts at 0: a running sum of past gradients)
        p <- p - lr * v

    Parameters whose ``grad`` is None (unused in the last backward) are skipped, and their
    velocity is left unchanged. Update ``p.data`` in place.

    Args:
        params: minicnn Parameters (e.g. model.parameters()).
        lr: learning rate.
        momentum: 0 gives plain SGD.
        weight_decay: L2 penalty coefficient.
    """

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        # BEGIN SOLUTION
        for p, v in zip(self.params, self.velocity):
            if p.grad is None:
                continue
            g = p.grad.data + self.weight_decay * p.data
            v *= self.momentum                                  # in place: v is self.velocity[i]
            v += g
            p.data -= self.lr * v
        # END SOLUTION


def build_model() -> nn.Module:
    """A CNN for (N, 1, 28, 28) digits -> (N, 10) logits, from minicnn.nn layers.

    Keep it small: it must train to the accuracy target within the time limit on one core.
    """
    # BEGIN SOLUTION
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),       # (N, 8, 24, 24) -> (N, 8, 12, 12)
        nn.Flatten(), nn.Linear(8 * 12 * 12, 10),             # (N, 1152) -> (N, 10)
    )
    # END SOLUTION


def train_model(model: nn.Module, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> None:
    """Train ``model`` in place with softmax_cross_entropy and SGDMomentum.

    The grader calls ``train_model(build_model(), images, labels)`` with 1,500 training digits
    (images (N, 1, 28, 28) float32 in [0, 1], labels (N,) int64) and requires at least 90%
    accuracy on the 1,000 test digits, within the time limit. Shuffle with
    ``np.random.default_rng(seed)`` so that runs are reproducible.
    """
    # BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    optimizer = SGDMomentum(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for epoch in range(3):
        order = rng.permutation(len(images))
        for start in range(0, len(images), 32):
            batch = order[start:start + 32]
            logits = model(Tensor(images[batch]))
            loss, dlogits = softmax_cross_entropy(logits.data, labels[batch])
            optimizer.zero_grad()
            logits.backward(Tensor(dlogits))
            optimizer.step()
    # END SOLUTION


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 250) -> float:
    """Fraction of ``images`` whose highest logit is at their label (evaluation mode, no graph)."""
    model.eval()
    correct = 0
    with no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(Tensor(images[start:start + batch_size])).data
            correct += int((logits.argmax(axis=1) == labels[start:start + batch_size]).sum())
    return correct / len(images)
