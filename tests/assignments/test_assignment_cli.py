"""`minicnn assignment list | build | grade`: thin wrappers, exit codes and files."""
from __future__ import annotations

import json

from minicnn.cli import _time_limits, main


def test_list_shows_assignments_tasks_and_points(capsys):
    assert main(["assignment", "list"]) == 0
    out = capsys.readouterr().out
    assert "a2_conv  Assignment 2: Convolution and pooling  (100 points)" in out
    assert "conv_backward        25 points    60 s  Naive convolution backward" in out
    assert all(name in out for name in ("a1_autograd", "a3_training", "a4_transfer"))


def test_build_then_grade_with_reports_and_strict_exit_code(tmp_path, capsys):
    out = tmp_path / "a2"
    assert main(["assignment", "build", "a2_conv", "--out", str(out)]) == 0
    assert (out / "conv_layers.py").is_file()
    code = main(["assignment", "grade", str(out), "--task", "im2col", "--json", str(tmp_path / "r.json"),
                 "--gradescope", str(tmp_path / "results.json"), "--time-limit", "20", "--strict"])
    assert code == 1                                   # --strict: not every task passed
    printed = capsys.readouterr().out
    assert "[   0/15  ] im2col  failed" in printed and "total: 0/15" in printed
    assert json.loads((tmp_path / "r.json").read_text())["tasks"][0]["status"] == "failed"
    assert json.loads((tmp_path / "results.json").read_text())["tests"][0]["max_score"] == 15


def test_errors_exit_with_status_2_and_a_message(tmp_path, capsys):
    assert main(["assignment", "build", "a9", "--out", str(tmp_path / "x")]) == 2
    assert "no assignment named 'a9'" in capsys.readouterr().err
    assert main(["assignment", "grade", str(tmp_path), "--assignment", "a2_conv", "--task", "nope"]) == 2
    assert "assignment a2_conv has no task 'nope'" in capsys.readouterr().err
    assert main(["assignment", "grade", str(tmp_path), "--assignment", "a2_conv", "--time-limit", "x=y"]) == 2
    assert "--time-limit expects SECONDS or TASK=SECONDS, got 'x=y'" in capsys.readouterr().err


def test_time_limit_arguments():
    assert _time_limits([]) is None
    assert _time_limits(["30"]) == 30.0
    assert _time_limits(["30", "conv_backward=5"]) == {"*": 30.0, "conv_backward": 5.0}
