"""Loading weight files of every origin into VGG: by name, by order and shape, across layouts."""
from __future__ import annotations

import re

import numpy as np
import pytest

import minicnn
from minicnn import models
from minicnn.io import mapping, read_weights
from minicnn.io.mapping import WeightMismatchError, load_into

from vgg_reference import rel_err, torch_state, torch_vgg, write_keras_h5

torch = pytest.importorskip("torch")


def _run(model, x: np.ndarray) -> np.ndarray:
    with minicnn.no_grad():
        return model.eval()(minicnn.Tensor(x)).numpy()


def _run_torch(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# ------------------------------------------------------------------ torch.save files
@pytest.fixture(scope="module")
def torch_vgg11_bn():
    """A torch vgg11_bn with 10 classes and BatchNorm statistics that are not (0, 1)."""
    return torch_vgg("vgg11", batch_norm=True, num_classes=10, seed=1)


@pytest.fixture(scope="module")
def torch_files(torch_vgg11_bn, tmp_path_factory):
    """Its state dict saved by torch.save in the zip format and in the legacy format."""
    folder = tmp_path_factory.mktemp("torch")
    torch.save(torch_vgg11_bn.state_dict(), folder / "zip.pth")
    torch.save(torch_vgg11_bn.state_dict(), folder / "legacy.pth",
               _use_new_zipfile_serialization=False)
    return folder / "zip.pth", folder / "legacy.pth"


@pytest.fixture(scope="module")
def vgg11_bn_10(torch_files):
    """minicnn's vgg11_bn built from the zip file; shared: every test loads all it checks."""
    return models.vgg11_bn(weights=torch_files[0], num_classes=10)


def _assert_holds(model, state: dict[str, np.ndarray]) -> None:
    ours = model.state_dict()
    assert all(np.array_equal(ours[k], v) for k, v in state.items())


def test_torch_save_zip_and_legacy_files_reproduce_torch_outputs(torch_vgg11_bn, torch_files,
                                                                 vgg11_bn_10):
    zip_path, legacy_path = torch_files
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    expected = _run_torch(torch_vgg11_bn, x)

    model = vgg11_bn_10                               # vgg11_bn(weights=zip_path, num_classes=10)
    assert model.load_report.matched_by == "name" and not model.load_report.ignored
    assert model.weights_name == str(zip_path) and model.class_names is None   # not ImageNet
    assert model.state_dict()["features.1.num_batches_tracked"] == 7
    assert rel_err(_run(model, x), expected) < 1e-4

    for p in model.parameters():                      # forget the zip's numbers ...
        p.data[...] = 0
    report = load_into(model, read_weights(legacy_path))   # ... and read the legacy file
    assert len(report.loaded) == len(torch_vgg11_bn.state_dict())
    assert rel_err(_run(model, x), expected) < 1e-4


def test_num_classes_mismatch_names_the_head_only(torch_vgg11_bn, vgg11_bn_10):
    state = torch_state(torch_vgg11_bn)
    state["classifier.6.weight"] = np.zeros((1000, 4096), np.float32)    # an ImageNet head
    state["classifier.6.bias"] = np.zeros(1000, np.float32)
    with pytest.raises(WeightMismatchError) as err:
        load_into(vgg11_bn_10, state)
    assert err.value.problems == [
        "classifier.6.weight: expected (10, 4096), found 'classifier.6.weight' (1000, 4096)",
        "classifier.6.bias: expected (10,), found 'classifier.6.bias' (1000,)",
    ]
    assert "Nothing was loaded" in str(err.value)


def test_prefixed_and_alphabetically_sorted_names_load(torch_vgg11_bn, vgg11_bn_10):
    """HF-style safetensors: a prefix, keys sorted as text ('features.12' < 'features.2')."""
    state = torch_state(torch_vgg11_bn)
    prefixed = {f"model.backbone.{k}": state[k] for k in sorted(state)}
    report = load_into(vgg11_bn_10, prefixed)
    assert report.matched_by == "name" and len(report.loaded) == len(state)
    _assert_holds(vgg11_bn_10, state)


def test_unrelated_names_load_by_order_and_shape(torch_vgg11_bn, vgg11_bn_10):
    """ONNX-style initializer names carry no meaning; the order and the shapes do."""
    state = {k: v for k, v in torch_state(torch_vgg11_bn).items() if "num_batches" not in k}
    onnx_like = {f"onnx::Initializer_{100 + i}": v for i, v in enumerate(state.values())}
    report = load_into(vgg11_bn_10, onnx_like)
    assert report.matched_by == "order" and report.layout == "torch"
    batchnorms = (1, 5, 9, 12, 16, 19, 23, 26)
    assert report.kept == [f"features.{i}.num_batches_tracked" for i in batchnorms]
    _assert_holds(vgg11_bn_10, state)


def test_wrong_architecture_lists_every_layer_that_does_not_fit():
    vgg11 = models.vgg11(include_top=False, rng=0).state_dict()
    model = models.vgg13(include_top=False)
    with pytest.raises(WeightMismatchError) as err:
        load_into(model, vgg11)
    # Pair the i-th tensor of each network: every pair with different shapes must be listed.
    ours = list(model.state_dict().items())
    theirs = list(vgg11.items())
    expected = [k for i, (k, v) in enumerate(ours)
                if i >= len(theirs) or theirs[i][1].shape != v.shape]
    listed = [re.match(r"(\S+):", p).group(1) for p in err.value.problems]
    assert listed == expected and len(expected) >= 10
    assert "features.2.weight: expected (64, 64, 3, 3), found 'features.3.weight' (128, 64, 3, 3)" \
        in err.value.problems
    assert "features.22.weight: expected (512, 512, 3, 3), found nothing" in str(err.value)
    # features.0.weight fits, but nothing is copied unless everything fits
    assert not np.array_equal(model.state_dict()["features.0.weight"], vgg11["features.0.weight"])


def test_full_file_into_include_top_false_ignores_and_reports_the_classifier(torch_vgg11_bn):
    model = models.vgg11_bn(include_top=False)
    report = load_into(model, torch_state(torch_vgg11_bn))
    assert report.ignored == [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    x = np.random.default_rng(2).random((1, 3, 32, 32), dtype=np.float32)
    assert rel_err(_run(model, x), _run_torch(torch_vgg11_bn.features, x)) < 1e-4


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # the TorchScript-based exporter
def test_onnx_export_with_batchnorm_folded_loads_into_plain_vgg_by_order(tmp_path):
    """torch.onnx folds each eval-mode BatchNorm into its conv: a vgg11_bn export holds
    unnamed initializers ('onnx::Conv_87', ...) that fit a plain vgg11, in order."""
    pytest.importorskip("onnx")
    ref = torch_vgg("vgg11", batch_norm=True, include_top=False, seed=3)
    torch.onnx.export(ref, torch.zeros(1, 3, 32, 32), tmp_path / "f.onnx", dynamo=False)
    model = models.vgg11(weights=tmp_path / "f.onnx", include_top=False)
    assert model.load_report.matched_by == "order"
    assert model.load_report.loaded[0][1].startswith("onnx::")
    x = np.random.default_rng(4).random((1, 3, 32, 32), dtype=np.float32)
    assert rel_err(_run(model, x), _run_torch(ref, x)) < 1e-4


def test_safetensors_file_with_a_prefix_loads_by_name(torch_vgg11_bn, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    features = {k: v for k, v in torch_state(torch_vgg11_bn).items() if k.startswith("features")}
    safetensors_numpy.save_file({f"vgg.{k}": v for k, v in features.items()},
                                str(tmp_path / "model.safetensors"))
    model = models.vgg11_bn(weights=tmp_path / "model.safetensors", include_top=False)
    assert model.load_report.matched_by == "name" and not model.load_report.ignored
    _assert_holds(model, features)


# ------------------------------------------------------------------ Keras channels-last files
@pytest.fixture(scope="module")
def keras_case(tmp_path_factory):
    """A torch vgg11 (10 classes) saved as a Keras 2 .h5 file: HWIO kernels, (in, out)
    Dense kernels, fc1 rows in (h, w, c) order; and the file as read back."""
    pytest.importorskip("h5py")
    ref = torch_vgg("vgg11", num_classes=10, seed=2)
    folder = tmp_path_factory.mktemp("keras")
    write_keras_h5(folder / "full.h5", ref, "vgg11")
    write_keras_h5(folder / "notop.h5", ref, "vgg11", include_top=False)
    # 64 x 64 input: a 2x2 map that the adaptive pool spreads over 7x7, so the 49 positions
    # of fc1's input are not all equal and a wrong row order cannot go unnoticed.
    x = np.random.default_rng(3).random((2, 3, 64, 64), dtype=np.float32)
    return ref, folder, read_weights(folder / "full.h5"), x, _run_torch(ref, x)


@pytest.fixture(scope="module")
def vgg11_10():
    return models.vgg11(num_classes=10)


def test_keras_h5_reproduces_torch_and_fails_without_the_row_permutation(
        keras_case, vgg11_10, monkeypatch):
    ref, folder, weight_file, x, expected = keras_case
    report = load_into(vgg11_10, weight_file)
    assert report.layout == "keras" and report.matched_by == "order"
    assert ("features.0.weight", "block1_conv1/kernel", "HWIO -> OIHW") in report.loaded
    fc1 = dict((m, c) for m, _, c in report.loaded)["classifier.0.weight"]
    assert fc1.startswith("rows (H, W, C) -> (C, H, W) for C, H, W = 512, 7, 7")
    assert rel_err(_run(vgg11_10, x), expected) < 1e-4

    # The silent bug: skip the (h, w, c) -> (c, h, w) row order. It loads without any
    # error -- every shape fits -- and computes the wrong numbers.
    monkeypatch.setattr(mapping, "permute_dense_rows_nhwc_to_nchw", lambda k, C, H, W: k)
    load_into(vgg11_10, weight_file)
    assert rel_err(_run(vgg11_10, x), expected) > 0.05


def test_keras_notop_and_full_files_load_into_the_convolutional_base(keras_case):
    ref, folder, weight_file, x, _ = keras_case
    expected = _run_torch(ref.features, x)
    notop = models.vgg11(weights=folder / "notop.h5", include_top=False)
    assert notop.load_report.ignored == [] and notop.preprocessing is models.CAFFE
    assert rel_err(_run(notop, x), expected) < 1e-4
    base = models.vgg11(include_top=False)
    report = load_into(base, weight_file)
    assert report.ignored == [f"{n}/{p}" for n in ("fc1", "fc2", "predictions")
                              for p in ("kernel", "bias")]
    assert rel_err(_run(base, x), expected) < 1e-4


def test_keras_notop_file_into_a_model_with_a_top_lists_the_missing_layers(keras_case, vgg11_10):
    _, folder, _, _, _ = keras_case
    with pytest.raises(WeightMismatchError) as err:
        load_into(vgg11_10, read_weights(folder / "notop.h5"))
    assert [p.split(":")[0] for p in err.value.problems] == [
        f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    assert "expected (in, out) (25088, 4096) (for (out, in) (4096, 25088)), found nothing" \
        in err.value.problems[0]


def test_keras_kernel_with_wrong_shape_is_reported_in_keras_terms():
    arrays = {"block1_conv1/kernel": np.zeros((3, 3, 3, 32), np.float32),
              "block1_conv1/bias": np.zeros(32, np.float32)}
    with pytest.raises(WeightMismatchError) as err:
        load_into(models.vgg11(include_top=False), arrays)
    assert ("features.0.weight: expected HWIO (3, 3, 3, 64) (for OIHW (64, 3, 3, 3)), found "
            "'block1_conv1/kernel' (3, 3, 3, 32)") in err.value.problems


@pytest.mark.slow
def test_keras_vgg16_full_size_224_matches_torch(tmp_path):
    """The Keras Applications layout at its real size: block5 gives 7x7x512, flattened
    channels-last straight into fc1 (25088 -> 4096)."""
    pytest.importorskip("h5py")
    ref = torch_vgg("vgg16", seed=6)
    write_keras_h5(tmp_path / "vgg16.h5", ref, "vgg16")
    model = models.vgg16(weights=tmp_path / "vgg16.h5")
    assert [n for _, n, _ in model.load_report.loaded][-2:] == ["predictions/kernel",
                                                                "predictions/bias"]
    x = np.random.default_rng(7).random((1, 3, 224, 224), dtype=np.float32)
    assert rel_err(_run(model, x), _run_torch(ref, x)) < 1e-4


def test_keras_dense_after_a_non_square_flatten_needs_and_uses_flatten_shape():
    """Conv -> Flatten -> Dense on a 2 x 3 map: the row order is (h, w, c) in Keras."""
    rng = np.random.default_rng(8)
    conv_w = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)          # OIHW
    dense_w = rng.standard_normal((5, 4 * 2 * 3), dtype=np.float32)        # (out, c*h*w)
    keras = {"conv/kernel": conv_w.transpose(2, 3, 1, 0), "conv/bias": np.zeros(4, np.float32),
             "dense/kernel": dense_w.reshape(5, 4, 2, 3).transpose(2, 3, 1, 0).reshape(24, 5),
             "dense/bias": np.zeros(5, np.float32)}                       # rows (h, w, c)
    nn = minicnn.nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(24, 5))
    with pytest.raises(ValueError, match=r"Pass flatten_shape=\(C, H, W\) with C\*H\*W = 24"):
        load_into(model, keras)
    report = load_into(model, keras, flatten_shape=(4, 2, 3))
    assert report.layout == "keras"
    x = rng.random((2, 3, 2, 3), dtype=np.float32)
    tconv = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(conv_w), padding=1)
    expected = (torch.relu(tconv).flatten(1) @ torch.from_numpy(dense_w).T).numpy()
    assert rel_err(_run(model, x), expected) < 1e-5
