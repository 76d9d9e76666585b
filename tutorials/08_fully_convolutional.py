# %% [markdown]
# # Tutorial 8 — Fully convolutional networks: a classifier slid over a larger image
#
# The lecture's observation: a fully-connected layer that reads a C x h x w feature map is a
# convolution whose filters are exactly C x h x w. Each output unit f takes the dot product
# of its weight row with the whole map; a conv filter of the same size, placed at the one
# position where it covers the map, computes the same dot product. So
#
#     Linear weight (F, C*h*w)  --reshape-->  Conv2d weight (F, C, h, w)
#
# and the Linear layers after it, which now see a 1x1 "map", become 1x1 convolutions. The
# converted network gives the *same* logits on an image of the training size. On a larger
# image it does not fail: it slides the whole classifier over the image in one pass, sharing
# the convolutional work between overlapping windows, and outputs a **class map**: one
# vector of class scores per window (OverFeat, and the start of semantic segmentation).
#
# `MINICNN_FAST=1` trains on fewer digits (the tests); plots go to `MINICNN_OUT`
# (default `out/tutorials/08_fully_convolutional/`).

# %%
import os
from pathlib import Path

import numpy as np

import minicnn
from minicnn import Tensor, nn, optim
from minicnn.data import DataLoader, TensorDataset, load_digits
from minicnn.fully_conv import to_fully_convolutional, total_stride
from minicnn.train import evaluate, fit

FAST = os.environ.get("MINICNN_FAST") == "1"
OUT = Path(os.environ.get("MINICNN_OUT", "out/tutorials/08_fully_convolutional"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. A digits classifier with fully-connected layers
#
# No padding anywhere, so every output value depends only on pixels inside its window
# (we come back to why this matters in section 4):
#
#     conv 5x5 (1 -> 8)  - ReLU - maxpool 2     28 -> 24 -> 12
#     conv 5x5 (8 -> 16) - ReLU - maxpool 2     12 ->  8 ->  4     (N, 16, 4, 4)
#     flatten                                                      (N, 256)
#     fully connected 256 -> 64 - ReLU - fully connected 64 -> 10  (N, 10)

# %%
x_train, y_train = load_digits("train")                 # (4000, 1, 28, 28) float32 in [0, 1]
x_test, y_test = load_digits("test")                    # (1000, 1, 28, 28)
n_train, epochs = (2000, 2) if FAST else (4000, 4)

minicnn.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 8, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),      # 0, 1, 2
    nn.Conv2d(8, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),     # 3, 4, 5
    nn.Flatten(),                                                    # 6
    nn.Linear(16 * 4 * 4, 64), nn.ReLU(),                            # 7, 8
    nn.Linear(64, 10),                                               # 9
)
loader = DataLoader(TensorDataset(x_train[:n_train], y_train[:n_train]), batch_size=32, shuffle=True, seed=0)
fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05, momentum=0.9), loader, epochs=epochs)
model.eval()
accuracy = evaluate(model, DataLoader(TensorDataset(x_test, y_test), batch_size=250)).accuracy
print(f"trained on {n_train} digits for {epochs} epoch(s): test accuracy {accuracy:.3f}")

# %% [markdown]
# ## 2. The fully-connected layers as convolutions
#
# `minicnn.fully_conv.to_fully_convolutional(model, (1, 28, 28))` runs the conv part once at
# the training size to find the map entering the first Linear (16 x 4 x 4), then replaces
# each Linear by a Conv2d holding the same numbers. The reshape is valid because `Flatten`
# reads a map in (c, h, w) order, which is also the order of a conv filter's weights.

# %%
fcn = to_fully_convolutional(model, (1, 28, 28))
fcn.eval()
fc1, conv1 = model[7], fcn[6]
print(f"first Linear weight {fc1.weight.shape} -> conv weight {conv1.weight.shape}")
print(f"second Linear weight {model[9].weight.shape} -> conv weight {fcn[8].weight.shape} (a 1x1 convolution)")
same = np.array_equal(fc1.weight.numpy().reshape(64, 16, 4, 4), conv1.weight.numpy())
print(f"conv weight equals the Linear weight reshaped: {same}")
print("the converted network:")
for i, layer in enumerate(fcn):
    print(f"  {i}: {layer}")

# %% [markdown]
# ## 3. Same input size, same logits
#
# On a 28x28 digit the converted network outputs (N, 10, 1, 1): the same 10 numbers as the
# original, up to float32 rounding (the conv sums the same products in a different order).

# %%
digits = x_test[:8]                                      # (8, 1, 28, 28)
with minicnn.no_grad():
    logits = model(Tensor(digits)).numpy()               # (8, 10)
    maps = fcn(Tensor(digits)).numpy()                   # (8, 10, 1, 1)
print(f"original output {logits.shape}, fully convolutional output {maps.shape}")
print(f"max |difference| of the logits on 28x28 digits: {np.abs(maps.reshape(8, 10) - logits).max():.2e}")

# %% [markdown]
# ## 4. A larger image: a class map
#
# Three test digits side by side make a 28x84 canvas. By the same arithmetic as in section
# 1, the width goes 84 -> 80 -> 40 -> 36 -> 18 and the height 28 -> 4, so the conv part
# gives a 16 x 4 x 18 map. The first "fully-connected" conv (4x4 filters)
# then fits at 18 - 4 + 1 = 15 horizontal positions and one vertical one:
#
#     output (1, 10, 1, 15):  OW = (84 - 28) / S + 1 = 56 / 4 + 1 = 15
#
# with S = 4 the total stride (two 2x2 pools). Cell j holds the class scores of the 28x28
# window starting at column 4j: cells 0, 7 and 14 look exactly at the three digits, the
# cells between them at windows straddling two digits.
#
# Because the network has no padding, cell j is *exactly* the original network applied to
# that crop (with padding, the crop's border would see its real neighbours instead of
# zeros, and the equality would become an approximation).

# %%
picks = [0, 1, 2]
canvas = np.concatenate([x_test[i] for i in picks], axis=2)[None]      # (1, 1, 28, 84)
with minicnn.no_grad():
    class_map = fcn(Tensor(canvas)).numpy()                            # (1, 10, 1, 15)
stride = total_stride(fcn)
print(f"canvas {canvas.shape} with digits {[int(y_test[i]) for i in picks]}; total stride {stride}")
print(f"class map shape {class_map.shape}")
cells = class_map[0, :, 0, :].argmax(axis=0)                           # (15,): the best class per cell
print(f"argmax class per cell: {cells.tolist()}")
print(f"cells 0, 7, 14 (the windows on the digits): {[int(cells[j]) for j in (0, 7, 14)]}")
for j in (0, 7, 3):
    crop = canvas[:, :, :, stride[1] * j:stride[1] * j + 28]           # (1, 1, 28, 28)
    with minicnn.no_grad():
        direct = model(Tensor(crop)).numpy()[0]                        # (10,)
    print(f"cell {j:2d} vs the original network on columns {4 * j}..{4 * j + 27}: "
          f"max |difference| {np.abs(class_map[0, :, 0, j] - direct).max():.2e}")

# %% [markdown]
# The same works in two dimensions: on a 56x56 canvas with a digit in each corner, the class
# map is (56 - 28) / 4 + 1 = 8 cells on a side, and the corner cells see the corner digits.

# %%
square = np.zeros((1, 1, 56, 56), dtype=np.float32)
corners = [3, 4, 5, 6]
for k, (r, c) in zip(corners, [(0, 0), (0, 28), (28, 0), (28, 28)]):
    square[0, 0, r:r + 28, c:c + 28] = x_test[k, 0]
with minicnn.no_grad():
    square_map = fcn(Tensor(square)).numpy()                           # (1, 10, 8, 8)
square_cells = square_map[0].argmax(axis=0)                            # (8, 8)
print(f"56x56 canvas with digits {[int(y_test[k]) for k in corners]} in the corners: class map {square_map.shape}")
print(f"argmax at the corner cells: {[int(square_cells[r, c]) for r, c in [(0, 0), (0, 7), (7, 0), (7, 7)]]}")
print(square_cells)

# %% [markdown]
# ## 5. The picture
#
# Above the canvas, each cell's class drawn at the centre of its window, coloured by how
# sure the network is (softmax probability): confident on the digits, unsure in between,
# where a window shows half of one digit and half of the next.

# %%
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed (pip install 'minicnn[viz]'): no picture")

if plt is not None:
    z = class_map[0, :, 0, :].astype(np.float64)                       # (10, 15)
    p = np.exp(z - z.max(axis=0))
    p /= p.sum(axis=0)
    fig, (ax_map, ax_img) = plt.subplots(2, 1, figsize=(8, 3.6), sharex=True, gridspec_kw={"height_ratios": [1, 2.5]})
    centres = stride[1] * np.arange(len(cells)) + 13.5                 # window j covers columns 4j..4j+27
    ax_map.imshow(p.max(axis=0)[None], cmap="viridis", vmin=0, vmax=1, aspect="auto",
                  extent=(centres[0] - 2, centres[-1] + 2, 0, 1))
    for x, k, q in zip(centres, cells, p.max(axis=0)):
        ax_map.text(x, 0.5, str(k), ha="center", va="center", color="white" if q < 0.6 else "black")
    ax_map.set_xlim(-0.5, 83.5)
    ax_map.set_yticks([])
    ax_map.set_title("class map: argmax per cell (colour: its probability)", fontsize=9)
    ax_img.imshow(canvas[0, 0], cmap="gray", interpolation="nearest", aspect="auto")   # columns line up with the map
    ax_img.set_xlim(-0.5, 83.5)
    ax_img.set_title(f"28x84 canvas: digits {[int(y_test[i]) for i in picks]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / "class_map.png", dpi=110)
    plt.close(fig)
    print(f"saved {OUT / 'class_map.png'}")
