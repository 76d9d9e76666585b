"""VGG (Simonyan & Zisserman, 2014), built exactly like torchvision's so its weights load.

"Very Deep Convolutional Networks for Large-Scale Image Recognition", arXiv:1409.1556.
The idea: only 3x3 convolutions (stride 1, padding 1, so H and W stay the same) and 2x2 max
pools (which halve H and W), stacked deep.  Two 3x3 layers see a 5x5 window, three see 7x7,
with fewer weights (3 * 9C^2 = 27C^2 instead of 49C^2) and more nonlinearities.

Notation:
    N, H, W   batch size and input image size (224 x 224 for ImageNet)
    an int    in a config: a 3x3 convolution with that many output channels (+ BatchNorm) + ReLU
    "M"       in a config: 2x2 max pooling, stride 2 (H, W -> H/2, W/2)

Shapes through VGG-16 (config "D"), N x 3 x 224 x 224 in::

    features    64, 64, M      -> N x  64 x 112 x 112
                128, 128, M    -> N x 128 x  56 x  56
                256 x 3, M     -> N x 256 x  28 x  28
                512 x 3, M     -> N x 512 x  14 x  14
                512 x 3, M     -> N x 512 x   7 x   7     (H/32, W/32)
    avgpool     adaptive 7x7   -> N x 512 x   7 x   7     (any H, W >= 32 gives 7 x 7)
    flatten                    -> N x 25088               (c, h, w order)
    classifier  Linear 25088 -> 4096, ReLU, Dropout, Linear 4096 -> 4096, ReLU, Dropout,
                Linear 4096 -> num_classes               -> N x num_classes (logits)

The module names (``features``, ``avgpool``, ``classifier``) and layer indices are
torchvision's, so ``state_dict()`` keys are too: ``features.0.weight`` ... ``classifier.6.bias``.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .. import nn
from ..random import get_rng
from ..tensor import Tensor
from .preprocessing import CAFFE, TORCHVISION, Preprocessing
from .weights import WEIGHT_SETS, WeightSet, fetch, get_weight_set, imagenet_classes

if TYPE_CHECKING:
    from ..io.mapping import LoadReport

__all__ = ["VGG", "CONFIGS", "make_layers", "vgg11", "vgg13", "vgg16", "vgg19",
           "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]

Weights = Union[str, "os.PathLike[str]", None]
Rng = Union[np.random.Generator, int, None]   # see minicnn.random.get_rng

# The four configurations of the paper's Table 1: A = 11, B = 13, D = 16, E = 19 weight layers.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}
_ARCH_CONFIG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def make_layers(config: list[int | str], batch_norm: bool = False) -> nn.Sequential:
    """The convolutional base: per int Conv2d(3x3, padding 1) [+ BatchNorm2d] + ReLU, per "M"
    MaxPool2d(2, 2)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU())
        in_channels = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``features`` (convolutional base), then ``avgpool`` and ``classifier``.

    Args:
        features: the convolutional base, e.g. ``make_layers(CONFIGS["D"])``; must end with
            512 channels.
        num_classes: outputs of the last Linear layer.
        include_top: False keeps only ``features``: the model maps (N, 3, H, W) to the
            feature map (N, 512, H/32, W/32), for transfer learning.
        dropout: drop probability of the two Dropout layers.
        init_weights: apply torchvision's initialisation (see ``reset_parameters``).
        rng: generator for that initialisation (default: minicnn's default generator).

    Shape:
        x: (N, 3, H, W) float32, preprocessed (see ``preprocess``), H, W >= 32
        -> (N, num_classes) logits, or (N, 512, H/32, W/32) with ``include_top=False``.

    Attributes:
        preprocessing: the ``Preprocessing`` its weights expect (torchvision's by default;
            Caffe's after loading Keras weights).
        class_names: the output classes' names (ImageNet's after loading 1000-class
            weights), or None.
        weights_name: which weights were loaded ("IMAGENET1K_V1", a file path) or None.
        load_report: the ``minicnn.io.mapping.LoadReport`` of that load, or None.
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, include_top: bool = True,
                 dropout: float = 0.5, init_weights: bool = True, rng: Rng = None) -> None:
        super().__init__()
        convs = [m for m in features.modules() if isinstance(m, nn.Conv2d)]
        if include_top and (not convs or convs[-1].out_channels != 512):
            found = convs[-1].out_channels if convs else "no convolution"
            raise ValueError(f"VGG: the classifier takes 512 x 7 x 7 inputs, so features must "
                             f"end with a 512-channel Conv2d (found {found}); end the config "
                             "with 512, or build with include_top=False")
        self.features = features
        self.include_top = include_top
        if include_top:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(p=dropout),
                nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes),
            )
        self.preprocessing: Preprocessing = TORCHVISION
        self.class_names: list[str] | None = None
        self.weights_name: str | None = None
        self.load_report: LoadReport | None = None
        if init_weights:
            self.reset_parameters(rng)

    def reset_parameters(self, rng: Rng = None) -> None:
        """torchvision's VGG initialisation.

        Conv2d: He normal with fan_out = C_out * 3 * 3, std = sqrt(2 / fan_out), bias 0.
        BatchNorm2d: weight 1, bias 0.   Linear: N(0, 0.01^2), bias 0.
        """
        rng = get_rng(rng)               # one generator for all layers (an int seeds it once)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", rng=rng)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, rng=rng)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)                       # (N, 512, H/32, W/32)
        if not self.include_top:
            return x
        x = self.avgpool(x)                        # (N, 512, 7, 7)
        x = x.flatten(1)                           # (N, 512*7*7), (c, h, w) order
        return self.classifier(x)                  # (N, num_classes)

    def preprocess(self, images: Any) -> Tensor:
        """Prepare images the way this model's weights expect (``self.preprocessing``).

        Args:
            images: uint8 (N, H, W, 3) RGB pixels 0..255 (e.g. ``np.asarray(PIL image)``), or
                float (N, 3, H, W) RGB in [0, 1].  Resize / crop beforehand (224 x 224).

        Returns:
            float32 Tensor (N, 3, H, W) for ``model(...)``.
        """
        return self.preprocessing(images)

    def decode_predictions(self, logits: Any, top: int = 5) -> list[list[tuple[int, str, float]]]:
        """The ``top`` most probable classes per image: ``[(index, name, probability), ...]``.

        Probabilities are the softmax of the logits:
        p_k = exp(z_k - max z) / sum_j exp(z_j - max z).
        """
        z = logits.numpy() if isinstance(logits, Tensor) else np.asarray(logits)
        if z.ndim != 2:
            raise ValueError(f"decode_predictions: expected logits of shape (N, num_classes), "
                             f"got {z.shape}")
        z = z.astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)                              # (N, num_classes)
        names = self.class_names or [str(k) for k in range(z.shape[1])]
        best = np.argsort(-p, axis=1, kind="stable")[:, :top]          # (N, top)
        return [[(int(k), names[k], float(p[n, k])) for k in row] for n, row in enumerate(best)]


def _vgg(arch: str, batch_norm: bool, weights: Weights, num_classes: int, include_top: bool,
         dropout: float, progress: bool, rng: Rng) -> VGG:
    """Build ``arch`` (+ "_bn"), then load ``weights``: a named set (downloaded) or a file."""
    name = arch + ("_bn" if batch_norm else "")
    weight_set: WeightSet | None = None
    path = None
    if weights is not None:
        weight_set = get_weight_set(name, os.fspath(weights))
        if weight_set is None:
            path = os.fspath(weights)
            if not os.path.isfile(path):
                raise ValueError(
                    f"{name}(weights={path!r}): no such weight set and no such file. Named sets "
                    f"for {name}: {', '.join(map(repr, WEIGHT_SETS[name]))} (alias 'imagenet' "
                    "for 'IMAGENET1K_V1'); or pass the path of a .pth / .h5 / .safetensors / "
                    ".onnx / .npz file")
        elif include_top and num_classes != weight_set.num_classes:
            raise ValueError(
                f"{name}(weights={weights!r}, num_classes={num_classes}): these weights have "
                f"{weight_set.num_classes} classes. Load them with num_classes="
                f"{weight_set.num_classes} and replace the last layer, e.g. "
                f"model.classifier[6] = nn.Linear(4096, {num_classes}); or use include_top=False")
    model = VGG(make_layers(CONFIGS[_ARCH_CONFIG[arch]], batch_norm), num_classes, include_top,
                dropout, init_weights=weights is None, rng=rng)
    if weights is None:
        return model

    from ..io import read_weights
    from ..io.mapping import load_into

    layout = "auto"
    if weight_set is not None:
        path = fetch(weight_set, include_top, progress)
        layout = weight_set.source_layout
    weight_file = read_weights(path)
    report = load_into(model, weight_file, source_layout=layout)
    model.load_report = report
    model.weights_name = weight_set.name if weight_set is not None else os.fspath(path)
    converted = (weight_file.meta.get("manifest") or {}).get("preprocessing", {}).get("name")
    if weight_set is not None:
        model.preprocessing = weight_set.preprocessing
    elif converted in ("caffe", "torchvision"):  # a file written by `minicnn convert`
        model.preprocessing = CAFFE if converted == "caffe" else TORCHVISION
    elif report.layout == "keras":
        model.preprocessing = CAFFE          # Keras VGG files were trained the Caffe way
    if include_top and num_classes == 1000:
        model.class_names = list(imagenet_classes())
    return model


def vgg16(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
          dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-16 (configuration "D": 13 convolutions + 3 Linear layers, 138,357,544 parameters).

    Args:
        weights: None (random, torchvision's initialisation); a named set: "imagenet" /
            "IMAGENET1K_V1" (torchvision's file) or "keras" (Keras Applications), downloaded
            once into $MINICNN_HOME/models and hash-checked; or the path of a weight file in
            any format ``minicnn.io`` reads (PyTorch, Keras .h5, safetensors, ONNX, .npz).
        num_classes: classifier outputs (must be 1000 with named weights and a top).
        include_top: False builds only ``features``: (N, 3, H, W) -> (N, 512, H/32, W/32);
            full weight files then load without their classifier.
        dropout: probability of the classifier's two Dropout layers.
        progress: show a download progress bar.
        rng: generator for the random initialisation.

    Example:
        >>> model = vgg16(weights="imagenet").eval()
        >>> logits = model(model.preprocess(images))       # images: uint8 (N, 224, 224, 3)
        >>> model.decode_predictions(logits, top=1)
    """
    return _vgg("vgg16", False, weights, num_classes, include_top, dropout, progress, rng)


def vgg11(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
          dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-11 (configuration "A": 8 convolutions + 3 Linear layers).  Arguments: see ``vgg16``."""
    return _vgg("vgg11", False, weights, num_classes, include_top, dropout, progress, rng)


def vgg13(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
          dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-13 (configuration "B": 10 convolutions + 3 Linear layers).  Arguments: see ``vgg16``."""
    return _vgg("vgg13", False, weights, num_classes, include_top, dropout, progress, rng)


def vgg19(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
          dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-19 (configuration "E": 16 convolutions + 3 Linear layers).  Arguments: see ``vgg16``."""
    return _vgg("vgg19", False, weights, num_classes, include_top, dropout, progress, rng)


def vgg11_bn(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
             dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-11 with BatchNorm2d after every convolution.  Arguments: see ``vgg16`` (no "keras")."""
    return _vgg("vgg11", True, weights, num_classes, include_top, dropout, progress, rng)


def vgg13_bn(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
             dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-13 with BatchNorm2d after every convolution.  Arguments: see ``vgg16`` (no "keras")."""
    return _vgg("vgg13", True, weights, num_classes, include_top, dropout, progress, rng)


def vgg16_bn(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
             dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-16 with BatchNorm2d after every convolution.  Arguments: see ``vgg16`` (no "keras")."""
    return _vgg("vgg16", True, weights, num_classes, include_top, dropout, progress, rng)


def vgg19_bn(weights: Weights = None, num_classes: int = 1000, include_top: bool = True,
             dropout: float = 0.5, progress: bool = True, *, rng: Rng = None) -> VGG:
    """VGG-19 with BatchNorm2d after every convolution.  Arguments: see ``vgg16`` (no "keras")."""
    return _vgg("vgg19", True, weights, num_classes, include_top, dropout, progress, rng)
