"""Pick the kernel implementation for an array: get_kernels(x).im2col(x, ...).

    CuPy array    -> "cuda"   (Numba-CUDA kernels, im2col_cuda.py / pooling_cuda.py / winograd_cuda.py)
    NumPy array   -> "numba"  if numba can be imported (im2col_numba.py / pooling_numba.py /
                              winograd_numba.py)
                  -> "numpy"  otherwise (im2col.py / pooling.py / winograd.py)

The environment variable MINICNN_KERNELS=reference|numpy|numba|cuda overrides the
choice.  It is read on every call, so a test (or a curious student) can switch
implementations without restarting Python:

    MINICNN_KERNELS=reference python train.py     # run the readable NumPy kernels

Implementation modules are imported on first use, so `import minicnn.kernels`
imports NumPy only.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from typing import Callable

ENV_VAR = "MINICNN_KERNELS"
IMPLEMENTATIONS = ("reference", "numpy", "numba", "cuda")

# implementation -> (im2col module, pooling module, Winograd module, function-name suffix)
_MODULES = {
    "reference": ("im2col", "pooling", "winograd", "reference"),
    "numpy": ("im2col", "pooling", "winograd", "numpy"),
    "numba": ("im2col_numba", "pooling_numba", "winograd_numba", "numba"),
    "cuda": ("im2col_cuda", "pooling_cuda", "winograd_cuda", "cuda"),
}
_INSTALL_HINT = {
    "numba": "numba is not installed: pip install minicnn[fast]",
    "cuda": "the CUDA kernels need numba and cupy: pip install minicnn[gpu]",
}


@dataclass(frozen=True)
class KernelSet:
    """The kernels of one implementation; the contracts are in im2col.py, pooling.py, winograd.py."""

    name: str
    im2col: Callable
    col2im: Callable
    unfold: Callable
    fold: Callable
    maxpool2d_forward: Callable
    maxpool2d_backward: Callable
    avgpool2d_forward: Callable
    avgpool2d_backward: Callable
    winograd_input: Callable
    winograd_output: Callable
    winograd_output_grad: Callable
    winograd_input_grad: Callable


# name -> its kernels, or the ImportError it raised (so a missing numba is looked for
# once, not on every call to get_kernels)
_loaded: dict[str, KernelSet | ImportError] = {}


def load_kernels(name: str) -> KernelSet:
    """Import implementation `name` (one of IMPLEMENTATIONS) and return its kernels.

    Raises ImportError naming the extra to install if its dependencies are missing.
    """
    if name not in _MODULES:
        raise ValueError(f"unknown kernel implementation {name!r}; choose one of "
                         f"{', '.join(IMPLEMENTATIONS)}")
    if name not in _loaded:
        im2col_name, pooling_name, winograd_name, suffix = _MODULES[name]
        try:
            im2col = importlib.import_module(f"{__package__}.{im2col_name}")
            pooling = importlib.import_module(f"{__package__}.{pooling_name}")
            winograd = importlib.import_module(f"{__package__}.{winograd_name}")
        except ImportError as error:
            _loaded[name] = ImportError(f"kernels {name!r} are unavailable: "
                                        f"{_INSTALL_HINT[name]} ({error})")
            raise _loaded[name] from error
        _loaded[name] = KernelSet(
            name=name,
            im2col=getattr(im2col, f"im2col_{suffix}"),
            col2im=getattr(im2col, f"col2im_{suffix}"),
            unfold=getattr(im2col, f"unfold_{suffix}"),
            fold=getattr(im2col, f"fold_{suffix}"),
            maxpool2d_forward=getattr(pooling, f"maxpool2d_forward_{suffix}"),
            maxpool2d_backward=getattr(pooling, f"maxpool2d_backward_{suffix}"),
            avgpool2d_forward=getattr(pooling, f"avgpool2d_forward_{suffix}"),
            avgpool2d_backward=getattr(pooling, f"avgpool2d_backward_{suffix}"),
            winograd_input=getattr(winograd, f"input_transform_{suffix}"),
            winograd_output=getattr(winograd, f"output_transform_{suffix}"),
            winograd_output_grad=getattr(winograd, f"output_grad_transform_{suffix}"),
            winograd_input_grad=getattr(winograd, f"input_grad_transform_{suffix}"),
        )
    kernels = _loaded[name]
    if isinstance(kernels, ImportError):
        raise ImportError(str(kernels))
    return kernels


def _is_cupy(array) -> bool:
    return type(array).__module__.split(".")[0] == "cupy"


def requested_kernels() -> str | None:
    """The implementation named by MINICNN_KERNELS, or None if unset/empty/"auto"."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in IMPLEMENTATIONS:
        raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a kernel implementation; "
                         f"use one of {', '.join(IMPLEMENTATIONS)} (or unset it to choose "
                         f"automatically)")
    return value


def get_kernels(array) -> KernelSet:
    """The fastest available kernels for `array`'s device, unless MINICNN_KERNELS says otherwise.

    Example:
        >>> k = get_kernels(x)              # x: (N, C, H, W) NumPy array
        >>> cols = k.im2col(x, 3, 3, 1, 1, 1, 1, 1, 1, OH, OW)
    """
    requested = requested_kernels()
    on_gpu = _is_cupy(array)
    if requested is None:
        if on_gpu:
            return load_kernels("cuda")
        try:
            return load_kernels("numba")
        except ImportError:
            return load_kernels("numpy")
    if on_gpu and requested != "cuda":
        raise ValueError(f"{ENV_VAR}={requested} runs on NumPy arrays only, but got a CuPy "
                         f"array; use {ENV_VAR}=cuda (or unset it), or move the data to the "
                         f"CPU first")
    try:
        return load_kernels(requested)
    except ImportError as error:
        raise ImportError(f"{ENV_VAR}={requested}: {error}; unset {ENV_VAR} to use the "
                          f"kernels that are available") from error


def available_kernels() -> dict:
    """What can run here, for `minicnn info`.

    Returns {"implementations": {name: {"available": bool, "detail": str}},
             "numpy_arrays": name used for NumPy arrays now,
             "cupy_arrays": name used for CuPy arrays now (or None),
             "override": the MINICNN_KERNELS value or None}.
    """
    info = {name: {"available": True, "detail": detail} for name, detail in (
        ("reference", "readable NumPy loops over the kernel taps (kernels/im2col.py, pooling.py, winograd.py)"),
        ("numpy", "fastest pure-NumPy versions (the reference itself where nothing was faster)"),
    )}
    for name in ("numba", "cuda"):
        try:
            load_kernels(name)
            info[name] = {"available": True, "detail": _describe(name)}
        except Exception as error:      # ImportError, or a CUDA driver error
            info[name] = {"available": False, "detail": str(error)}

    override = os.environ.get(ENV_VAR) or None
    try:
        numpy_choice = requested_kernels() or ("numba" if info["numba"]["available"] else "numpy")
    except ValueError as error:
        numpy_choice = f"error: {error}"
    has_cupy = importlib.util.find_spec("cupy") is not None
    cupy_choice = "cuda" if info["cuda"]["available"] and has_cupy else None
    return {"implementations": info, "numpy_arrays": numpy_choice,
            "cupy_arrays": cupy_choice, "override": override}


def _describe(name: str) -> str:
    """One line about a loaded implementation; raises if "cuda" has no GPU to run on."""
    import numba
    from numba.core import config
    if name == "numba":
        return f"numba {numba.__version__}, {numba.get_num_threads()} threads"
    if config.ENABLE_CUDASIM:
        return "CUDA simulator (NUMBA_ENABLE_CUDASIM=1) on NumPy arrays: slow, for tests"
    from numba import cuda
    if importlib.util.find_spec("cupy") is None:
        raise ImportError(_INSTALL_HINT["cuda"] + " (cupy is not installed)")
    if not cuda.is_available():
        raise RuntimeError("no usable CUDA GPU (numba.cuda.is_available() is False)")
    device = cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else device
    return f"numba {numba.__version__} CUDA kernels on {device}"
