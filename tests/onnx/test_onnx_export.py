"""Exporting minicnn models to ONNX: onnxruntime gives the same outputs, and importing the
file back gives the same model."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn.functional as F
from minicnn import nn
from minicnn.onnx import EXPORTABLE_LAYERS, export, exporter, load_model

from onnx_helpers import relative_error, run_ort

pytest.importorskip("onnx")


class SmallVGG(nn.Module):
    """VGG's structure (features, avgpool, flatten in forward, classifier) at toy size."""

    def __init__(self, num_classes: int = 10, pool: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        self.classifier = nn.Sequential(nn.Linear(16 * pool * pool, 32), nn.ReLU(), nn.Dropout(0.3),
                                        nn.Linear(32, num_classes))

    def forward(self, x: mc.Tensor) -> mc.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def small_vgg(pool: int = 3) -> SmallVGG:
    mc.manual_seed(0)
    model = SmallVGG(pool=pool)
    rng = np.random.default_rng(1)
    for m in model.modules():                  # BatchNorm statistics that are not 0 and 1
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.data[...] = rng.uniform(-0.5, 0.5, m.num_features)
            m.running_var.data[...] = rng.uniform(0.5, 2.0, m.num_features)
    return model.eval()


def images(n: int = 2, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)


def test_vgg_style_model_runs_in_onnxruntime_with_the_same_outputs(tmp_path):
    model = small_vgg()
    path = tmp_path / "vgg.onnx"
    proto = export(model, path, mc.Tensor(images(2)))
    x = images(5, seed=1)                                  # another batch size: N is free in the file
    assert relative_error(run_ort(path, x)[0], model(x).numpy()) < 1e-5
    graph = proto.graph
    assert [i.name for i in graph.initializer] == [k for k in model.state_dict() if "num_batches" not in k]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert proto.opset_import[0].version == 17


def test_import_of_the_export_is_the_same_model(tmp_path):
    model = small_vgg()
    path = tmp_path / "vgg.onnx"
    export(model, path, images(2))
    again = load_model(path)
    x = images(3, seed=2)
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-7)
    ours = {k: v for k, v in model.state_dict().items() if "num_batches" not in k}
    theirs = again.state_dict()
    assert list(theirs) == list(ours)
    for key in ours:
        np.testing.assert_array_equal(theirs[key], ours[key], err_msg=key)
    # and it trains: Dropout is back in the graph, gradients reach the first conv
    again.train()
    F.cross_entropy(again(x), mc.Tensor(np.array([1, 2, 3]))).backward()
    assert np.abs(again.features[0].weight.grad.numpy()).sum() > 0
    assert again(x).numpy().tolist() != again(x).numpy().tolist()      # dropout is active


def test_export_restores_modes_and_leaves_the_model_unchanged(tmp_path):
    model = small_vgg().train()
    model.classifier.eval()
    before = model.state_dict()
    export(model, None, images(2))
    assert model.training and model.features[1].training and not model.classifier[2].training
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)   # BatchNorm stats untouched


def test_frozen_model_exports_too(tmp_path):
    model = small_vgg().freeze()
    x = images(2)
    assert relative_error(run_ort(export(model, None, x), x)[0], model(x).numpy()) < 1e-5


@pytest.mark.parametrize("pool, expected_op", [
    (4, None),                       # 4x4 features pooled to 4x4: the identity
    (1, "GlobalAveragePool"),
    (2, "AveragePool"),              # regular 2x2 windows
    (3, "MatMul"),                   # uneven windows: y = A_h @ x @ A_w^T
])
def test_adaptive_avg_pool_forms(pool, expected_op):
    model = small_vgg(pool)
    x = images(2)
    proto = export(model, None, x)
    ops = [n.op_type for n in proto.graph.node]
    if expected_op is None:
        assert "AveragePool" not in ops and "GlobalAveragePool" not in ops and "MatMul" not in ops
    else:
        assert expected_op in ops
    assert relative_error(run_ort(proto, x)[0], model(x).numpy()) < 1e-5


class Blocks(nn.Module):
    """Layer variants, and tensor ops between layers (residual add, scaling, cat, permute)."""

    def __init__(self) -> None:
        super().__init__()
        self.same = nn.Conv2d(3, 4, 4, padding="same", dilation=2)       # asymmetric ONNX pads
        self.grouped = nn.Conv2d(4, 4, 4, stride=2, padding=(1, 0), groups=2, bias=False)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.leaky, self.sigmoid, self.tanh = nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh()
        self.flat = nn.Flatten(2)                         # (N, C, H*W): a Reshape, not ONNX Flatten
        self.tokens = nn.Linear(8, 6)                     # on a 3-D input: MatMul + Add
        self.norm = nn.BatchNorm1d(6)                     # on (N, C, L)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(120, 5), nn.LogSoftmax(dim=1))
        self.scale = nn.Parameter(np.full(1, 0.5, dtype=np.float32))

    def forward(self, x: mc.Tensor) -> mc.Tensor:
        y = self.leaky(self.same(x))                      # (N, 4, 16, 16)
        y = y + self.sigmoid(y) * self.scale              # a residual, scaled by a free Parameter
        y = self.avg(self.pool(self.grouped(y)))          # (N, 4, 8, 7) -> (N, 4, 5, 4)
        y = mc.cat([self.tanh(y), -y], dim=1)             # (N, 8, 5, 4)
        t = self.flat(y).permute(0, 2, 1)                 # (N, 20, 8)
        t = self.tokens(t).permute(0, 2, 1)               # (N, 6, 20)
        return self.head(self.norm(t))                    # (N, 5)


def test_layer_variants_and_ops_between_layers(tmp_path):
    mc.manual_seed(3)
    model = Blocks().eval()
    model.norm.running_var.data[...] = 2.0
    x = images(2)
    path = tmp_path / "blocks.onnx"
    proto = export(model, path, x)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Add", "Mul", "Concat", "Neg", "Transpose", "Reshape", "MatMul", "BatchNormalization"} <= ops
    x3 = images(3, seed=4)
    assert relative_error(run_ort(path, x3)[0], model(x3).numpy()) < 1e-5
    assert relative_error(load_model(path)(x3).numpy(), model(x3).numpy()) < 1e-5
    assert "scale" in load_model(path).state_dict()


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
        self.a, self.b = nn.Linear(4 * 14 * 14, 3), nn.Linear(4 * 14 * 14, 2)

    def forward(self, x: mc.Tensor) -> tuple[mc.Tensor, mc.Tensor]:
        h = self.body(x)
        return self.a(h), self.b(h)


def test_several_outputs_get_numbered_names():
    mc.manual_seed(0)
    model = TwoHeads()
    x = images(2)
    proto = export(model, None, x, output_name="logits")
    assert [o.name for o in proto.graph.output] == ["logits0", "logits1"]
    for ours, theirs in zip(model(x), run_ort(proto, x)):
        assert relative_error(theirs, ours.numpy()) < 1e-5


def test_large_models_keep_their_weights_in_a_side_file(tmp_path, monkeypatch):
    monkeypatch.setattr(exporter, "_EXTERNAL_DATA_BYTES", 1000)      # pretend 1 kB is "over 1 GB"
    model = small_vgg()
    path = tmp_path / "vgg.onnx"
    export(model, path, images(2))
    assert (tmp_path / "vgg.onnx.data").stat().st_size > path.stat().st_size
    x = images(3, seed=5)
    assert relative_error(run_ort(path, x)[0], model(x).numpy()) < 1e-5
    assert relative_error(load_model(path)(x).numpy(), model(x).numpy()) < 1e-5


# ---------------------------------------------------------------------- errors
class WithUnknownLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveMaxPool2d(2))

    def forward(self, x: mc.Tensor) -> mc.Tensor:
        return self.body(x)


class WithUnknownOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: mc.Tensor) -> mc.Tensor:
        return self.conv(x).exp()


def test_unknown_layer_is_named_with_the_layers_export_knows():
    with pytest.raises(NotImplementedError, match=r"layer 'body\.1' \(AdaptiveMaxPool2d\).*Conv2d.*Linear"):
        export(WithUnknownLayer(), None, images(2))


def test_unknown_op_between_layers_is_named():
    with pytest.raises(NotImplementedError, match=r"computes Exp outside the layers.*Reshape"):
        export(WithUnknownOp(), None, images(2))


def test_layers_onnx_cannot_express_are_refused():
    with pytest.raises(ValueError, match="track_running_stats=False"):
        export(nn.Sequential(nn.BatchNorm2d(3, track_running_stats=False)), None, images(2))
    with pytest.raises(ValueError, match="return_indices"):
        export(nn.Sequential(nn.MaxPool2d(2, return_indices=True)), None, images(2))
    with pytest.raises(ValueError, match="opset 11 is not supported; use 13"):
        export(nn.Sequential(nn.ReLU()), None, images(2), opset=11)
    assert "Conv2d" in EXPORTABLE_LAYERS and "AdaptiveAvgPool2d" in EXPORTABLE_LAYERS


# ---------------------------------------------------------------------- full size
@pytest.mark.slow
def test_full_size_vgg16_exports_to_onnxruntime(tmp_path):
    from minicnn.models import vgg16

    model = vgg16(rng=0).eval()
    x = images(1, size=224)
    path = tmp_path / "vgg16.onnx"
    export(model, path, x)
    assert relative_error(run_ort(path, x)[0], model(x).numpy()) < 1e-4
