"""Pictures of what a network does: filters, feature maps, curves, confusions, boxes.

Every function returns the Matplotlib ``Figure`` and, given ``save=path``, writes a PNG.
Matplotlib is an optional extra (``pip install minicnn[viz]``); it is imported on first
use with the headless Agg backend, so plots work on a server or in CI.

Images are minicnn's layout, channels first: one image is (H, W) or (C, H, W) with C = 1
(grey) or C = 3 (RGB); a batch is (N, H, W) or (N, C, H, W).  Tensors and arrays are both
accepted.  A wrong shape is refused with a ``ValueError`` that names the function and the
shape it got.

Each call opens a new figure; in a long script, ``matplotlib.pyplot.close(fig)`` it once
saved (Matplotlib warns after 20 open figures).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["plot_filters", "plot_feature_maps", "plot_history", "plot_confusion_matrix",
           "show_images", "draw_boxes", "plot_neighbours", "pyplot", "finish_figure"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend (unless a notebook backend is active)."""
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


def finish_figure(fig: Any, save: str | Path | None) -> Any:
    """Tighten ``fig``'s layout and, if ``save`` is a path, write it there (folders made); returns fig."""
    fig.tight_layout()
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110)
    return fig


def _grid(n: int, cols: int | None = None) -> tuple[int, int]:
    cols = min(cols or int(np.ceil(np.sqrt(n))), n)
    return int(np.ceil(n / cols)), cols


def _check_batch(x: np.ndarray, op: str, what: str = "images") -> None:
    """A batch of images: (N, H, W) or (N, C, H, W) with C = 1 or 3, and N >= 1."""
    ok = (x.ndim == 3 or (x.ndim == 4 and x.shape[1] in (1, 3))) and len(x) > 0
    if not ok:
        raise ValueError(f"{op}: {what} must be a non-empty batch (N, H, W) or (N, C, H, W) with "
                         f"C = 1 (grey) or 3 (RGB), got shape {x.shape}" +
                         ("; channels go first: x.transpose(0, 3, 1, 2)"
                          if x.ndim == 4 and x.shape[-1] in (1, 3) else ""))


def _check_labels(values: Sequence[Any] | None, n: int, op: str, what: str) -> None:
    if values is not None and len(values) != n:
        raise ValueError(f"{op}: got {n} images but {len(values)} {what}; give one per image")


def _to_image(a: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) -> something imshow draws: grey (H, W) or RGB (H, W, 3) in [0, 1]."""
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        a = np.transpose(a, (1, 2, 0))                       # (3, H, W) -> (H, W, 3)
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def plot_filters(weight: Any, save: str | Path | None = None, title: str = "first-layer filters") -> Any:
    """Show conv filters (C_out, C_in, KH, KW) as a grid: grey per filter, RGB when C_in == 3.

    With another C_in the grey picture is the filter's mean over its input channels.  Each
    filter is scaled on its own (grey: darkest weight black, brightest white).
    """
    w = _array(weight)
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"plot_filters: expected a conv weight (C_out, C_in, KH, KW), got shape {w.shape}"
                         + ("; for an nn.Conv2d pass layer.weight" if w.ndim != 4 else ""))
    plt = pyplot()
    rows, cols = _grid(w.shape[0])
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < w.shape[0]:
            f = w[i] if w.shape[1] == 3 else w[i].mean(axis=0)
            ax.imshow(_to_image(f), cmap="gray", interpolation="nearest")
    fig.suptitle(title)
    return finish_figure(fig, save)


def plot_feature_maps(maps: Any, save: str | Path | None = None, title: str = "", max_maps: int = 32) -> Any:
    """Show the channels of one activation (C, H, W) (or (1, C, H, W)) as a grid, at most ``max_maps``."""
    m = _array(maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3 or 0 in m.shape:
        hint = "; pass one image's maps, e.g. maps[0]" if m.ndim == 4 else ""
        raise ValueError(f"plot_feature_maps: expected one activation (C, H, W) or (1, C, H, W), "
                         f"got shape {m.shape}{hint}")
    if max_maps < 1:
        raise ValueError(f"plot_feature_maps: max_maps must be at least 1, got {max_maps}")
    m = m[:max_maps]
    plt = pyplot()
    rows, cols = _grid(m.shape[0])
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < m.shape[0]:
            ax.imshow(m[i], cmap="viridis", interpolation="nearest")
    if title:
        fig.suptitle(title)
    return finish_figure(fig, save)


def plot_history(history: Any, save: str | Path | None = None, title: str = "") -> Any:
    """Loss and accuracy per epoch, train and validation (a ``train.History`` or a dict).

    The dict needs ``train_loss`` and ``train_acc`` (one number per epoch; accuracy as a
    fraction in [0, 1]) and may have ``val_loss`` and ``val_acc`` of the same length.
    """
    h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    missing = [k for k in ("train_loss", "train_acc") if k not in h]
    if missing:
        raise ValueError(f"plot_history: the history has no {' or '.join(missing)}; expected a "
                         f"minicnn.train.History or a dict with train_loss, train_acc "
                         f"(and optionally val_loss, val_acc), got keys {sorted(h)}")
    lengths = {k: len(h[k]) for k in ("train_loss", "train_acc", "val_loss", "val_acc")
               if k in h and len(h[k])}
    n = len(h["train_loss"])
    if n == 0 or any(v != n for v in lengths.values()):
        raise ValueError(f"plot_history: need one value per epoch in every curve (at least one "
                         f"epoch), got lengths {lengths or {'train_loss': 0}}")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    epochs = np.arange(1, n + 1)
    ax_loss.plot(epochs, h["train_loss"], "o-", label="train")
    if lengths.get("val_loss"):
        ax_loss.plot(epochs, h["val_loss"], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, 100 * np.asarray(h["train_acc"]), "o-", label="train")
    if lengths.get("val_acc"):
        ax_acc.plot(epochs, 100 * np.asarray(h["val_acc"]), "s-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))     # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return finish_figure(fig, save)


def plot_confusion_matrix(confusion: Any, class_names: Sequence[str] | None = None,
                          save: str | Path | None = None, title: str = "confusion matrix") -> Any:
    """Counts of (true class, predicted class) as a (K, K) matrix, with the numbers in the cells.

    ``confusion[i, j]`` is the number of examples of true class i predicted as j (what
    ``minicnn.train.evaluate`` returns); fractions are written with two decimals.
    """
    c = _array(confusion)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: expected a square (K, K) matrix of counts "
                         f"(row = true class, column = predicted), got shape {c.shape}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(c.shape[0])]
    if len(names) != c.shape[0]:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for a {c.shape[0]}x{c.shape[0]} "
                         f"matrix; give one name per class")
    integer = np.issubdtype(c.dtype, np.integer)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(0.5 * len(names) + 2.5, 0.5 * len(names) + 2))
    ax.imshow(c, cmap="Blues")
    for (i, j), v in np.ndenumerate(c):
        if v:
            ax.text(j, i, str(v) if integer else f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if v > c.max() / 2 else "black")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=title)
    return finish_figure(fig, save)


def show_images(images: Any, labels: Sequence[Any] | None = None, predictions: Sequence[Any] | None = None,
                save: str | Path | None = None, title: str = "", cols: int | None = None) -> Any:
    """A grid of images (N, C, H, W) or (N, H, W), captioned "label" or "label -> prediction"
    (green when they agree, red when they differ)."""
    x = _array(images)
    _check_batch(x, "show_images")
    _check_labels(labels, len(x), "show_images", "labels")
    _check_labels(predictions, len(x), "show_images", "predictions")
    if predictions is not None and labels is None:
        raise ValueError("show_images: predictions need labels to compare with; pass labels=... too")
    plt = pyplot()
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
    return finish_figure(fig, save)


def _check_boxes(boxes: Any, n: int, which: str) -> np.ndarray | None:
    if boxes is None:
        return None
    b = _array(boxes)
    if b.shape != (n, 4):
        raise ValueError(f"draw_boxes: {which} must be ({n}, 4), one (x, y, w, h) box per image, "
                         f"got shape {b.shape}")
    return b


def draw_boxes(images: Any, true_boxes: Any = None, pred_boxes: Any = None, labels: Sequence[Any] | None = None,
               save: str | Path | None = None, title: str = "", cols: int | None = None) -> Any:
    """Images with boxes drawn on them: true in green, predicted in red.

    Boxes are (N, 4) as (x, y, w, h) in pixels, (x, y) the top-left corner: the box covers
    pixel columns x .. x+w-1 and rows y .. y+h-1 (``minicnn.localization``'s convention),
    so its outline runs along the pixel edges x - 0.5 and x + w - 0.5.
    """
    x = _array(images)
    _check_batch(x, "draw_boxes")
    _check_labels(labels, len(x), "draw_boxes", "labels")
    true_b = _check_boxes(true_boxes, len(x), "true_boxes")
    pred_b = _check_boxes(pred_boxes, len(x), "pred_boxes")
    plt = pyplot()
    from matplotlib.patches import Rectangle

    rows, cols = _grid(len(x), cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.9 * rows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(x):
            continue
        ax.imshow(_to_image(x[i]), cmap="gray", interpolation="nearest")
        for boxes, color in ((true_b, "lime"), (pred_b, "red")):
            if boxes is not None:
                bx, by, bw, bh = boxes[i]
                ax.add_patch(Rectangle((bx - 0.5, by - 0.5), bw, bh, fill=False, edgecolor=color, linewidth=1.5))
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    return finish_figure(fig, save)


def plot_neighbours(queries: Any, neighbours: Any, distances: Any = None,
                    save: str | Path | None = None, title: str = "nearest neighbours (L2)") -> Any:
    """Each row: a query image, then its k nearest neighbours.

    Shapes: queries (Q, C, H, W) or (Q, H, W); neighbours (Q, k, C, H, W) or (Q, k, H, W);
    distances (Q, k), written above each neighbour.
    """
    q, nb = _array(queries), _array(neighbours)
    _check_batch(q, "plot_neighbours", "queries")
    if nb.ndim != q.ndim + 1 or nb.shape[0] != q.shape[0] or nb.shape[2:] != q.shape[1:] or nb.shape[1] == 0:
        raise ValueError(f"plot_neighbours: neighbours must be (Q, k) + one query's shape = "
                         f"({q.shape[0]}, k, {', '.join(map(str, q.shape[1:]))}), got shape {nb.shape}")
    d = _array(distances) if distances is not None else None
    if d is not None and d.shape != nb.shape[:2]:
        raise ValueError(f"plot_neighbours: distances must be (Q, k) = {nb.shape[:2]}, got shape {d.shape}")
    plt = pyplot()
    k = nb.shape[1]
    fig, axes = plt.subplots(len(q), k + 1, figsize=(1.3 * (k + 1), 1.4 * len(q) + 0.3), squeeze=False)
    for r in range(len(q)):
        axes[r, 0].imshow(_to_image(q[r]), cmap="gray", interpolation="nearest")
        axes[r, 0].set_title("query", fontsize=8)
        for j in range(k):
            axes[r, j + 1].imshow(_to_image(nb[r, j]), cmap="gray", interpolation="nearest")
            if d is not None:
                axes[r, j + 1].set_title(f"{d[r, j]:.2f}", fontsize=7)
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle(title)
    return finish_figure(fig, save)
