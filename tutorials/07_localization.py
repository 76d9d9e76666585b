# %% [markdown]
# # Tutorial 7 — Localization as regression
#
# Classification answers *what* is in the image; localization also answers *where*, as a
# box (x, y, w, h). The lecture's recipe treats the box as **regression**:
#
# 1. train (or download) a classification network;
# 2. attach a new fully-connected **regression head** that outputs 4 real numbers — no
#    softmax, since a box is not a probability distribution;
# 3. train the head with the **L2 loss** between predicted and true boxes;
# 4. at test time use both heads: the class scores and the box.
#
# Success is measured with **intersection over union** (IoU): a predicted box counts as
# correct when IoU >= 0.5 with the true one.
#
# `MINICNN_FAST=1` uses fewer canvases and epochs (the tests); plots go to `MINICNN_OUT`
# (default `out/tutorials/07_localization/`).

# %%
import os
from pathlib import Path

import numpy as np

import minicnn
from minicnn import Tensor, nn, optim, viz
from minicnn import localization as loc
from minicnn.data import DataLoader, TensorDataset
from minicnn.experiments.common import SmallVGG, fit_classifier, predict
from minicnn.nn import functional as F
from minicnn.transfer import extract_features

FAST = os.environ.get("MINICNN_FAST") == "1"
OUT = Path(os.environ.get("MINICNN_OUT", "out/tutorials/07_localization"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. IoU by hand
#
# Boxes are (x, y, w, h) with (x, y) the top-left corner. Take a = (0, 0, 4, 4) and
# b = (2, 2, 4, 4): they overlap on the square from (2, 2) to (4, 4), so
#
#     intersection = 2 * 2 = 4,   union = 16 + 16 - 4 = 28,   IoU = 4 / 28 = 1/7 = 0.143
#
# Shifting a 4x4 box by half its size in both directions already drops IoU far below 0.5:
# the threshold is stricter than it sounds.

# %%
a, b = np.array([0, 0, 4, 4]), np.array([2, 2, 4, 4])
left, top = max(a[0], b[0]), max(a[1], b[1])
right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
intersection = max(0, right - left) * max(0, bottom - top)
union = a[2] * a[3] + b[2] * b[3] - intersection
print(f"IoU by hand: intersection {intersection}, union {union}, IoU = {intersection}/{union} = "
      f"{intersection / union:.3f}; minicnn.localization.iou gives {loc.iou(a, b):.3f}")
print(f"identical boxes: IoU {loc.iou(a, a):.3f}; disjoint (0,0,4,4) and (5,5,2,2): "
      f"IoU {loc.iou(a, [5, 5, 2, 2]):.3f}")

# %% [markdown]
# ## 2. The regression head and the L2 loss
#
# The head predicts the box **normalised** by the image size, (x/W, y/H, w/W, h/H), so all
# four numbers are in [0, 1] whatever the image size. The L2 loss is the mean squared error
# over the 4 numbers. By hand, for a prediction (0.5, 0.5, 0.2, 0.2) of the true box
# (0.4, 0.5, 0.3, 0.2): ((0.1)^2 + 0 + (-0.1)^2 + 0) / 4 = 0.02 / 4 = 0.005.

# %%
pred_box = Tensor(np.array([[0.5, 0.5, 0.2, 0.2]], dtype=np.float32))
true_box = Tensor(np.array([[0.4, 0.5, 0.3, 0.2]], dtype=np.float32))
print(f"L2 loss by hand 0.02 / 4 = 0.005; F.mse_loss gives {F.mse_loss(pred_box, true_box).item():.4f}")

# %% [markdown]
# ## 3. Data: digits somewhere on a larger canvas
#
# `make_localization_dataset` pastes a real handwritten digit, resized by a random factor,
# at a random position on a blank 48x48 canvas; the true box is the tight box around its
# ink. Held-out canvases use the digits' "test" split, so both the digits and their
# placements are new to the network.

# %%
S = 48
n_train, n_test, class_epochs, head_epochs = (1000, 100, 4, 30) if FAST else (4000, 500, 10, 40)
train = loc.make_localization_dataset(n_train, canvas=S, scale=(0.6, 1.2), split="train", seed=0)
test = loc.make_localization_dataset(n_test, canvas=S, scale=(0.6, 1.2), split="test", seed=1)
print(f"canvases: train {train['images'].shape}, test {test['images'].shape}; "
      f"first box {train['boxes'][0].tolist()} (label {train['labels'][0]})")
print(f"first box normalised: {np.array2string(loc.encode_boxes(train['boxes'][0], (S, S)), precision=3)}")

# %% [markdown]
# ## 4. Step 1: a classification network
#
# A small VGG-style network (three blocks of 3x3 conv + ReLU + 2x2 max pool, then a
# classifier) trained briefly to say *which* digit is on the canvas. Its conv features
# (32 maps of 6x6 after three pools) keep *where* things are; that is what the box head
# will read.

# %%
minicnn.manual_seed(0)
net = SmallVGG(1, channels=(8, 16, 32), num_classes=10, input_size=S, hidden=64, rng=0)
fit_classifier(net, train["images"], train["labels"], optim.Adam(net.parameters(), lr=2e-3), class_epochs,
               batch_size=32, seed=0)
net.eval()
scores = predict(net, test["images"])                                    # (n_test, 10)
class_accuracy = float((scores.argmax(axis=1) == test["labels"]).mean())
print(f"step 1: classifier trained for {class_epochs} epochs: class accuracy {class_accuracy:.3f} "
      f"on {n_test} held-out canvases")

# %% [markdown]
# ## 5. Steps 2-3: a box head on the frozen features, trained with the L2 loss
#
# The body is frozen, so its features are computed once (`extract_features` at layer
# "avgpool": (N, 32*6*6) = (N, 1152)), and only `Linear(1152 -> 4)` learns, with SGD on the
# L2 loss (`train_box_head`). A baseline to beat: predict the *mean* training box for every
# canvas, which ignores the image altogether.

# %%
def conv_features(data: dict) -> np.ndarray:
    loader = DataLoader(TensorDataset(data["images"], data["labels"]), batch_size=250)
    return extract_features(net, loader, "avgpool")[0]                  # (N, 1152)


train_features = conv_features(train)
targets = loc.encode_boxes(train["boxes"], (S, S))                       # (N, 4) in [0, 1]
box_head = loc.train_box_head(train_features, targets, epochs=head_epochs, lr=0.01, seed=0)
pred = loc.decode_boxes(predict(box_head, conv_features(test)), (S, S))  # (n_test, 4) pixels
mean_box = np.broadcast_to(train["boxes"].mean(axis=0), test["boxes"].shape)
print(f"box head {box_head.weight.shape} trained for {head_epochs} epochs on frozen features "
      f"{train_features.shape}")
print(f"held-out canvases: mean IoU {loc.mean_iou(pred, test['boxes']):.3f}, "
      f"accuracy at IoU >= 0.5 {loc.accuracy_at_iou(pred, test['boxes']):.3f}")
print(f"baseline (always the mean box): mean IoU {loc.mean_iou(mean_box, test['boxes']):.3f}, "
      f"accuracy at IoU >= 0.5 {loc.accuracy_at_iou(mean_box, test['boxes']):.3f}")

# %% [markdown]
# ## 6. Step 4: both heads at test time
#
# The same features feed the class head and the box head (`ClassifierLocalizer` packages
# this as one module). Green: the true box; red: the predicted one.

# %%
shown = slice(0, 12)
ious = loc.iou(pred[shown], test["boxes"][shown])
captions = [f"{t} -> {p}, IoU {v:.2f}" for t, p, v in zip(test["labels"][shown], scores[shown].argmax(axis=1), ious)]
viz.draw_boxes(test["images"][shown], test["boxes"][shown], pred[shown], labels=captions, cols=4,
               save=OUT / "boxes.png", title="true (green) and predicted (red) boxes, held-out canvases")
print(f"saved {OUT / 'boxes.png'}")

# %% [markdown]
# ## 7. The lecture's toy: centre and radius
#
# The same idea with three numbers: images of one disc, and a CNN whose last layer outputs
# (cx, cy, r) / 32 — a Linear layer with 3 outputs, trained with the quadratic loss.

# %%
circles, circles_test = loc.make_circles(400 if FAST else 2000, seed=0), loc.make_circles(100, seed=1)
minicnn.manual_seed(0)
circle_net = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),          # (N, 8, 16, 16)
    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),         # (N, 16, 8, 8)
    nn.Flatten(), nn.Linear(16 * 8 * 8, 3),                             # (N, 3): no softmax
)
opt = optim.Adam(circle_net.parameters(), lr=2e-3)
for epoch in range(3 if FAST else 10):
    for i in range(0, len(circles["images"]), 32):
        loss = F.mse_loss(circle_net(Tensor(circles["images"][i:i + 32])), Tensor(circles["targets"][i:i + 32]))
        opt.zero_grad()
        loss.backward()
        opt.step()
error = np.abs(predict(circle_net, circles_test["images"]) - circles_test["targets"]).mean(axis=0) * 32
print(f"circles: mean absolute error cx {error[0]:.2f} px, cy {error[1]:.2f} px, r {error[2]:.2f} px "
      f"(32x32 images)")
