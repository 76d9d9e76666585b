"""The training loop: ``fit`` a model, ``evaluate`` it, stop early, checkpoint and resume.

One epoch of ``fit`` is the loop from the lecture, written out::

    for images, labels in train_loader:
        scores = model(images)              # forward
        loss = loss_fn(scores, labels)      # e.g. softmax + NLL
        optimizer.zero_grad()
        loss.backward()                     # backward: dL/dparams
        optimizer.step()                    # update:   params -= lr * dL/dparams

everything else here is bookkeeping: a progress bar with loss, accuracy and images per
second, a validation pass, a history of numbers to plot, early stopping, checkpoints
that are written atomically and resume bit for bit.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import random as mrandom
from .grad_mode import no_grad
from .tensor import Tensor

__all__ = ["fit", "evaluate", "History", "EvalResult", "EarlyStopping", "TrainingDiverged",
           "save_checkpoint", "load_checkpoint"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says when and what to try."""


@dataclass
class EvalResult:
    """Loss, accuracy and confusion matrix of a model on a data loader.

    ``confusion[i, j]`` counts examples of true class i predicted as class j.
    """

    loss: float
    accuracy: float
    confusion: np.ndarray
    count: int

    def __str__(self) -> str:
        return f"loss {self.loss:.4f}, accuracy {100 * self.accuracy:.2f}% on {self.count} examples"


@dataclass
class History:
    """Per-epoch numbers from ``fit``: lists indexed by epoch (0-based)."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)


class EarlyStopping:
    """Stop when ``monitor`` ("val_loss" or "val_acc") has not improved for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0) -> None:
        if monitor not in ("val_loss", "val_acc", "train_loss", "train_acc"):
            raise ValueError(f"EarlyStopping: monitor must be val_loss, val_acc, train_loss or train_acc, got {monitor!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best = -math.inf if monitor.endswith("acc") else math.inf
        self.bad_epochs = 0

    def should_stop(self, history: History) -> bool:
        values = getattr(history, self.monitor)
        if not values:
            raise ValueError(f"EarlyStopping monitors {self.monitor}, which fit() did not record (no val_loader?)")
        value = values[-1]
        better = value > self.best + self.min_delta if self.monitor.endswith("acc") else value < self.best - self.min_delta
        if better:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def _batch_accuracy(scores: Tensor, labels: Tensor) -> int:
    if scores.ndim != 2 or labels.ndim != 1:
        return 0
    return int((scores.data.argmax(axis=1) == labels.data).sum())


def _check_labels(scores: Tensor, labels: Tensor) -> None:
    """Labels must index a class the model can output: a clear error otherwise."""
    if scores.ndim == 2 and labels.ndim == 1 and labels.dtype.kind in "iu" and labels.size:
        lo, hi = int(labels.data.min()), int(labels.data.max())
        if lo < 0 or hi >= scores.shape[1]:
            bad = hi if hi >= scores.shape[1] else lo
            raise ValueError(
                f"label {bad} is outside the model's {scores.shape[1]} classes (0..{scores.shape[1] - 1}); "
                "check the dataset's labels or the model's num_classes"
            )


def evaluate(model: Any, loader: Iterable, loss_fn: Callable | None = None,
             num_classes: int | None = None) -> EvalResult:
    """Run ``model`` in eval mode over ``loader``: mean loss, accuracy and a confusion matrix."""
    was_training = getattr(model, "training", False)
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    preds: list[np.ndarray] = []
    trues: list[np.ndarray] = []
    with no_grad():
        for images, labels in loader:
            scores = model(images)
            _check_labels(scores, labels)
            n = len(labels)
            if loss_fn is not None:
                total_loss += float(loss_fn(scores, labels).item()) * n
            correct += _batch_accuracy(scores, labels)
            count += n
            preds.append(np.asarray(scores.numpy().argmax(axis=1)))
            trues.append(labels.numpy())
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the loader produced no examples (empty dataset?)")
    y_pred, y_true = np.concatenate(preds), np.concatenate(trues)
    k = num_classes or int(max(y_pred.max(), y_true.max())) + 1
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    return EvalResult(total_loss / count if loss_fn is not None else float("nan"), correct / count, confusion, count)


def fit(
    model: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Any,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    epochs: int = 1,
    scheduler: Any = None,
    callbacks: Sequence[Callable[[int, History], Any]] = (),
    early_stopping: EarlyStopping | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    grad_norm_warning: tuple[float, float] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the ``History`` of per-epoch numbers.

    Args:
        loss_fn: ``loss_fn(scores, labels) -> scalar Tensor`` (e.g. ``nn.CrossEntropyLoss()``).
        scheduler: stepped once per epoch, after the epoch.
        callbacks: called as ``cb(epoch, history)`` after each epoch; returning True stops.
        early_stopping: an ``EarlyStopping`` that may end training early.
        checkpoint: a path; after each epoch the model, optimizer, scheduler, history and
            random state are saved there atomically.  With ``resume=True`` and an existing
            file, training continues after the saved epoch exactly as if never interrupted.
        progress: show a progress bar (quiet when not on a terminal or when ``CI`` is set).
        grad_norm_warning: ``(low, high)``: warn when the global gradient norm of a step falls
            below ``low`` (vanishing) or rises above ``high`` (exploding).

    Raises:
        TrainingDiverged: when the loss becomes NaN or infinite, naming the step and lr.
    """
    from .progress import progress as progress_bar  # the data helper's progress bar

    history = History()
    start_epoch = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, optimizer, scheduler)
        history = History(**state["history"])
        start_epoch = state["epoch"] + 1
    step = 0
    for epoch in range(start_epoch, epochs):
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)  # reproducible shuffling that resumes correctly
        model.train()
        total_loss, correct, count, t0 = 0.0, 0, 0, time.perf_counter()
        bar = progress_bar(total=_safe_len(train_loader), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                           disable=not progress)
        for images, labels in train_loader:
            scores = model(images)
            _check_labels(scores, labels)
            loss = loss_fn(scores, labels)
            value = float(loss.item())
            if not math.isfinite(value):
                raise TrainingDiverged(_diverged_message(value, epoch, step, optimizer))
            optimizer.zero_grad()
            loss.backward()
            if grad_norm_warning is not None:
                _warn_grad_norm(optimizer, grad_norm_warning, step)
            optimizer.step()
            n = len(labels)
            total_loss += value * n
            correct += _batch_accuracy(scores, labels)
            count += n
            step += 1
            elapsed = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{100 * correct / count:.1f}%",
                            img_s=f"{count / max(elapsed, 1e-9):.0f}")
        bar.close()
        if count == 0:
            raise ValueError("fit: the training loader produced no batches (empty dataset, or drop_last with too few examples)")
        seconds = time.perf_counter() - t0
        history.train_loss.append(total_loss / count)
        history.train_acc.append(correct / count)
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        history.seconds.append(seconds)
        history.images_per_second.append(count / seconds)
        if val_loader is not None:
            result = evaluate(model, val_loader, loss_fn)
            history.val_loss.append(result.loss)
            history.val_acc.append(result.accuracy)
        if scheduler is not None:
            scheduler.step()
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, epoch, history)
        if progress:
            _print_epoch(epoch, epochs, history)
        stop = any(cb(epoch, history) is True for cb in callbacks)
        if early_stopping is not None and early_stopping.should_stop(history):
            stop = True
        if stop:
            break
    return history


def _safe_len(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _print_epoch(epoch: int, epochs: int, h: History) -> None:
    import sys

    line = (f"epoch {epoch + 1}/{epochs}: train loss {h.train_loss[-1]:.4f}, "
            f"acc {100 * h.train_acc[-1]:.2f}%")
    if h.val_loss:
        line += f" | val loss {h.val_loss[-1]:.4f}, acc {100 * h.val_acc[-1]:.2f}%"
    line += f" | {h.seconds[-1]:.1f} s, {h.images_per_second[-1]:.0f} img/s"
    print(line, file=sys.stderr, flush=True)


def _diverged_message(value: float, epoch: int, step: int, optimizer: Any) -> str:
    lrs = sorted({float(g["lr"]) for g in optimizer.param_groups})
    lr_text = ", ".join(f"{lr:g}" for lr in lrs)
    return (
        f"the loss became {value} at step {step} (epoch {epoch + 1}) with learning rate {lr_text}. "
        f"Training stopped. Try a learning rate 10x smaller (e.g. {lrs[-1] / 10:g}), check the inputs "
        "for NaN, or clip gradients (minicnn.optim.clip_grad_norm_)."
    )


def _warn_grad_norm(optimizer: Any, bounds: tuple[float, float], step: int) -> None:
    import warnings

    sq = 0.0
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                sq += float((p.grad.data.astype(np.float64) ** 2).sum())
    norm = math.sqrt(sq)
    low, high = bounds
    if norm > high:
        warnings.warn(f"step {step}: gradient norm {norm:.3g} exceeds {high:g} (exploding gradients?): "
                      "lower the learning rate or clip gradients", RuntimeWarning, stacklevel=3)
    elif norm < low:
        warnings.warn(f"step {step}: gradient norm {norm:.3g} is below {low:g} (vanishing gradients?): "
                      "check the initialisation, or use ReLU / batch norm", RuntimeWarning, stacklevel=3)


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(path: str | Path, model: Any, optimizer: Any = None, scheduler: Any = None,
                    epoch: int = 0, history: History | None = None) -> None:
    """Write model + optimizer + scheduler + epoch + history + RNG state to one ``.npz``, atomically."""
    from .serialization import save

    state: dict[str, Any] = {
        "model": model.state_dict(),
        "epoch": epoch,
        "history": (history or History()).as_dict(),
        "rng": mrandom.default_generator().bit_generator.state,
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    save(state, path)


def load_checkpoint(path: str | Path, model: Any, optimizer: Any = None, scheduler: Any = None) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote; returns the whole state (epoch, history, ...)."""
    from .serialization import load

    state = load(path)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise ValueError(f"checkpoint {path} does not fit this model (another architecture?):\n{e}") from None
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    if "rng" in state:
        mrandom.default_generator().bit_generator.state = state["rng"]
    return state
