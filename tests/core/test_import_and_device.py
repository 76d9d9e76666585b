"""``import minicnn`` needs NumPy only; tensors live on the CPU unless CUDA is really there."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import minicnn

HEAVY = ["torch", "numba", "matplotlib", "cupy", "h5py", "onnx", "onnxruntime", "tqdm", "PIL",
         "scipy", "safetensors"]


def test_import_minicnn_pulls_in_numpy_only():
    code = ("import json, sys, minicnn; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules] + ['numpy' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    *loaded, numpy_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import minicnn imported {loaded}"
    assert numpy_loaded


def test_tensors_are_on_the_cpu():
    x = minicnn.ones(2)
    assert x.device == minicnn.Device("cpu") and str(x.device) == "cpu"
    assert minicnn.device("cpu") == x.device
    assert x.to("cpu") is x and x.cpu() is x
    assert type(x.data) is np.ndarray


@pytest.mark.skipif(minicnn.cuda_is_available(), reason="a usable GPU is present")
def test_cuda_without_cupy_or_gpu_says_what_is_missing():
    assert not minicnn.cuda_is_available()
    with pytest.raises(RuntimeError, match=r"device 'cuda' (needs CuPy.*pip install 'minicnn\[gpu\]'|is not usable)"):
        minicnn.device("cuda")
    with pytest.raises(RuntimeError, match="device 'cuda'"):
        minicnn.ones(2).to("cuda:0")


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match=r"unknown device 'tpu'.*'cpu', 'cuda' or 'cuda:N'"):
        minicnn.device("tpu")
    with pytest.raises(TypeError, match="device must be a string"):
        minicnn.device(0)
