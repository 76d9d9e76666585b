"""Pictures of what a network does: filters, feature maps, curves, confusions, boxes.

Every function returns the Matplotlib ``Figure`` and, given ``save=path``, writes a PNG.
Matplotlib is an optional extra (``pip install minicnn[viz]``); it is imported on first
use with the headless Agg backend, so plots work on a server or in CI.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["plot_filters", "plot_feature_maps", "plot_history", "plot_confusion_matrix",
           "show_images", "draw_boxes", "plot_neighbours"]


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install 'minicnn[viz]'") from e
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _array(x: Any) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)


def _finish(fig: Any, save: str | Path | None) -> Any:
    fig.tight_layout()
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110)
    return fig


def _grid(n: int, cols: int | None = None) -> tuple[int, int]:
    cols = cols or int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def _to_image(a: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) -> something imshow draws: grey (H, W) or RGB (H, W, 3) in [0, 1]."""
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        a = np.transpose(a, (1, 2, 0))
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def plot_filters(weight: Any, save: str | Path | None = None, title: str = "first-layer filters") -> Any:
    """Show conv filters (C_out, C_in, KH, KW) as a grid: grey per filter, RGB when C_in == 3."""
    w = _array(weight)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected a conv weight (C_out, C_in, KH, KW), got shape {w.shape}")
    plt = _plt()
    rows, cols = _grid(w.shape[0])
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < w.shape[0]:
            f = w[i] if w.shape[1] == 3 else w[i].mean(axis=0)
            ax.imshow(_to_image(f), cmap="gray", interpolation="nearest")
    fig.suptitle(title)
    return _finish(fig, save)


def plot_feature_maps(maps: Any, save: str | Path | None = None, title: str = "", max_maps: int = 32) -> Any:
    """Show the channels of one activation (C, H, W) (or (1, C, H, W)) as a grid."""
    m = _array(maps)
    if m.ndim == 4:
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"plot_feature_maps: expected (C, H, W), got shape {m.shape}")
    m = m[:max_maps]
    plt = _plt()
    rows, cols = _grid(m.shape[0])
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < m.shape[0]:
            ax.imshow(m[i], cmap="viridis", interpolation="nearest")
    if title:
        fig.suptitle(title)
    return _finish(fig, save)


def plot_history(history: Any, save: str | Path | None = None, title: str = "") -> Any:
    """Loss and accuracy per epoch, train and validation (a ``train.History`` or a dict)."""
    h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    plt = _plt()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    epochs = np.arange(1, len(h["train_loss"]) + 1)
    ax_loss.plot(epochs, h["train_loss"], "o-", label="train")
    if h.get("val_loss"):
        ax_loss.plot(epochs, h["val_loss"], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, 100 * np.asarray(h["train_acc"]), "o-", label="train")
    if h.get("val_acc"):
        ax_acc.plot(epochs, 100 * np.asarray(h["val_acc"]), "s-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, save)


def plot_confusion_matrix(confusion: Any, class_names: Sequence[str] | None = None,
                          save: str | Path | None = None, title: str = "confusion matrix") -> Any:
    """Counts of (true class, predicted class), with the numbers written in the cells."""
    c = _array(confusion)
    names = list(class_names) if class_names is not None else [str(i) for i in range(c.shape[0])]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(0.5 * len(names) + 2.5, 0.5 * len(names) + 2))
    ax.imshow(c, cmap="Blues")
    for (i, j), v in np.ndenumerate(c):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > c.max() / 2 else "black")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=title)
    return _finish(fig, save)


def show_images(images: Any, labels: Sequence[Any] | None = None, predictions: Sequence[Any] | None = None,
                save: str | Path | None = None, title: str = "", cols: int | None = None) -> Any:
    """A grid of images (N, C, H, W) or (N, H, W), captioned "label" or "label -> prediction"
    (red when they differ)."""
    x = _array(images)
    plt = _plt()
    rows, cols = _grid(len(x), cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(x):
            continue
        ax.imshow(_to_image(x[i]), cmap="gray", interpolation="nearest")
        if labels is not None:
            text, color = str(labels[i]), "black"
            if predictions is not None:
                text += f" -> {predictions[i]}"
                color = "red" if str(predictions[i]) != str(labels[i]) else "green"
            ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    return _finish(fig, save)


def draw_boxes(images: Any, true_boxes: Any = None, pred_boxes: Any = None, labels: Sequence[Any] | None = None,
               save: str | Path | None = None, title: str = "", cols: int | None = None) -> Any:
    """Images with boxes drawn on them: true in green, predicted in red.

    Boxes are (N, 4) as (x, y, w, h) in pixels, (x, y) the top-left corner.
    """
    x = _array(images)
    plt = _plt()
    from matplotlib.patches import Rectangle

    rows, cols = _grid(len(x), cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.9 * rows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(x):
            continue
        ax.imshow(_to_image(x[i]), cmap="gray", interpolation="nearest")
        for boxes, color in ((true_boxes, "lime"), (pred_boxes, "red")):
            if boxes is not None:
                bx, by, bw, bh = _array(boxes)[i]
                ax.add_patch(Rectangle((bx - 0.5, by - 0.5), bw, bh, fill=False, edgecolor=color, linewidth=1.5))
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, save)


def plot_neighbours(queries: Any, neighbours: Any, distances: Any = None,
                    save: str | Path | None = None, title: str = "nearest neighbours (L2)") -> Any:
    """Each row: a query image, then its k nearest neighbours (Q, k, C, H, W)."""
    q, nb = _array(queries), _array(neighbours)
    d = _array(distances) if distances is not None else None
    plt = _plt()
    k = nb.shape[1]
    fig, axes = plt.subplots(len(q), k + 1, figsize=(1.3 * (k + 1), 1.4 * len(q) + 0.3), squeeze=False)
    for r in range(len(q)):
        axes[r, 0].imshow(_to_image(q[r]), cmap="gray")
        axes[r, 0].set_title("query", fontsize=8)
        for j in range(k):
            axes[r, j + 1].imshow(_to_image(nb[r, j]), cmap="gray")
            if d is not None:
                axes[r, j + 1].set_title(f"{d[r, j]:.2f}", fontsize=7)
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle(title)
    return _finish(fig, save)
