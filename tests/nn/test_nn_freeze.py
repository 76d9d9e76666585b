"""Frozen layers cost no backward work, keep grad None, and are not updated."""
from collections import Counter

import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn
from minicnn.function import Function


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


@pytest.fixture
def backward_log(monkeypatch):
    """Wrap every Function's backward: count calls per op and record which input grads it returned."""
    calls, returned = Counter(), []

    def wrap(cls, original):
        def backward(self, gy):
            grads = original(self, gy)
            calls[cls.__name__] += 1
            returned.append((cls.__name__, tuple(g is not None for g in (grads if isinstance(grads, tuple) else (grads,)))))
            return grads
        return backward

    for cls in set(all_subclasses(Function)):
        if "backward" in cls.__dict__:
            monkeypatch.setattr(cls, "backward", wrap(cls, cls.__dict__["backward"]))
    return calls, returned


def train_step(model, seed=0):
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((4, 3, 16, 16)).astype(np.float32))
    y = Tensor(rng.integers(0, 10, 4))
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    for p in model.parameters():  # plain SGD; a parameter without a gradient is skipped
        if p.grad is not None:
            p.data -= np.float32(0.1) * p.grad.data


def op_names(model):
    """The Function class names of the first conv and the first linear layer."""
    x = minicnn.randn(1, 3, 8, 8)
    conv = type(model.features[0](x).grad_fn).__name__
    linear = type(model.classifier[0](minicnn.randn(1, 64)).grad_fn).__name__
    model.zero_grad()
    return conv, linear


def test_frozen_features_run_no_backward_and_stay_unchanged(vgg_like, backward_log):
    calls, _ = backward_log
    minicnn.manual_seed(0)
    model = vgg_like(nn)
    conv_op, linear_op = op_names(model)

    train_step(model)
    work_unfrozen = sum(calls.values())
    assert calls[conv_op] == 2 and calls[linear_op] == 3
    calls.clear()
    model.zero_grad()

    model.features.freeze()
    before = {k: v.copy() for k, v in model.state_dict().items() if k.startswith("features")}
    train_step(model, seed=1)
    assert calls[conv_op] == 0 and calls[linear_op] == 3  # no conv backward at all
    assert sum(calls.values()) < work_unfrozen
    assert all(p.grad is None for p in model.features.parameters())
    assert all(p.grad is not None for p in model.classifier.parameters())
    after = model.state_dict()
    for key, value in before.items():
        if "running" not in key and "num_batches" not in key:  # BatchNorm statistics still track
            np.testing.assert_array_equal(after[key], value, err_msg=key)

    model.features.unfreeze()
    calls.clear()
    train_step(model, seed=2)
    assert calls[conv_op] == 2


def test_frozen_middle_layer_passes_gradient_but_skips_its_weight_grad(backward_log):
    _, returned = backward_log
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    model[2].freeze()
    model(minicnn.randn(2, 5)).sum().backward()
    linear_calls = [needs for name, needs in returned if name == type(model[0](minicnn.randn(1, 5)).grad_fn).__name__]
    # first backward: the frozen last layer returns dL/dx only; then the first layer: dW and db only
    assert linear_calls == [(True, False, False), (False, True, True)]
    assert model[2].weight.grad is None and model[0].weight.grad is not None
