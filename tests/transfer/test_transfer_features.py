"""Feature extraction (``extract``, ``extract_features``) equals a manual forward pass; the
on-disk cache is reused for the same weights and inputs and recomputed when weights change."""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn, transfer
from minicnn.data import DataLoader, TensorDataset
from minicnn.experiments.common import SmallVGG


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),   # 0 1 2: (N, 4, 8, 8)
        nn.Conv2d(4, 6, 3, padding=1, rng=1), nn.ReLU(), nn.MaxPool2d(2),   # 3 4 5: (N, 6, 4, 4)
        nn.Flatten(), nn.Linear(96, 3, rng=2),
    )


def images(n=10, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, size, size), dtype=np.float32), rng.integers(0, 3, n)


def manual(layers, x):
    """Apply the layers one after the other: what a forward pass up to a layer computes."""
    with minicnn.no_grad():
        out = Tensor(x)
        for layer in layers:
            out = layer(out)
    return out.numpy()


def count_forwards(model):
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    return calls, handle


def test_extract_returns_the_outputs_of_named_layers():
    model = small_cnn()
    x, _ = images(4)
    maps = transfer.extract(model, Tensor(x), ["2", "5"])
    np.testing.assert_allclose(maps["2"].numpy(), manual(list(model)[:3], x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps["5"].numpy(), manual(list(model)[:6], x), rtol=1e-5, atol=1e-6)
    assert maps["5"].shape == (4, 6, 4, 4)


def test_extract_removes_its_hooks_and_names_missing_layers():
    model = small_cnn()
    x, _ = images(2)
    transfer.extract(model, Tensor(x), ["1", "4"])
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(KeyError, match="no layer named 'features.9'.*0, 1, 2"):
        transfer.extract(model, Tensor(x), ["features.9"])
    with pytest.raises(TypeError, match="list of names"):
        transfer.extract(model, Tensor(x), "1")


def test_extract_features_equals_a_manual_forward_in_eval_mode():
    model = SmallVGG(1, (4, 8), num_classes=3, input_size=16, hidden=5, dropout=0.5, rng=0)
    x, y = images(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)                 # 3 batches: 4, 4, 2
    feats, labels = transfer.extract_features(model, loader, "classifier.1")
    # features -> avgpool -> flatten -> Linear -> ReLU; Dropout (classifier.2) is not reached
    expected = manual([model.features, model.avgpool, nn.Flatten(), model.classifier[0], model.classifier[1]], x)
    assert feats.shape == (10, 5) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, y)
    assert model.training                                                   # mode restored

    out, _ = transfer.extract_features(model, loader)                       # "" = the model's output
    model.eval()
    np.testing.assert_allclose(out, manual([model], x), rtol=1e-5, atol=1e-6)   # dropout off

    maps, _ = transfer.extract_features(model, loader, "features.2", flatten=False)
    np.testing.assert_allclose(maps, manual(list(model.features)[:3], x), rtol=1e-5, atol=1e-6)
    assert maps.shape == (10, 4, 8, 8)


def test_cache_is_reused_for_the_same_weights_and_inputs(tmp_path):
    model = small_cnn()
    x, y = images(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    cache = tmp_path / "f.npz"
    first, _ = transfer.extract_features(model, loader, "5", cache=cache)
    assert cache.exists()
    calls, _ = count_forwards(model)
    again, labels = transfer.extract_features(model, loader, "5", cache=cache)
    assert calls == []                                                      # loaded, not recomputed
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(labels, y)


def test_cache_is_invalidated_when_weights_layer_or_inputs_change(tmp_path):
    model = small_cnn()
    x, y = images(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    cache = tmp_path / "f.npz"
    before, _ = transfer.extract_features(model, loader, "5", cache=cache)
    calls, _ = count_forwards(model)

    model[3].bias.data[...] += np.float32(0.5)                              # change the weights
    after, _ = transfer.extract_features(model, loader, "5", cache=cache)
    assert len(calls) == 3                                                  # recomputed: 3 batches
    np.testing.assert_allclose(after, manual(list(model)[:6], x).reshape(10, -1), rtol=1e-5, atol=1e-6)
    assert not np.allclose(after, before)

    other, _ = transfer.extract_features(model, loader, "2", cache=cache)   # another layer
    assert len(calls) == 6 and other.shape == (10, 4 * 8 * 8)

    x2 = x.copy()
    x2[0, 0, 0, 0] = 1.0 - x2[0, 0, 0, 0]                                     # another input
    changed, _ = transfer.extract_features(model, DataLoader(TensorDataset(x2, y), batch_size=4), "2", cache=cache)
    assert len(calls) == 9
    np.testing.assert_allclose(changed, manual(list(model)[:3], x2).reshape(10, -1), rtol=1e-5, atol=1e-6)


def test_extract_features_gives_each_layer_its_own_mode_back():
    model = SmallVGG(1, (4, 8), num_classes=3, input_size=16, hidden=5, rng=0)
    model.classifier[2].eval()                                              # e.g. a Dropout switched off by hand
    x, y = images(4)
    transfer.extract_features(model, DataLoader(TensorDataset(x, y), batch_size=4), "classifier.1")
    assert model.training and model.features.training and not model.classifier[2].training
