"""minicnn: a from-scratch NumPy/CuPy deep-learning engine for teaching convolutional networks.

The pieces, from the bottom up (each imports only those before it)::

    kernels (im2col, pooling)  <-  backend, shapes  <-  tensor, function, ops (autograd)
        <-  nn.functional  <-  nn  <-  models, io  <-  optim, data, train  <-  cli, tutorials

``import minicnn`` needs NumPy only; Numba, CuPy, Matplotlib, h5py and ONNX are imported
by the functions that use them.
"""
from __future__ import annotations

from .anomaly import AnomalyError, detect_anomaly
from .backend import Device, cuda_is_available, device
from .creation import arange, eye, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck, numerical_gradient
from .ops import (
    abs, add, cat, clip, concatenate, div, exp, flatten, getitem, log, matmul, max, maximum, mean,
    min, minimum, mul, neg, pad, permute, pow, relu, reshape, sigmoid, sqrt, squeeze, stack, sub,
    sum, tanh, transpose, unsqueeze, var, where,
)
from .random import get_rng, manual_seed
from .serialization import load, save
from .summary import summary
from .tensor import Tensor

__version__ = "0.1.0"

float32 = "float32"
float64 = "float64"
int64 = "int64"
