"""Array backends and devices: the array module ``xp`` follows the data.

minicnn writes every op once against an array module ``xp`` that is either
NumPy (CPU) or CuPy (CUDA GPU).  Which one is used is decided by the arrays
themselves, never by a global mode (the Chainer way)::

    xp = get_array_module(x)      # numpy for a NumPy array, cupy for a CuPy array
    y = xp.exp(x)

Users see device strings: ``tensor.to("cuda")``, ``model.to("cpu")``.
CuPy is imported only when a GPU is asked for, so ``import minicnn`` needs
NumPy alone.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

__all__ = ["Device", "device", "get_array_module", "device_of", "to_device", "cuda_is_available"]


def get_array_module(*arrays: object) -> ModuleType:
    """numpy, or cupy if any argument is a CuPy array (found without importing CuPy)."""
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            return sys.modules["cupy"]
    return np


@dataclass(frozen=True)
class Device:
    """Where a tensor's data lives: ``Device("cpu")`` or ``Device("cuda", 0)``."""

    type: str
    index: int = 0

    def __str__(self) -> str:
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"

    def __repr__(self) -> str:
        return f"device('{self}')"


def _import_cupy() -> ModuleType:
    try:
        import cupy  # noqa: PLC0415  (optional dependency, imported on demand)
    except ImportError as e:
        raise RuntimeError(
            "device 'cuda' needs CuPy, which is not installed. "
            "Install the GPU extra on a machine with an NVIDIA GPU: pip install 'minicnn[gpu]'"
        ) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy raises its own CUDARuntimeError / driver errors
        raise RuntimeError(f"device 'cuda' is not usable: CuPy is installed but found no GPU ({e})") from e
    if count == 0:
        raise RuntimeError("device 'cuda' is not usable: CuPy is installed but found no GPU")
    return cupy


def cuda_is_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    try:
        _import_cupy()
    except RuntimeError:
        return False
    return True


def device(spec: str | Device = "cpu") -> Device:
    """Parse ``"cpu"``, ``"cuda"`` or ``"cuda:1"``; asking for CUDA checks it is usable.

    Raises:
        ValueError: for an unknown device string.
        RuntimeError: for ``"cuda"`` without CuPy or without a GPU, saying what is missing.
    """
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {type(spec).__name__}")
    kind, _, index = spec.partition(":")
    if kind == "cpu" and not index:
        return Device("cpu")
    if kind == "cuda":
        _import_cupy()
        return Device("cuda", int(index) if index else 0)
    raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def device_of(array: object) -> Device:
    """The device an array lives on."""
    if get_array_module(array) is np:
        return Device("cpu")
    return Device("cuda", int(array.device.id))  # type: ignore[attr-defined]


def to_device(array: object, dev: Device):
    """Copy ``array`` to ``dev`` (no copy when it is already there)."""
    if dev.type == "cpu":
        return array if get_array_module(array) is np else array.get()  # type: ignore[attr-defined]
    cupy = _import_cupy()
    with cupy.cuda.Device(dev.index):
        return cupy.asarray(array)
