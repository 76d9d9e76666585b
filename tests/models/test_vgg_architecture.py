"""VGG is built exactly like torchvision's: keys, shapes, parameter count, init, outputs."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import models
from minicnn.io.mapping import load_into

from vgg_reference import rel_err, torch_state, torch_vgg

ARCHS = ["vgg11", "vgg13", "vgg16", "vgg19"]
BUILDERS = {a + bn: getattr(models, a + bn) for a in ARCHS for bn in ("", "_bn")}


def _shapes(state) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in state.items()]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_features_keys_and_shapes_equal_torchvision(name):
    torch = pytest.importorskip("torch")
    ours = BUILDERS[name](include_top=False).state_dict()
    ref = torch_vgg(name.removesuffix("_bn"), "_bn" in name, include_top=False, device="meta")
    assert _shapes(ours) == [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    if name.endswith("_bn"):
        assert ours["features.1.num_batches_tracked"].dtype == np.int64
        assert ref.state_dict()["features.1.num_batches_tracked"].dtype == torch.int64


@pytest.fixture(scope="module")
def vgg16_model():
    """One full-size vgg16 for this module, with the statistics of its fresh initialisation
    (the parity test loads other weights into it afterwards)."""
    model = models.vgg16(rng=0)
    init_stats = {k: (float(v.mean()), float(v.std())) for k, v in model.state_dict().items()}
    return model, init_stats


def test_vgg16_keys_shapes_and_parameter_count_equal_torchvision(vgg16_model):
    pytest.importorskip("torch")
    model, _ = vgg16_model
    ref = torch_vgg("vgg16", device="meta")
    assert _shapes(model.state_dict()) == [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert list(model.state_dict())[-2:] == ["classifier.6.weight", "classifier.6.bias"]
    assert model.num_parameters() == 138_357_544 == sum(p.numel() for p in ref.parameters())


def test_vgg16_init_is_torchvisions(vgg16_model):
    """Conv: N(0, 2 / (C_out * 9)) (kaiming fan_out, relu); Linear: N(0, 0.01^2); biases 0."""
    model, stats = vgg16_model
    for i, m in enumerate(model.features):
        if isinstance(m, minicnn.nn.Conv2d):
            mean, std = stats[f"features.{i}.weight"]
            assert std == pytest.approx((2 / (m.out_channels * 9)) ** 0.5, rel=0.05), i
            assert abs(mean) < 0.1 * std
            assert stats[f"features.{i}.bias"] == (0.0, 0.0)
    for i in (0, 3, 6):
        mean, std = stats[f"classifier.{i}.weight"]
        assert std == pytest.approx(0.01, rel=0.02) and abs(mean) < 1e-3
        assert stats[f"classifier.{i}.bias"] == (0.0, 0.0)


def test_batchnorm_init_is_weight_one_bias_zero():
    sd = models.vgg11_bn(include_top=False, rng=0).state_dict()
    assert np.all(sd["features.1.weight"] == 1) and np.all(sd["features.1.bias"] == 0)
    assert np.all(sd["features.1.running_mean"] == 0) and np.all(sd["features.1.running_var"] == 1)


def test_same_rng_seed_gives_same_weights():
    a = models.vgg11(include_top=False, rng=3).state_dict()
    b = models.vgg11(include_top=False, rng=3).state_dict()
    c = models.vgg11(include_top=False, rng=4).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["features.0.weight"], c["features.0.weight"])


def test_include_top_false_maps_to_the_feature_map():
    model = models.vgg11(include_top=False).eval()
    assert not hasattr(model, "classifier")
    x = minicnn.Tensor(np.zeros((2, 3, 64, 96), dtype=np.float32))
    with minicnn.no_grad():
        y = model(x)
    assert y.shape == (2, 512, 2, 3) and y.dtype == np.float32           # H/32, W/32


def test_vgg16_full_size_224_matches_torch(vgg16_model):
    """The real network at the real size, once: 13 convs, 5 pools, 7x7 avgpool, 3 Linears."""
    torch = pytest.importorskip("torch")
    model, _ = vgg16_model
    ref = torch_vgg("vgg16", seed=5)
    report = load_into(model, torch_state(ref))
    assert report.matched_by == "name" and len(report.loaded) == 32
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    with minicnn.no_grad():
        out = model.eval()(minicnn.Tensor(x))
    assert out.shape == (1, 1000) and out.dtype == np.float32
    assert rel_err(out.numpy(), expected) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_vgg_full_size_224_from_a_torch_file_matches_torch(name, tmp_path):
    """All eight networks at 224 x 224, each through a real torch.save file."""
    torch = pytest.importorskip("torch")
    ref = torch_vgg(name.removesuffix("_bn"), "_bn" in name, seed=11)
    path = tmp_path / f"{name}.pth"
    torch.save(ref.state_dict(), path)
    model = BUILDERS[name](weights=path).eval()
    x = np.random.default_rng(1).random((2, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    with minicnn.no_grad():
        out = model(minicnn.Tensor(x)).numpy()
    assert rel_err(out, expected) < 1e-4
    assert model.class_names[0] == "tench"
