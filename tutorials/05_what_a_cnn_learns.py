# %% [markdown]
# # Tutorial 5 — What a CNN learns
#
# A trained network is a few thousand numbers. This tutorial looks at them in the three ways
# the lecture shows:
#
# 1. **the first-layer filters**, which look directly at pixels, drawn as pictures;
# 2. **activation maps**: what each filter responds to, for one digit, layer after layer;
# 3. **nearest neighbours in feature space**: the last layer before the classifier maps each
#    image to a vector; images whose vectors are close (L2 distance) are what the network
#    considers similar — compare with closeness of the raw pixels.
#
# `MINICNN_FAST=1` trains on fewer digits for one epoch (the tests); plots go to
# `MINICNN_OUT` (default `out/tutorials/05_what_a_cnn_learns/`).

# %%
import os
from pathlib import Path

import numpy as np

import minicnn
from minicnn import Tensor, nn, optim, viz
from minicnn.data import DataLoader, TensorDataset, load_digits
from minicnn.train import evaluate, fit
from minicnn.transfer import extract, nearest_neighbours

FAST = os.environ.get("MINICNN_FAST") == "1"
OUT = Path(os.environ.get("MINICNN_OUT", "out/tutorials/05_what_a_cnn_learns"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 0. A small CNN, briefly trained
#
# Sixteen 5x5 filters in the first layer (big enough to draw), 32 3x3 filters in the second:
#
#     conv 5x5 (1 -> 16) - ReLU - maxpool 2      (N, 16, 14, 14)
#     conv 3x3 (16 -> 32) - ReLU - maxpool 2     (N, 32, 7, 7)
#     flatten                                    (N, 1568)      <- the feature vector
#     fully connected (1568 -> 10)               (N, 10)

# %%
x_train, y_train = load_digits("train")                 # (4000, 1, 28, 28) float32 in [0, 1]
x_test, y_test = load_digits("test")                    # (1000, 1, 28, 28)
n_train, epochs = (1000, 1) if FAST else (4000, 3)

minicnn.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 16, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),     # 0, 1, 2
    nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 3, 4, 5
    nn.Flatten(),                                                               # 6
    nn.Linear(32 * 7 * 7, 10),                                                  # 7
)
train_loader = DataLoader(TensorDataset(x_train[:n_train], y_train[:n_train]), batch_size=32, shuffle=True, seed=0)
test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=250)
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
fit(model, nn.CrossEntropyLoss(), opt, train_loader, epochs=epochs)
model.eval()
print(f"trained on {n_train} digits for {epochs} epoch(s): test accuracy "
      f"{100 * evaluate(model, test_loader).accuracy:.1f}%")

# %% [markdown]
# ## 1. First-layer filters
#
# Each of the 16 filters is a 5x5 grid of weights applied to every 5x5 patch of the image.
# Drawn with its largest weight white and its smallest black, a filter shows the pattern
# that excites it most: a patch equal to (a positive multiple of) the filter gives the
# largest dot product of all patches of the same brightness. Look for strokes and edges at
# different orientations (dark on one side, bright on the other). After a few epochs on
# a few thousand digits they are noisier than the smooth, Gabor-like filters of a network
# trained on a million photographs, but the same kind of thing.

# %%
weight = model[0].weight.numpy()                        # (16, 1, 5, 5)
viz.plot_filters(weight, save=OUT / "filters.png", title="first-layer filters (16 of 5x5)")
print(f"first-layer weight {weight.shape}; filter 0, rounded:")
print(np.round(weight[0, 0], 2))

# %% [markdown]
# ## 2. Activation maps, layer after layer
#
# `minicnn.transfer.extract` runs the network once and keeps the outputs of the layers we
# name (with forward hooks): here "1" (after the first ReLU: 16 maps of 28x28) and "4" (after
# the second ReLU: 32 maps of 14x14). Each map is one filter's response at every position;
# bright where the digit has that filter's pattern.
#
# One value, by hand: map 0 of layer 1 at pixel (r, c) is ReLU(b_0 + sum of filter 0 times
# the 5x5 patch centred on (r, c)) — with padding 2, the patch is rows r-2..r+2 of the image.

# %%
digit = x_test[:1]                                      # (1, 1, 28, 28): the first test digit
with minicnn.no_grad():
    maps = extract(model, Tensor(digit), ["1", "2", "4", "5", "6"])
for name, activation in maps.items():
    print(f"layer {name} ({type(model[int(name)]).__name__}): output {activation.shape}")

r, c = 14, 14
patch = digit[0, 0, r - 2:r + 3, c - 2:c + 3]           # (5, 5)
by_hand = max(0.0, float((weight[0, 0] * patch).sum() + model[0].bias.numpy()[0]))
print(f"map 0 at ({r}, {c}): by hand ReLU(b + sum(w * patch)) = {by_hand:.5f}, "
      f"extract gives {maps['1'].numpy()[0, 0, r, c]:.5f}")

viz.show_images(digit, [f"test digit, label {y_test[0]}"], save=OUT / "digit.png")
viz.plot_feature_maps(maps["1"], save=OUT / "feature_maps_layer1.png",
                      title="after conv 1 + ReLU: 16 maps of 28x28")
viz.plot_feature_maps(maps["4"], save=OUT / "feature_maps_layer2.png",
                      title="after conv 2 + ReLU: 32 maps of 14x14")
print(f"saved {OUT / 'feature_maps_layer1.png'} and {OUT / 'feature_maps_layer2.png'}")

# %% [markdown]
# The first layer's maps still look like the digit (each filter highlights some of its edges
# or strokes); the second layer's are coarser and more abstract: each value there sees a
# 10x10 region of the input (receptive field, Tutorial 2), and combines 16 first-layer maps.
#
# ## 3. Nearest neighbours: pixels vs features
#
# Represent each image by a vector and call two images similar when their vectors are close
# in L2 distance. In **pixel space** the vector is the 784 raw pixels: a 7 written slightly
# to the left is "far" from the same 7 written in the centre. In **feature space** the vector
# is the 1568 values that the classifier reads (layer "6"): the network was trained to make
# these separate the classes, so neighbours should more often share the label.
#
# `minicnn.transfer.nearest_neighbours` computes all distances with one matrix product,
# ||q - b||^2 = ||q||^2 - 2 q.b + ||b||^2. The bank is the training set; the queries are test
# digits. For each query we look at its 5 nearest training images and count how many carry
# the query's label.

# %%
def features(images: np.ndarray) -> np.ndarray:
    """The flattened conv features (N, 1568) that the classifier reads."""
    with minicnn.no_grad():
        return np.concatenate([extract(model, Tensor(images[i:i + 500]), ["6"])["6"].numpy()
                               for i in range(0, len(images), 500)])


(n_bank, n_queries), k = ((1000, 100) if FAST else (4000, 500)), 5
bank_images, bank_labels = x_train[:n_bank], y_train[:n_bank]
queries, query_labels = x_test[:n_queries], y_test[:n_queries]
spaces = {
    "pixels": (queries.reshape(n_queries, -1), bank_images.reshape(n_bank, -1)),   # (Q, 784), (M, 784)
    "features": (features(queries), features(bank_images)),                        # (Q, 1568), (M, 1568)
}
neighbours = {name: nearest_neighbours(q, b, k=k) for name, (q, b) in spaces.items()}   # (indices, distances)

# three typical queries (the first ones) and the three whose pixel neighbours agree least with their label
pixel_agreement = (bank_labels[neighbours["pixels"][0]] == query_labels[:, None]).mean(axis=1)   # (Q,)
rows = [0, 1, 2] + [int(i) for i in np.argsort(pixel_agreement, kind="stable")[:3]]
print(f"labels of the {k} nearest training digits (bank of {n_bank}):")
for i in rows:
    pixel_labels = bank_labels[neighbours["pixels"][0][i]].tolist()
    feature_labels = bank_labels[neighbours["features"][0][i]].tolist()
    print(f"  test digit {i:3d} (label {query_labels[i]}): pixels {pixel_labels}  features {feature_labels}")
for name, (idx, _) in neighbours.items():
    agree = (bank_labels[idx] == query_labels[:, None]).mean()
    print(f"{name:8s}: {100 * agree:.1f}% of the {k} nearest neighbours of {n_queries} test digits share their label")

# %% [markdown]
# Both rates are high, because digits are easy: most 3s look like other 3s even pixel by
# pixel, and the first three queries, typical digits, have (almost) only neighbours of their
# own class in both spaces. The difference is in the hard cases (the last three rows above,
# and the last three rows of the pictures): the pixel neighbours of an unusual digit are
# images with ink in the same places, whatever digit they are; the feature neighbours are
# more often the same digit, written differently. Not always: an unusual digit can fool both
# (look for a row where both spaces name the same wrong class, and at the picture of it).

# %%
for name, (idx, dist) in neighbours.items():
    viz.plot_neighbours(queries[rows], bank_images[idx[rows]], dist[rows], save=OUT / f"neighbours_{name}.png",
                        title=f"5 nearest training digits in {name.rstrip('s')} space (L2 distance above)")
print(f"saved {OUT / 'neighbours_pixels.png'} and {OUT / 'neighbours_features.png'}")
