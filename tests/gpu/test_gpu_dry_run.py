"""The GPU suite's own logic, checked on every machine: run it with the "GPU" side on the
CPU (MINICNN_GPU_TEST_DEVICE=cpu), so a test that could never pass on a GPU shows up here
rather than on the first machine that has one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_the_gpu_suite_passes_its_dry_run_on_the_cpu():
    env = dict(os.environ, MINICNN_GPU_TEST_DEVICE="cpu", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE), "-m", "gpu", "-q", "-p", "no:cacheprovider",
         "-W", "error::minicnn.shapes.ShapeWarning"],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and " passed" in summary, summary
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 50, summary                          # every test module was collected
