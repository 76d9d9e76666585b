# %% [markdown]
# # Tutorial 6 — Transfer learning: reuse a trained network
#
# Training a CNN from scratch needs a lot of labelled data. The lecture's way out: take a
# network trained on a large dataset (ImageNet), and reuse what it learned — edges, blobs,
# textures, parts — for the new task. Two ways:
#
# - **feature extractor**: freeze the whole pretrained body, run it once over the new
#   images, and train only a linear classifier on its features;
# - **fine-tuning**: "chop off the head" (replace the last layer by a new one with the new
#   number of classes), then continue training the head *and* some of the last layers,
#   the pretrained ones with a smaller learning rate (often 1/10 of the head's), so they are
#   nudged, not wrecked, while the new head is still random.
#
# Which one depends on the lecture's 2x2 table:
#
# |                            | very similar dataset              | very different dataset |
# |----------------------------|-----------------------------------|------------------------|
# | **very little data**       | linear classifier on top features | trouble: try linear classifiers on features from several stages |
# | **quite a lot of data**    | fine-tune a few layers            | fine-tune a larger number of layers |
#
# Why: with little data, every trainable weight is a chance to overfit, so train as few as
# possible (a linear classifier); the features of the *top* layers are the most specific to
# the old task, which is fine when the tasks are similar but not when they differ (then
# earlier, more generic stages may work better). With more data, fine-tuning can adapt the
# features themselves, and the more the tasks differ, the more layers need adapting.
#
# This tutorial builds a small, live version on the embedded digits: pretrain on digits
# 0-4 (the "ImageNet"), then learn digits 5-9 (a similar task) from only **10 examples per
# class** (the "very little data" row). `minicnn transfer` runs the full table with more
# seeds and sizes. Last, a real pretrained VGG16, when its weights are available.
#
# `MINICNN_FAST=1` shrinks the data and epochs (the tests); plots go to `MINICNN_OUT`
# (default `out/tutorials/06_transfer_learning/`).

# %%
import os
from pathlib import Path

import numpy as np

import minicnn
from minicnn import nn, optim, transfer
from minicnn.data import DataLoader, TensorDataset
from minicnn.experiments.common import SmallVGG, classifier_accuracy, fit_classifier, select_digits

FAST = os.environ.get("MINICNN_FAST") == "1"
OUT = Path(os.environ.get("MINICNN_OUT", "out/tutorials/06_transfer_learning"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. Pretrain on digits 0-4
#
# `SmallVGG` is VGG in miniature, with the same module names as torchvision's VGG
# (`features`, `avgpool`, `classifier`), so every transfer helper works on it as on the real
# one: three blocks of 3x3 conv + ReLU + 2x2 max pool on 32x32 images (the 28x28 digits
# padded), then a classifier Linear - ReLU - Dropout - Linear.

# %%
CHANNELS = (8, 16, 32)
per_class, pretrain_epochs = (150, 2) if FAST else (None, 4)            # None: all 400 per class
src_x, src_y = select_digits("train", (0, 1, 2, 3, 4), per_class)          # (N, 1, 32, 32), labels 0..4
src_test_x, src_test_y = select_digits("test", (0, 1, 2, 3, 4), 40 if FAST else None)
minicnn.manual_seed(0)
pretrained = SmallVGG(1, CHANNELS, num_classes=5, hidden=64, rng=0)
fit_classifier(pretrained, src_x, src_y, optim.SGD(pretrained.parameters(), lr=0.05, momentum=0.9),
               pretrain_epochs, batch_size=32, seed=0)
pretrained.eval()
print(f"pretrained on {len(src_y)} digits 0-4 for {pretrain_epochs} epochs: held-out accuracy "
      f"{classifier_accuracy(pretrained, src_test_x, src_test_y):.3f}")
print(f"features: {[type(m).__name__ for m in pretrained.features]}")
print(f"blocks (layer indices, each ending in a pool): {transfer.feature_blocks(pretrained.features)}")

# %% [markdown]
# ## 2. The new task: digits 5-9, 10 examples per class
#
# 50 training images in total (labels relabelled 0..4 for digits 5..9), and held-out test
# digits 5-9 to measure on. Three ways to learn it, each measured on the same test digits:
#
# 1. **from scratch**: the same conv architecture with random weights and a Linear head;
# 2. **linear classifier on frozen features**: softmax regression on the pretrained
#    network's conv features (`extract_features` at "avgpool": 32 maps of 4x4 = 512 numbers);
# 3. **fine-tune the last block**: replace the head, initialise it with the linear
#    classifier of 2 (the recipe: train the head first on frozen features), unfreeze the last
#    conv block, and train both with per-layer learning rates.

# %%
new_x, new_y = select_digits("train", (5, 6, 7, 8, 9), 10, seed=0)     # (50, 1, 32, 32)
test_x, test_y = select_digits("test", (5, 6, 7, 8, 9), 40 if FAST else None)
epochs = 15 if FAST else 40
print(f"new task: {len(new_y)} training digits 5-9 ({np.bincount(new_y).tolist()} per class), "
      f"{len(test_y)} held-out")
accuracies: dict[str, float] = {}

# 1. from scratch: same conv blocks, random weights
minicnn.manual_seed(1)
scratch = SmallVGG(1, CHANNELS, num_classes=5, hidden=None, rng=1)
fit_classifier(scratch, new_x, new_y, optim.SGD(scratch.parameters(), lr=0.02, momentum=0.9), epochs,
               batch_size=10, seed=0)
accuracies["from scratch"] = classifier_accuracy(scratch, test_x, test_y)
print(f"from scratch ({scratch.num_parameters()} weights learn from 50 images): accuracy "
      f"{accuracies['from scratch']:.3f}")

# 2. a linear classifier on frozen conv features
def features(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    loader = DataLoader(TensorDataset(images, labels), batch_size=250)
    return transfer.extract_features(pretrained, loader, "avgpool")[0]           # (N, 512)


train_f, test_f = features(new_x, new_y), features(test_x, test_y)
linear = transfer.train_softmax_regression(train_f, new_y, 5, epochs=100, lr=0.01, batch_size=10, seed=0)
accuracies["linear on frozen features"] = transfer.accuracy(linear, test_f, test_y)
print(f"frozen features {train_f.shape}; linear classifier {linear.weight.shape}: accuracy "
      f"{accuracies['linear on frozen features']:.3f}")

# %% [markdown]
# ### Fine-tuning, with per-layer learning rates
#
# `replace_head(model, 5, "classifier")` chops off the whole 0-4 classifier and puts a new
# `Linear(512 -> 5)` in its place. `unfreeze_last_blocks(model, 1)` freezes the body and
# unfreezes only its last block; `param_groups` then gives the optimizer two groups: the head
# at `head_lr` and the trainable pretrained layers at `body_lr`, 10 times smaller. Frozen
# parameters are in neither group, so the optimizer never touches them.

# %%
model = SmallVGG(1, CHANNELS, num_classes=5, hidden=64, rng=0)
model.load_state_dict(pretrained.state_dict())                      # a copy of the pretrained network
head = transfer.replace_head(model, 5, "classifier")                # chop off the head: Linear(512 -> 5)
head.load_state_dict(linear.state_dict())                           # start from the trained linear classifier
unfrozen = transfer.unfreeze_last_blocks(model, 1)                   # only the last block of features learns
head_lr, body_lr = 0.02, 0.002
groups = transfer.param_groups(model, head_lr=head_lr, body_lr=body_lr, head="classifier")
print(f"new head {head}; unfrozen layers of features: {unfrozen}")
for g in groups:
    print(f"  group {g['name']}: lr {g['lr']}, {sum(p.data.size for p in g['params'])} weights")
print(f"trainable {model.num_parameters(trainable_only=True)} of {model.num_parameters()} weights; "
      f"head lr / body lr = {head_lr / body_lr:.0f}")
fit_classifier(model, new_x, new_y, optim.SGD(groups, lr=head_lr, momentum=0.9), epochs, batch_size=10, seed=0)
accuracies["fine-tune last block"] = classifier_accuracy(model, test_x, test_y)
print(f"fine-tuned: accuracy {accuracies['fine-tune last block']:.3f}")

# %% [markdown]
# ## 3. The results
#
# Read them against the table: digits 5-9 are "very similar" to 0-4 and 10 per class is
# "very little data", the top-left cell, where the lecture recommends the linear classifier
# on frozen features. Training from scratch must learn every filter from 50 images. The
# exact numbers depend on the seed and on how long each was trained (a few points either
# way); `minicnn transfer` averages several seeds, adds a "quite a lot of data" row (300 per
# class), and measures how much the fine-tuned body forgets of digits 0-4.

# %%
for name, acc in accuracies.items():
    print(f"{name:28s} accuracy {acc:.3f}")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed (pip install 'minicnn[viz]'): no picture")

if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bars = ax.bar(list(accuracies), [100 * a for a in accuracies.values()], color=["grey", "tab:blue", "tab:orange"])
    ax.bar_label(bars, fmt="%.1f%%")
    ax.set_ylim(0, 105)
    ax.set_ylabel("held-out accuracy, digits 5-9 (%)")
    ax.set_title("10 training examples per class, pretrained on digits 0-4", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "transfer.png", dpi=110)
    plt.close(fig)
    print(f"saved {OUT / 'transfer.png'}")

# %% [markdown]
# ## 4. A real pretrained VGG16
#
# The same helpers work on `minicnn.models.vgg16`, built exactly like torchvision's so its
# ImageNet weights load (from torchvision's `.pth`, Keras' `.h5`, or a `.safetensors` /
# `.npz` file). The weights are 528 MB, so this part runs only when you ask:
#
#     MINICNN_VGG16_WEIGHTS=/path/to/vgg16-397923af.pth python tutorials/06_transfer_learning.py
#     MINICNN_DOWNLOAD=1 python tutorials/06_transfer_learning.py      # downloads torchvision's file
#
# It then classifies scikit-learn's sample photo (a Chinese temple) if scikit-learn is
# installed, and prints the five most probable ImageNet classes. For transfer learning you
# would then do exactly what sections 2-3 did: `replace_head(vgg, K)`, `extract_features(vgg,
# loader, "classifier.4")` (4096 top-layer features) or `unfreeze_last_blocks(vgg, 1)`.

# %%
weights = os.environ.get("MINICNN_VGG16_WEIGHTS") or ("imagenet" if os.environ.get("MINICNN_DOWNLOAD") == "1" else None)
if weights is None:
    print("VGG16 part skipped: no weights. Set MINICNN_VGG16_WEIGHTS=/path/to/weights (.pth, .h5, "
          ".safetensors, .npz) or MINICNN_DOWNLOAD=1 to download torchvision's ImageNet weights (528 MB).")
else:
    from minicnn.models import vgg16

    vgg = vgg16(weights=weights).eval()
    print(f"VGG16 loaded from {vgg.weights_name}: {vgg.num_parameters()} weights")
    try:
        from sklearn.datasets import load_sample_image
    except ImportError:
        load_sample_image = None
        print("photo skipped: scikit-learn is not installed (pip install scikit-learn) for its sample photo")
    if load_sample_image is not None:
        photo = load_sample_image("china.jpg")                              # (427, 640, 3) uint8 RGB
        side = min(photo.shape[:2])
        top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
        square = photo[top:top + side, left:left + side]                    # centre crop (side, side, 3)
        rows = (np.arange(224) * side / 224).astype(int)                    # nearest-neighbour resize to 224
        image = np.ascontiguousarray(square[rows[:, None], rows[None, :]])  # (224, 224, 3)
        with minicnn.no_grad():
            logits = vgg(vgg.preprocess(image))                             # (1, 1000)
        print("top-5 ImageNet classes for scikit-learn's china.jpg:")
        for k, name, p in vgg.decode_predictions(logits, top=5)[0]:
            print(f"  {k:4d} {name:30s} {p:.3f}")
