"""Transfer learning: reuse a trained network's features for a new task.

The lecture's recipe, as functions:

1. **Feature extraction** -- run the pretrained body once, keep the activations of one
   layer (``extract_features``), and train a small classifier on them
   (``train_softmax_regression``, ``train_linear_svm``) or look up nearest neighbours
   (``nearest_neighbours``).  The body never changes, so this is fast even on a CPU.
2. **Fine-tuning** -- "chop off the head" (``replace_head``), freeze the body, train the
   new head, then unfreeze the last blocks (``unfreeze_last_blocks``) and continue with a
   lower learning rate for the pretrained layers than for the new ones
   (``param_groups``, ``per_block_param_groups``).

Notation: N examples, D feature dimensions, K classes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from . import nn
from .grad_mode import no_grad
from .ops import maximum
from .tensor import Tensor

__all__ = [
    "get_module", "extract", "extract_features", "replace_head", "feature_blocks",
    "unfreeze_last_blocks", "param_groups", "per_block_param_groups",
    "multiclass_hinge_loss", "train_softmax_regression", "train_linear_svm",
    "accuracy", "nearest_neighbours",
]


# ---------------------------------------------------------------- finding layers
def get_module(model: nn.Module, name: str) -> nn.Module:
    """The sub-module at a dotted name, e.g. ``get_module(vgg, "features.29")``."""
    modules = dict(model.named_modules())
    if name not in modules:
        names = [n for n in modules if n]
        hint = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise KeyError(f"the model has no layer named {name!r}; its layers are: {hint}")
    return modules[name]


def extract(model: nn.Module, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """Run ``model(x)`` once and return the outputs of the named layers (forward hooks)."""
    captured: dict[str, Tensor] = {}
    handles = []
    for name in layers:
        module = get_module(model, name)
        handles.append(module.register_forward_hook(
            lambda _m, _inp, out, name=name: captured.__setitem__(name, out)))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return {name: captured[name] for name in layers}


def _fingerprint(model: nn.Module, layer: str, n: int) -> str:
    h = hashlib.sha256(f"{layer}|{n}".encode())
    for name, value in model.state_dict().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def extract_features(model: nn.Module, loader: Iterable, layer: str, *, flatten: bool = True,
                     cache: str | Path | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Features of every example at ``layer``, computed batch by batch in eval mode.

    Args:
        loader: yields ``(images, labels)`` batches (a ``DataLoader``).
        layer: a dotted module name (``"features.29"``) or ``""`` for the model's output.
        flatten: reshape each feature map to a vector: (N, C, H, W) -> (N, C*H*W).
        cache: an ``.npz`` path; when it exists and was made from the same weights, layer
            and example count, it is loaded instead of recomputed.

    Returns:
        ``(features (N, D) float32, labels (N,) int64)``.
    """
    from .progress import progress as progress_bar

    n_examples = sum(len(y) for _, y in loader) if cache is not None else None
    key = _fingerprint(model, layer, n_examples) if cache is not None else None
    if cache is not None and Path(cache).exists():
        from .io.npz import load_npz

        arrays, manifest = load_npz(cache)
        if manifest.get("fingerprint") == key:
            return arrays["features"], arrays["labels"]
    was_training = model.training
    model.eval()
    feats, labels = [], []
    with no_grad():
        for images, y in progress_bar(loader, desc=f"features at {layer or 'output'}", disable=not progress):
            out = extract(model, images, [layer])[layer] if layer else model(images)
            f = out.numpy()
            feats.append(f.reshape(len(f), -1) if flatten else f)
            labels.append(y.numpy())
    model.train(was_training)
    features, targets = np.concatenate(feats).astype(np.float32, copy=False), np.concatenate(labels)
    if cache is not None:
        from .io.npz import save_npz

        save_npz(cache, {"features": features, "labels": targets}, manifest={"fingerprint": key, "layer": layer})
    return features, targets


# ---------------------------------------------------------------- heads and freezing
def replace_head(model: nn.Module, num_classes: int, head: str = "classifier.6") -> nn.Linear:
    """Chop off the last Linear layer and put a fresh one with ``num_classes`` outputs there."""
    parent_name, _, child = head.rpartition(".")
    parent = get_module(model, parent_name) if parent_name else model
    old = get_module(model, head)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"replace_head: {head} is a {type(old).__name__}, expected the final nn.Linear")
    new = nn.Linear(old.in_features, num_classes)
    if isinstance(parent, nn.Sequential) and child.lstrip("-").isdigit():
        parent[int(child)] = new
    else:
        setattr(parent, child, new)
    return new


def feature_blocks(features: nn.Sequential) -> list[list[int]]:
    """Group a VGG-style ``features`` Sequential into blocks that each end in a pooling layer.

    VGG16 has five blocks: conv-conv-pool, conv-conv-pool, conv x3-pool, conv x3-pool, conv x3-pool.
    """
    blocks: list[list[int]] = [[]]
    for i, layer in enumerate(features):
        blocks[-1].append(i)
        if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            blocks.append([])
    return [b for b in blocks if b]


def unfreeze_last_blocks(model: nn.Module, k: int, body: str = "features") -> None:
    """Freeze the whole body, then unfreeze its last ``k`` blocks (``k = 0``: all frozen)."""
    features = get_module(model, body)
    features.freeze()
    blocks = feature_blocks(features)
    if k > len(blocks):
        raise ValueError(f"unfreeze_last_blocks: the body has {len(blocks)} blocks, cannot unfreeze {k}")
    for block in blocks[len(blocks) - k:]:
        for i in block:
            features[i].unfreeze()


def param_groups(model: nn.Module, head_lr: float, body_lr: float, head: str = "classifier") -> list[dict[str, Any]]:
    """Two optimizer parameter groups: the new head at ``head_lr``, the pretrained rest at
    ``body_lr`` (usually 10x smaller).  Frozen parameters are left out."""
    head_params, body_params = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head_params if name.startswith(head + ".") else body_params).append(p)
    groups = [{"params": head_params, "lr": head_lr}]
    if body_params:
        groups.append({"params": body_params, "lr": body_lr})
    return groups


def per_block_param_groups(model: nn.Module, base_lr: float, decay: float = 0.5, body: str = "features",
                           head: str = "classifier") -> list[dict[str, Any]]:
    """One group per block with a learning rate that shrinks with depth from the head:
    head ``base_lr``, last block ``base_lr * decay``, the one before ``base_lr * decay^2``..."""
    features = get_module(model, body)
    groups = param_groups(model, base_lr, base_lr, head)[:1]
    blocks = feature_blocks(features)
    for depth, block in enumerate(reversed(blocks), start=1):
        params = [p for i in block for p in features[i].parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": base_lr * decay**depth})
    return groups


# ---------------------------------------------------------------- classifiers on frozen features
def multiclass_hinge_loss(scores: Tensor, labels: Tensor, margin: float = 1.0) -> Tensor:
    """The multiclass SVM loss (CS231n's):  L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin).

    scores: (N, K), labels: (N,) int  ->  mean over the N examples.
    """
    n = scores.shape[0]
    correct = scores[np.arange(n), labels.data].reshape(n, 1)      # (N, 1): s_{y_i}
    margins = maximum(scores - correct + margin, 0.0)               # (N, K)
    onehot = np.zeros(scores.shape, dtype=scores.dtype)
    onehot[np.arange(n), labels.data] = 1
    return (margins * Tensor(1 - onehot)).sum() / n                # the j = y_i term is dropped


def _train_linear(features: np.ndarray, labels: np.ndarray, num_classes: int, loss: str, epochs: int,
                  lr: float, weight_decay: float, batch_size: int, seed: int) -> nn.Linear:
    from .data import DataLoader, TensorDataset
    from .optim import SGD
    from .random import get_rng

    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {features.shape}; use extract_features(flatten=True)")
    rng = get_rng(seed)
    head = nn.Linear(features.shape[1], num_classes)
    # small, explicit initialisation so results do not depend on the default generator
    head.weight.data[...] = rng.standard_normal(head.weight.shape).astype(np.float32) * 0.01
    head.bias.data[...] = 0
    loader = DataLoader(TensorDataset(features.astype(np.float32, copy=False), labels),
                        batch_size=batch_size, shuffle=True, seed=seed)
    opt = SGD(head.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    loss_fn = nn.functional.cross_entropy if loss == "softmax" else multiclass_hinge_loss
    for _ in range(epochs):
        for x, y in loader:
            value = loss_fn(head(x), y)
            opt.zero_grad()
            value.backward()
            opt.step()
    return head


def train_softmax_regression(features: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = 50,
                             lr: float = 0.05, weight_decay: float = 1e-4, batch_size: int = 64,
                             seed: int = 0) -> nn.Linear:
    """Softmax regression (a Linear layer + cross-entropy) trained with SGD on fixed features."""
    return _train_linear(features, labels, num_classes, "softmax", epochs, lr, weight_decay, batch_size, seed)


def train_linear_svm(features: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = 50,
                     lr: float = 0.01, weight_decay: float = 1e-4, batch_size: int = 64,
                     seed: int = 0) -> nn.Linear:
    """A linear multiclass SVM (hinge loss + L2) trained with SGD on fixed features."""
    return _train_linear(features, labels, num_classes, "svm", epochs, lr, weight_decay, batch_size, seed)


def accuracy(head: nn.Module, features: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose highest score is the true class."""
    with no_grad():
        scores = head(Tensor(features.astype(np.float32, copy=False))).numpy()
    return float((scores.argmax(axis=1) == labels).mean())


def nearest_neighbours(queries: np.ndarray, bank: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``bank`` (M, D) to each query (Q, D) in L2 distance.

    Uses ||q - b||^2 = ||q||^2 - 2 q.b + ||b||^2, one matrix product for all pairs.
    Returns ``(indices (Q, k), distances (Q, k))``, nearest first.
    """
    if queries.ndim != 2 or bank.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f"nearest_neighbours: need (Q, D) and (M, D), got {queries.shape} and {bank.shape}")
    q, b = queries.astype(np.float64), bank.astype(np.float64)
    d2 = (q * q).sum(1)[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]   # (Q, M)
    k = min(k, len(bank))
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return idx, np.sqrt(np.maximum(np.take_along_axis(d2, idx, axis=1), 0))
