"""``minicnn.nn.functional``: the CNN operations as functions, with PyTorch's names and arguments.

    import minicnn.nn.functional as F
    y = F.relu(F.conv2d(x, w, b, padding=1))
    loss = F.cross_entropy(logits, labels)

The layer classes in ``minicnn.nn`` (``nn.Conv2d``, ``nn.CrossEntropyLoss`` ...) hold the
parameters and call these.  One concept per module:

    conv.py            conv2d: unfold (im2col) + one GEMM per group, fold for dL/dx;
                       picks the algorithm (choose_algorithm, MINICNN_CONV)
    conv_winograd.py   the Winograd F(2x2, 3x3) path for 3x3 stride-1 layers
    conv_naive.py      conv2d_naive: the lecture's nested loops (the reference for conv2d)
    conv_transpose.py  conv_transpose2d: conv2d's input gradient used as a layer (upsampling)
    pooling.py         max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d
    linear.py          linear, flatten
    activation.py      relu, leaky_relu, sigmoid, tanh, softmax, log_softmax
    dropout.py         dropout (inverted)
    normalization.py   batch_norm
    cross_entropy.py   cross_entropy (fused with softmax), nll_loss
    loss.py            mse_loss, smooth_l1_loss, binary_cross_entropy_with_logits
"""
from __future__ import annotations

from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv2d
from .conv_naive import conv2d_naive
from .conv_transpose import conv_transpose2d
from .cross_entropy import cross_entropy, nll_loss
from .dropout import dropout
from .linear import flatten, linear
from .loss import binary_cross_entropy_with_logits, mse_loss, smooth_l1_loss
from .normalization import batch_norm
from .pooling import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "conv2d", "conv2d_naive", "conv_transpose2d",
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "linear", "flatten",
    "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax",
    "dropout", "batch_norm",
    "cross_entropy", "nll_loss", "mse_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits",
]
