"""Same seed, same machine, same kernels: bit-identical training runs."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.data import DataLoader, TensorDataset
from minicnn.data.augment import Compose, GaussianNoise, RandomCrop
from minicnn.data.digits import load_digits
from minicnn.train import fit


def short_run(seed: int) -> tuple[list[np.ndarray], list[float]]:
    minicnn.manual_seed(seed)
    x, y = load_digits("train")
    loader = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True, seed=seed,
                        transform=Compose([RandomCrop(padding=2), GaussianNoise(0.05)]))
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.25), nn.Flatten(), nn.Linear(4 * 14 * 14, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    history = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=2, progress=False)
    return [np.array(v) for v in model.state_dict().values()], history.train_loss


@pytest.mark.parametrize("kernels", ["reference", "numpy", None])
def test_two_runs_with_the_same_seed_are_bit_identical(kernels, monkeypatch):
    if kernels is None:
        monkeypatch.delenv("MINICNN_KERNELS", raising=False)
    else:
        monkeypatch.setenv("MINICNN_KERNELS", kernels)
    a_params, a_loss = short_run(3)
    b_params, b_loss = short_run(3)
    assert a_loss == b_loss
    for a, b in zip(a_params, b_params):
        np.testing.assert_array_equal(a, b)


def test_a_different_seed_gives_a_different_run():
    a_params, _ = short_run(3)
    b_params, _ = short_run(4)
    assert any(not np.array_equal(a, b) for a, b in zip(a_params, b_params))
