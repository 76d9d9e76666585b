"""``minicnn.nn``: layers, containers and losses with PyTorch's names, arguments and defaults.

    Module, Parameter                      the base class and the learnable tensor
    Sequential, ModuleList, ModuleDict     containers (names like features.0.weight)
    Conv2d                                 convolution                     (conv.py)
    MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d             (pooling.py)
    Linear, Identity, Flatten                                              (linear.py, flatten.py)
    ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax                    (activation.py)
    Dropout, BatchNorm1d, BatchNorm2d                                      (dropout.py, normalization.py)
    CrossEntropyLoss, NLLLoss, MSELoss, SmoothL1Loss, BCEWithLogitsLoss    (loss.py)

``nn.functional`` holds the same operations as plain functions (where the math lives);
``nn.init`` holds the weight initialisers.
"""
from __future__ import annotations

from . import functional, init
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss, SmoothL1Loss
from .module import IncompatibleKeys, Module, RemovableHandle
from .normalization import BatchNorm1d, BatchNorm2d
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "functional", "init",
    "Module", "Parameter", "IncompatibleKeys", "RemovableHandle",
    "Sequential", "ModuleList", "ModuleDict",
    "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "Linear", "Identity", "Flatten",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Dropout", "BatchNorm1d", "BatchNorm2d",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "SmoothL1Loss", "BCEWithLogitsLoss",
]
