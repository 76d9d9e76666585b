"""get_kernels / available_kernels: automatic choice, the MINICNN_KERNELS override,
clear errors, and NumPy-only operation without numba."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from minicnn.kernels import (IMPLEMENTATIONS, available_kernels, dispatch, get_kernels,
                             load_kernels)

HAS_NUMBA = importlib.util.find_spec("numba") is not None
CPU_IMPLEMENTATIONS = ["reference", "numpy"] + (["numba"] if HAS_NUMBA else [])


class FakeCupyArray:
    """Stands in for a cupy.ndarray: dispatch looks only at the type's module."""


FakeCupyArray.__module__ = "cupy._core.core"


@pytest.fixture
def without_numba(monkeypatch):
    """Make `import numba` fail, as on a machine without the fast extra."""
    monkeypatch.setitem(sys.modules, "numba", None)
    for module in ("im2col_numba", "pooling_numba"):
        monkeypatch.delitem(sys.modules, f"minicnn.kernels.{module}", raising=False)
    monkeypatch.setattr(dispatch, "_loaded", {})


def test_numpy_arrays_get_numba_when_installed_else_numpy(monkeypatch):
    monkeypatch.delenv("MINICNN_KERNELS", raising=False)
    assert get_kernels(np.zeros(3)).name == ("numba" if HAS_NUMBA else "numpy")


@pytest.mark.parametrize("name", CPU_IMPLEMENTATIONS)
def test_env_var_overrides_the_choice(monkeypatch, name):
    monkeypatch.setenv("MINICNN_KERNELS", name)
    kernels = get_kernels(np.zeros(3))
    assert kernels.name == name
    assert kernels.im2col.__name__ == f"im2col_{name}"


def test_env_var_is_read_on_every_call(monkeypatch):
    monkeypatch.setenv("MINICNN_KERNELS", "reference")
    assert get_kernels(np.zeros(3)).name == "reference"
    monkeypatch.setenv("MINICNN_KERNELS", "numpy")
    assert get_kernels(np.zeros(3)).name == "numpy"
    monkeypatch.setenv("MINICNN_KERNELS", "auto")
    assert get_kernels(np.zeros(3)).name == ("numba" if HAS_NUMBA else "numpy")


def test_invalid_env_var_lists_the_choices(monkeypatch):
    monkeypatch.setenv("MINICNN_KERNELS", "fortran")
    with pytest.raises(ValueError, match="'fortran'.*reference, numpy, numba, cuda"):
        get_kernels(np.zeros(3))


def test_cupy_arrays_refuse_cpu_kernels(monkeypatch):
    monkeypatch.setenv("MINICNN_KERNELS", "numpy")
    with pytest.raises(ValueError, match="CuPy array.*MINICNN_KERNELS=cuda"):
        get_kernels(FakeCupyArray())


def test_without_numba_numpy_arrays_fall_back_to_numpy(monkeypatch, without_numba):
    monkeypatch.delenv("MINICNN_KERNELS", raising=False)
    kernels = get_kernels(np.zeros(3))
    assert kernels.name == "numpy"
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y, indices = kernels.maxpool2d_forward(x, 2, 2, 2, 2, 0, 0, 1, 1, 2, 2)
    np.testing.assert_array_equal(y, [[[[5, 7], [13, 15]]]])
    assert available_kernels()["implementations"]["numba"]["available"] is False


def test_asking_for_numba_without_numba_names_the_extra(monkeypatch, without_numba):
    monkeypatch.setenv("MINICNN_KERNELS", "numba")
    with pytest.raises(ImportError, match=r"pip install minicnn\[fast\]"):
        get_kernels(np.zeros(3))


def test_available_kernels_describes_every_implementation(monkeypatch):
    monkeypatch.delenv("MINICNN_KERNELS", raising=False)
    info = available_kernels()
    assert set(info["implementations"]) == set(IMPLEMENTATIONS)
    assert info["implementations"]["reference"]["available"] is True
    assert info["implementations"]["numba"]["available"] is HAS_NUMBA
    assert info["numpy_arrays"] == get_kernels(np.zeros(3)).name
    assert info["override"] is None


@pytest.mark.parametrize("name", CPU_IMPLEMENTATIONS)
def test_every_kernel_keeps_float32(name):
    k = load_kernels(name)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    cols = k.im2col(x, 3, 3, 1, 1, 1, 1, 1, 1, 5, 5)
    y, indices = k.maxpool2d_forward(x, 2, 2, 2, 2, 0, 0, 1, 1, 2, 2)
    a = k.avgpool2d_forward(x, 2, 2, 2, 2, 0, 0, 2, 2)
    outputs = [cols, k.col2im(cols, 2, 3, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 5), y,
               k.maxpool2d_backward(y, indices, 5, 5), a,
               k.avgpool2d_backward(a, 2, 3, 5, 5, 2, 2, 2, 2, 0, 0, 2, 2)]
    assert [o.dtype for o in outputs] == [np.float32] * 6


def test_importing_kernels_does_not_import_numba():
    code = "import sys, minicnn.kernels; print('numba' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "False"]
