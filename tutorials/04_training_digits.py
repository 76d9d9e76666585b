# %% [markdown]
# # Tutorial 4 — Training a CNN on digits
#
# The pieces of the training lecture, one at a time, on the 5,000 MNIST digits that ship
# with minicnn (4,000 to train, 1,000 to test, no download):
#
# 1. the loss: softmax + negative log-likelihood, and why an untrained net scores ln 10;
# 2. weight initialisation: what too-small and too-large weights do to the activations;
# 3. the optimizer: SGD with momentum, and a learning-rate schedule;
# 4. overfitting on 100 digits, and three cures: data augmentation, L2 weight decay, dropout.
#
# Set `MINICNN_FAST=1` for a quick run on less data with fewer epochs (the tests do); the
# full run takes a minute or two on a laptop CPU. Plots go to `MINICNN_OUT`
# (default `out/tutorials/04_training_digits/`).

# %%
import math
import os
from pathlib import Path

import numpy as np

import minicnn
from minicnn import Tensor, nn, optim, viz
from minicnn.data import DataLoader, TensorDataset, augment, load_digits
from minicnn.nn import functional as F
from minicnn.train import evaluate, fit

FAST = os.environ.get("MINICNN_FAST") == "1"
OUT = Path(os.environ.get("MINICNN_OUT", "out/tutorials/04_training_digits"))
OUT.mkdir(parents=True, exist_ok=True)

x_train, y_train = load_digits("train")                 # (4000, 1, 28, 28) float32 in [0, 1], (4000,) int64
x_test, y_test = load_digits("test")                    # (1000, 1, 28, 28), (1000,)
if FAST:
    x_test, y_test = x_test[:300], y_test[:300]
test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=250)
print(f"train {x_train.shape}, test {x_test.shape}")


def small_cnn(dropout: float = 0.0) -> nn.Sequential:
    """conv-ReLU-pool twice, then one fully-connected layer: 8,170 weights in all."""
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 8, 14, 14)
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 7, 7)
        nn.Flatten(),                                                             # (N, 784)
        nn.Dropout(dropout),                                                      # off when dropout = 0
        nn.Linear(16 * 7 * 7, 10),                                                # (N, 10) class scores
    )


# %% [markdown]
# ## 1. Softmax + negative log-likelihood
#
# The network outputs one score s_k per class. Softmax turns scores into probabilities,
# `p_k = exp(s_k) / sum_j exp(s_j)`, and the loss of an example with true class y is
# `L = -ln p_y`: zero when the net is sure and right, large when it is sure and wrong.
#
# The lecture's example: scores cat 3.2, car 5.1, frog -1.7 for a cat image.
# exp gives 24.53, 164.02, 0.18; they sum to 188.73, so p_cat = 24.53 / 188.73 = 0.130 and
# L = -ln 0.130 = 2.04. (`F.cross_entropy` does softmax + NLL in one numerically stable step.)

# %%
scores = np.array([[3.2, 5.1, -1.7]], dtype=np.float32)
p = np.exp(scores) / np.exp(scores).sum()
print(f"softmax of (3.2, 5.1, -1.7): {np.round(p[0], 3)}")
print(f"by hand: -ln p_cat = {-math.log(p[0, 0]):.4f}; "
      f"F.cross_entropy: {F.cross_entropy(Tensor(scores), Tensor(np.array([0]))).item():.4f}")

# %% [markdown]
# **A sanity check before training.** With small random weights every score is close to 0,
# so softmax gives every class about 1/10 and the loss is -ln(1/10) = ln 10 = 2.303,
# whatever the label. If an untrained net starts far from ln 10, something is wrong (the
# init, the data scaling, or the loss).

# %%
minicnn.manual_seed(0)
untrained = small_cnn()
for module in untrained.modules():
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.01)
        nn.init.zeros_(module.bias)
with minicnn.no_grad():
    loss0 = F.cross_entropy(untrained(Tensor(x_train[:500])), Tensor(y_train[:500])).item()
print(f"untrained net, weights ~ N(0, 0.01^2): loss {loss0:.4f}; ln 10 = {math.log(10):.4f}")

# %% [markdown]
# ## 2. Weight initialisation
#
# Each conv layer computes sums of fan_in = C_in*3*3 products. If the inputs have second
# moment E[x^2] and the weights have standard deviation sigma, the sum has variance
# fan_in * sigma^2 * E[x^2], and a ReLU keeps half of it. So through a ReLU net the typical
# size of the activations is multiplied at every layer by
#
#     sigma * sqrt(fan_in / 2)
#
# Below 1 the signal shrinks geometrically (and the gradients with it: nothing learns); above
# 1 it explodes. **Kaiming (He) initialisation** chooses sigma = sqrt(2 / fan_in), a factor
# of exactly 1. Here is a stack of eight 3x3 conv layers with 16 channels (fan_in = 144),
# biases 0, fed a batch of digits; we print the standard deviation after every ReLU.
# Predicted factors per layer: sigma = 0.01 gives 0.01*sqrt(72) = 0.085; sigma = 1 gives 8.5.

# %%
def deep_stack(sigma: float | None, depth: int = 8, width: int = 16) -> list[nn.Conv2d]:
    """`depth` 3x3 conv layers with weights ~ N(0, sigma^2), or Kaiming if sigma is None."""
    rng = np.random.default_rng(0)
    layers = []
    for i in range(depth):
        conv = nn.Conv2d(1 if i == 0 else width, width, kernel_size=3, padding=1)
        if sigma is None:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", rng=rng)
        else:
            nn.init.normal_(conv.weight, 0.0, sigma, rng=rng)
        nn.init.zeros_(conv.bias)
        layers.append(conv)
    return layers


inits = {"sigma=0.01": 0.01, "Kaiming": None, "sigma=1": 1.0}
stds = {}
with minicnn.no_grad():
    for name, sigma in inits.items():
        h, stds[name] = Tensor(x_train[:64]), []
        for conv in deep_stack(sigma):
            h = F.relu(conv(h))
            stds[name].append(float(h.numpy().std()))
print("std of the activations after each conv + ReLU:")
print(f"{'layer':>5s} " + " ".join(f"{name:>12s}" for name in inits))
for layer in range(8):
    print(f"{layer + 1:5d} " + " ".join(f"{stds[name][layer]:12.3g}" for name in inits))
for name in inits:
    factor = (stds[name][-1] / stds[name][1]) ** (1 / 6)    # geometric mean over layers 2..8 (fan_in 144)
    print(f"{name}: activations multiplied by {factor:.3f} per layer")

# %% [markdown]
# With sigma = 0.01 the activations of layer 8 are ~10^-9 of the input: the last layers see
# (almost) nothing, and the gradients reaching the first layers are as small. With sigma = 1
# they grow ~8x per layer, to ~10^6: softmax saturates and the loss explodes. Kaiming keeps
# them at the same scale all the way down, which is why it is the default for ReLU nets
# (minicnn's layers use PyTorch's default, a uniform Kaiming variant).
#
# ## 3. SGD with momentum, and a learning-rate schedule
#
# Plain SGD steps against the gradient: `w <- w - lr * g`. On a long, narrow valley it
# zig-zags across the steep direction while crawling along the flat one. **Momentum** keeps
# a velocity `v <- 0.9 v + g` and steps `w <- w - lr * v`: the zig-zags cancel out in v,
# the steady direction adds up (to about 1/(1 - 0.9) = 10 gradients).
#
# A toy valley first: f(w) = (w1^2 + 25 w2^2) / 2, from w = (1, 1), lr = 0.035. Its
# gradient is (w1, 25 w2), so plain SGD multiplies w1 by (1 - 0.035) = 0.965 per step:
# after 50 steps w1 = 0.965^50 = 0.168, while w2 (factor 1 - 25*0.035 = 0.125) is gone.

# %%
for momentum in (0.0, 0.9):
    w = Tensor(np.array([1.0, 1.0], dtype=np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.035, momentum=momentum)
    for step in range(50):
        opt.zero_grad()
        loss = (w[0] * w[0] + 25 * w[1] * w[1]) / 2
        loss.backward()
        opt.step()
    print(f"toy valley, momentum {momentum}: after 50 steps w = {np.round(w.numpy(), 4)}, "
          f"distance to the minimum {np.linalg.norm(w.numpy()):.4f}")

# %% [markdown]
# Now the digits: one pass with plain SGD and one with momentum 0.9, same learning rate,
# same data order (the loader's seed), same initial weights (`manual_seed`).

# %%
n_compare = 500 if FAST else 2000
compare_data = TensorDataset(x_train[:n_compare], y_train[:n_compare])
for momentum in (0.0, 0.9):
    minicnn.manual_seed(0)
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.02, momentum=momentum)
    h = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(compare_data, batch_size=32, shuffle=True, seed=0),
            epochs=2, progress=False)
    print(f"SGD momentum {momentum}: training loss per epoch {np.round(h.train_loss, 3).tolist()}")

# %% [markdown]
# **Learning-rate decay.** A large step gets close quickly; a small step settles into the
# minimum instead of bouncing around it. A schedule does both: `StepLR(step_size=2,
# gamma=0.5)` halves the learning rate every 2 epochs, lr = 0.05 * 0.5^(epoch // 2):
# 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125.
#
# The whole recipe on the training set: Kaiming-initialised small CNN, SGD with momentum
# 0.9, the step schedule, mini-batches of 64, the test set checked after every epoch.

# %%
minicnn.manual_seed(0)
n_train, epochs = (1000, 3) if FAST else (4000, 6)
model = small_cnn()
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
schedule = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
train_loader = DataLoader(TensorDataset(x_train[:n_train], y_train[:n_train]), batch_size=64, shuffle=True, seed=0)
history = fit(model, nn.CrossEntropyLoss(), opt, train_loader, test_loader, epochs=epochs, scheduler=schedule)
print(f"learning rate per epoch: {history.lr}")
result = evaluate(model, test_loader, nn.CrossEntropyLoss(), num_classes=10)
print(f"trained on {n_train} digits for {epochs} epochs: test accuracy {100 * result.accuracy:.1f}%")
viz.plot_history(history, save=OUT / "training_curves.png",
                 title=f"small CNN, {n_train} digits, SGD + momentum, StepLR")
viz.plot_confusion_matrix(result.confusion, save=OUT / "confusion.png",
                          title=f"test digits: {100 * result.accuracy:.1f}% correct")

# %% [markdown]
# ## 4. Overfitting, and three cures
#
# Give the same network only **100** training digits. It has 8,170 weights, far more than it
# needs to memorise 100 examples: the training accuracy reaches 100% while the test accuracy
# stays far lower. The difference, the **generalisation gap**, is overfitting.
#
# The cures all make memorising harder:
#
# * **data augmentation**: show every digit slightly shifted, rotated and scaled each time, so
#   the net must learn what stays the same (a shift of 2 pixels does not change a digit);
# * **L2 weight decay**: add (lambda/2) * sum(w^2) to the loss, i.e. `g <- g + lambda * w` in
#   SGD (`weight_decay=lambda`), which pulls every weight towards 0; with only 100 examples we
#   need a strong pull, lambda = 0.03 (5e-4 is typical for big data sets);
# * **dropout**: during training, zero each of the 784 features before the classifier with
#   probability 0.5 (and scale the survivors by 2), so no single feature can be relied on;
#   `model.eval()` turns it off for testing.
#
# Not every augmentation suits every data set: here is what they do to a few digits. A
# mirrored 2 or 7 is no longer a 2 or 7, so we do not flip digits.

# %%
examples = x_train[:6]                                  # (6, 1, 28, 28)
rng = np.random.default_rng(1)
augmented = {
    "original": examples,
    "flip": augment.hflip(examples),
    "crop": augment.random_crop(examples, padding=3, rng=rng),
    "rotate": augment.rotate(examples, rng.uniform(-20, 20, size=6)),
    "noise": np.clip(augment.gaussian_noise(examples, std=0.2, rng=rng), 0, 1),
}
viz.show_images(np.concatenate(list(augmented.values())),
                [f"{name} {y}" for name in augmented for y in y_train[:6]],
                save=OUT / "augmentation.png", title="augmentations of 6 training digits", cols=6)
print(f"saved {OUT / 'augmentation.png'}")

# %%
n_tiny, tiny_epochs = 100, (20 if FAST else 40)
tiny = TensorDataset(x_train[:n_tiny], y_train[:n_tiny])
tiny_eval = DataLoader(tiny, batch_size=n_tiny)         # the same 100 digits, not augmented
shift_rotate = augment.Compose([augment.RandomCrop(padding=2),
                                augment.RandomAffine(degrees=15, scale=(0.9, 1.1))], seed=0)
cures = {                                               # name: (dropout, weight decay, augmentation)
    "no cure": (0.0, 0.0, None),
    "augmentation": (0.0, 0.0, shift_rotate),
    "weight decay": (0.0, 0.03, None),
    "dropout": (0.5, 0.0, None),
    "all three": (0.5, 0.03, shift_rotate),
}
gaps = {}
for name, (dropout, weight_decay, transform) in cures.items():
    minicnn.manual_seed(0)
    model = small_cnn(dropout)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
    loader = DataLoader(tiny, batch_size=20, shuffle=True, seed=0, transform=transform)
    h = fit(model, nn.CrossEntropyLoss(), opt, loader, test_loader, epochs=tiny_epochs, progress=False)
    train_acc = evaluate(model, tiny_eval).accuracy     # clean images, dropout off
    test_acc = evaluate(model, test_loader).accuracy
    gaps[name] = train_acc - test_acc
    print(f"{name:13s} train {100 * train_acc:5.1f}%  test {100 * test_acc:5.1f}%  "
          f"gap {100 * gaps[name]:5.1f} points")
    viz.plot_history(h, save=OUT / f"overfit_{name.replace(' ', '_')}.png",
                     title=f"100 training digits, {name}")

# %% [markdown]
# Read the table, and the curves in `overfit_*.png`: without a cure, training accuracy climbs
# to 100% and stays there while the test accuracy levels off far below; the training loss keeps
# falling towards 0 as the net grows ever more confident about the examples it memorised, and
# the test loss stops improving.
# Each cure gives up some training accuracy or confidence in exchange for test accuracy;
# how much each one helps depends on its strength, the data and even the random seed, so
# try other values (a weaker weight decay, dropout 0.25, stronger rotations). None of them
# is a substitute for more data: compare with the 4,000-digit run of section 3.

# %%
largest, smallest = max(gaps, key=gaps.get), min(gaps, key=gaps.get)
print(f"largest gap: {largest} ({100 * gaps[largest]:.1f} points); "
      f"smallest: {smallest} ({100 * gaps[smallest]:.1f} points)")
