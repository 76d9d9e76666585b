"""The autograder on whole assignments: reference = full marks, starter = zero, a planted bug
loses exactly the tasks it breaks."""
from __future__ import annotations

import pytest

from minicnn.assignments import grade_submission

from assignment_helpers import ASSIGNMENTS, plant

# (assignment, file, [(old, new), ...], tasks that must be lost)
BUGS = [
    ("a1_autograd", "tiny_tensor.py",
     [("self.grad += out.grad * (self.data > 0)", "self.grad += out.grad"),            # relu' forgotten
      ("grad = grad.sum(axis=axis, keepdims=True)", "grad = grad.sum(axis=axis)")],      # axis dropped
     {"elementwise", "broadcasting"}),
    ("a2_conv", "conv_layers.py",
     [("db = dout.sum(axis=(0, 2, 3))", "db = dout[0].sum(axis=(1, 2))"),                # no sum over the batch
      ("first_max = window.reshape(N, C, kernel * kernel).argmax(axis=2)",              # last max on ties
       "first_max = kernel * kernel - 1 - window.reshape(N, C, kernel * kernel)[:, :, ::-1].argmax(axis=2)")],
     {"conv_backward", "max_pool_backward"}),
    ("a3_training", "cnn_training.py",
     [("    dlogits /= n\n", "\n"),                                                     # gradient not / N
      ("            v += g\n", "            v = g\n")],                                 # momentum lost
     {"softmax_cross_entropy", "sgd_momentum"}),
    ("a4_transfer", "transfer_heads.py",
     [("intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)",           # no clipping
       "intersection = (x2 - x1) * (y2 - y1)")],
     {"box_iou"}),
]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_reference_solutions_get_full_marks(name, build):
    report = grade_submission(build(name, with_solutions=True))
    failures = {t.name: t.message for t in report.tasks if t.status != "passed"}
    assert not failures, failures
    assert report.total == report.max == 100


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_untouched_starter_code_gets_zero(name, build):
    report = grade_submission(build(name))
    assert report.total == 0 and report.max == 100
    for task in report.tasks:
        assert task.status == "failed" and task.earned == 0
        assert "NotImplementedError: implement " in task.message, task.message


@pytest.mark.parametrize("name, file, edits, lost", BUGS, ids=[b[0] for b in BUGS])
def test_planted_bug_loses_exactly_the_affected_tasks(name, file, edits, lost, build):
    out = build(name, with_solutions=True)
    for old, new in edits:
        plant(out / file, old, new)
    report = grade_submission(out)
    assert {t.name for t in report.tasks if t.status != "passed"} == lost
    assert all(t.status == "failed" for t in report.tasks if t.name in lost)
    assert report.total == 100 - sum(t.points for t in report.tasks if t.name in lost)


def test_failure_messages_name_the_gradient_the_error_and_the_index(build):
    out = build("a2_conv", with_solutions=True)
    plant(out / "conv_layers.py", "db = dout.sum(axis=(0, 2, 3))", "db = dout[0].sum(axis=(1, 2))")
    task = grade_submission(out, tasks=["conv_backward"]).task("conv_backward")
    assert "x (2, 2, 4, 4), w (3, 2, 3, 3), stride=1, pad=0: db wrong: max relative error" in task.message
    assert "at index 2: got" in task.message and "[compared with a numerical gradient]" in task.message
    assert task.tests[0]["name"] == "test_gradients_match_numerical_gradients"
    assert task.tests[0]["status"] == "failed"
