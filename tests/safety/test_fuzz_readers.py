"""A short fuzz of every file reader; the long one is ``make fuzz`` (see docs/safety.md).

Each target's seed file is written by the real writer (torch.save, h5py, safetensors, onnx,
save_npz, pickle, save_checkpoint ...); 500 deterministic mutations of it (bit flips, extreme
integers, huge lengths, cuts, swapped or duplicated chunks, damaged zip members ...) are read
in a worker process whose address space is capped and whose every case is timed by a
watchdog. Each case must read cleanly or raise the reader's own error type, naming the file.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import fuzz_readers  # noqa: E402
from fuzz_mutations import make_case  # noqa: E402
from fuzz_targets import TARGETS  # noqa: E402

CASES = 500
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the watchdog selects on pipes (POSIX)")


def _describe(report: fuzz_readers.Report) -> str:
    return "\n".join(f"case {f.index} {f.kind}: {f.detail} (mutation: {f.mutation})"
                     for f in report.failures[:10])


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_damaged_file_is_read_or_refused_cleanly(target, tmp_path):
    for module in TARGETS[target].needs:
        pytest.importorskip(module)
    report = fuzz_readers.fuzz(target, CASES, seed=0, folder=tmp_path, timeout=10.0,
                               memory_mb=256, peak_mb=32, out=tmp_path / "failures")
    assert report.failures == [], _describe(report)
    assert report.ok + report.refused == CASES
    assert report.refused >= CASES // 2       # the mutations really do damage the files
    assert report.workers == 1                # no case ever had to be killed
    assert report.max_peak_bytes < 32 * 2**20


def test_cases_are_deterministic_and_varied():
    seed = bytes(range(256)) * 8
    a = [make_case(seed, 0, "npz", i) for i in range(50)]
    assert a == [make_case(seed, 0, "npz", i) for i in range(50)]
    assert len({data for data, _ in a}) == 50
    assert make_case(seed, 1, "npz", 3) != a[3] and make_case(seed, 0, "onnx", 3) != a[3]


def test_the_watchdog_notices_a_silent_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; print('case 0', flush=True); "
                             "time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        t0 = time.perf_counter()
        assert list(fuzz_readers._lines(proc, timeout=0.5)) == [b"case 0", None]
        assert time.perf_counter() - t0 < 10
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_hung_case_is_recorded_and_the_run_carries_on(tmp_path):
    # No reader answers within 0.1 ms: cases become hangs, each one's worker is killed and a
    # new one resumes after it. (A case may slip through when the parent wakes late.)
    report = fuzz_readers.fuzz("mnist_idx", 6, folder=tmp_path, timeout=1e-4)
    assert {f.kind for f in report.failures} == {"hang"}
    assert report.ok + report.refused + len(report.failures) == 6
    assert report.workers == len(report.failures) + (report.failures[-1].index != 5)
    assert all("no answer within 0.0001 s" in f.detail for f in report.failures)


def test_the_peak_memory_bound_is_enforced(tmp_path):
    report = fuzz_readers.fuzz("mnist_idx", 20, folder=tmp_path, peak_mb=1e-6)
    assert len(report.failures) == 20
    assert all(f.kind == "memory" and "tracemalloc peak" in f.detail for f in report.failures)


def test_the_address_space_cap_turns_a_huge_allocation_into_memory_error():
    code = ("import numpy as np\n"
            "from minicnn.io.isolated import limit_address_space\n"
            "assert limit_address_space(64) is not None\n"
            "np.ones(2**20, np.uint8)\n"                      # 1 MB: fine
            "try:\n    np.ones(2**30, np.uint8)\n"            # 1 GB: over the cap
            "except MemoryError:\n    print('refused')\n")
    if not Path("/proc/self/status").exists():
        pytest.skip("RLIMIT_AS is measured through /proc (Linux)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "refused", done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("target", list(TARGETS))
def test_long_fuzz(target, tmp_path):
    """``pytest -m slow``: 5,000 cases per reader with another seed (``make fuzz`` runs 20,000)."""
    for module in TARGETS[target].needs:
        pytest.importorskip(module)
    report = fuzz_readers.fuzz(target, 5000, seed=1, folder=tmp_path, out=tmp_path / "failures")
    assert report.failures == [], _describe(report)
    assert report.ok + report.refused == 5000
