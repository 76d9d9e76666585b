"""The grader survives anything a submission does, and never modifies the submission."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from minicnn.assignments import GradeError, find_assignment, grade_submission

from assignment_helpers import plant, snapshot


def _gone(pid: int) -> bool:
    """True if the process has exited (a zombie waiting for its parent counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_infinite_loop_and_endless_print_lose_only_their_tasks(build, tmp_path):
    out = build("a1_autograd", with_solutions=True)
    pid_file = tmp_path / "sleeper.pid"
    plant(out / "tiny_tensor.py", "    while grad.ndim > len(shape):",
          f"    import subprocess\n"
          f"    Path = __import__('pathlib').Path\n"
          f"    Path({str(pid_file)!r}).write_text(str(subprocess.Popen(['sleep', '600']).pid))\n"
          f"    while True:\n        pass\n"
          f"    while grad.ndim > len(shape):")
    plant(out / "tiny_tensor.py", '        out = Tensor(self.data @ other.data, (self, other), "@")',
          '        while True:\n            print("spam " * 20)\n'
          '        out = Tensor(self.data @ other.data, (self, other), "@")')
    before = snapshot(out)

    limit = 4                                    # seconds: enough to start the tests on a busy machine
    report = grade_submission(out, time_limits={"broadcasting": limit, "matmul": limit}, output_limit=5000)

    assert {t.name: t.status for t in report.tasks} == {
        "elementwise": "passed", "broadcasting": "timeout", "matmul": "timeout", "mlp": "passed"}
    assert report.total == 60
    loop, spam = report.task("broadcasting"), report.task("matmul")
    assert (f"did not finish within the time limit of {limit} s (it was running test_unbroadcast_sums_the_copies)"
            in loop.message)
    assert limit <= loop.seconds < limit + 15 and limit <= spam.seconds < limit + 15
    assert spam.output.startswith("spam spam") and "[... output truncated:" in spam.output
    assert len(spam.output) < 5000 + 200
    assert _gone(int(pid_file.read_text())), "the submission's background process survived the timeout"
    assert snapshot(out) == before


def test_crashes_exits_and_limits_lose_only_their_tasks(build):
    out = build("a2_conv", with_solutions=True)
    path = out / "conv_layers.py"
    plant(path, "    cols = np.empty((N, OH, OW, C, KH, KW), dtype=x.dtype)",
          "    import os\n    os._exit(3)\n    cols = np.empty((N, OH, OW, C, KH, KW), dtype=x.dtype)")
    plant(path, "    cols6 = cols.reshape(N, OH, OW, C, KH, KW)",
          "    raise SystemExit(1)\n    cols6 = cols.reshape(N, OH, OW, C, KH, KW)")
    plant(path, "    out = np.zeros((N, F, OH, OW), dtype=x.dtype)",
          "    hog = np.ones(10**12)\n    out = np.zeros((N, F, OH, OW), dtype=x.dtype)")
    plant(path, "    out = np.empty((N, C, OH, OW), dtype=x.dtype)",
          "    open('big.bin', 'wb').write(b'0' * 3 * 2**20)\n    out = np.empty((N, C, OH, OW), dtype=x.dtype)")
    plant(path, "    dx = np.zeros_like(x)\n    n, c = np.indices((N, C))",      # a thread that never ends
          "    import threading, time\n    threading.Thread(target=time.sleep, args=(600,)).start()\n"
          "    dx = np.zeros_like(x)\n    n, c = np.indices((N, C))")
    before = snapshot(out)

    report = grade_submission(out, file_limit_mb=1, memory_limit_mb=2048)

    status = {t.name: t.status for t in report.tasks}
    assert status == {"conv_forward": "failed", "conv_backward": "passed", "im2col": "error",
                      "col2im": "failed", "max_pool_forward": "failed", "max_pool_backward": "passed"}
    assert report.total == 45
    assert "exited with code 3 while running test_matches_reference_layout" in report.task("im2col").message
    assert "the submission called exit(1)" in report.task("col2im").message
    assert "MemoryError" in report.task("conv_forward").message
    assert "File too large" in report.task("max_pool_forward").message
    assert report.task("max_pool_backward").seconds < 20       # the leftover thread did not keep it alive
    assert snapshot(out) == before


def test_a_file_that_does_not_import_fails_only_the_tasks_that_need_it(build):
    out = build("a1_autograd", with_solutions=True)
    plant(out / "tiny_tensor.py", "def unbroadcast(grad", "def unbroadcast(:grad")
    report = grade_submission(out)
    status = {t.name: t.status for t in report.tasks}
    assert status == {"elementwise": "error", "broadcasting": "error", "matmul": "error", "mlp": "passed"}
    message = report.task("matmul").message
    assert "could not import the tests" in message and "SyntaxError" in message and "tiny_tensor.py" in message


def test_missing_and_nested_submissions(tmp_path, build):
    empty = tmp_path / "empty"
    empty.mkdir()
    report = grade_submission(empty, "a2_conv")
    assert report.total == 0 and {t.status for t in report.tasks} == {"error"}
    assert report.notes == [f"none of the files conv_layers.py was found in {empty.resolve()}"]
    with pytest.raises(GradeError, match="has no assignment.json saying which assignment it is"):
        grade_submission(empty)
    with pytest.raises(GradeError, match="does not exist"):
        grade_submission(tmp_path / "nowhere", "a2_conv")

    zipped = tmp_path / "unzipped"
    shutil.copytree(build("a2_conv", with_solutions=True), zipped / "my_work")
    report = grade_submission(zipped, "a2_conv", tasks=["im2col"])
    assert report.task("im2col").status == "passed"
    assert report.notes == ["student files found in my_work/"]


def test_grading_the_reference_sources_in_the_package_writes_nothing_there():
    root = find_assignment("a2_conv").root
    before = snapshot(root)
    report = grade_submission(root, tasks=["im2col", "max_pool_backward"])
    assert [t.status for t in report.tasks] == ["passed", "passed"]
    assert snapshot(root) == before


def test_json_and_gradescope_reports(tmp_path, build):
    report = grade_submission(build("a2_conv"), tasks=["conv_forward", "im2col"])
    report.write_json(tmp_path / "report.json")
    report.write_gradescope(tmp_path / "results.json")
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["format"] == "minicnn-grade/1" and data["assignment"] == "a2_conv"
    assert (data["total"], data["max"]) == (0, 30)
    assert [t["name"] for t in data["tasks"]] == ["conv_forward", "im2col"]
    for task in data["tasks"]:
        assert set(task) >= {"name", "title", "points", "earned", "status", "message", "seconds", "output", "tests"}
        assert task["status"] == "failed" and task["earned"] == 0 and task["message"]
    gradescope = json.loads((tmp_path / "results.json").read_text())
    assert gradescope["score"] == 0
    assert [(t["name"], t["score"], t["max_score"]) for t in gradescope["tests"]] == [
        ("1. Naive convolution forward (conv_forward)", 0, 15), ("2. im2col (im2col)", 0, 15)]
    assert "NotImplementedError" in gradescope["tests"][1]["output"]
