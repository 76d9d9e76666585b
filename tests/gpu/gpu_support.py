"""What the GPU tests share: the skip, the device, and one CPU-vs-GPU parity check.

The tests in this folder run every layer, a training step and VGG16's features on a CUDA
GPU (CuPy arrays, the Numba-CUDA kernels) and compare them with the same computation on
the CPU.  Without CuPy or a GPU each module skips itself with the reason.

    pytest tests/gpu -m gpu                           # on a machine with a GPU
    MINICNN_GPU_TEST_DEVICE=cpu pytest tests/gpu -m gpu
                                                      # dry run: the same tests, "GPU" side
                                                      # on the CPU too (checks the tests)
"""
from __future__ import annotations

import copy
import importlib.util
import os
from typing import Any, Callable, Sequence

import numpy as np
import pytest

import minicnn
from minicnn import Tensor

DEVICE = os.environ.get("MINICNN_GPU_TEST_DEVICE", "cuda")
DRY_RUN = DEVICE == "cpu"


def gpu_missing() -> str | None:
    """Why the GPU tests cannot run here, or None when they can."""
    if DRY_RUN:
        return None
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install -e '.[dev,gpu]' on a machine with an NVIDIA GPU)"
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:      # CuPy's CUDARuntimeError, a missing driver, ...
        return f"CuPy cannot reach a GPU ({type(error).__name__}: {error})"
    if count == 0:
        return "CuPy found no GPU"
    return None


def skip_module_without_gpu() -> None:
    """Skip the calling test module, saying what is missing."""
    reason = gpu_missing()
    if reason is not None:
        pytest.skip(f"needs CuPy and a CUDA GPU: {reason}", allow_module_level=True)


def expected_kernels() -> str:
    """The kernel implementation the dispatcher must pick for data on DEVICE."""
    return "numba" if DRY_RUN else "cuda"


def on_device(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    return Tensor(array.copy(), requires_grad=requires_grad).to(DEVICE)


def host(x: Any) -> np.ndarray:
    """A NumPy copy of a Tensor (or array) wherever it lives."""
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x.get() if hasattr(x, "get") else x)


def assert_on_device(t: Tensor) -> None:
    assert str(t.device).split(":")[0] == DEVICE.split(":")[0], f"{t.shape} is on {t.device}, not {DEVICE}"


def check_module(make: Callable[[], minicnn.nn.Module], inputs: Sequence[np.ndarray], *,
                 grad: Sequence[bool] | None = None, rtol: float = 1e-4, atol: float = 1e-5,
                 seed: int = 0) -> None:
    """The module on the CPU and a copy on DEVICE: same outputs, input gradients, parameter
    gradients and buffers (BatchNorm's running statistics), for one forward+backward.

    The backward pass starts from sum(y * r) for a fixed random r, so every output element
    gets a different weight.
    """
    cpu = make()
    gpu = copy.deepcopy(cpu).to(DEVICE)
    grad = [a.dtype.kind == "f" for a in inputs] if grad is None else grad
    cpu_in = [Tensor(a.copy(), requires_grad=g) for a, g in zip(inputs, grad)]
    gpu_in = [on_device(a, g) for a, g in zip(inputs, grad)]
    y_cpu, y_gpu = cpu(*cpu_in), gpu(*gpu_in)
    assert_on_device(y_gpu)
    assert y_gpu.dtype == y_cpu.dtype and y_gpu.shape == y_cpu.shape
    np.testing.assert_allclose(host(y_gpu), host(y_cpu), rtol=rtol, atol=atol, err_msg="output")
    r = np.random.default_rng(seed).standard_normal(y_cpu.shape).astype(y_cpu.dtype)
    (y_cpu * Tensor(r)).sum().backward()
    (y_gpu * on_device(r)).sum().backward()
    for i, (a, b, g) in enumerate(zip(cpu_in, gpu_in, grad)):
        if g:
            assert_on_device(b.grad)
            np.testing.assert_allclose(host(b.grad), host(a.grad), rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {i}")
    for (name, p_cpu), (_, p_gpu) in zip(cpu.named_parameters(), gpu.named_parameters()):
        if p_cpu.requires_grad:
            assert_on_device(p_gpu.grad)
            np.testing.assert_allclose(host(p_gpu.grad), host(p_cpu.grad), rtol=rtol, atol=atol,
                                       err_msg=f"gradient of {name}")
    for (name, b_cpu), (_, b_gpu) in zip(cpu.named_buffers(), gpu.named_buffers()):
        np.testing.assert_allclose(host(b_gpu), host(b_cpu), rtol=rtol, atol=atol, err_msg=f"buffer {name}")
