"""Importing ONNX files written by ``torch.onnx.export``: outputs, names, fine-tuning."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.data import load_digits
from minicnn.onnx import OnnxModel, load_model
from minicnn.optim import SGD

from onnx_helpers import relative_error, run_ort, torch_to_onnx, torch_vgg_style

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

# name -> torch.onnx.export arguments
EXPORTERS = {
    "torchscript": dict(dynamo=False),                               # BatchNorm folded into Conv
    "torchscript-unfolded": dict(dynamo=False, do_constant_folding=False),  # BatchNormalization kept
    "dynamo": dict(dynamo=True),
}


@pytest.mark.parametrize("exporter", list(EXPORTERS))
def test_vgg_style_export_matches_onnxruntime_and_torch(tmp_path, exporter):
    model = torch_vgg_style(in_channels=3, pool_size=2)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    path = torch_to_onnx(model, x, tmp_path / "vgg.onnx", **EXPORTERS[exporter])
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    if exporter == "torchscript":
        assert {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"} <= ops   # x.view(x.size(0), -1)
    if exporter == "torchscript-unfolded":
        assert "BatchNormalization" in ops

    imported = load_model(path)
    ours = imported(mc.Tensor(x.numpy())).numpy()
    assert ours.shape == (2, 10) and ours.dtype == np.float32
    assert relative_error(ours, run_ort(path, x.numpy())[0]) < 1e-4
    with torch.no_grad():
        assert relative_error(ours, model(x).numpy()) < 1e-4


def test_batch_size_is_free_when_the_export_says_so(tmp_path):
    model = torch_vgg_style()
    path = torch_to_onnx(model, torch.zeros(2, 3, 32, 32), tmp_path / "vgg.onnx")
    imported = load_model(path)
    assert imported.input_specs[0].shape == ("N", 3, 32, 32)
    x = np.random.default_rng(2).standard_normal((5, 3, 32, 32)).astype(np.float32)
    assert relative_error(imported(x).numpy(), run_ort(path, x)[0]) < 1e-4
    with pytest.raises(ValueError, match=r"must have shape \(N, 3, 32, 32\).*got \(5, 3, 28, 28\)"):
        imported(x[:, :, :28, :28])


def test_weights_keep_their_pytorch_names_and_values(tmp_path):
    model = torch_vgg_style()
    path = torch_to_onnx(model, torch.zeros(2, 3, 32, 32), tmp_path / "vgg.onnx", do_constant_folding=False)
    imported = load_model(path)
    expected = {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    state = imported.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)
    trainable = dict(imported.named_parameters())
    assert "features.0.weight" in trainable and "classifier.3.bias" in trainable
    assert "features.1.running_mean" not in trainable                     # a buffer, not trained
    assert isinstance(imported.features[0].weight, mc.nn.Parameter)       # dotted names -> sub-modules
    # the integer constants of the flatten chain stay constants, outside the state dict
    assert all(v.dtype == np.float32 for v in state.values())


def test_custom_head_fine_tunes_on_digits(tmp_path):
    """The issue's acceptance test: a VGG-style model with a 10-class head, BatchNorm and
    Dropout imports, matches onnxruntime, and fine-tunes (gradients reach the first conv)."""
    images, labels = load_digits("train")
    x, y = images[:32], labels[:32]                                   # (32, 1, 28, 28), (32,)
    model = torch_vgg_style(in_channels=1, num_classes=10, pool_size=7)
    example = torch.from_numpy(x[:2])
    inference = torch_to_onnx(model, example, tmp_path / "digits.onnx", do_constant_folding=False)
    # An evaluation-mode export drops Dropout from the graph; a training-mode export keeps it
    # (and BatchNormalization(training_mode=1)).  Its trace runs BatchNorm in training mode,
    # which moves the running statistics: it gets a copy, and the file the original weights.
    training_graph = torch_to_onnx(copy.deepcopy(model), example, tmp_path / "digits_train.onnx",
                                   do_constant_folding=False, training=torch.onnx.TrainingMode.TRAINING)
    proto = onnx.load(str(training_graph))
    state = model.state_dict()
    for tensor in proto.graph.initializer:
        tensor.CopyFrom(onnx.numpy_helper.from_array(state[tensor.name].numpy(), tensor.name))
    onnx.save(proto, str(training_graph))
    assert "Dropout" in {n.op_type for n in proto.graph.node}
    reference = run_ort(inference, x)[0]
    assert relative_error(load_model(inference)(x).numpy(), reference) < 1e-4
    imported = load_model(training_graph)
    assert isinstance(imported, OnnxModel) and not imported.training  # imported for inference
    assert relative_error(imported(x).numpy(), reference) < 1e-4

    # gradients in evaluation mode equal PyTorch's
    loss = F.cross_entropy(imported(x[:8]), mc.Tensor(y[:8]))
    loss.backward()
    torch_loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x[:8])), torch.from_numpy(y[:8]))
    torch_loss.backward()
    assert abs(loss.item() - torch_loss.item()) < 1e-4 * abs(torch_loss.item())
    first_conv = imported.features[0].weight
    assert relative_error(first_conv.grad.numpy(), model.features[0].weight.grad.numpy()) < 1e-4

    # training mode: Dropout drops, BatchNorm uses batch statistics and updates its running ones
    imported.train()
    running_mean = imported.features[1].running_mean.numpy().copy()
    a, b = imported(x[:8]).numpy(), imported(x[:8]).numpy()
    assert not np.allclose(a, b)                                     # two dropout masks
    assert not np.allclose(imported.features[1].running_mean.numpy(), running_mean)
    imported.eval()
    np.testing.assert_array_equal(imported(x[:8]).numpy(), imported(x[:8]).numpy())

    def eval_loss() -> float:
        imported.eval()
        with mc.no_grad():
            return F.cross_entropy(imported(x), mc.Tensor(y)).item()

    before = eval_loss()
    optimizer = SGD(imported.parameters(), lr=0.05, momentum=0.9)
    mc.manual_seed(0)
    for _ in range(10):
        imported.train()
        optimizer.zero_grad()
        F.cross_entropy(imported(x), mc.Tensor(y)).backward()
        assert np.abs(first_conv.grad.numpy()).sum() > 0
        optimizer.step()
    assert eval_loss() < 0.9 * before


def torch_vgg16():
    """torchvision's VGG-16 written with torch.nn (same names, same layer indices)."""
    from torch import nn

    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(True)]
            c = v

    class VGG16(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(nn.Linear(25088, 4096), nn.ReLU(True), nn.Dropout(),
                                            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                                            nn.Linear(4096, 1000))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    torch.manual_seed(0)
    return VGG16().eval()


@pytest.mark.slow
def test_full_size_vgg16_at_224_matches_onnxruntime_and_torch(tmp_path):
    model = torch_vgg16()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    path = torch_to_onnx(model, x, tmp_path / "vgg16.onnx")
    imported = load_model(path)
    assert imported.num_parameters() == 138_357_544
    ours = imported(x.numpy()).numpy()
    assert relative_error(ours, run_ort(path, x.numpy())[0]) < 1e-4
    with torch.no_grad():
        assert relative_error(ours, model(x).numpy()) < 1e-4
