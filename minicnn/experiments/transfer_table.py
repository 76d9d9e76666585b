"""``minicnn transfer``: the lecture's 2x2 transfer-learning table, measured on real digits.

The story: a network trained on one task (digits 0-4) has learned features -- strokes,
curves, loops -- that a related task (digits 5-9) can reuse.  How to reuse them depends on
how much data the new task has:

    little data (10 per class)   -> train only a linear classifier on the frozen features
    more data (300 per class)    -> fine-tune some or all of the layers

The experiment:

1. Pretrain a small VGG-style network (``SmallVGG``: three blocks of 3x3 conv + ReLU + 2x2
   max pool, then a classifier Linear-ReLU-Dropout-Linear) on the 2,000 training digits 0-4,
   with random 2-pixel shifts.  Its weights are cached, so a second run starts at step 2.
2. For each training-set size (10 and 300 per class of digits 5-9) and each seed (a
   different random subset), train in several ways and measure accuracy on the 500 held-out
   5-9 digits (the digits' "test" split).  Every transfer method "chops off" the whole 0-4
   classifier and puts a new ``Linear(1024 -> 5)`` on the conv features; the methods differ
   only in which layers then learn:

   - **from scratch**: the same network (conv blocks + Linear), random initial weights;
   - **linear on frozen conv features**: only the new Linear (softmax regression on the
     features, computed once with ``extract_features``);
   - **linear on frozen top-layer features**: softmax regression on the 128 outputs of the
     pretrained hidden layer instead -- the lecture's "top layer", more specific to 0-4;
   - **fine-tune the last block**: starting from the linear classifier above (the recipe:
     train the head on frozen features first), the Linear and the last conv block learn,
     the first two blocks stay frozen (so their outputs are computed once and reused);
   - **fine-tune everything**: the same start, then all layers learn, the pretrained ones at
     a 10x lower learning rate than the head (``param_groups``).

3. Catastrophic forgetting: put the *original* 0-4 classifier back on each fine-tuned body
   and measure it on the held-out 0-4 digits again.

Outputs in ``out_dir``: ``transfer_table.png`` (grouped bars with the standard deviation
over seeds), ``forgetting.png``, ``neighbours.png`` (L2 nearest neighbours of new digits in
the pretrained feature space) and ``transfer_table.json``.
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
from ..viz import pyplot
from .common import (
    SmallVGG, Stopwatch, classifier_accuracy, config_key, default_cache, fit_classifier, load_or_train,
    mean_std, predict, save_figure, select_digits, write_json,
)

__all__ = ["TransferConfig", "FAST", "METHODS", "run_transfer", "format_table"]

METHODS = {
    "scratch": "train from scratch",
    "linear": "linear on frozen conv features",
    "linear_top": "linear on frozen top-layer features",
    "finetune_last": "fine-tune last block",
    "finetune_all": "fine-tune everything",
}
FINE_TUNED = ("linear", "finetune_last", "finetune_all")   # transfer methods whose body forgetting is measured


@dataclass(frozen=True)
class TransferConfig:
    """Everything that sets the numbers of the experiment (the defaults are the full run).

    The learning rates were chosen on a validation split (training digits 5-9 not used for
    training), not on the test digits: 0.05 from scratch diverges on batches of 10 images,
    0.02 does not.
    """

    channels: tuple[int, ...] = (16, 32, 64)     # SmallVGG blocks
    hidden: int = 128                            # pretrained classifier's hidden layer ("top layer")
    source: tuple[int, ...] = (0, 1, 2, 3, 4)    # pretraining digits
    target: tuple[int, ...] = (5, 6, 7, 8, 9)    # the new task
    pretrain_epochs: int = 15                    # with random 2-pixel shifts
    pretrain_lr: float = 0.05
    sizes: tuple[int, ...] = (10, 300)           # training examples per class of the new task
    epochs: tuple[int, ...] = (40, 5)            # epochs for each size (the same for every method)
    batch_sizes: tuple[int, ...] = (10, 32)
    seeds: tuple[int, ...] = (5, 3)              # how many random subsets (seeds 0, 1, ...) per size
    scratch_lr: float = 0.02
    head_lr: float = 0.02                        # the new head when fine-tuning
    body_lr: float = 0.002                       # pretrained layers when fine-tuning (10x lower)
    linear_epochs: tuple[int, ...] = (100, 30)   # softmax regression on frozen features
    linear_lr: float = 0.01                      # (train_softmax_regression scales the features to O(1))
    train_per_class: int | None = None           # None: all 400 training digits per class (source and pool)
    test_per_class: int | None = None            # None: all 100 held-out digits per class

    def key(self) -> str:
        """The cache name of the pretrained network: it depends only on the pretraining settings."""
        return config_key({"channels": self.channels, "hidden": self.hidden, "source": self.source,
                           "epochs": self.pretrain_epochs, "lr": self.pretrain_lr, "seed": 0, "shift": 2,
                           "per_class": self.train_per_class})


# A tiny configuration for tests: seconds, not minutes; the numbers mean nothing.
FAST = TransferConfig(channels=(4, 8, 8), hidden=16, pretrain_epochs=1, sizes=(2, 8), epochs=(2, 1),
                      batch_sizes=(10, 16), seeds=(1, 1), linear_epochs=(5, 2), train_per_class=20,
                      test_per_class=10)


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
    from ..data.augment import RandomCrop

    cfg = config or TransferConfig()
    if not len(cfg.sizes) == len(cfg.epochs) == len(cfg.batch_sizes) == len(cfg.seeds) == len(cfg.linear_epochs):
        raise ValueError(f"TransferConfig: sizes {cfg.sizes}, epochs {cfg.epochs}, batch_sizes {cfg.batch_sizes}, "
                         f"seeds {cfg.seeds} and linear_epochs {cfg.linear_epochs} need one entry per size")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    manual_seed(0)

    # ---- data: the pretraining task, the new task's pool of training digits, and held-out digits
    src_x, src_y = select_digits("train", cfg.source, cfg.train_per_class)
    src_test_x, src_test_y = select_digits("test", cfg.source, cfg.test_per_class)
    pool_x, pool_y = select_digits("train", cfg.target, cfg.train_per_class)
    test_x, test_y = select_digits("test", cfg.target, cfg.test_per_class)
    k_src, k_tgt = len(cfg.source), len(cfg.target)

    # ---- 1. pretrain on the source digits (or load the cached weights)
    pretrained = SmallVGG(1, cfg.channels, k_src, hidden=cfg.hidden, rng=0)
    cache_path = Path(cache or default_cache()) / f"transfer-pretrained-{cfg.key()}.npz"

    def pretrain() -> dict[str, Any]:
        log(f"pretraining on digits {cfg.source} ({len(src_y)} images, {cfg.pretrain_epochs} epochs)...")
        t = Stopwatch()
        fit_classifier(pretrained, src_x, src_y, _sgd(pretrained.parameters(), cfg.pretrain_lr),
                       cfg.pretrain_epochs, batch_size=32, seed=0, transform=RandomCrop(padding=2))
        return {"seconds": round(t(), 1)}

    facts = load_or_train(cache_path, pretrained, pretrain)
    pretrained.eval()
    source_acc = classifier_accuracy(pretrained, src_test_x, src_test_y)
    origin = f"loaded from {cache_path}" if facts["cached"] else f"trained in {facts['seconds']} s"
    log(f"pretrained network: {100 * source_acc:.2f}% on held-out digits {cfg.source} ({origin})")

    # The frozen parts are computed once, not every epoch: the conv features ("avgpool", the
    # input of the classifier), the top-layer features (the ReLU after the hidden layer), and
    # the output of all blocks but the last (the input of "fine-tune the last block").
    top = f"classifier.{len(pretrained.classifier) - 3}"
    frozen_end = len(pretrained.features) - len(transfer.feature_blocks(pretrained.features)[-1])
    frozen_body = nn.Sequential(*list(pretrained.features)[:frozen_end])
    feats: dict[str, dict[str, np.ndarray]] = {}
    for layer in ("avgpool", top):
        feats[layer] = {"pool": transfer.extract_features(pretrained, _loader(pool_x, pool_y), layer)[0],
                        "test": transfer.extract_features(pretrained, _loader(test_x, test_y), layer)[0]}
    maps = {"pool": predict(frozen_body, pool_x), "test": predict(frozen_body, test_x)}
    old_classifier = pretrained.classifier               # the 0-4 classifier, kept for forgetting

    def old_task_accuracy(model: nn.Module) -> float:
        """The original 0-4 classifier on ``model``'s (fine-tuned) conv features."""
        f, y = transfer.extract_features(model, _loader(src_test_x, src_test_y), "avgpool")
        return transfer.accuracy(old_classifier, f, y)

    def fine_tune(seed: int, last_block_only: bool, idx: np.ndarray, epochs: int, batch: int,
                  linear: nn.Linear) -> tuple[float, float, float]:
        """(new-task accuracy, old-task accuracy, how far the conv weights moved)."""
        model = SmallVGG(1, cfg.channels, k_src, hidden=cfg.hidden, rng=0)
        model.load_state_dict(pretrained.state_dict())
        head = transfer.replace_head(model, k_tgt, "classifier")      # keep only the conv features
        head.load_state_dict(linear.state_dict())      # the recipe: train the head first, then fine-tune
        if last_block_only:
            transfer.unfreeze_last_blocks(model, 1)                  # the first blocks stay frozen
            rest = nn.Sequential(*layers_in_order(model)[frozen_end:])   # shares the model's layers
            x_train, x_test = maps["pool"][idx], maps["test"]
        else:
            rest, x_train, x_test = model, pool_x[idx], test_x
        groups = transfer.param_groups(model, cfg.head_lr, cfg.body_lr, head="classifier")
        fit_classifier(rest, x_train, pool_y[idx], _sgd(groups, cfg.head_lr), epochs, batch, seed)
        return classifier_accuracy(rest, x_test, test_y), old_task_accuracy(model), weight_change(model)

    def weight_change(model: nn.Module) -> float:
        """||W_fine-tuned - W_pretrained|| / ||W_pretrained|| over all conv weights and biases."""
        before = pretrained.features.state_dict()
        after = model.features.state_dict()
        moved = sum(float(np.sum((after[k] - before[k]) ** 2)) for k in before)
        return float(np.sqrt(moved / sum(float(np.sum(v ** 2)) for v in before.values())))

    # ---- 2. the table
    results: dict[str, dict[str, Any]] = {m: {} for m in METHODS}
    forgetting: dict[str, dict[str, Any]] = {m: {} for m in FINE_TUNED}
    for size, epochs, batch, n_seeds, lin_epochs in zip(cfg.sizes, cfg.epochs, cfg.batch_sizes, cfg.seeds,
                                                         cfg.linear_epochs):
        runs: dict[str, list[float]] = {m: [] for m in METHODS}
        old: dict[str, list[float]] = {m: [] for m in FINE_TUNED}
        moved: dict[str, list[float]] = {m: [0.0] * n_seeds for m in FINE_TUNED}
        for seed in range(n_seeds):
            idx = _subset(pool_y, size, seed)
            manual_seed(seed)                                       # dropout masks
            scratch = SmallVGG(1, cfg.channels, k_tgt, hidden=None, rng=1000 + seed)   # same net as fine-tuned
            fit_classifier(scratch, pool_x[idx], pool_y[idx], _sgd(scratch.parameters(), cfg.scratch_lr),
                           epochs, batch, seed)
            runs["scratch"].append(classifier_accuracy(scratch, test_x, test_y))

            linear = {}
            for method, layer in (("linear", "avgpool"), ("linear_top", top)):
                linear[method] = transfer.train_softmax_regression(
                    feats[layer]["pool"][idx], pool_y[idx], k_tgt, epochs=lin_epochs, lr=cfg.linear_lr,
                    batch_size=batch, seed=seed)
                runs[method].append(transfer.accuracy(linear[method], feats[layer]["test"], test_y))
            old["linear"].append(source_acc)                        # a frozen body cannot forget

            for method, last_only in (("finetune_last", True), ("finetune_all", False)):
                acc, old_acc, moved[method][seed] = fine_tune(seed, last_only, idx, epochs, batch, linear["linear"])
                runs[method].append(acc)
                old[method].append(old_acc)
            log(f"  {size:>4} per class, seed {seed}: " + ", ".join(
                f"{m} {100 * runs[m][-1]:.1f}%" for m in METHODS) + f"  [{watch():.0f} s]")
        for m in METHODS:
            mean, std = mean_std(runs[m])
            results[m][str(size)] = {"mean": mean, "std": std, "runs": runs[m]}
        for m in FINE_TUNED:
            mean, std = mean_std(old[m])
            forgetting[m][str(size)] = {"mean": mean, "std": std, "runs": old[m],
                                        "weight_change": float(np.mean(moved[m]))}

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
        # L2 nearest neighbours in the pretrained feature space: one held-out query per new class
        queries = np.array([np.flatnonzero(test_y == k)[0] for k in range(k_tgt)])
        idx, dist = transfer.nearest_neighbours(feats["avgpool"]["test"][queries], feats["avgpool"]["pool"], k=6)
        from .. import viz

        save_figure(viz.plot_neighbours(test_x[queries], pool_x[idx], dist,
                                        title=f"nearest neighbours of held-out {cfg.target[0]}-{cfg.target[-1]} "
                                              f"digits in the {cfg.source[0]}-{cfg.source[-1]} network's features"),
                    out / "neighbours.png")
    log(format_table(report))
    return report


def _cell(entry: dict[str, Any]) -> str:
    return f"{100 * entry['mean']:5.1f} ± {100 * entry['std']:3.1f} %"


def format_table(report: dict[str, Any]) -> str:
    """The two tables (transfer accuracy; forgetting) as printable text."""
    cfg = report["config"]
    sizes = [str(s) for s in cfg["sizes"]]
    seeds = "/".join(str(n) for n in cfg["seeds"])
    lines = [f"accuracy on {report['test_examples']} held-out digits {tuple(cfg['target'])}, mean ± std over "
             f"{seeds} random training subsets; features pretrained on {tuple(cfg['source'])}",
             f"{'method':<36}" + "".join(f"{s + ' per class':>18}" for s in sizes)]
    for m, title in METHODS.items():
        lines.append(f"{title:<36}" + "".join(f"{_cell(report['results'][m][s]):>18}" for s in sizes))
    before = report["forgetting"]["before"]
    lines += ["", f"catastrophic forgetting: the original {tuple(cfg['source'])} head on the new body, "
              f"held-out {tuple(cfg['source'])} digits (before: {100 * before:.1f} %)",
              f"{'after':<36}" + "".join(f"{s + ' per class':>18}" for s in sizes)]
    for m, entry in report["forgetting"]["after"].items():
        lines.append(f"{METHODS[m]:<36}" + "".join(f"{_cell(entry[s]):>18}" for s in sizes))
    lines.append(f"{'(conv weights moved by)':<36}" + "".join(
        f"{100 * report['forgetting']['after']['finetune_all'][s]['weight_change']:>16.2f} %" for s in sizes)
        + "   ||W - W_pretrained|| / ||W_pretrained||, fine-tune everything")
    lines.append(f"({report['seconds']:.0f} s)")
    return "\n".join(lines)


def _bars(ax: Any, groups: dict[str, dict[str, Any]], titles: dict[str, str], sizes: list[str]) -> list[float]:
    """Grouped bars: one group per training-set size, one bar (mean, std error bar) per method."""
    width = 0.8 / len(groups)
    values = []
    for i, (m, by_size) in enumerate(groups.items()):
        means = [100 * by_size[s]["mean"] for s in sizes]
        stds = [100 * by_size[s]["std"] for s in sizes]
        pos = np.arange(len(sizes)) + (i - (len(groups) - 1) / 2) * width
        bars = ax.bar(pos, means, width, yerr=stds, capsize=3, label=titles[m],
                      color=f"C{list(titles).index(m)}")                # one colour per method in both plots
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
        values += means
    ax.set_xticks(np.arange(len(sizes)), [f"{s} per class" for s in sizes])
    ax.grid(axis="y", alpha=0.3)
    return values


def _plot(report: dict[str, Any], cfg: TransferConfig, out: Path) -> None:
    plt = pyplot()
    sizes = [str(s) for s in cfg.sizes]
    source, target = f"{cfg.source[0]}-{cfg.source[-1]}", f"{cfg.target[0]}-{cfg.target[-1]}"

    fig, ax = plt.subplots(figsize=(8, 4.2))
    values = _bars(ax, report["results"], METHODS, sizes)
    low = max(0.0, 10 * np.floor(min(values) / 10 - 1))                    # zoom in: the gaps are a few %
    ax.set(ylabel=f"accuracy on held-out {target} (%)", ylim=(low, 101),
           title=f"digits {target}, features pretrained on {source} (mean ± std over subsets)")
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    save_figure(fig, out / "transfer_table.png")

    fig, ax = plt.subplots(figsize=(8, 4.2))
    after = report["forgetting"]["after"]
    values = _bars(ax, after, METHODS, sizes)
    before = 100 * report["forgetting"]["before"]
    ax.axhline(before, color="black", linestyle="--", linewidth=1, label=f"before fine-tuning ({before:.1f}%)")
    low = max(0.0, 10 * np.floor(min(values + [before]) / 10 - 1))
    ax.set(ylabel=f"accuracy on held-out {source} (%)", ylim=(low, 101),
           title=f"catastrophic forgetting: the original {source} classifier on the body tuned for {target}")
    ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    save_figure(fig, out / "forgetting.png")
