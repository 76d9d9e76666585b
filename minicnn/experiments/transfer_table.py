"""``minicnn transfer``: the lecture's 2x2 transfer-learning table, measured on real digits.

The story: a network trained on one task (digits 0-4) has learned features -- strokes,
curves, loops -- that a related task (digits 5-9) can reuse.  How to reuse them depends on
how much data the new task has:

    little data (10 per class)   -> train only a linear classifier on the frozen features
    more data (300 per class)    -> fine-tune some or all of the layers

The experiment:

1. Pretrain a small VGG-style network (``SmallVGG``: 3x3 conv blocks + max pools, then two
   fully-connected layers) on the 2,000 training digits 0-4.  Its weights are cached, so a
   second run starts at step 2.
2. For each training-set size (10 and 300 per class of digits 5-9) and each seed (a
   different random subset), train four ways and measure accuracy on the 500 held-out 5-9
   digits (the digits' "test" split):

   - **from scratch**: the same architecture, random initial weights, everything trained;
   - **linear on frozen features**: softmax regression on the pretrained network's
     penultimate features (``extract_features`` once, then ``train_softmax_regression``);
   - **fine-tune the last block**: new head; the last conv block and the classifier train,
     the first blocks stay frozen (so their outputs are computed once and reused);
   - **fine-tune everything**: new head, all layers train, the pretrained ones at a 10x
     lower learning rate than the new head (``param_groups``).

3. Catastrophic forgetting: put the *original* 0-4 head back on each fine-tuned body and
   measure it on the held-out 0-4 digits again.

Outputs in ``out_dir``: ``transfer_table.png`` (grouped bars with the standard deviation
over seeds), ``forgetting.png`` and ``transfer_table.json``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import nn, optim, transfer
from ..data import DataLoader, TensorDataset
from ..fully_conv import layers_in_order
from ..random import manual_seed
from .common import (
    SmallVGG, Stopwatch, classifier_accuracy, config_key, default_cache, fit_classifier, load_or_train,
    mean_std, predict, save_figure, select_digits, write_json, pyplot,
)

__all__ = ["TransferConfig", "FAST", "METHODS", "run_transfer", "format_table"]

METHODS = {
    "scratch": "train from scratch",
    "linear": "linear on frozen features",
    "finetune_last": "fine-tune last block",
    "finetune_all": "fine-tune everything",
}


@dataclass(frozen=True)
class TransferConfig:
    """Everything that sets the numbers of the experiment (the defaults are the full run)."""

    channels: tuple[int, ...] = (16, 32, 64)     # SmallVGG blocks
    hidden: int = 128                            # classifier's hidden layer (the frozen features)
    source: tuple[int, ...] = (0, 1, 2, 3, 4)    # pretraining digits
    target: tuple[int, ...] = (5, 6, 7, 8, 9)    # the new task
    pretrain_epochs: int = 5
    pretrain_lr: float = 0.05
    sizes: tuple[int, ...] = (10, 300)           # training examples per class of the new task
    epochs: tuple[int, ...] = (40, 5)            # epochs for each size (the same for every method)
    batch_sizes: tuple[int, ...] = (10, 32)
    head_lr: float = 0.05                        # new layers (and everything, from scratch)
    body_lr: float = 0.005                       # pretrained layers when fine-tuning
    linear_epochs: tuple[int, ...] = (100, 30)   # softmax regression on frozen features
    linear_lr: float = 0.05
    seeds: tuple[int, ...] = (0, 1, 2)
    test_per_class: int | None = None            # None: all 100 held-out digits per class

    def key(self) -> str:
        """The cache name of the pretrained network: it depends only on the pretraining settings."""
        return config_key({"channels": self.channels, "hidden": self.hidden, "source": self.source,
                           "epochs": self.pretrain_epochs, "lr": self.pretrain_lr, "seed": 0})


# A tiny configuration for tests: seconds, not minutes; the numbers mean nothing.
FAST = TransferConfig(channels=(4, 8, 8), hidden=16, pretrain_epochs=1, sizes=(2, 8), epochs=(2, 1),
                      batch_sizes=(10, 16), linear_epochs=(5, 2), seeds=(0,), test_per_class=10)


def _subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` random examples of each label (the seed picks which)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([np.sort(rng.choice(np.flatnonzero(labels == k), per_class, replace=False))
                           for k in np.unique(labels)])


def _sgd(groups: Any, lr: float) -> optim.SGD:
    return optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=5e-4)


def _loader(images: np.ndarray, labels: np.ndarray) -> DataLoader:
    return DataLoader(TensorDataset(images, labels), batch_size=250)


def run_transfer(out_dir: str | Path = "out/transfer", config: TransferConfig | None = None,
                 cache: str | Path | None = None, plots: bool = True,
                 log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the experiment; returns (and writes to ``out_dir``) all the numbers.

    Args:
        config: the settings (default: ``TransferConfig()``, a few CPU minutes; ``FAST`` for tests).
        cache: folder for the pretrained weights (default: ``$MINICNN_HOME/experiments``).
        plots: also save the two PNG figures (needs matplotlib).
        log: where progress lines go.
    """
    cfg = config or TransferConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    manual_seed(0)

    # ---- data: the pretraining task, the new task's pool of training digits, and held-out digits
    src_x, src_y = select_digits("train", cfg.source)
    src_test_x, src_test_y = select_digits("test", cfg.source, cfg.test_per_class)
    pool_x, pool_y = select_digits("train", cfg.target)
    test_x, test_y = select_digits("test", cfg.target, cfg.test_per_class)
    k_src, k_tgt = len(cfg.source), len(cfg.target)

    def network(num_classes: int, seed: int) -> SmallVGG:
        return SmallVGG(1, cfg.channels, num_classes, input_size=32, hidden=cfg.hidden, rng=seed)

    # ---- 1. pretrain on the source digits (or load the cached weights)
    pretrained = network(k_src, 0)
    cache_path = Path(cache or default_cache()) / f"transfer-pretrained-{cfg.key()}.npz"

    def pretrain() -> dict[str, Any]:
        log(f"pretraining on digits {cfg.source} ({len(src_y)} images, {cfg.pretrain_epochs} epochs)...")
        t = Stopwatch()
        fit_classifier(pretrained, src_x, src_y, _sgd(pretrained.parameters(), cfg.pretrain_lr),
                       cfg.pretrain_epochs, batch_size=32, seed=0)
        return {"seconds": round(t(), 1)}

    facts = load_or_train(cache_path, pretrained, pretrain)
    source_acc = classifier_accuracy(pretrained, src_test_x, src_test_y)
    origin = f"loaded from {cache_path}" if facts["cached"] else f"trained in {facts['seconds']} s"
    log(f"pretrained network: {100 * source_acc:.2f}% on held-out digits {cfg.source} ({origin})")

    head = f"classifier.{len(pretrained.classifier) - 1}"          # the last Linear
    penultimate = f"classifier.{len(pretrained.classifier) - 3}"   # the ReLU before Dropout and head
    blocks = transfer.feature_blocks(pretrained.features)
    frozen_end = len(pretrained.features) - len(blocks[-1])        # layers before the last block
    old_head = pretrained.classifier[-1]                           # the 0-4 head, kept for forgetting

    # Frozen parts are computed once: penultimate features for the linear classifier and the
    # output of the frozen blocks for "fine-tune the last block".
    feats = {name: transfer.extract_features(pretrained, _loader(x, y), penultimate)[0]
             for name, (x, y) in {"pool": (pool_x, pool_y), "test": (test_x, test_y)}.items()}
    frozen_body = nn.Sequential(*list(pretrained.features)[:frozen_end])
    maps = {name: predict(frozen_body, x) for name, x in {"pool": pool_x, "test": test_x}.items()}

    def old_task_accuracy(model: nn.Module) -> float:
        """The original 0-4 head on ``model``'s (fine-tuned) penultimate features."""
        f, y = transfer.extract_features(model, _loader(src_test_x, src_test_y), penultimate)
        return transfer.accuracy(old_head, f, y)

    def fine_tune(seed: int, last_block_only: bool, idx: np.ndarray, epochs: int, batch: int) -> tuple[float, float]:
        model = network(k_src, 0)
        model.load_state_dict(pretrained.state_dict())
        transfer.replace_head(model, k_tgt, head, rng=seed)          # "chop off the head"
        if last_block_only:
            transfer.unfreeze_last_blocks(model, 1)                 # first blocks frozen
            rest = nn.Sequential(*layers_in_order(model)[frozen_end:])  # shares the model's layers
            x_train, x_test = maps["pool"][idx], maps["test"]
        else:
            rest, x_train, x_test = model, pool_x[idx], test_x
        groups = transfer.param_groups(model, cfg.head_lr, cfg.body_lr, head=head)
        fit_classifier(rest, x_train, pool_y[idx], _sgd(groups, cfg.head_lr), epochs, batch, seed)
        return classifier_accuracy(rest, x_test, test_y), old_task_accuracy(model)

    # ---- 2. the table
    results = {m: {} for m in METHODS}
    forgetting = {m: {} for m in METHODS if m != "scratch"}
    for size, epochs, batch, lin_epochs in zip(cfg.sizes, cfg.epochs, cfg.batch_sizes, cfg.linear_epochs):
        runs: dict[str, list[float]] = {m: [] for m in METHODS}
        old: dict[str, list[float]] = {m: [] for m in forgetting}
        for seed in cfg.seeds:
            idx = _subset(pool_y, size, seed)
            manual_seed(seed)                                       # dropout masks
            scratch = network(k_tgt, 1000 + seed)
            fit_classifier(scratch, pool_x[idx], pool_y[idx], _sgd(scratch.parameters(), cfg.head_lr),
                           epochs, batch, seed)
            runs["scratch"].append(classifier_accuracy(scratch, test_x, test_y))

            linear = transfer.train_softmax_regression(feats["pool"][idx], pool_y[idx], k_tgt, epochs=lin_epochs,
                                                       lr=cfg.linear_lr, batch_size=batch, seed=seed)
            runs["linear"].append(transfer.accuracy(linear, feats["test"], test_y))
            old["linear"].append(source_acc)                        # the body never changed

            for method, last_only in (("finetune_last", True), ("finetune_all", False)):
                acc, old_acc = fine_tune(seed, last_only, idx, epochs, batch)
                runs[method].append(acc)
                old[method].append(old_acc)
            log(f"  {size:>4} per class, seed {seed}: " + ", ".join(
                f"{m} {100 * runs[m][-1]:.1f}%" for m in METHODS) + f"  [{watch():.0f} s]")
        for m in METHODS:
            mean, std = mean_std(runs[m])
            results[m][str(size)] = {"mean": mean, "std": std, "runs": runs[m]}
        for m in forgetting:
            mean, std = mean_std(old[m])
            forgetting[m][str(size)] = {"mean": mean, "std": std, "runs": old[m]}

    report = {
        "config": dataclasses.asdict(cfg),
        "pretrained": {"source_test_accuracy": source_acc, "cached": facts["cached"], "path": str(cache_path)},
        "test_examples": int(len(test_y)),
        "results": results,
        "forgetting": {"before": source_acc, "after": forgetting},
        "seconds": round(watch(), 1),
    }
    write_json(out / "transfer_table.json", report)
    if plots:
        _plot(report, cfg, out)
    log(format_table(report))
    return report


def _cell(entry: dict[str, Any]) -> str:
    return f"{100 * entry['mean']:5.1f} ± {100 * entry['std']:3.1f} %"


def format_table(report: dict[str, Any]) -> str:
    """The two tables (transfer accuracy; forgetting) as printable text."""
    cfg = report["config"]
    sizes = [str(s) for s in cfg["sizes"]]
    n_seeds = len(cfg["seeds"])
    lines = [f"accuracy on {report['test_examples']} held-out digits {tuple(cfg['target'])} "
             f"(mean ± std over {n_seeds} seed{'s' * (n_seeds > 1)}); pretrained on {tuple(cfg['source'])}",
             f"{'method':<28}" + "".join(f"{s + ' per class':>18}" for s in sizes)]
    for m, title in METHODS.items():
        lines.append(f"{title:<28}" + "".join(f"{_cell(report['results'][m][s]):>18}" for s in sizes))
    before = report["forgetting"]["before"]
    lines += ["", f"catastrophic forgetting: the original {tuple(cfg['source'])} head on the new body, "
              f"held-out {tuple(cfg['source'])} digits (before: {100 * before:.1f} %)",
              f"{'after':<28}" + "".join(f"{s + ' per class':>18}" for s in sizes)]
    for m, entry in report["forgetting"]["after"].items():
        lines.append(f"{METHODS[m]:<28}" + "".join(f"{_cell(entry[s]):>18}" for s in sizes))
    lines.append(f"({report['seconds']:.0f} s)")
    return "\n".join(lines)


def _plot(report: dict[str, Any], cfg: TransferConfig, out: Path) -> None:
    plt = pyplot()
    sizes = [str(s) for s in cfg.sizes]
    width = 0.8 / len(METHODS)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (m, title) in enumerate(METHODS.items()):
        means = [100 * report["results"][m][s]["mean"] for s in sizes]
        stds = [100 * report["results"][m][s]["std"] for s in sizes]
        pos = np.arange(len(sizes)) + (i - (len(METHODS) - 1) / 2) * width
        bars = ax.bar(pos, means, width, yerr=stds, capsize=3, label=title)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set(xticks=np.arange(len(sizes)), xticklabels=[f"{s} per class" for s in sizes],
           ylabel="held-out accuracy (%)", ylim=(0, 105),
           title=f"digits {cfg.target[0]}-{cfg.target[-1]} with features pretrained on "
                 f"{cfg.source[0]}-{cfg.source[-1]}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out / "transfer_table.png")

    fig, ax = plt.subplots(figsize=(7, 3.6))
    after = report["forgetting"]["after"]
    labels = ["before"] + [f"{METHODS[m]}\n({s}/class)" for m in after for s in sizes]
    values = [100 * report["forgetting"]["before"]] + [100 * after[m][s]["mean"] for m in after for s in sizes]
    bars = ax.bar(range(len(values)), values, color=["tab:gray"] + ["tab:red"] * (len(values) - 1))
    ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(values)), labels, fontsize=6)
    ax.set(ylabel="accuracy on held-out 0-4 (%)", ylim=(0, 105),
           title="catastrophic forgetting: the original head after fine-tuning on the new digits")
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out / "forgetting.png")
