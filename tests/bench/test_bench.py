"""``minicnn bench``: it re-runs itself with the stated settings, times the contenders
alternately, measures memory in fresh processes, and reports against the targets."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest

from minicnn import bench, bench_cases
from minicnn.cli import main as cli_main


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("argv", [[], ["--quick", "--no-memory", "--threads", "1", "--repeat", "3"],
                                  ["--no-reference", "--no-malloc-tuning", "--json", "out.json"]])
def test_the_rerun_gets_the_same_arguments(argv):
    args = _args(*argv)
    again = _args(*bench._as_argv(args))
    assert vars(again) == {**vars(args), "json": os.path.abspath(args.json) if args.json else None}


def test_cli_reruns_itself_with_threads_wait_policy_and_malloc_settings(monkeypatch):
    for key in bench.THREAD_VARS + tuple(bench.MALLOC_ENV) + tuple(bench.WAIT_ENV):
        monkeypatch.delenv(key, raising=False)
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 0)
    assert cli_main(["bench", "--quick", "--threads", "3"]) == 0
    (cmd, env), = calls
    assert cmd[:3] == [sys.executable, "-m", "minicnn.bench"] and "--quick" in cmd
    assert cmd[cmd.index("--threads") + 1] == "3"
    assert all(env[key] == "3" for key in bench.THREAD_VARS)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(1 << 30)


def test_no_malloc_tuning_drops_the_malloc_settings(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "123")
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: calls.append(env) or 0)
    assert bench.main(["--no-malloc-tuning", "--threads", "2"]) == 0
    assert "MALLOC_MMAP_THRESHOLD_" not in calls[0] and calls[0]["OMP_NUM_THREADS"] == "2"


def test_contenders_are_timed_alternately():
    order = []
    medians = bench_cases.interleaved_ms({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                   repeat=3, warmup=1)
    assert order == ["a", "b"] * 4                      # warm-up, then three timed rounds
    assert set(medians) == {"a", "b"} and all(v >= 0 for v in medians.values())


def test_max_pool_row_reports_minicnn_torch_and_the_target():
    pytest.importorskip("torch")
    row = bench_cases.bench_maxpool((2, 3, 8, 8), repeat=3, reference=True)
    assert row["target"] == 1.0
    assert {"fast_ms", "torch_ms", "reference_ms"} <= set(row)
    assert all(row[k] > 0 for k in ("fast_ms", "torch_ms", "reference_ms"))


@pytest.mark.parametrize("shape, cout, algorithm", [((8, 32, 8, 8), 32, "winograd"), ((2, 3, 8, 8), 4, "im2col")])
def test_conv_row_names_the_algorithm_and_times_im2col_beside_winograd(monkeypatch, shape, cout, algorithm):
    monkeypatch.setattr(bench_cases, "SECONDS", 0.0)
    monkeypatch.setenv("MINICNN_CONV", "im2col")              # the bench times the default choice
    row = bench_cases.bench_conv(shape, cout, 3, 1, 1, repeat=3, reference=False)
    assert row["algorithm"] == algorithm
    im2col_rows = {"im2col_fwd_ms", "im2col_fwd_bwd_ms"}
    assert (im2col_rows <= set(row)) == (algorithm == "winograd")
    assert row["fast_fwd_bwd_ms"] > 0 and row["gemm_fwd_bwd_ms"] > 0
    assert os.environ["MINICNN_CONV"] == "im2col"              # restored


def test_memory_is_the_peak_growth_of_the_measured_work_only():
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs")
    base, peak = bench._peak_rss("minicnn", threads=1)
    growth = peak - base
    # y (25.7 MB) and dL/dx (12.8 MB) at least; far below a never-reset peak (the base itself)
    assert 35 < growth < 400, (base, peak)


def test_machine_describes_cpu_blas_and_settings():
    info = bench.machine()
    assert info["cpu"] and info["numpy"] == np.__version__
    assert set(info["env"]) >= set(bench.THREAD_VARS) | {"OMP_WAIT_POLICY"}


def test_the_module_runs_as_a_script():
    result = subprocess.run([sys.executable, "-m", "minicnn.bench", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--no-malloc-tuning" in result.stdout
