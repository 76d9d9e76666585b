"""The demo: train a small CNN on the embedded MNIST digits and show what it learned.

    conv 3x3 (1 -> 16) - ReLU - maxpool 2x2     (N, 1, 28, 28) -> (N, 16, 14, 14)
    conv 3x3 (16 -> 32) - ReLU - maxpool 2x2    -> (N, 32, 7, 7)
    flatten - fully connected (1568 -> 10)      -> (N, 10) class scores
    softmax + negative log-likelihood (cross_entropy)

Trained with SGD + momentum and a cosine learning-rate schedule on the 4,000 training
digits (augmented with small random rotations, zooms and shifts), evaluated on the 1,000
held-out digits.  Writes to the output folder:
``history.png`` (loss/accuracy curves), ``filters.png`` (first-layer filters),
``confusion.png``, ``misclassified.png`` and ``metrics.json``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import nn, optim
from .random import manual_seed

__all__ = ["demo_cnn", "run_demo"]


def demo_cnn(num_classes: int = 10) -> nn.Sequential:
    """The demo network: (conv-ReLU-pool) x 2, then one fully-connected layer."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),   # (N, 16, 28, 28)
        nn.ReLU(),
        nn.MaxPool2d(2),                               # (N, 16, 14, 14)
        nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (N, 32, 14, 14)
        nn.ReLU(),
        nn.MaxPool2d(2),                               # (N, 32, 7, 7)
        nn.Flatten(),                                  # (N, 1568)
        nn.Linear(32 * 7 * 7, num_classes),            # (N, 10)
    )


def run_demo(out_dir: str | Path = "out/demo", epochs: int = 10, batch_size: int = 64, lr: float = 0.05,
             seed: int = 0, plots: bool = True, progress: bool = True) -> dict[str, Any]:
    """Train ``demo_cnn`` on the embedded digits; returns (and saves) the metrics."""
    from .data.augment import Compose, RandomAffine, RandomCrop
    from .data.digits import digits_loaders
    from .train import evaluate, fit

    manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_loader, test_loader = digits_loaders(batch_size, seed=seed, transform=Compose([RandomAffine(degrees=10, scale=(0.9, 1.1)), RandomCrop(padding=2)]))
    model = demo_cnn()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    t0 = time.perf_counter()
    history = fit(model, loss_fn, optimizer, train_loader, test_loader, epochs=epochs,
                  scheduler=scheduler, progress=progress)
    train_seconds = time.perf_counter() - t0
    result = evaluate(model, test_loader, loss_fn, num_classes=10)

    metrics = {
        "test_accuracy": result.accuracy,
        "test_loss": result.loss,
        "train_seconds": round(train_seconds, 1),
        "epochs": history.epochs,
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "history": history.as_dict(),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if plots:
        _plots(model, history, result, test_loader, out)
    return metrics


def _plots(model: nn.Module, history: Any, result: Any, test_loader: Any, out: Path) -> None:
    from . import viz
    from .grad_mode import no_grad

    viz.plot_history(history, save=out / "history.png", title="demo CNN on the embedded digits")
    viz.plot_filters(model[0].weight, save=out / "filters.png", title="first-layer filters (16 of 3x3)")
    viz.plot_confusion_matrix(result.confusion, save=out / "confusion.png",
                              title=f"held-out digits: {100 * result.accuracy:.2f}% correct")
    wrong_images, wrong_true, wrong_pred = [], [], []
    model.eval()
    with no_grad():
        for images, labels in test_loader:
            pred = model(images).numpy().argmax(axis=1)
            miss = pred != labels.numpy()
            wrong_images.append(images.numpy()[miss])
            wrong_true.append(labels.numpy()[miss])
            wrong_pred.append(pred[miss])
    imgs = np.concatenate(wrong_images)[:40]
    if len(imgs):
        viz.show_images(imgs, np.concatenate(wrong_true)[:40], np.concatenate(wrong_pred)[:40],
                        save=out / "misclassified.png", title="misclassified: true -> predicted", cols=10)
