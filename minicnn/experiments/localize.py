"""``minicnn localize``: localization as regression, the lecture's recipe step by step.

The task: each 64x64 canvas shows one real handwritten digit at a random position and size
(``localization.make_localization_dataset``); say which digit it is *and* where it is, as a
box (x, y, w, h).

1. **Train a classifier** (or load it from the cache): a ``SmallVGG`` with four conv blocks
   on the canvases' class labels.
2. **Attach a regression head** ``Linear(256 -> 4)`` to its top layer (the 256 outputs of the
   hidden fully-connected layer) and train only the head, with SGD and the L2 loss on
   normalised boxes, on frozen features (computed once with ``extract_features``).
3. **Fine-tune everything** with the multitask loss: one body, two heads (class scores and
   box), ``cross_entropy + box_weight * mse`` (``localization.multitask_loss``).

Each step is measured on held-out canvases made from the digits' "test" split: mean IoU,
accuracy at IoU >= 0.5 (a box counts as found when it overlaps the true one by half), and
class accuracy.

The lecture's "centre and radius" example is also here (``run_circles``): a CNN regresses
the centre and radius of a disc, three real numbers with a quadratic loss and no softmax.

Outputs in ``out_dir``: ``boxes_frozen.png`` and ``boxes_finetuned.png`` (true boxes green,
predicted red), ``circles.png``, and ``localize.json``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import nn, optim, transfer
from .. import localization as loc
from ..data import DataLoader, TensorDataset
from ..fully_conv import layers_in_order
from ..random import manual_seed
from ..tensor import Tensor
from .common import (
    SmallVGG, Stopwatch, config_key, default_cache, fit_classifier, load_or_train, predict, save_figure,
    write_json,
)

__all__ = ["LocalizeConfig", "FAST", "run_localize", "run_circles", "box_metrics", "format_metrics"]


@dataclass(frozen=True)
class LocalizeConfig:
    """Everything that sets the numbers of the experiment (the defaults are the full run).

    Step 1 and step 3 see ``n_train`` *new* canvases every epoch (the same digits at new
    positions and sizes), which keeps the network from memorising placements; both use Adam
    with a cosine learning-rate decay.  Step 2 is the lecture's plain SGD on frozen features.
    """

    canvas: int = 64
    scale: tuple[float, float] = (0.7, 1.4)      # digit size: 28 * scale pixels
    n_train: int = 3000                          # canvases per epoch, from the 4,000 training digits
    n_test: int = 500                            # canvases from the 1,000 test digits
    channels: tuple[int, ...] = (8, 16, 32, 64)  # 64 -> 32 -> 16 -> 8 -> 4: features (64, 4, 4)
    hidden: int = 256                            # the top layer the box head is attached to
    classifier_epochs: int = 10                  # step 1 (Adam)
    classifier_lr: float = 2e-3
    head_epochs: int = 30                        # step 2: box head on frozen features (SGD)
    head_lr: float = 0.01
    finetune_epochs: int = 8                     # step 3: everything, multitask loss (Adam)
    finetune_lr: float = 1e-3
    box_weight: float = 50.0                     # normalised box errors are ~0.03: weigh them up
    batch_size: int = 32
    circles_train: int = 2000
    circles_test: int = 500
    circles_epochs: int = 8

    def key(self) -> str:
        """The cache name of the step-1 classifier: it depends only on its own settings."""
        return config_key({"canvas": self.canvas, "scale": self.scale, "n": self.n_train,
                           "channels": self.channels, "hidden": self.hidden, "optimizer": "adam-cosine",
                           "epochs": self.classifier_epochs, "lr": self.classifier_lr, "seed": 0})


# A tiny configuration for tests: seconds, not minutes; the numbers mean nothing.
FAST = LocalizeConfig(n_train=96, n_test=16, channels=(2, 4, 4, 4), hidden=8, classifier_epochs=1,
                      head_epochs=2, finetune_epochs=1, circles_train=64, circles_test=16, circles_epochs=1)


def box_metrics(pred_boxes: np.ndarray, true_boxes: np.ndarray, scores: np.ndarray | None = None,
                labels: np.ndarray | None = None) -> dict[str, float]:
    """Mean IoU, accuracy at IoU >= 0.5 and (given scores and labels) class accuracy."""
    out = {"mean_iou": loc.mean_iou(pred_boxes, true_boxes),
           "acc_iou50": loc.accuracy_at_iou(pred_boxes, true_boxes, 0.5)}
    if scores is not None and labels is not None:
        out["class_accuracy"] = float((scores.argmax(axis=1) == labels).mean())
    return out


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Random mini-batches of indices covering 0..n-1 once (one epoch)."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]                                # (B,)


def run_localize(out_dir: str | Path = "out/localize", config: LocalizeConfig | None = None,
                 cache: str | Path | None = None, plots: bool = True, circles: bool = True,
                 log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the three steps (and the circles example); returns and writes the metrics.

    Args:
        config: the settings (default: ``LocalizeConfig()``, a few CPU minutes; ``FAST`` for tests).
        cache: folder for the step-1 classifier (default: ``$MINICNN_HOME/experiments``).
        plots: save the PNG figures (needs matplotlib).
        circles: also run the "centre and radius" example.
        log: where progress lines go.
    """
    cfg = config or LocalizeConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    manual_seed(0)
    size = (cfg.canvas, cfg.canvas)

    def canvases(seed: int, n: int = cfg.n_train, split: str = "train") -> dict[str, np.ndarray]:
        data = loc.make_localization_dataset(n, cfg.canvas, cfg.scale, split=split, seed=seed)
        data["targets"] = loc.encode_boxes(data["boxes"], size)             # (N, 4) in [0, 1]
        return data

    test = canvases(seed=1, n=cfg.n_test, split="test")
    log(f"{cfg.n_train} training canvases per epoch, {cfg.n_test} held-out {cfg.canvas}x{cfg.canvas} "
        f"canvases (digits scaled x{cfg.scale[0]}-{cfg.scale[1]})")

    # ---- step 1: a digit classifier on the canvases (cached)
    net = SmallVGG(1, cfg.channels, 10, input_size=cfg.canvas, hidden=cfg.hidden, rng=0)
    cache_path = Path(cache or default_cache()) / f"localize-classifier-{cfg.key()}.npz"

    def train_classifier() -> dict[str, Any]:
        log(f"step 1: training the classifier ({cfg.classifier_epochs} epochs)...")
        t = Stopwatch()
        opt = optim.Adam(net.parameters(), lr=cfg.classifier_lr)
        schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.classifier_epochs)
        for epoch in range(cfg.classifier_epochs):
            data = canvases(seed=100 + epoch)                                # new placements every epoch
            fit_classifier(net, data["images"], data["labels"], opt, 1, cfg.batch_size, seed=epoch)
            schedule.step()
        return {"seconds": round(t(), 1)}

    facts = load_or_train(cache_path, net, train_classifier)
    scores = predict(net, test["images"])
    step1 = {"class_accuracy": float((scores.argmax(axis=1) == test["labels"]).mean()), "cached": facts["cached"]}
    origin = f"loaded from {cache_path}" if facts["cached"] else f"trained in {facts['seconds']} s"
    log(f"step 1: classifier {100 * step1['class_accuracy']:.1f}% on held-out canvases ({origin})")

    # ---- step 2: a box head on the frozen top-layer features, SGD + L2 loss
    top = f"classifier.{len(net.classifier) - 3}"                            # the ReLU after the hidden layer

    def features(data: dict[str, np.ndarray]) -> np.ndarray:
        loader = DataLoader(TensorDataset(data["images"], data["labels"]), batch_size=250)
        return transfer.extract_features(net, loader, top)[0]              # (N, hidden), computed once

    train = canvases(seed=0)
    box_head = loc.train_box_head(features(train), train["targets"], epochs=cfg.head_epochs, lr=cfg.head_lr,
                                  batch_size=cfg.batch_size, seed=0)
    frozen_boxes = loc.decode_boxes(predict(box_head, features(test)), size)
    step2 = box_metrics(frozen_boxes, test["boxes"], scores, test["labels"])
    log("step 2: box head on frozen features: " + format_metrics(step2))

    # ---- step 3: one body, two heads, fine-tuned together with the multitask loss
    layers = layers_in_order(net)                                           # features ... Flatten, Linear, ReLU, ...
    body = nn.Sequential(*layers[:layers.index(net.classifier[len(net.classifier) - 3]) + 1])
    model = loc.ClassifierLocalizer(body, cfg.hidden, 10)
    model.class_head = net.classifier[len(net.classifier) - 1]              # the trained heads, not new ones
    model.box_head = box_head
    opt = optim.Adam(model.parameters(), lr=cfg.finetune_lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.finetune_epochs)
    rng = np.random.default_rng(0)
    model.train()
    for epoch in range(cfg.finetune_epochs):
        data = canvases(seed=200 + epoch)
        total = 0.0
        for idx in _batches(cfg.n_train, cfg.batch_size, rng):
            class_scores, boxes = model(Tensor(data["images"][idx]))
            loss = loc.multitask_loss(class_scores, boxes, Tensor(data["labels"][idx]),
                                      Tensor(data["targets"][idx]), box_weight=cfg.box_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(idx)
        schedule.step()
        log(f"step 3: epoch {epoch + 1}/{cfg.finetune_epochs}, multitask loss {total / cfg.n_train:.4f}  "
            f"[{watch():.0f} s]")
    scores3, boxes3 = predict(model, test["images"])
    tuned_boxes = loc.decode_boxes(boxes3, size)
    step3 = box_metrics(tuned_boxes, test["boxes"], scores3, test["labels"])
    log("step 3: fine-tuned with the multitask loss: " + format_metrics(step3))

    report: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "classifier": step1,
        "frozen_box_head": step2,
        "finetuned": step3,
    }
    if circles:
        report["circles"] = run_circles(cfg, out if plots else None, log)
    report["seconds"] = round(watch(), 1)
    write_json(out / "localize.json", report)
    if plots:
        shown = slice(0, 16)
        for name, boxes, cls in (("frozen", frozen_boxes, scores), ("finetuned", tuned_boxes, scores3)):
            ious = loc.iou(boxes[shown], test["boxes"][shown])
            labels = [f"{t} -> {p}, IoU {v:.2f}" for t, p, v in
                      zip(test["labels"][shown], cls[shown].argmax(axis=1), ious)]
            _draw(test["images"][shown], test["boxes"][shown], boxes[shown], labels, out / f"boxes_{name}.png",
                  f"{'frozen features + box head' if name == 'frozen' else 'fine-tuned, multitask loss'}: "
                  f"true (green) and predicted (red) boxes")
    log(format_metrics(step3, title=f"held-out canvases ({cfg.n_test}), after fine-tuning") +
        f"  ({report['seconds']:.0f} s)")
    return report


def format_metrics(m: dict[str, float], title: str = "") -> str:
    parts = [f"mean IoU {m['mean_iou']:.3f}", f"IoU>=0.5 {100 * m['acc_iou50']:.1f}%"]
    if "class_accuracy" in m:
        parts.append(f"class accuracy {100 * m['class_accuracy']:.1f}%")
    return (f"{title}: " if title else "") + ", ".join(parts)


def _draw(images: np.ndarray, true_boxes: np.ndarray, pred_boxes: np.ndarray, labels: list[str],
          path: Path, title: str) -> None:
    from .. import viz

    fig = viz.draw_boxes(images, true_boxes, pred_boxes, labels=labels, title=title, cols=4)
    save_figure(fig, path)


# ---------------------------------------------------------------- centre and radius
def circle_net() -> nn.Sequential:
    """A small CNN that outputs 3 real numbers (cx, cy, r) for a 32x32 image: no softmax."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # (N, 8, 16, 16)
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 16, 8, 8)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 32, 4, 4)
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 3),                                              # (N, 3): regression, no softmax
    )


def run_circles(config: LocalizeConfig | None = None, out_dir: str | Path | None = None,
                log: Callable[[str], Any] = print) -> dict[str, float]:
    """Regress the centre and radius of a disc with the quadratic loss; returns the errors.

    Reports the mean absolute error of cx, cy and r in pixels (32x32 images) and the mean
    IoU of the discs' bounding squares; draws them when ``out_dir`` is given.
    """
    cfg = config or LocalizeConfig()
    side = 32
    train = loc.make_circles(cfg.circles_train, side, seed=0)
    test = loc.make_circles(cfg.circles_test, side, seed=1)
    manual_seed(0)
    model = circle_net()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(cfg.circles_epochs):
        for idx in _batches(cfg.circles_train, cfg.batch_size, rng):
            loss = nn.functional.mse_loss(model(Tensor(train["images"][idx])), Tensor(train["targets"][idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    pred = predict(model, test["images"]) * side                            # (N, 3) pixels
    true = test["targets"] * side
    err = np.abs(pred - true).mean(axis=0)

    def squares(c: np.ndarray) -> np.ndarray:                               # (cx, cy, r) -> (x, y, w, h)
        return np.stack([c[:, 0] - c[:, 2], c[:, 1] - c[:, 2], 2 * c[:, 2], 2 * c[:, 2]], axis=1)

    result = {"mae_cx_px": float(err[0]), "mae_cy_px": float(err[1]), "mae_r_px": float(err[2]),
              "mean_iou": loc.mean_iou(squares(pred), squares(true))}
    log(f"circles: mean absolute error cx {err[0]:.2f} px, cy {err[1]:.2f} px, r {err[2]:.2f} px "
        f"(32x32 images); bounding-square mean IoU {result['mean_iou']:.3f}")
    if out_dir is not None:
        shown = slice(0, 12)
        _draw(test["images"][shown], squares(true[shown]), squares(pred[shown]),
              [f"r {t:.1f} -> {p:.1f}" for t, p in zip(true[shown, 2], pred[shown, 2])],
              Path(out_dir) / "circles.png", "centre and radius: true (green) and predicted (red)")
    return result
