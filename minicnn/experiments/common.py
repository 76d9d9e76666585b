"""What the experiments share: a small VGG-style network, training on arrays, caching, plots.

Notation: N images, C channels, S image side, K classes.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import nn
from ..grad_mode import no_grad
from ..random import get_rng
from ..tensor import Tensor
from ..transfer import evaluating

__all__ = ["SmallVGG", "pad_images", "select_digits", "fit_classifier", "predict", "classifier_accuracy",
           "load_or_train", "config_key", "default_cache", "pyplot", "save_figure", "write_json",
           "mean_std", "Stopwatch"]


class SmallVGG(nn.Module):
    """VGG in miniature: blocks of a 3x3 convolution (padding 1) + ReLU, each ended by a 2x2 max
    pool, then an identity-sized ``avgpool`` and a two-layer ``classifier`` -- the same module
    names as torchvision's VGG, so every transfer helper works on it unchanged.

    Args:
        in_channels: C of the input images.
        channels: output channels of each block, e.g. (16, 32, 64): three blocks.
        num_classes: K.
        input_size: S, the side of the (square) training images; a multiple of 2**blocks.
        hidden: width of the classifier's hidden fully-connected layer; None for a classifier
            that is a single Linear layer on the flattened conv features.
        dropout: drop probability before the last layer.
        rng: generator (or seed) for the He-normal initial weights.

    Shape:
        (N, C, S, S) -> features (N, channels[-1], S/2**B, S/2**B) -> (N, K) logits.

    Layer names (three blocks, one conv each): ``features.0`` conv, ``.1`` ReLU, ``.2`` pool,
    ... ``features.8`` pool; ``classifier.0`` Linear, ``.1`` ReLU, ``.2`` Dropout,
    ``classifier.3`` the last Linear (the "head").
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (16, 32, 64), num_classes: int = 10,
                 input_size: int = 32, hidden: int | None = 128, dropout: float = 0.3,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        side = input_size // 2 ** len(channels)
        if side < 1 or side * 2 ** len(channels) != input_size:
            raise ValueError(f"SmallVGG: input_size={input_size} must be a multiple of 2**{len(channels)} = "
                             f"{2 ** len(channels)} (one 2x2 pool per block), e.g. {2 ** len(channels) * 4}")
        layers: list[nn.Module] = []
        c = in_channels
        for width in channels:                              # one block: conv 3x3 (size kept), ReLU, pool
            layers += [nn.Conv2d(c, width, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]   # S -> S/2
            c = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((side, side))   # an identity at the training size, as VGG's 7x7
        if hidden is None:                                  # a linear classifier on the conv features
            self.classifier = nn.Sequential(nn.Linear(c * side * side, num_classes))
        else:
            self.classifier = nn.Sequential(
                nn.Linear(c * side * side, hidden), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        generator = get_rng(rng)
        for m in self.modules():           # He normal: Var(W) = 2 / fan_in keeps ReLU activations O(1)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", rng=generator)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))                  # (N, C', s, s)
        return self.classifier(x.flatten(1))                # (N, C'*s*s) -> (N, K)


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
    """Centre (N, C, H, W) images on a zero (size x size) canvas (28 -> 32 as LeNet-5 did)."""
    n, c, h, w = images.shape
    top, left = (size - h) // 2, (size - w) // 2
    out = np.zeros((n, c, size, size), dtype=images.dtype)
    out[:, :, top:top + h, left:left + w] = images
    return out


def select_digits(split: str, classes: Sequence[int], per_class: int | None = None, seed: int = 0,
                  size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits of ``classes`` from ``split``, relabelled 0..len(classes)-1.

    Args:
        per_class: keep this many random examples of each class (all when None).
        seed: which examples are kept.
        size: pad the 28x28 digits to size x size.

    Returns:
        images (N, 1, size, size) float32 in [0, 1], labels (N,) int64, sorted by class.
    """
    from ..data.digits import load_digits

    images, labels = load_digits(split)
    rng = np.random.default_rng(seed)
    keep = []
    for digit in classes:
        rows = np.flatnonzero(labels == digit)
        if per_class is not None:
            if per_class > len(rows):
                raise ValueError(f"select_digits: {per_class} examples of digit {digit} asked, but the "
                                 f"{split!r} split has {len(rows)}")
            rows = np.sort(rng.choice(rows, per_class, replace=False))
        keep.append(rows)
    rows = np.concatenate(keep)
    relabel = np.full(10, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    return pad_images(images[rows], size), relabel[labels[rows]]


def fit_classifier(model: nn.Module, images: np.ndarray, labels: np.ndarray, optimizer: Any, epochs: int,
                   batch_size: int = 32, seed: int = 0, transform: Callable | None = None) -> Any:
    """``minicnn.train.fit`` with cross-entropy on in-memory arrays; returns the ``History``.

    ``transform`` is a batch augmentation (e.g. ``augment.RandomCrop(padding=2)``).
    """
    from ..data import DataLoader, TensorDataset
    from ..train import fit

    loader = DataLoader(TensorDataset(images, labels), batch_size=min(batch_size, len(labels)),
                        shuffle=True, seed=seed, transform=transform)
    return fit(model, nn.CrossEntropyLoss(), optimizer, loader, epochs=epochs, progress=False)


def predict(model: nn.Module, images: np.ndarray, batch_size: int = 250) -> Any:
    """Run ``model`` in eval mode, no gradients, batch by batch; concatenates the outputs
    (a tuple of arrays when the model returns a tuple)."""
    outputs: list[Any] = []
    with evaluating(model), no_grad():
        for start in range(0, len(images), batch_size):
            out = model(Tensor(images[start:start + batch_size]))
            outputs.append(tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy())
    if isinstance(outputs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outputs))
    return np.concatenate(outputs)


def classifier_accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` whose highest score is the true label."""
    return float((predict(model, images).argmax(axis=1) == labels).mean())


def config_key(config: dict[str, Any]) -> str:
    """A short hash of a JSON-able configuration: caches are named after what made them."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def default_cache() -> Path:
    """``$MINICNN_HOME/experiments`` (or ``~/.cache/minicnn/experiments``)."""
    from ..download import cache_dir

    return cache_dir("experiments")


def load_or_train(path: Path, model: nn.Module, train: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Load ``model``'s weights from ``path`` if it exists, else call ``train()`` and save them.

    ``train()`` trains ``model`` in place and returns facts to keep with the weights (e.g.
    the test accuracy); those facts are returned either way, plus ``"cached": True/False``.
    The file is written with ``minicnn.save`` (an .npz, no pickle).
    """
    from ..serialization import load, save

    if path.exists():
        saved = load(path)
        model.load_state_dict(saved["model"])
        return {**saved["facts"], "cached": True}
    facts = train()
    path.parent.mkdir(parents=True, exist_ok=True)
    save({"model": model.state_dict(), "facts": facts}, path)
    return {**facts, "cached": False}


def save_figure(fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` (see ``minicnn.viz.finish_figure``) and close it."""
    from ..viz import finish_figure, pyplot

    finish_figure(fig, path)
    pyplot().close(fig)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation; std 0 for a single value."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std())


class Stopwatch:
    """Seconds since creation: ``watch = Stopwatch(); ...; watch()``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
