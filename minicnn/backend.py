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
import threading
from dataclasses import dataclass
from types import ModuleType

import numpy as np

__all__ = ["Device", "device", "get_array_module", "device_of", "to_device", "cuda_is_available",
           "scratch", "free_scratch", "reuse_freed_memory"]


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


# ------------------------------------------------------------------ scratch buffers
class _Scratch(threading.local):
    """Per-thread scratch arrays, one per (name, device, dtype); see ``scratch``."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, str, str], object] = {}


_scratch = _Scratch()


def scratch(name: str, shape: tuple[int, ...], dtype: object, like: object):
    """A reusable array of ``shape`` and ``dtype`` on ``like``'s device; contents undefined.

    Why: a fresh large array costs a page fault per 4 KiB page the first time it is
    written (about 1.5 us each on the machines minicnn was tuned on: 45 ms for the
    115 MB im2col matrix of one VGG layer), and the kernel pays it again on every
    call.  ``scratch`` keeps one flat buffer per name (per thread, device and dtype)
    and hands out views of it, growing it when a larger one is asked for.

    The view is only valid until the next ``scratch`` call with the same name: use it
    for temporaries that never leave the function (conv2d's unfolded columns), never
    for results.
    """
    xp = get_array_module(like)
    dtype = np.dtype(dtype)
    key = (name, str(device_of(like)), dtype.str)
    size = 1
    for n in shape:
        size *= int(n)
    buffer = _scratch.buffers.get(key)
    if buffer is None or buffer.size < size:  # type: ignore[attr-defined]
        _scratch.buffers.pop(key, None)      # free the old one before allocating
        if xp is np:
            buffer = np.empty(size, dtype=dtype)
        else:
            with like.device:                # type: ignore[attr-defined]
                buffer = xp.empty(size, dtype=dtype)
        _scratch.buffers[key] = buffer
    return buffer[:size].reshape(shape)      # type: ignore[index]


def free_scratch() -> None:
    """Release this thread's scratch buffers (they are re-created on demand)."""
    _scratch.buffers.clear()


# ------------------------------------------------------------------ freed memory
def reuse_freed_memory(mmap_threshold_mb: int = 64, trim_threshold_mb: int = 256) -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    Why: every training step frees and re-allocates the same activations and gradients.
    glibc serves large blocks with fresh pages from the OS and gives them back when they
    are freed, so each step pays a page fault per 4 KiB page written (about 1.5 us each
    on the machines minicnn was tuned on): the demo CNN's training step took 23 ms
    instead of 13 ms (measured, 2 threads).  Blocks below ``mmap_threshold_mb`` then come
    from the heap, which is trimmed only when ``trim_threshold_mb`` of it is free.

    The same as starting Python with MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ set
    (what ``minicnn bench`` does for every contender).  Process-wide; call it once, early.

    Returns:
        True if the settings were applied, False where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # from glibc's <malloc.h>
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold_mb << 20)
                and mallopt(M_TRIM_THRESHOLD, trim_threshold_mb << 20))
