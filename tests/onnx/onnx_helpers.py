"""Shared helpers for the ONNX tests: onnxruntime as the oracle, small VGG-style torch models.

(A plain module, not conftest.py: test files import it by its unique name, which does not
collide with other folders' conftest modules.)

Every ONNX fixture is made at test time: by ``torch.onnx.export`` (the classic TorchScript
exporter with ``dynamo=False`` and the default dynamo exporter) or by ``onnx.helper``.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def relative_error(ours: Any, reference: Any) -> float:
    """max |ours - reference| / max |reference|: the issue's "relative error" for whole outputs."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape, f"shape {ours.shape} != reference {reference.shape}"
    return float(np.abs(ours - reference).max() / max(np.abs(reference).max(), 1e-30))


def run_ort(model: Any, *inputs: np.ndarray) -> list[np.ndarray]:
    """Run a path or ModelProto in onnxruntime; inputs go to the graph inputs in order."""
    ort = pytest.importorskip("onnxruntime")
    source = str(model) if isinstance(model, (str, Path)) else model.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def torch_vgg_style(in_channels: int = 3, num_classes: int = 10, batch_norm: bool = True,
                    pool_size: int = 2, seed: int = 0):
    """A small VGG: two conv blocks (with BatchNorm whose running stats are not trivial),
    AdaptiveAvgPool2d, flatten, and a custom head Linear-ReLU-Dropout-Linear(num_classes)."""
    import torch
    from torch import nn

    def block(c_in: int, c_out: int) -> list:
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        return layers + [nn.ReLU(inplace=True), nn.MaxPool2d(2, 2)]

    class SmallVGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*block(in_channels, 8), *block(8, 16))
            self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
            self.classifier = nn.Sequential(
                nn.Linear(16 * pool_size * pool_size, 32), nn.ReLU(True), nn.Dropout(0.5),
                nn.Linear(32, num_classes))

        def forward(self, x):
            x = self.avgpool(self.features(x))
            return self.classifier(x.view(x.size(0), -1))   # the Shape/Gather/Concat chain

    torch.manual_seed(seed)
    model = SmallVGG()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def torch_to_onnx(model: Any, x: Any, path: Path, dynamo: bool = False, **kwargs: Any) -> Path:
    """``torch.onnx.export`` with the TorchScript exporter (dynamo=False) or the dynamo one."""
    import torch

    if dynamo:
        pytest.importorskip("onnxscript")
        kwargs.setdefault("verbose", False)
    else:
        kwargs.setdefault("dynamic_axes", {"input": {0: "N"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated
        torch.onnx.export(model, (x,), str(path), input_names=["input"], dynamo=dynamo, **kwargs)
    return path
