"""Transfer learning: reuse a trained network's features for a new task.

The lecture's recipe, as functions:

1. **Feature extraction** -- run the pretrained body once, keep the activations of one
   layer (``extract``, ``extract_features``), and train a small classifier on them
   (``train_softmax_regression``, ``train_linear_svm``) or look up nearest neighbours
   (``nearest_neighbours``).  The body never changes, so this is fast even on a CPU.
2. **Fine-tuning** -- "chop off the head" (``replace_head``), freeze the body, train the
   new head, then unfreeze the last blocks (``unfreeze_last_blocks``) and continue with a
   lower learning rate for the pretrained layers than for the new ones
   (``param_groups``, ``per_block_param_groups``).

Which to use (the lecture's 2x2 table)::

                       very similar dataset          very different dataset
    very little data   linear classifier on top      trouble: try linear classifiers
                       layer features                from several stages
    quite a lot        fine-tune a few layers        fine-tune a larger number of layers

Notation: N examples, D feature dimensions, K classes.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from . import nn
from .backend import get_array_module
from .grad_mode import no_grad
from .ops import maximum
from .tensor import Tensor

__all__ = [
    "get_module", "evaluating", "extract", "extract_features", "replace_head", "feature_blocks",
    "unfreeze_last_blocks", "param_groups", "per_block_param_groups",
    "multiclass_hinge_loss", "train_softmax_regression", "train_linear_svm",
    "accuracy", "nearest_neighbours",
]


# ---------------------------------------------------------------- finding layers
@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``with evaluating(model):`` runs in eval mode, then gives every sub-module back its own
    mode (``model.train()`` afterwards would also switch on layers the user had put in eval)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The sub-module at a dotted name, e.g. ``get_module(vgg, "features.29")``; ``""`` is the model."""
    modules = dict(model.named_modules())
    if name not in modules:
        names = [n for n in modules if n]
        hint = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise KeyError(f"the model has no layer named {name!r}; its layers are: {hint}")
    return modules[name]


def extract(model: nn.Module, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """Run ``model(x)`` once and return the outputs of the named layers.

    A forward hook on each named layer keeps its output; the hooks are removed afterwards,
    even if the forward pass fails.  The model runs in whatever mode it is in (call
    ``model.eval()`` first for features) and with gradients if they are enabled.

    Example:
        >>> maps = extract(vgg, x, ["features.3", "features.8"])   # two stages at once
        >>> maps["features.8"].shape                               # (N, 128, 56, 56)
    """
    if isinstance(layers, str):
        raise TypeError(f"extract: layers must be a list of names, e.g. [{layers!r}], not a string")
    if not layers:
        raise ValueError("extract: give at least one layer name, e.g. layers=['features.3']")
    captured: dict[str, Tensor] = {}
    handles = []
    try:
        for name in layers:
            module = get_module(model, name)
            handles.append(module.register_forward_hook(
                lambda _m, _inp, out, name=name: captured.__setitem__(name, out)))
        model(x)
    finally:
        for h in handles:
            h.remove()
    missing = [name for name in layers if name not in captured]
    if missing:
        raise RuntimeError(f"extract: the layers {missing} exist but were not called by the model's forward()")
    return {name: captured[name] for name in layers}


def _fingerprint(model: nn.Module, loader: Iterable, layer: str, flatten: bool) -> str:
    """SHA-256 of everything the features depend on: weights, layer, and the input batches.

    Hashing the inputs means one extra pass over the loader (reading images, no forward),
    far cheaper than the network; a shuffled loader changes order each pass, so it never
    hits the cache: extract from an unshuffled loader.
    """
    h = hashlib.sha256(json.dumps({"layer": layer, "flatten": flatten}).encode())
    for name, value in model.state_dict().items():
        h.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    for images, labels in loader:
        for t in (images, labels):
            a = np.ascontiguousarray(t.numpy())
            h.update(f"{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def extract_features(model: nn.Module, loader: Iterable, layer: str = "", *, flatten: bool = True,
                     cache: str | Path | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Features of every example at ``layer``, computed batch by batch in eval mode, no gradients.

    Args:
        model: the trained network (its train/eval mode is restored afterwards).
        loader: yields ``(images, labels)`` batches, e.g. an unshuffled ``DataLoader``.
        layer: a dotted module name (``"features.29"``, ``"classifier.4"``) or ``""`` for
            the model's output.
        flatten: reshape each feature map to a vector: (N, C, H, W) -> (N, C*H*W).
        cache: an ``.npz`` path.  When it exists and was made from the same weights, layer,
            ``flatten`` and input batches (a SHA-256 fingerprint of all four), it is loaded
            instead of recomputed; otherwise the features are computed and written there.
        progress: show a progress bar.

    Returns:
        ``(features, labels)``: (N, D) float32 (or (N, C, H, W) with ``flatten=False``) and
        (N,) int64, in the loader's order.
    """
    from .progress import progress as progress_bar

    key = None
    if cache is not None:
        key = _fingerprint(model, loader, layer, flatten)
        if Path(cache).exists():
            from .io.npz import load_npz

            arrays, manifest = load_npz(cache)
            if manifest is not None and manifest.get("fingerprint") == key:
                return arrays["features"], arrays["labels"]
    feats, labels = [], []
    with evaluating(model), no_grad():      # Dropout off, BatchNorm uses its running statistics
        for images, y in progress_bar(loader, desc=f"features at {layer or 'output'}", disable=not progress):
            out = extract(model, images, [layer])[layer] if layer else model(images)
            f = np.asarray(out.numpy())
            feats.append(f.reshape(len(f), -1) if flatten else f)           # (B, D) or (B, C, H, W)
            labels.append(np.asarray(y.numpy()))
    features = np.concatenate(feats).astype(np.float32, copy=False)
    targets = np.concatenate(labels).astype(np.int64, copy=False)
    if cache is not None:
        from .io.npz import save_npz

        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        save_npz(cache, {"features": features, "labels": targets},
                 manifest={"fingerprint": key, "layer": layer, "flatten": flatten})
    return features, targets


# ---------------------------------------------------------------- heads and freezing
def _last_linear(model: nn.Module) -> str:
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"replace_head: {type(model).__name__} has no nn.Linear layer to replace; "
                         "name the head layer with head='...'")
    return names[-1]


def replace_head(model: nn.Module, num_classes: int, head: str | None = None,
                 rng: np.random.Generator | int | None = None) -> nn.Linear:
    """Chop off the head: put a fresh ``Linear(in_features -> num_classes)`` where the old head was.

    Args:
        model: changed in place.
        num_classes: K, the number of classes of the new task.
        head: dotted name of what to replace.  A Linear layer (``"classifier.6"`` for VGG;
            default: the model's last ``nn.Linear``) is replaced by a Linear with the same
            inputs.  A larger module (``"classifier"``: VGG's three fully-connected layers)
            is replaced as a whole by one Linear taking the inputs of its first Linear, so
            only the convolutional features are reused.
        rng: generator for the new layer's initial weights.

    Returns:
        The new layer (trainable; the rest of the model is left as it was).

    Example:
        >>> replace_head(vgg, 5)                    # vgg.classifier[6] = Linear(4096, 5)
        >>> replace_head(vgg, 5, "classifier")      # vgg.classifier = Linear(25088, 5)
    """
    head = _last_linear(model) if head is None else head
    parent_name, _, child = head.rpartition(".")
    parent = get_module(model, parent_name) if parent_name else model
    old = get_module(model, head)
    first = old if isinstance(old, nn.Linear) else next(
        (m for m in old.modules() if isinstance(m, nn.Linear)), None)
    if first is None or old is model:
        raise TypeError(f"replace_head: {head or 'the model'} is a {type(old).__name__} with no nn.Linear "
                        "inside; name the final Linear layer (or the classifier holding it)")
    new = nn.Linear(first.in_features, num_classes, rng=rng)
    new.to(first.weight.dtype.name)
    if first.weight.device.type != "cpu":
        new.to(first.weight.device)
    if isinstance(parent, nn.Sequential) and child.isdigit():
        parent[int(child)] = new
    else:
        setattr(parent, child, new)
    return new


def feature_blocks(features: nn.Sequential) -> list[list[int]]:
    """Group a VGG-style ``features`` Sequential into blocks that each end in a pooling layer.

    Returns the layer indices of each block, e.g. for conv-relu-pool-conv-relu-pool:
    ``[[0, 1, 2], [3, 4, 5]]``.  VGG16 has five blocks: conv-conv-pool, conv-conv-pool,
    conv x3-pool, conv x3-pool, conv x3-pool.  Layers after the last pool form a last block.
    """
    if not isinstance(features, nn.Sequential):
        raise TypeError(f"feature_blocks: expected an nn.Sequential (a VGG 'features'), got {type(features).__name__}")
    blocks: list[list[int]] = [[]]
    for i, layer in enumerate(features):
        blocks[-1].append(i)
        if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            blocks.append([])
    return [b for b in blocks if b]


def unfreeze_last_blocks(model: nn.Module, k: int, body: str = "features") -> list[int]:
    """Freeze the whole body, then unfreeze its last ``k`` blocks (``k = 0``: all frozen).

    Only the body (``model.<body>``, a Sequential) is touched: the head keeps whatever
    ``requires_grad`` it had.  Returns the indices of the unfrozen layers.
    """
    features = get_module(model, body)
    blocks = feature_blocks(features)
    if not 0 <= k <= len(blocks):
        raise ValueError(f"unfreeze_last_blocks: the body {body!r} has {len(blocks)} blocks, "
                         f"so k must be in 0..{len(blocks)}, got {k}")
    features.freeze()
    unfrozen = [i for block in blocks[len(blocks) - k:] for i in block]
    for i in unfrozen:
        features[i].unfreeze()
    return unfrozen


def param_groups(model: nn.Module, head_lr: float, body_lr: float, head: str = "classifier") -> list[dict[str, Any]]:
    """Two optimizer parameter groups: the new head at ``head_lr``, the pretrained rest at
    ``body_lr`` (usually 10x smaller, so fine-tuning nudges the features instead of wrecking
    them while the random head is still wrong).  Frozen parameters are left out.

    Args:
        head: dotted-name prefix of the head's parameters (``"classifier"``, ``"classifier.6"``,
            ``"7"`` for layer 7 of a Sequential).

    Example:
        >>> SGD(param_groups(model, head_lr=1e-2, body_lr=1e-3), lr=1e-2, momentum=0.9)
    """
    head_params, body_params = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head_params if name == head or name.startswith(head + ".") else body_params).append(p)
    if not head_params:
        top = sorted({name.split(".")[0] for name, _ in model.named_parameters()})
        raise ValueError(f"param_groups: no trainable parameter is under {head!r}; the model's "
                         f"top-level names are {top} (is the head frozen, or named differently?)")
    groups = [{"params": head_params, "lr": head_lr, "name": "head"}]
    if body_params:
        groups.append({"params": body_params, "lr": body_lr, "name": "body"})
    return groups


def per_block_param_groups(model: nn.Module, base_lr: float, decay: float = 0.5, body: str = "features",
                           head: str = "classifier") -> list[dict[str, Any]]:
    """One group per block with a learning rate that shrinks with depth from the head:

        head: base_lr,   last block: base_lr * decay,   the one before: base_lr * decay^2, ...

    (the earliest layers hold the most generic features, edges and blobs, so they move least).
    Only trainable parameters of the head and of the body's blocks are included; blocks that
    are entirely frozen get no group.
    """
    features = get_module(model, body)
    head_params = [p for name, p in model.named_parameters()
                   if p.requires_grad and (name == head or name.startswith(head + "."))]
    if not head_params:
        raise ValueError(f"per_block_param_groups: no trainable parameter is under {head!r}")
    groups: list[dict[str, Any]] = [{"params": head_params, "lr": base_lr, "name": "head"}]
    blocks = feature_blocks(features)
    for depth, block in enumerate(reversed(blocks), start=1):
        params = [p for i in block for p in features[i].parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": base_lr * decay**depth,
                           "name": f"{body} block {len(blocks) - depth + 1}"})
    return groups


# ---------------------------------------------------------------- classifiers on frozen features
def multiclass_hinge_loss(scores: Tensor, labels: Tensor | np.ndarray, margin: float = 1.0) -> Tensor:
    """The multiclass SVM loss (Weston-Watkins, as in CS231n), averaged over the N examples:

        L = (1/N) sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + margin)

    Each wrong class j is penalised when its score comes within ``margin`` of the correct
    one.  The gradient is +1 for s_ij and -1 for s_iy_i per violated margin.

    Shape: scores (N, K), labels (N,) int  ->  a scalar Tensor.
    """
    y = np.asarray(labels.numpy() if isinstance(labels, Tensor) else labels)
    if scores.ndim != 2 or y.shape != (scores.shape[0],):
        raise ValueError(f"multiclass_hinge_loss: need scores (N, K) and labels (N,), got "
                         f"{tuple(scores.shape)} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= scores.shape[1]):
        raise ValueError(f"multiclass_hinge_loss: labels must be in 0..{scores.shape[1] - 1}, "
                         f"got {y.min()}..{y.max()}")
    n, k = scores.shape
    xp = get_array_module(scores.data)
    rows = np.arange(n)
    correct = scores[rows, y].reshape(n, 1)                          # (N, 1): s_iy_i
    margins = maximum(scores - correct + float(margin), 0.0)         # (N, K)
    wrong = xp.ones((n, k), dtype=scores.dtype)                      # 1 for j != y_i
    wrong[rows, xp.asarray(y)] = 0                                   # drop the j = y_i term (= margin)
    return (margins * Tensor(wrong)).sum() / float(n)


def _train_linear(features: np.ndarray, labels: np.ndarray, num_classes: int, loss: str, epochs: int,
                  lr: float, weight_decay: float, batch_size: int, seed: int) -> nn.Linear:
    """SGD with momentum on a single Linear layer; the features stay fixed."""
    from .data import DataLoader, TensorDataset
    from .optim import SGD

    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {features.shape}; "
                         "use extract_features(..., flatten=True)")
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature vectors but {len(labels)} labels")
    rng = np.random.default_rng(seed)
    head = nn.Linear(features.shape[1], num_classes)
    # small, explicit initialisation so results do not depend on the default generator
    head.weight.data[...] = rng.standard_normal(head.weight.shape).astype(np.float32) * np.float32(0.01)
    head.bias.data[...] = 0
    # SGD's step size suits inputs of size ~1: train on x / s (s the features' standard
    # deviation), then fold s into the weights, W (x / s) = (W / s) x, so the head takes raw x.
    scale = np.float32(features.std() or 1.0)
    loader = DataLoader(TensorDataset(features.astype(np.float32, copy=False) / scale, labels),
                        batch_size=batch_size, shuffle=True, seed=seed)
    opt = SGD(head.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    loss_fn = nn.functional.cross_entropy if loss == "softmax" else multiclass_hinge_loss
    for _ in range(epochs):
        for x, y in loader:
            value = loss_fn(head(x), y)
            opt.zero_grad()
            value.backward()
            opt.step()
    head.weight.data[...] = head.weight.data / scale
    return head


def train_softmax_regression(features: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = 50,
                             lr: float = 0.05, weight_decay: float = 1e-4, batch_size: int = 64,
                             seed: int = 0) -> nn.Linear:
    """Softmax regression (a Linear layer + softmax/cross-entropy) trained with SGD on fixed
    features (N, D).  Returns the trained ``Linear(D -> K)``, which takes the features as
    given (training runs on features divided by their standard deviation, so ``lr`` does not
    depend on their scale)."""
    return _train_linear(features, labels, num_classes, "softmax", epochs, lr, weight_decay, batch_size, seed)


def train_linear_svm(features: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = 50,
                     lr: float = 0.01, weight_decay: float = 1e-4, batch_size: int = 64,
                     seed: int = 0) -> nn.Linear:
    """A linear multiclass SVM (hinge loss + L2 weight decay) trained with SGD on fixed
    features (N, D).  Returns the trained ``Linear(D -> K)`` (features scaled as in
    ``train_softmax_regression``)."""
    return _train_linear(features, labels, num_classes, "svm", epochs, lr, weight_decay, batch_size, seed)


def accuracy(head: nn.Module, features: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose highest score is the true class (``head`` in eval mode)."""
    with evaluating(head), no_grad():
        scores = head(Tensor(features.astype(np.float32, copy=False))).numpy()   # (N, K)
    return float((scores.argmax(axis=1) == labels).mean())


def nearest_neighbours(queries: np.ndarray, bank: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``bank`` (M, D) to each query (Q, D) in L2 distance.

    All Q x M squared distances come from one matrix product:

        ||q - b||^2 = ||q||^2 - 2 q.b + ||b||^2

    computed in float64 (the subtraction of large, nearly equal numbers loses digits in
    float32).  Returns ``(indices (Q, k), distances (Q, k))``, nearest first; ties keep
    the bank's order.
    """
    if queries.ndim != 2 or bank.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f"nearest_neighbours: need (Q, D) and (M, D), got {queries.shape} and {bank.shape}")
    if k < 1:
        raise ValueError(f"nearest_neighbours: k must be at least 1, got {k}")
    q, b = queries.astype(np.float64), bank.astype(np.float64)
    d2 = (q * q).sum(1)[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]   # (Q, M)
    d2 = np.maximum(d2, 0)                                                  # rounding can give -1e-12
    k = min(k, len(bank))
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]                      # (Q, k)
    return idx, np.sqrt(np.take_along_axis(d2, idx, axis=1))
