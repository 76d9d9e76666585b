"""Training and VGG16 on the GPU: the same steps as on the CPU give the same weights.

Runs automatically when CuPy sees a CUDA GPU (``pytest tests/gpu -m gpu``); skips
otherwise, saying what is missing.  See gpu_support.py for the dry run on the CPU.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.demo import demo_cnn
from minicnn.models import vgg16

from gpu_support import DEVICE, assert_on_device, host, on_device, skip_module_without_gpu

skip_module_without_gpu()
pytestmark = pytest.mark.gpu


def _batches(n_batches: int, batch: int = 16):
    rng = np.random.default_rng(1)
    return [(rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch))
            for _ in range(n_batches)]


@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4),
    lambda p: optim.Adam(p, lr=1e-3),
])
def test_demo_cnn_training_steps_match_the_cpu(make_optimizer):
    minicnn.manual_seed(0)
    cpu = demo_cnn()
    gpu = copy.deepcopy(cpu).to(DEVICE)
    opt_cpu, opt_gpu = make_optimizer(cpu.parameters()), make_optimizer(gpu.parameters())
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for x, y in _batches(3):
        for model, opt, wrap in ((cpu, opt_cpu, minicnn.Tensor), (gpu, opt_gpu, on_device)):
            loss = loss_fn(model(wrap(x)), wrap(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(host(loss)))
    np.testing.assert_allclose(losses[1::2], losses[0::2], rtol=1e-4)     # gpu vs cpu, step by step
    for (name, p_cpu), (_, p_gpu) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert_on_device(p_gpu)
        np.testing.assert_allclose(host(p_gpu), host(p_cpu), rtol=1e-3, atol=1e-5, err_msg=name)


def test_a_model_moves_to_the_gpu_and_back():
    minicnn.manual_seed(0)
    model = demo_cnn()
    before = {k: host(v).copy() for k, v in model.state_dict().items()}
    assert model.to(DEVICE) is model
    assert all(str(p.device).split(":")[0] == DEVICE.split(":")[0] for p in model.parameters())
    model.to("cpu")
    for p in model.parameters():
        assert isinstance(p.data, np.ndarray)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(host(v), before[k])


def test_vgg16_features_match_the_cpu():
    # VGG16's 13 convolutions and 5 poolings with random (seeded) weights, 2 images of 64x64:
    # the forward features and the gradients of the first and last convolution
    minicnn.manual_seed(0)
    cpu = vgg16(include_top=False)
    gpu = copy.deepcopy(cpu).to(DEVICE)
    x = np.random.default_rng(2).standard_normal((2, 3, 64, 64)).astype(np.float32)
    x_cpu, x_gpu = minicnn.Tensor(x, requires_grad=True), on_device(x, requires_grad=True)
    f_cpu, f_gpu = cpu(x_cpu), gpu(x_gpu)
    assert f_gpu.shape == (2, 512, 2, 2)
    scale = np.abs(host(f_cpu)).max()
    np.testing.assert_allclose(host(f_gpu), host(f_cpu), rtol=1e-3, atol=1e-4 * scale)
    f_cpu.sum().backward()
    f_gpu.sum().backward()
    for name in ("features.0.weight", "features.28.weight"):
        g_cpu = host(dict(cpu.named_parameters())[name].grad)
        g_gpu = host(dict(gpu.named_parameters())[name].grad)
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-3, atol=1e-3 * np.abs(g_cpu).max(), err_msg=name)
    np.testing.assert_allclose(host(x_gpu.grad), host(x_cpu.grad), rtol=1e-3,
                               atol=1e-3 * np.abs(host(x_cpu.grad)).max())


def test_vgg16_classifies_a_224_image_on_the_gpu():
    minicnn.manual_seed(0)
    model = vgg16().eval()
    gpu = copy.deepcopy(model).to(DEVICE)
    x = np.random.default_rng(3).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with minicnn.no_grad():
        logits_cpu, logits_gpu = model(minicnn.Tensor(x)), gpu(on_device(x))
    assert logits_gpu.shape == (1, 1000)
    np.testing.assert_allclose(host(logits_gpu), host(logits_cpu), rtol=1e-3,
                               atol=1e-3 * np.abs(host(logits_cpu)).max())
