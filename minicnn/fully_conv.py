"""Fully-convolutional networks: fully-connected layers rewritten as convolutions.

A ``Linear(C*h*w -> F)`` that follows a (C, h, w) feature map computes, for each output
unit f, a dot product of its weight row with the whole map.  That is exactly a convolution
with F filters of size C x h x w and no padding, evaluated at the single position where the
filter covers the map:

    W_linear: (F, C*h*w)   ->   W_conv = W_linear.reshape(F, C, h, w)

(the reshape is valid because minicnn, like PyTorch, flattens maps in (C, h, w) order).  The
next Linear layers see a 1x1 "map", so they become 1x1 convolutions.  The converted network
gives the same logits on an input of the training size, and on a larger input slides the
whole classifier over it, returning a **class map**: cell (i, j) is the original network
applied to the crop starting at (i * S, j * S), where S is the network's total stride.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import nn
from .creation import zeros
from .grad_mode import no_grad

__all__ = ["to_fully_convolutional", "layers_in_order", "total_stride"]


def layers_in_order(model: nn.Module) -> list[nn.Module]:
    """The leaf layers of a Sequential model, or of a VGG-style model (features, avgpool,
    classifier with a flatten between them), in the order forward applies them."""
    if isinstance(model, nn.Sequential):
        out: list[nn.Module] = []
        for layer in model:
            out.extend(layers_in_order(layer))
        return out
    if all(hasattr(model, a) for a in ("features", "classifier")):
        out = layers_in_order(model.features)
        if getattr(model, "avgpool", None) is not None:
            out.append(model.avgpool)
        return out + [nn.Flatten()] + layers_in_order(model.classifier)
    return [model]


def total_stride(layers: Sequence[nn.Module]) -> int:
    """Product of the strides of the conv and pooling layers (how far one output cell moves)."""
    s = 1
    for layer in layers:
        stride = getattr(layer, "stride", None)
        if stride is not None:
            s *= stride[0] if isinstance(stride, (tuple, list)) else int(stride)
    return s


def to_fully_convolutional(model: nn.Module, input_shape: Sequence[int]) -> nn.Sequential:
    """Convert a classifier (convs, then Flatten, then Linear layers) into convolutions only.

    Args:
        model: a Sequential or VGG-style model.
        input_shape: the (C, H, W) size the classifier was trained on; it fixes the size
            (C, h, w) of the map entering the first Linear.

    Returns:
        an ``nn.Sequential`` whose convolutional layers are the model's own (shared, not
        copied) and whose fully-connected layers are new convolutions holding copies of
        the Linear weights.  An ``AdaptiveAvgPool2d`` that is an identity at the training size (VGG's 7x7 pool
        on a 7x7 map) is dropped, so larger inputs keep their larger maps.
    """
    layers = layers_in_order(model)
    flat = next((i for i, layer in enumerate(layers) if isinstance(layer, nn.Flatten)), None)
    if flat is None:
        raise ValueError("to_fully_convolutional: the model has no Flatten between its convolutional "
                         "part and its fully-connected part")
    body = nn.Sequential(*layers[:flat])
    with no_grad():
        c, h, w = body.eval()(zeros(1, *input_shape)).shape[1:]
    new_body: list[nn.Module] = []
    for layer in layers[:flat]:
        if isinstance(layer, nn.AdaptiveAvgPool2d):
            size = layer.output_size if isinstance(layer.output_size, tuple) else (layer.output_size,) * 2
            if tuple(size) != (h, w):
                raise ValueError(f"to_fully_convolutional: {layer} changes the {h}x{w} training-size map; "
                                 "only an identity adaptive pool can be dropped")
            continue
        new_body.append(layer)
    head: list[nn.Module] = []
    in_shape = (c, h, w)
    for layer in layers[flat + 1:]:
        if isinstance(layer, nn.Linear):
            ci, kh, kw = in_shape
            if layer.in_features != ci * kh * kw:
                raise ValueError(f"to_fully_convolutional: {layer} expects {layer.in_features} inputs but the "
                                 f"map entering it is {ci}x{kh}x{kw} = {ci * kh * kw}")
            conv = nn.Conv2d(ci, layer.out_features, kernel_size=(kh, kw), bias=layer.bias is not None)
            conv.weight.data = np.ascontiguousarray(layer.weight.data.reshape(layer.out_features, ci, kh, kw))
            if layer.bias is not None:
                conv.bias.data = layer.bias.data.copy()
            head.append(conv)
            in_shape = (layer.out_features, 1, 1)
        elif isinstance(layer, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.Identity)):
            head.append(layer)
        else:
            raise ValueError(f"to_fully_convolutional: cannot convert {type(layer).__name__} after the Flatten")
    return nn.Sequential(*new_body, *head)
