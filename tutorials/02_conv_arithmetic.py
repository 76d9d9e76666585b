# %% [markdown]
# # Tutorial 2 — Convolution arithmetic
#
# Before any code runs, a convolutional network is a sequence of shapes. This tutorial
# computes them by hand with the lecture's formulas and then lets minicnn confirm each
# number by actually running the layers.
#
# Notation: an N x N input, F x F filters, stride S, zero padding P.

# %%
import warnings

import numpy as np

import minicnn
from minicnn import nn
from minicnn.nn import functional as F


def output_size(n: int, f: int, stride: int = 1, pad: int = 0) -> float:
    """The lecture's formula (N + 2P - F) / S + 1, *without* rounding."""
    return (n + 2 * pad - f) / stride + 1


# %% [markdown]
# ## 1. Output size: (N - F) / S + 1
#
# A 7x7 input and a 3x3 filter:
#
# | stride | (7 - 3)/S + 1 |
# |---|---|
# | 1 | 5 |
# | 2 | 3 |
# | 3 | 2.33 — the stride "doesn't fit" |

# %%
x = minicnn.randn(1, 1, 7, 7, rng=0)
w = minicnn.randn(1, 1, 3, 3, rng=1)
for stride in (1, 2):
    y = F.conv2d(x, w, stride=stride)
    print(f"7x7 input, 3x3 filter, stride {stride}: formula {output_size(7, 3, stride):.2f}, "
          f"minicnn gives {y.shape[2]}x{y.shape[3]}")

# %% [markdown]
# With stride 3 the windows start at columns 0 and 3, cover columns 0..5, and column 6 is
# never seen. PyTorch (and minicnn) round the output size down to 2 — minicnn also tells
# you, once, with the numbers:

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    y = F.conv2d(x, w, stride=3)
print(f"stride 3: formula {output_size(7, 3, 3):.2f}, minicnn gives {y.shape[2]}x{y.shape[3]}")
for warning in caught:
    print("minicnn warns:", warning.message)

# %% [markdown]
# ## 2. Zero padding preserves the size
#
# With padding P the formula is (N + 2P - F)/S + 1. Choosing P = (F - 1)/2 with stride 1
# gives back N: F = 3 -> P = 1, F = 5 -> P = 2, F = 7 -> P = 3.

# %%
for f in (3, 5, 7):
    pad = (f - 1) // 2
    y = F.conv2d(x, minicnn.randn(1, 1, f, f, rng=2), padding=pad)
    print(f"7x7 input, {f}x{f} filter, pad {pad}: (7 + 2*{pad} - {f})/1 + 1 = {output_size(7, f, 1, pad):.0f} "
          f"-> minicnn {y.shape[2]}x{y.shape[3]}")

# %% [markdown]
# ## 3. Counting parameters: 760 for ten 5x5x3 filters
#
# Input 32x32x3, ten 5x5 filters, stride 1, pad 2. Each filter spans the full depth, so
# it has 5*5*3 = 75 weights plus one bias: 76 parameters, and ten of them make **760**.
# The output is (32 + 4 - 5)/1 + 1 = 32 on each side: 32x32x10.

# %%
layer = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
print(minicnn.summary(layer, (3, 32, 32)))
n_params = sum(p.size for p in layer.parameters())
print(f"parameters: 10 * (5*5*3 + 1) = {10 * (5 * 5 * 3 + 1)}; minicnn counts {n_params}")

# %% [markdown]
# ## 4. 1x1 convolutions
#
# A 1x1 filter looks at one pixel, but through the *whole depth*: it is a dot product of
# the C-vector at each pixel with the filter, i.e. a fully-connected layer applied at every
# pixel. 56x56x64 with 32 1x1 filters gives 56x56x32 — it changes the depth, not the size.

# %%
x = minicnn.randn(1, 64, 56, 56, rng=3)
conv1x1 = nn.Conv2d(64, 32, kernel_size=1)
y = conv1x1(x)
print(f"1x1 conv: {x.shape} -> {y.shape}, {sum(p.size for p in conv1x1.parameters())} parameters (64*32 + 32)")
pixel = x.numpy()[0, :, 10, 20]                        # the 64 channels of one pixel
by_hand = conv1x1.weight.numpy()[:, :, 0, 0] @ pixel + conv1x1.bias.numpy()
print(f"at pixel (10, 20): max |conv - (W @ pixel + b)| = {np.abs(y.numpy()[0, :, 10, 20] - by_hand).max():.2e}")

# %% [markdown]
# ## 5. Receptive fields: 1 + L(K - 1)
#
# Each 3x3 stride-1 layer lets an output pixel see one more pixel on every side. After L
# such layers an output pixel depends on a (1 + L*(K-1)) square of the input: three 3x3
# layers see 7x7 — the same as one 7x7 layer, with fewer parameters (3 * 3*3*C^2 versus
# 7*7*C^2) and more nonlinearities. That is VGG's design.

# %%
stack = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())])
print(minicnn.summary(stack, (8, 32, 32)))
for layers in (1, 2, 3, 5, 10):
    print(f"{layers:2d} layers of 3x3: receptive field 1 + {layers}*(3 - 1) = {1 + layers * 2}")

# %% [markdown]
# ## 6. Why downsample
#
# Growing by 2 pixels per layer, covering a 224-pixel image would take over 100 layers.
# A stride-2 pooling layer doubles the *jump* between neighbouring output pixels, so each
# later 3x3 layer grows the field by 2 * jump: the general rule is
# r_out = r_in + (K - 1) * jump_in, jump_out = jump_in * stride.

# %%
downsampling = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
)
print(minicnn.summary(downsampling, (3, 32, 32)))
# by hand: conv 3 -> pool 4 (jump 2) -> conv 4 + 2*2 = 8 -> pool 10 (jump 4) -> conv 10 + 2*4 = 18
print("by hand: 3, 4, 8, 10, 18")
