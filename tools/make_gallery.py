"""Write the README's gallery: docs/gallery/*.png, drawn by minicnn.viz.

    .venv/bin/python tools/make_gallery.py                  # about a minute on a laptop CPU
    .venv/bin/python tools/make_gallery.py --out /tmp/g --fast

It trains the small CNN of tutorial 5 on the embedded digits (seeded, so every run with the
same library versions draws the same pictures) and writes:

    filters.png             first-layer filters (16 of 5x5)                plot_filters
    feature_maps.png        one test digit after conv 1 + ReLU (16 maps)   plot_feature_maps
    training_curves.png     loss and accuracy per epoch, train and test    plot_history
    confusion_matrix.png    true class vs predicted class on the test set  plot_confusion_matrix
    misclassified.png       test digits the net gets wrong                 show_images
    augmentation.png        flip / crop / rotate / noise on six digits     show_images
    neighbours.png          5 nearest training digits in feature space     plot_neighbours

Each file must stay under 150 KB (they are committed); the script fails if one does not.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# one thread: the same numbers and a steady speed whatever else the machine is doing
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import minicnn  # noqa: E402
from minicnn import Tensor, nn, optim, viz  # noqa: E402
from minicnn.data import DataLoader, TensorDataset, augment, load_digits  # noqa: E402
from minicnn.train import evaluate, fit  # noqa: E402
from minicnn.transfer import extract, nearest_neighbours  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 150 * 1024


def gallery_cnn() -> nn.Sequential:
    """Tutorial 5's network: 16 5x5 filters (big enough to draw), then 32 3x3, then one FC layer."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),     # (N, 16, 14, 14)
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 32, 7, 7)
        nn.Flatten(),                                                               # (N, 1568)
        nn.Linear(32 * 7 * 7, 10),                                                  # (N, 10)
    )


def make_gallery(out: Path, n_train: int = 4000, epochs: int = 5) -> list[Path]:
    """Train, draw, save; returns the written files."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train = load_digits("train")             # (4000, 1, 28, 28), (4000,)
    x_test, y_test = load_digits("test")                # (1000, 1, 28, 28), (1000,)
    minicnn.manual_seed(0)
    model = gallery_cnn()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    train_loader = DataLoader(TensorDataset(x_train[:n_train], y_train[:n_train]), batch_size=32,
                              shuffle=True, seed=0, transform=augment.Compose([augment.RandomCrop(padding=2)], seed=0))
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=250)
    history = fit(model, nn.CrossEntropyLoss(), opt, train_loader, test_loader, epochs=epochs, scheduler=schedule)
    result = evaluate(model, test_loader, nn.CrossEntropyLoss(), num_classes=10)
    model.eval()
    print(f"trained on {n_train} digits for {epochs} epochs: {result}")

    figures = {}
    figures["filters"] = viz.plot_filters(model[0].weight, title="first-layer filters (16 of 5x5)")
    digit = x_test[3:4]                                 # (1, 1, 28, 28): a 3
    with minicnn.no_grad():
        maps = extract(model, Tensor(digit), ["1"])["1"]                                # (1, 16, 28, 28)
    figures["feature_maps"] = viz.plot_feature_maps(maps, title=f"a {y_test[3]} after conv 1 + ReLU: 16 maps")
    figures["training_curves"] = viz.plot_history(history, title=f"small CNN on {n_train} digits")
    figures["confusion_matrix"] = viz.plot_confusion_matrix(
        result.confusion, title=f"{result.count} test digits: {100 * result.accuracy:.1f}% correct")

    with minicnn.no_grad():
        predicted = model(Tensor(x_test)).numpy().argmax(axis=1)                        # (1000,)
    wrong = np.flatnonzero(predicted != y_test)[:8]
    shown = np.sort(np.concatenate([wrong, np.flatnonzero(predicted == y_test)[:12 - len(wrong)]]))
    figures["misclassified"] = viz.show_images(x_test[shown], y_test[shown], predicted[shown], cols=6,
                                               title="test digits, true -> predicted (red: wrong, green: right)")

    examples = x_train[:6]
    rng = np.random.default_rng(1)
    augmented = {
        "original": examples,
        "flip": augment.hflip(examples),
        "crop": augment.random_crop(examples, padding=3, rng=rng),
        "rotate": augment.rotate(examples, rng.uniform(-20, 20, size=6)),
        "noise": np.clip(augment.gaussian_noise(examples, std=0.2, rng=rng), 0, 1),
    }
    figures["augmentation"] = viz.show_images(np.concatenate(list(augmented.values())),
                                              [f"{name} {y}" for name in augmented for y in y_train[:6]],
                                              cols=6, title="data augmentation (a flipped digit is not a digit)")

    def features(images: np.ndarray) -> np.ndarray:     # (N, 1568): what the classifier reads
        with minicnn.no_grad():
            return np.concatenate([extract(model, Tensor(images[i:i + 500]), ["6"])["6"].numpy()
                                   for i in range(0, len(images), 500)])

    queries = x_test[[0, 1, 2, 42, 43]]
    idx, dist = nearest_neighbours(features(queries), features(x_train), k=5)         # (5, 5), (5, 5)
    figures["neighbours"] = viz.plot_neighbours(queries, x_train[idx], dist,
                                                title="5 nearest training digits in feature space (L2)")

    written = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="train on 500 digits for 1 epoch (for tests)")
    args = parser.parse_args(argv)
    n_train, epochs = (500, 1) if args.fast else (4000, 5)
    written = make_gallery(args.out, n_train, epochs)
    too_big = []
    for path in written:
        size = path.stat().st_size
        print(f"{path}  {size / 1024:.0f} KB")
        if size > MAX_BYTES:
            too_big.append(path.name)
    if too_big:
        print(f"too big to commit (> {MAX_BYTES // 1024} KB): {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
