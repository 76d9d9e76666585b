"""``fit(..., grad_norm_warning=(low, high))`` warns when the global gradient norm of a step
explodes past ``high`` or vanishes below ``low``, naming the step and what to try."""
from __future__ import annotations

import warnings

import numpy as np

import minicnn
import minicnn.nn.functional as F
from minicnn import nn, optim
from minicnn.data import DataLoader, TensorDataset
from minicnn.data.digits import load_digits
from minicnn.train import fit

BOUNDS = (1e-3, 1e3)


def digits(n: int = 64) -> DataLoader:
    x, y = load_digits("train")
    return DataLoader(TensorDataset(x[:n], y[:n]), batch_size=32, shuffle=False)


def mse_to_one_hot(scores: minicnn.Tensor, labels: minicnn.Tensor) -> minicnn.Tensor:
    """The 1980s loss for sigmoid outputs: squared error against one-hot targets."""
    one_hot = np.eye(scores.shape[1], dtype=np.float32)[labels.numpy()]
    return F.mse_loss(scores, minicnn.Tensor(one_hot))


def sigmoid_stack(depth: int, bias: float) -> nn.Sequential:
    minicnn.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(784, 32), nn.Sigmoid()]
    for _ in range(depth):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(32, 10), nn.Sigmoid())
    for layer in model:
        if isinstance(layer, nn.Linear):
            layer.bias.data[...] = bias
    return model


def train(model: nn.Sequential, loss_fn=mse_to_one_hot, lr: float = 0.1) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, loss_fn, optim.SGD(model.parameters(), lr=lr), digits(), epochs=1, progress=False,
            grad_norm_warning=BOUNDS)
    return [w for w in caught if "gradient norm" in str(w.message)]


def test_a_healthy_network_trains_without_warnings():
    assert train(sigmoid_stack(depth=8, bias=0.0)) == []


def test_saturated_sigmoids_make_gradients_vanish():
    # Biases of 10 push every sigmoid to ~1, where its slope s(1 - s) is ~5e-5: each layer
    # multiplies the gradient by that, the output layer included, so the whole gradient is
    # about 1000x smaller than with biases of 0 (norm ~2e-4 against ~0.2).
    caught = train(sigmoid_stack(depth=8, bias=10.0))
    assert len(caught) == 2                                  # 64 digits: both steps of the epoch
    for step, w in enumerate(caught):
        assert w.category is RuntimeWarning
        message = str(w.message)
        assert message.startswith(f"step {step}: gradient norm ")
        assert "is below 0.001 (vanishing gradients?): check the initialisation" in message
        norm = float(message.split("gradient norm ")[1].split()[0])
        assert 0 < norm < 1e-3
    assert caught[0].filename == __file__                     # points at the fit(...) call


def test_huge_weights_make_gradients_explode():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    for p in model.parameters():
        p.data[...] *= 100                                   # each layer scales the gradient by 100
    caught = train(model, nn.CrossEntropyLoss(), lr=1e-9)    # a tiny lr: the weights stay huge
    assert len(caught) == 2
    assert all("exceeds 1000 (exploding gradients?): lower the learning rate or clip gradients"
               in str(w.message) for w in caught)
    assert float(str(caught[0].message).split("gradient norm ")[1].split()[0]) > 1e3


def test_no_warnings_unless_asked():
    model = sigmoid_stack(depth=8, bias=10.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, mse_to_one_hot, optim.SGD(model.parameters(), lr=0.1), digits(), progress=False)
    assert not [w for w in caught if "gradient norm" in str(w.message)]
