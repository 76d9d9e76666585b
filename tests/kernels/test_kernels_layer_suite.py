"""The layer tests pass with MINICNN_KERNELS set to each implementation.

Each run is a fresh pytest process with the variable set (the dispatcher reads it at
every call, but a fresh process also proves nothing else was already loaded):

- normal suite: the whole of tests/functional and tests/nn under reference, numpy and
  numba (about 8 s each on an idle 2-core machine), the conv tests again with Winograd
  forced (MINICNN_CONV=winograd) under each, and under the CUDA kernels in Numba's
  simulator (NUMBA_ENABLE_CUDASIM=1, every GPU thread run as Python) two conv/pooling
  tests and six Winograd conv tests;
- ``-m slow``: the conv and pooling test files under the simulator (about 2 minutes),
  and the whole Winograd conv file (about 4 minutes).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
HAS_NUMBA = importlib.util.find_spec("numba") is not None
CPU_CHOICES = ["reference", "numpy"] + (["numba"] if HAS_NUMBA else [])
CONV_AND_POOLING = ["functional/test_functional_conv.py", "functional/test_functional_conv_batches.py",
                    "functional/test_functional_pooling.py"]


def run_pytest(choice: str, paths: list[str], *extra: str, simulator: bool = False,
               conv: str = "auto") -> str:
    env = dict(os.environ, MINICNN_KERNELS=choice, MINICNN_CONV=conv, OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *[str(TESTS / p) for p in paths], "-q", "-p", "no:cacheprovider",
         "-m", "not slow and not gpu", *extra],
        env=env, capture_output=True, text=True, timeout=1800)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, f"MINICNN_KERNELS={choice}: {summary}\n" + result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
    return summary


@pytest.mark.parametrize("choice", CPU_CHOICES)
def test_the_whole_layer_suite_passes_with(choice):
    summary = run_pytest(choice, ["functional", "nn"])
    assert int(summary.split(" passed")[0].split()[-1]) > 300, summary     # really the whole suite


@pytest.mark.parametrize("choice", CPU_CHOICES)
def test_the_conv_suites_pass_with_winograd_wherever_it_applies(choice):
    # MINICNN_CONV=winograd: every 3x3 stride-1 convolution of the conv and layer tests
    # (torch parity, gradcheck, batch slicing, frozen inputs) runs through Winograd
    summary = run_pytest(choice, CONV_AND_POOLING + ["nn/test_nn_layers_torch.py", "nn/test_nn_freeze.py"], conv="winograd")
    assert int(summary.split(" passed")[0].split()[-1]) > 100, summary


@pytest.mark.skipif(not HAS_NUMBA, reason="the CUDA simulator is part of numba")
def test_conv_and_pooling_run_on_the_cuda_kernels_in_the_simulator():
    summary = run_pytest("cuda", ["functional/test_functional_conv_batches.py",
                                  "functional/test_functional_pooling.py"],
                         "-k", "broadcast_output_gradient or max_pool2d_matches_torch_values", simulator=True)
    assert int(summary.split(" passed")[0].split()[-1]) >= 3, summary


@pytest.mark.skipif(not HAS_NUMBA, reason="the CUDA simulator is part of numba")
def test_conv_by_winograd_runs_on_the_cuda_kernels_in_the_simulator():
    # conv2d forced to Winograd on the CUDA transforms: torch parity with batch slicing,
    # kept and recomputed V, frozen inputs (about 10 s; the whole file with -m slow)
    summary = run_pytest("cuda", ["functional/test_functional_conv_winograd.py"],
                         "-k", "sliced_batches or frozen", simulator=True, conv="winograd")
    assert int(summary.split(" passed")[0].split()[-1]) >= 6, summary


@pytest.mark.slow
@pytest.mark.skipif(not HAS_NUMBA, reason="the CUDA simulator is part of numba")
def test_conv_by_winograd_suite_passes_on_the_cuda_kernels_in_the_simulator():
    run_pytest("cuda", ["functional/test_functional_conv_winograd.py"], simulator=True, conv="winograd")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_NUMBA, reason="the CUDA simulator is part of numba")
def test_conv_and_pooling_suites_pass_on_the_cuda_kernels_in_the_simulator():
    run_pytest("cuda", CONV_AND_POOLING, "-k", "not forward_and_backward_match_torch", simulator=True)
