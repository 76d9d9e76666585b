"""Fully-convolutional networks: fully-connected layers rewritten as convolutions.

A ``Linear(C*h*w -> F)`` that follows a (C, h, w) feature map computes, for each output
unit f, a dot product of its weight row with the whole map.  That is exactly a convolution
with F filters of size C x h x w and no padding, evaluated at the single position where the
filter covers the map:

    W_linear: (F, C*h*w)   ->   W_conv = W_linear.reshape(F, C, h, w)

(the reshape is valid because minicnn, like PyTorch, flattens maps in (C, h, w) order).  The
next Linear layers see a 1x1 "map", so they become 1x1 convolutions.  The converted network
gives the same logits on an input of the training size, and on a larger input slides the
whole classifier over it, returning a **class map** (N, K, OH, OW).

Notation:
    (C, H, W)     the training input size;  (C, h, w) the map entering the first Linear
    S = (SH, SW)  the total stride: the product of the strides of every conv and pooling layer
    K             the number of classes

Cell (i, j) of the class map is computed from the crop of the input starting at
(i * SH, j * SW) of the training size H x W.  It *equals* the original network applied to
that crop when the convolutions use no padding.  With padding (VGG's 3x3 convs have
padding 1) the crop's border pixels see their real neighbours in the large image where the
original network saw zeros, so cells differ a little near the edges of their receptive
fields -- the sliding-window view is then an (excellent) approximation, as in OverFeat.

An ``AdaptiveAvgPool2d`` (VGG's ``avgpool``) maps any input to a fixed size, which would
defeat the point; at the training size it averages fixed k x k windows, so it is replaced
by ``AvgPool2d(k, stride=k)`` (and dropped when k = 1, VGG's 7x7 pool on a 7x7 map).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import nn
from .creation import zeros
from .grad_mode import no_grad

__all__ = ["to_fully_convolutional", "layers_in_order", "total_stride"]


def layers_in_order(model: nn.Module) -> list[nn.Module]:
    """The leaf layers of a Sequential model, or of a VGG-style model (``features``, optional
    ``avgpool``, ``classifier``, with a flatten between them), in the order forward applies them.

    The layers are the model's own objects (not copies).
    """
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


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def total_stride(layers: nn.Module | Sequence[nn.Module]) -> tuple[int, int]:
    """(SH, SW): the product of the strides of the conv and pooling layers.

    One step of an output cell moves its input window by this many pixels.
    """
    if isinstance(layers, nn.Module):
        layers = layers_in_order(layers)
    sh, sw = 1, 1
    for layer in layers:
        stride = getattr(layer, "stride", None)
        if stride is not None:
            a, b = _pair(stride)
            sh, sw = sh * a, sw * b
    return sh, sw


def _fixed_pool(layer: nn.Module, h: int, w: int) -> nn.Module | None:
    """The fixed-window pool equal to adaptive pool ``layer`` on an (h, w) map; None if identity."""
    size = layer.output_size
    oh, ow = size if isinstance(size, (tuple, list)) else (size, size)
    oh, ow = oh or h, ow or w                           # None keeps that input size
    if h % oh or w % ow:
        raise ValueError(f"to_fully_convolutional: {layer} turns the {h}x{w} training-size map into "
                         f"{oh}x{ow} with windows of unequal sizes ({h}/{oh}, {w}/{ow} are not whole "
                         f"numbers), which no fixed pooling layer reproduces; use an input size whose "
                         f"feature map is a multiple of {oh}x{ow}")
    k = (h // oh, w // ow)
    if k == (1, 1):
        return None                                     # an identity at the training size
    pool = nn.AvgPool2d if isinstance(layer, nn.AdaptiveAvgPool2d) else nn.MaxPool2d
    return pool(kernel_size=k, stride=k)


def _linear_as_conv(layer: nn.Linear, c: int, h: int, w: int) -> nn.Conv2d:
    """``Linear(c*h*w -> F)`` as ``Conv2d(c -> F, kernel h x w)`` holding the same numbers."""
    if layer.in_features != c * h * w:
        raise ValueError(f"to_fully_convolutional: {layer} expects {layer.in_features} inputs but the "
                         f"map entering it is {c}x{h}x{w} = {c * h * w}")
    conv = nn.Conv2d(c, layer.out_features, kernel_size=(h, w), bias=layer.bias is not None)
    # (F, C*h*w) -> (F, C, h, w): row f, read in (c, h, w) order, is filter f
    conv.weight.data = np.ascontiguousarray(layer.weight.data.reshape(layer.out_features, c, h, w))
    if layer.bias is not None:
        conv.bias.data = layer.bias.data.copy()
    return conv


def to_fully_convolutional(model: nn.Module, input_shape: Sequence[int]) -> nn.Sequential:
    """Convert a classifier (convs, then a flatten, then Linear layers) into convolutions only.

    Args:
        model: a Sequential (``..., nn.Flatten(), nn.Linear, ...``) or a VGG-style model
            with ``features``, ``avgpool`` and ``classifier``.
        input_shape: the (C, H, W) size the classifier was trained on; it fixes the size
            (C, h, w) of the map entering the first Linear.

    Returns:
        An ``nn.Sequential`` whose convolution and pooling layers are the model's own (shared,
        not copied), followed by new convolutions holding copies of the Linear weights.

    Shape:
        (N, C, H, W) -> (N, K, 1, 1) at the training size;
        (N, C, H', W') -> (N, K, OH, OW) on a larger input, OH = (H' - H) // SH + 1 when the
        sizes divide evenly (``total_stride(result)`` gives (SH, SW)).

    Example:
        >>> fcn = to_fully_convolutional(model, (1, 28, 28))
        >>> fcn(x28).reshape(N, 10)        # the same logits as model(x28)
        >>> fcn(x56).shape                 # a class map, one cell per 28x28 crop
        (N, 10, 8, 8)
    """
    layers = layers_in_order(model)
    flat = next((i for i, layer in enumerate(layers) if isinstance(layer, nn.Flatten)), None)
    if flat is None:
        raise ValueError("to_fully_convolutional: the model has no Flatten between its convolutional "
                         "part and its fully-connected part")
    # Walk the convolutional part once at the training size (eval mode, restored afterwards:
    # BatchNorm in train mode would otherwise fold these zeros into its running statistics).
    modes = [(m, m.training) for layer in layers for m in layer.modules()]
    for m, _ in modes:
        m.training = False
    body: list[nn.Module] = []
    try:
        with no_grad():
            x = zeros(1, *input_shape)                                    # (1, C, H, W)
            for layer in layers[:flat]:
                if isinstance(layer, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                    layer = _fixed_pool(layer, *x.shape[2:])
                    if layer is None:
                        continue
                body.append(layer)
                x = layer(x)
    finally:
        for m, mode in modes:
            m.training = mode
    c, h, w = x.shape[1:]
    head: list[nn.Module] = []
    for layer in layers[flat + 1:]:
        if isinstance(layer, nn.Linear):
            head.append(_linear_as_conv(layer, c, h, w))
            c, h, w = layer.out_features, 1, 1                            # the next Linear sees a 1x1 map
        elif isinstance(layer, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.Identity)):
            head.append(layer)                                            # elementwise: same on a map
        elif isinstance(layer, (nn.Softmax, nn.LogSoftmax)) and layer.dim == 1:
            head.append(layer)                                            # over classes, per cell
        else:
            raise ValueError(f"to_fully_convolutional: cannot convert {type(layer).__name__} after the "
                             "Flatten; only Linear layers and elementwise activations/Dropout can be")
    return nn.Sequential(*body, *head)
