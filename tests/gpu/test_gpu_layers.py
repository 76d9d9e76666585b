"""Every layer on the GPU: forward and backward equal to the same layer on the CPU.

Runs automatically when CuPy sees a CUDA GPU (``pytest tests/gpu -m gpu``); skips
otherwise, saying what is missing.  See gpu_support.py for the dry run on the CPU.
"""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import kernels, nn
from minicnn.nn import functional as F

from gpu_support import (DEVICE, DRY_RUN, check_module, expected_kernels, host, on_device,
                         skip_module_without_gpu)

skip_module_without_gpu()
pytestmark = pytest.mark.gpu

RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((3, 4, 10, 8)).astype(np.float32)         # (N, C, H, W)
FEATURES = RNG.standard_normal((5, 12)).astype(np.float32)             # (N, features)


def seeded(make):
    """A layer factory whose random initialisation is the same on every call."""
    def build():
        minicnn.manual_seed(0)
        return make()
    return build


@pytest.mark.parametrize("kw", [
    dict(padding=1),
    dict(stride=2, padding=2, dilation=2),
    dict(padding="same", bias=False),
    dict(groups=2, padding=(1, 0)),
])
def test_conv2d(kw):
    check_module(seeded(lambda: nn.Conv2d(4, 6, 3, **kw)), [IMAGES])


@pytest.mark.parametrize("kw", [dict(padding=1), dict(padding=(2, 0), bias=False)])
def test_conv2d_by_winograd(monkeypatch, kw):
    # MINICNN_CONV=winograd: the Winograd transforms' CUDA kernels on the GPU side (the
    # automatic choice keeps im2col + cuBLAS on the GPU)
    monkeypatch.setenv("MINICNN_CONV", "winograd")
    check_module(seeded(lambda: nn.Conv2d(4, 6, 3, **kw)), [IMAGES])


@pytest.mark.parametrize("layer", [
    lambda: nn.MaxPool2d(2),
    lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    lambda: nn.MaxPool2d(2, stride=1, dilation=2),
    lambda: nn.AvgPool2d(2),
    lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda: nn.AdaptiveAvgPool2d((3, 2)),
    lambda: nn.AdaptiveAvgPool2d(1),
    lambda: nn.AdaptiveMaxPool2d((4, 3)),
])
def test_pooling(layer):
    check_module(layer, [IMAGES])


def test_max_pool_keeps_ties_and_nan_like_the_cpu():
    x = RNG.integers(-2, 3, (2, 3, 6, 6)).astype(np.float32)          # many ties
    x[0, 0, 1, 1] = np.nan
    check_module(lambda: nn.MaxPool2d(2), [x])


@pytest.mark.parametrize("layer", [
    lambda: nn.ReLU(), lambda: nn.LeakyReLU(0.1), lambda: nn.Sigmoid(), lambda: nn.Tanh(),
    lambda: nn.Softmax(dim=1), lambda: nn.LogSoftmax(dim=1), lambda: nn.Flatten(), lambda: nn.Identity(),
    lambda: nn.Dropout(0.5).eval(),
])
def test_elementwise_layers(layer):
    check_module(layer, [IMAGES])


def test_dropout_in_training_draws_the_same_mask_from_the_same_generator():
    check_module(lambda: nn.Dropout(0.3, rng=np.random.default_rng(7)), [FEATURES])


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    check_module(seeded(lambda: nn.Linear(12, 7, bias=bias)), [FEATURES])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_2d(training):
    def make():
        bn = nn.BatchNorm2d(4)
        bn.running_mean.data[...] = 0.3                      # non-trivial statistics for eval
        bn.running_var.data[...] = 2.0
        return bn.train(training)
    check_module(make, [IMAGES])


def test_batch_norm_1d():
    check_module(lambda: nn.BatchNorm1d(12), [FEATURES])


def test_conv_transpose2d():
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(3).astype(np.float32)

    class Up(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight, self.bias = nn.Parameter(w.copy()), nn.Parameter(b.copy())

        def forward(self, x):
            return F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=1, output_padding=1)

    check_module(Up, [IMAGES])


@pytest.mark.parametrize("loss, target", [
    (lambda: nn.CrossEntropyLoss(), RNG.integers(0, 12, 5)),
    (lambda: nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=2), RNG.integers(0, 12, 5)),
    (lambda: nn.NLLLoss(), RNG.integers(0, 12, 5)),
    (lambda: nn.MSELoss(), RNG.standard_normal((5, 12)).astype(np.float32)),
    (lambda: nn.SmoothL1Loss(beta=0.5), RNG.standard_normal((5, 12)).astype(np.float32)),
    (lambda: nn.BCEWithLogitsLoss(), (RNG.random((5, 12)) > 0.5).astype(np.float32)),
])
def test_losses(loss, target):
    check_module(loss, [FEATURES, target], grad=[True, False])


def test_gpu_data_runs_the_gpu_kernels():
    x = on_device(IMAGES)
    assert kernels.get_kernels(x.data).name == expected_kernels()


def test_mixing_devices_in_one_op_is_a_clear_error():
    if DRY_RUN:
        pytest.skip("the dry run has one device only")
    with pytest.raises(RuntimeError, match="same device"):
        on_device(FEATURES) + minicnn.Tensor(FEATURES)
    with pytest.raises(RuntimeError, match="same device"):
        F.linear(on_device(FEATURES), minicnn.Tensor(np.ones((3, 12), np.float32)))


def test_cpu_kernels_refuse_gpu_data(monkeypatch):
    if DRY_RUN:
        pytest.skip("the dry run has NumPy arrays only")
    monkeypatch.setenv("MINICNN_KERNELS", "numba")
    with pytest.raises(ValueError, match="CuPy array"):
        F.max_pool2d(on_device(IMAGES), 2)


def test_results_come_back_to_the_cpu():
    y = nn.Conv2d(4, 2, 3)(on_device(IMAGES))
    back = y.to("cpu")
    assert str(back.device) == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), host(y))
    assert DEVICE.startswith("cuda") or DRY_RUN
