"""Assignment 1, task 4: a two-layer perceptron on the embedded digits, trained with tiny_tensor.

Notation:
    N   batch size      D   input features (784 = 28*28 pixels)
    Hd  hidden units    K   classes (10 digits)

This file is graded with the reference tiny_tensor.py, so a mistake in tasks 1-3 does not cost
you twice: use only the operations tiny_tensor defines (+, -, *, /, **, @, relu, exp, log, sum,
mean, backward), and no helpers of your own inside tiny_tensor.py.
"""
from __future__ import annotations

import numpy as np

from tiny_tensor import Tensor


class MLP:
    """scores = relu(x @ W1 + b1) @ W2 + b2.

    Shapes: x (N, D), W1 (D, Hd), b1 (Hd,), W2 (Hd, K), b2 (K,) -> scores (N, K).

    Args:
        n_in, n_hidden, n_out: D, Hd and K.
        seed: seed of the random initial weights.
    """

    def __init__(self, n_in: int = 784, n_hidden: int = 64, n_out: int = 10, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        # BEGIN SOLUTION
        # He initialisation: weights ~ N(0, 2 / fan_in) keep the activations' variance about
        # constant through a ReLU layer, so training starts neither saturated nor dead.
        self.W1 = Tensor(rng.standard_normal((n_in, n_hidden)) * np.sqrt(2.0 / n_in))
        self.b1 = Tensor(np.zeros(n_hidden))
        self.W2 = Tensor(rng.standard_normal((n_hidden, n_out)) * np.sqrt(2.0 / n_hidden))
        self.b2 = Tensor(np.zeros(n_out))
        # END SOLUTION

    def parameters(self) -> list[Tensor]:
        return [self.W1, self.b1, self.W2, self.b2]

    def __call__(self, x: Tensor) -> Tensor:
        """(N, D) -> class scores (N, K)."""
        # BEGIN SOLUTION
        hidden = (x @ self.W1 + self.b1).relu()      # (N, Hd); b1 broadcasts over the batch
        return hidden @ self.W2 + self.b2            # (N, K)
        # END SOLUTION

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, D) pixels -> (N,) predicted digits."""
        return self(Tensor(images)).data.argmax(axis=1)


def softmax_cross_entropy(scores: Tensor, labels: np.ndarray) -> Tensor:
    """Mean over the batch of -log softmax(scores)[n, labels[n]], as a Tensor expression.

        L = (1/N) sum_n ( log sum_k exp(s_nk) - s_n,y_n )

    Subtract each row's maximum first (a constant: it does not change the softmax) so that
    exp() cannot overflow for large scores.

    Args:
        scores: (N, K) Tensor.
        labels: (N,) integer array of classes in [0, K).

    Returns:
        a scalar Tensor; calling .backward() on it fills the grads of everything it used.
    """
    # BEGIN SOLUTION
    shifted = scores - scores.data.max(axis=1, keepdims=True)         # (N, K), max of each row is 0
    log_norm = shifted.exp().sum(axis=1, keepdims=True).log()          # (N, 1): log sum_k exp
    onehot = np.eye(scores.shape[1])[labels]                           # (N, K): picks s_n,y_n
    return ((log_norm - shifted) * onehot).sum() * (1.0 / len(labels))
    # END SOLUTION


def train_mlp(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> MLP:
    """Train an MLP on flattened digits with minibatch stochastic gradient descent.

    The grader calls ``train_mlp(images, labels)`` with 2,000 training digits (N, 784) in
    [0, 1] and requires at least 88% accuracy on 1,000 held-out digits, within the time limit.

    Each step: scores = model(batch); loss = softmax_cross_entropy(...); zero the parameters'
    grads; loss.backward(); p.data -= lr * p.grad for every parameter.

    Returns:
        the trained MLP.
    """
    # BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    model = MLP(images.shape[1], 64, 10, seed=seed)
    lr, batch_size = 0.1, 32
    for epoch in range(8):
        order = rng.permutation(len(images))
        for start in range(0, len(images), batch_size):
            batch = order[start:start + batch_size]
            loss = softmax_cross_entropy(model(Tensor(images[batch])), labels[batch])
            for p in model.parameters():
                p.grad = np.zeros_like(p.data)        # gradients accumulate: reset them each step
            loss.backward()
            for p in model.parameters():
                p.data -= lr * p.grad
    return model
    # END SOLUTION
