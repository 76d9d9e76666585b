"""Ready-made networks with pretrained weights: the VGG family.

    >>> from minicnn.models import vgg16
    >>> model = vgg16(weights="imagenet").eval()          # torchvision's IMAGENET1K_V1
    >>> probs = model.decode_predictions(model(model.preprocess(images)))

    vgg.py            VGG, vgg11 ... vgg19_bn (torchvision's layer names and init)
    weights.py        named weight sets: URLs, hashes, preprocessing, class names
    preprocessing.py  the torchvision and Caffe (Keras) input recipes

Loading a file whatever its format and naming is ``minicnn.io.mapping.load_into``.
"""
from __future__ import annotations

from .preprocessing import CAFFE, TORCHVISION, Preprocessing
from .vgg import (
    CONFIGS, VGG, make_layers, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn,
)
from .weights import (
    WEIGHT_SETS, RemoteFile, WeightSet, fetch, get_weight_set, imagenet_classes, list_weight_sets,
)

__all__ = [
    "VGG", "CONFIGS", "make_layers",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "Preprocessing", "TORCHVISION", "CAFFE",
    "WeightSet", "RemoteFile", "WEIGHT_SETS", "get_weight_set", "list_weight_sets", "fetch",
    "imagenet_classes",
]
