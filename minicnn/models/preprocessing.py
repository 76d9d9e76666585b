"""Turn images into the exact input a pretrained network was trained on.

A pretrained network only works on inputs prepared the way its training images were.
Two recipes cover the VGG weights people download:

=============  =========  ==========  ==========================================  ==============
recipe         channels   pixel unit  per-channel shift and scale                  used by
=============  =========  ==========  ==========================================  ==============
torchvision    R, G, B    [0, 1]      (x - (0.485, 0.456, 0.406)) / (0.229,        torchvision
                                      0.224, 0.225)  (ImageNet mean / std)         IMAGENET1K_V1
caffe          B, G, R    [0, 255]    x - (103.939, 116.779, 123.68)  (no scale)   Keras
                                                                                   applications
=============  =========  ==========  ==========================================  ==============

Feed a network the other recipe and it still runs -- and quietly gets most images wrong:
the Caffe means are in BGR order on a 0..255 scale, 255x larger than torchvision's.

Notation:
    N, H, W   batch size, image height, image width
    x         an image in [0, 1], RGB, channels first: (N, 3, H, W) float32

Resizing is not done here: torchvision resizes the short side to 256 and center-crops
224x224; Keras resizes straight to 224x224.  Any H, W >= 32 works for VGG's convolutional
base; the classifier of a VGG adapts to any size through its adaptive 7x7 average pool.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tensor import Tensor

__all__ = ["Preprocessing", "TORCHVISION", "CAFFE", "as_unit_rgb"]


@dataclass(frozen=True)
class Preprocessing:
    """One recipe: ``out[:, k] = (scale * x[:, order[k]] - mean[k]) / std[k]``.

    Attributes:
        name: ``"torchvision"`` or ``"caffe"`` (shown in messages and reprs).
        channel_order: ``"RGB"`` or ``"BGR"``: the channel order the network expects.
        scale: 1.0 when the network expects pixels in [0, 1], 255.0 for [0, 255].
        mean, std: per channel, in ``channel_order`` and in the scaled unit.
    """

    name: str
    channel_order: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, images: Any) -> Tensor:
        """Prepare a batch for the network.

        Args:
            images: either
                * ``uint8`` of shape (N, H, W, 3) or (H, W, 3): RGB pixels 0..255, channels
                  last -- what ``np.asarray(PIL.Image.open(path).convert("RGB"))`` gives; or
                * float of shape (N, 3, H, W) or (3, H, W): RGB in [0, 1], channels first --
                  what minicnn's datasets and ``ToTensor``-style loaders give.
                A ``Tensor`` is treated like its array.

        Returns:
            float32 Tensor (N, 3, H, W) ready for ``model(...)``.

        Raises:
            ValueError: for any other shape or dtype, or floats outside [0, 1] (e.g. a
                0..255 float image: divide it by 255 or pass it as uint8).
        """
        x = as_unit_rgb(images)                                      # (N, 3, H, W) RGB [0, 1]
        if self.channel_order == "BGR":
            x = x[:, ::-1]                                           # RGB -> BGR
        scale = np.float32(self.scale)                               # float32 scalars keep
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, 3, 1, 1)  # float32 float32
        std = np.asarray(self.std, dtype=np.float32).reshape(1, 3, 1, 1)
        return Tensor(np.ascontiguousarray((x * scale - mean) / std))

    def __repr__(self) -> str:
        return (f"Preprocessing({self.name!r}: {self.channel_order}, pixels in "
                f"[0, {self.scale:g}], mean={self.mean}, std={self.std})")


# torchvision's ImageNet statistics (the mean / std of the training set's RGB pixels).
TORCHVISION = Preprocessing("torchvision", "RGB", 1.0,
                            mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

# The original Caffe VGG recipe, kept by Keras' preprocess_input(mode="caffe"): BGR,
# 0..255, subtract the ImageNet mean pixel (B, G, R), no division.
CAFFE = Preprocessing("caffe", "BGR", 255.0,
                      mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0))


def as_unit_rgb(images: Any) -> np.ndarray:
    """uint8 (N, H, W, 3) / float (N, 3, H, W) RGB images -> float32 (N, 3, H, W) in [0, 1].

    Single images (3 dimensions) get a batch axis of 1.  See ``Preprocessing.__call__``.
    """
    x = images.numpy() if isinstance(images, Tensor) else np.asarray(images)
    if x.ndim == 3:
        x = x[None]                                                  # add N = 1
    if x.ndim != 4:
        raise ValueError(f"preprocess: expected images of shape (N, H, W, 3) uint8 or "
                         f"(N, 3, H, W) float in [0, 1], got shape {x.shape}")
    if x.dtype == np.uint8:
        if x.shape[-1] != 3:
            raise ValueError(
                f"preprocess: uint8 images must be channels-last RGB (N, H, W, 3), got shape "
                f"{x.shape}. For channels-first images pass floats in [0, 1]: x / 255")
        return x.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)  # (N, 3, H, W)
    if x.dtype.kind != "f":
        raise ValueError(f"preprocess: expected uint8 pixels 0..255 or floats in [0, 1], got "
                         f"dtype {x.dtype}. Convert first, e.g. images.astype(np.uint8)")
    if x.shape[1] != 3:
        raise ValueError(
            f"preprocess: float images must be channels-first RGB (N, 3, H, W), got shape "
            f"{x.shape}. A channels-last float image converts with x.transpose(0, 3, 1, 2)")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(
            f"preprocess: float images must be in [0, 1], got values in [{lo:g}, {hi:g}]. "
            "For 0..255 pixels pass uint8 (N, H, W, 3) or divide by 255 first")
    return x.astype(np.float32, copy=False)
